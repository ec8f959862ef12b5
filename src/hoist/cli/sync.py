"""``hoist sync ENV``: bring ENV's mirrors level with it (the digest, its evidence, the tags), recorded."""

from __future__ import annotations

import click

from hoist.cli import render
from hoist.cli.context import STATE, emit_json, say
from hoist.cli.options import dry_run_option, json_option


@click.command("sync")
@click.argument("environment", metavar="ENV")
@dry_run_option
@json_option
def command(environment: str, dry_run: bool, json_out: bool) -> None:
    """Copy ENV's digest to every mirror that is behind, with its signatures and tags."""
    result = STATE.project().sync(environment, dry_run=dry_run)
    if json_out:
        emit_json(
            {
                "environment": result.environment,
                "dry_run": result.dry_run,
                "record": render.jsonable(result.record),
                "mirrors": [{**render.jsonable(m), "behind": m.behind} for m in result.mirrors],
            }
        )
    else:
        for mirror in result.mirrors:
            if mirror.synced:
                state = f"synced to {mirror.digest}"
            elif mirror.error:
                state = f"FAILED: {mirror.error}"
            elif mirror.behind:
                state = f"behind (holds {mirror.found or 'nothing'}); would sync" if dry_run else "behind"
            else:
                state = "level"
            say(f"{mirror.member}: mirror {mirror.reference}: {state}")
    if result.failed:
        raise click.exceptions.Exit(1)
