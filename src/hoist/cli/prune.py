"""``hoist prune ENV --keep N``: remove history tags beyond the newest N, never the current one."""

from __future__ import annotations

import click

from hoist.cli import render
from hoist.cli.context import STATE, emit_json, say
from hoist.cli.options import dry_run_option, json_option


@click.command("prune")
@click.argument("environment", metavar="ENV")
@click.option("--keep", type=int, required=True, metavar="N", help="History tags to keep (newest first).")
@dry_run_option
@json_option
def command(environment: str, keep: int, dry_run: bool, json_out: bool) -> None:
    """Remove ENV's history tags beyond the newest N; only history tags, never the current image's."""
    result = STATE.project().prune(environment, keep=keep, dry_run=dry_run)
    if json_out:
        emit_json(render.value(result))
        return
    verb = "would remove" if dry_run else "removed"
    say(f"{verb} {len(result.removed)} history tag(s): {', '.join(result.removed) or 'none'}")
    say(f"kept: {', '.join(result.kept) or 'none'}")
