"""``hoist verify REF``: digests, every blob present (``--deep``: re-hashed), same digest as another ref."""

from __future__ import annotations

import click

from hoist.cli.context import STATE, emit_json, human_size, reference, say
from hoist.cli.options import json_option


@click.command("verify")
@click.argument("ref", metavar="REF")
@click.option("--against", metavar="REF", help="Also require this reference to have the same digest.")
@click.option("--deep", is_flag=True, help="Download every blob and check its digest.")
@json_option
def command(ref: str, against: str | None, deep: bool, json_out: bool) -> None:
    """Check that REF is whole: manifest digests, every blob present (re-hashed with --deep)."""
    from hoist.ops.verify import verify_image

    target = reference(ref)
    other = reference(against) if against else None
    session = STATE.session()
    store = session.open(target)
    result = verify_image(
        store,
        target,
        against=(session.open(other), other) if other is not None else None,
        deep=deep,
        jobs=STATE.jobs,
    )
    if json_out:
        emit_json(result.to_json())
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
