"""``hoist verify REF``: digests, every blob present (``--deep``: re-hashed), same digest as another ref."""

from __future__ import annotations

from typing import Annotated

import typer

from hoist.cli.context import STATE, emit_json, human_size, reference, say
from hoist.ops.verify import verify_image


def verify(
    ref: Annotated[str, typer.Argument(help="Registry reference or oci:PATH[:TAG|@DIGEST].")],
    against: Annotated[
        str | None, typer.Option("--against", help="Also require this reference to have the same digest.")
    ] = None,
    deep: Annotated[bool, typer.Option("--deep", help="Download every blob and check its digest.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Check that REF is whole: manifest digests, every blob present (or re-hashed with --deep)."""
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
            f"{verdict}: {result.reference} ({result.digest}): {result.manifests} manifest(s), {result.blobs} blob(s){hashed}"
        )
    if not result.ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("verify")(verify)
