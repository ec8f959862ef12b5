"""``hoist inspect REF``: digest, media type, platforms, layers and total size."""

from __future__ import annotations

import click

from hoist.cli import render
from hoist.cli.context import STATE, emit_json, human_size, say
from hoist.cli.options import json_option


@click.command("inspect")
@click.argument("ref", metavar="REF")
@json_option
def command(ref: str, json_out: bool) -> None:
    """Show what REF is: digest, media type, platforms, layers, total size."""
    import hoist

    result = hoist.inspect(ref, options=STATE.options())
    if json_out:
        emit_json(render.inspection(result))
        return
    say(f"{result.reference}")
    say(f"  digest:     {result.digest}")
    say(f"  media type: {result.media_type}")
    if result.artifact_type:
        say(f"  artifact:   {result.artifact_type}")
    if result.subject:
        say(f"  subject:    {result.subject}")
    say(f"  platforms:  {', '.join(result.platforms) or 'unknown'}")
    say(f"  total size: {human_size(result.total_size)}")
    for image in result.images:
        if result.is_index:
            say(f"  {image.platform or 'unknown'}: {image.digest} ({human_size(image.size)})")
            continue
        if image.created:
            say(f"  created:    {image.created}")
        width = max((len(human_size(int(layer["size"]))) for layer in image.layers), default=0)
        for layer in image.layers:
            size = human_size(int(layer["size"])).rjust(width)
            say(f"  layer {layer['digest']}  {size}  {layer['media_type']}")
