"""``hoist evidence REF``: the signatures and attestations on a digest, and which of them verify."""

from __future__ import annotations

from pathlib import Path

import click

from hoist.cli.context import STATE, emit_json, reference, say
from hoist.cli.options import json_option


@click.command("evidence")
@click.argument("ref", metavar="REF")
@click.option(
    "--key",
    "keys",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Public key to verify with (repeatable).",
)
@json_option
def command(ref: str, keys: tuple[Path, ...], json_out: bool) -> None:
    """List signatures and attestations on REF's digest (referrers and cosign's legacy tags)."""
    from hoist.evidence.collect import EvidenceReport, check, collect
    from hoist.evidence.keys import load_public_key
    from hoist.ops.resolve import resolve

    target = reference(ref)
    public = [load_public_key(path) for path in keys]
    store = STATE.session().open(target)
    manifest = resolve(store, target)
    report = EvidenceReport(str(manifest.digest))
    report.checked = [
        check(i, manifest.digest, public, require_signature=False) for i in collect(store, manifest.digest)
    ]
    if json_out:
        emit_json(report.to_json())
        return
    say(f"{target} ({manifest.digest}): {len(report.checked)} piece(s) of evidence")
    for item in report.checked:
        mark = "valid  " if item.valid else "INVALID"
        what = item.predicate_type or item.item.kind
        extra = []
        data = item.to_json()
        if "result" in data:
            extra.append(data["result"])
        if "counts" in data:
            extra.append(", ".join(f"{k} {v}" for k, v in data["counts"].items() if v) or "no findings")
        if item.signed_by:
            extra.append(f"key {item.signed_by[:12]}")
        say(f"  {mark} {what} [{item.item.where}] {'; '.join(extra)} — {item.reason}")
