"""``hoist tag REF TAG...``: add tags to REF's digest in the same repository."""

from __future__ import annotations

import click

from hoist.cli import render
from hoist.cli.context import STATE, emit_json, say
from hoist.cli.options import json_option


@click.command("tag")
@click.argument("ref", metavar="REF")
@click.argument("tags", metavar="TAG...", nargs=-1, required=True)
@json_option
def command(ref: str, tags: tuple[str, ...], json_out: bool) -> None:
    """Point more tags at REF's digest: a manifest GET, a PUT per tag, and a read-back."""
    import hoist

    result = hoist.tag(ref, *tags, options=STATE.options())
    if json_out:
        emit_json(render.tag_result(result))
        return
    say(f"tagged {result.digest} as {', '.join(result.tags)} in {result.reference.name}")
