"""``hoist verify REF``: digests, every blob present (``--deep``: re-hashed), same digest as another ref."""

from __future__ import annotations

import click

from hoist.cli import render
from hoist.cli.context import STATE, emit_json, human_size, say
from hoist.cli.options import json_option


@click.command("verify")
@click.argument("ref", metavar="REF")
@click.option("--against", metavar="REF", help="Also require this reference to have the same digest.")
@click.option("--deep", is_flag=True, help="Download every blob and check its digest.")
@json_option
def command(ref: str, against: str | None, deep: bool, json_out: bool) -> None:
    """Check that REF is whole: manifest digests, every blob present (re-hashed with --deep)."""
    import hoist

    result = hoist.verify(ref, deep=deep, against=against, options=STATE.options())
    if json_out:
        emit_json(render.verification(result))
    else:
        for check in result.checks:
            mark = "ok  " if check.ok else "FAIL"
            say(f"{mark} {check.name}{': ' + check.detail if check.detail else ''}")
        hashed = f", {human_size(result.bytes_hashed)} re-hashed" if result.deep else ""
        verdict = "verified" if result.ok else "NOT verified"
        say(
            f"{verdict}: {result.reference} ({result.digest}): {result.manifests} manifest(s), "
            f"{result.blobs} blob(s){hashed}"
        )
    if not result.ok:
        raise click.exceptions.Exit(1)
