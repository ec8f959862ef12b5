"""``hoist inspect REF``: digest, media type, platforms, layers and total size."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from hoist.cli.context import STATE, emit_json, human_size, reference, say, stdout
from hoist.ops.inspect import inspect_image


def inspect(
    ref: Annotated[str, typer.Argument(help="Registry reference or oci:PATH[:TAG|@DIGEST].")],
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Show what REF is: digest, media type, platforms, layers, total size."""
    target = reference(ref)
    session = STATE.session()
    result = inspect_image(session.open(target), target, jobs=STATE.jobs)
    if json_out:
        emit_json(result.to_json())
        return
    say(f"{result.reference}")
    say(f"  digest:     {result.digest}")
    say(f"  media type: {result.media_type}")
    if result.artifact_type:
        say(f"  artifact:   {result.artifact_type}")
    if result.subject:
        say(f"  subject:    {result.subject}")
    platforms = [i.platform for i in result.images if i.platform]
    say(f"  platforms:  {', '.join(platforms) or 'unknown'}")
    say(f"  total size: {human_size(result.total_size)}")
    for image in result.images:
        if result.is_index:
            say(f"  {image.platform or 'unknown'}: {image.digest} ({human_size(image.size)})")
        if image.created:
            say(f"  created:    {image.created}")
        table = Table(box=None, pad_edge=False, show_header=True, header_style="bold")
        table.add_column("  layer")
        table.add_column("size", justify="right")
        table.add_column("media type")
        for layer in image.layers:
            table.add_row(f"  {layer['digest']}", human_size(int(layer["size"])), str(layer["media_type"]))
        if image.layers and not result.is_index:
            stdout.print(table)


def register(app: typer.Typer) -> None:
    app.command("inspect")(inspect)
