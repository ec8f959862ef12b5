"""``hoist evidence REF``: the signatures and attestations on a digest, and which of them verify."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from hoist.cli.context import STATE, emit_json, reference, say
from hoist.cli.options import json_option

if TYPE_CHECKING:
    from hoist.evidence.keyless.check import KeylessChecker
    from hoist.evidence.keyless.trust import TrustRoot


@click.command("evidence")
@click.argument("ref", metavar="REF")
@click.option(
    "--key",
    "keys",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Public key to verify with (repeatable).",
)
@click.option(
    "--trusted-root",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Sigstore trusted_root.json for keyless bundles (default: the public-good one sigstore ships).",
)
@json_option
def command(ref: str, keys: tuple[Path, ...], trusted_root: Path | None, json_out: bool) -> None:
    """List signatures and attestations on REF's digest (referrers and cosign's legacy tags). Keyless
    (Sigstore) bundles are verified offline for the digest, and their signer shown."""
    from hoist.evidence.collect import EvidenceReport, check, collect
    from hoist.evidence.keyless.bundle import is_keyless
    from hoist.evidence.keys import load_public_key
    from hoist.ops.resolve import resolve

    target = reference(ref)
    public = [load_public_key(path) for path in keys]
    if trusted_root is not None and not trusted_root.is_file():
        raise click.BadParameter(f"{trusted_root} does not exist", param_hint="--trusted-root")
    store = STATE.session().open(target)
    manifest = resolve(store, target)
    report = EvidenceReport(str(manifest.digest))
    keyless = _keyless_checker(trusted_root)
    report.checked = [
        keyless.check(i, manifest.digest)
        if i.kind == "bundle" and i.bundle is not None and is_keyless(i.bundle)
        else check(i, manifest.digest, public, require_signature=False)
        for i in collect(store, manifest.digest)
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
        if item.signed_by and item.item.kind == "bundle" and "://" in item.signed_by:
            extra.append(f"by {item.signed_by}")
        elif item.signed_by:
            extra.append(f"key {item.signed_by[:12]}")
        say(f"  {mark} {what} [{item.item.where}] {'; '.join(extra)} — {item.reason}")


def _keyless_checker(trusted_root: Path | None) -> KeylessChecker:
    """Any signer, under ``trusted_root`` (read only if a keyless bundle is found)."""
    from hoist.evidence.keyless.check import KeylessChecker

    def trust() -> TrustRoot:
        from hoist.evidence.keyless.trust import TrustRoot

        return TrustRoot.from_file(trusted_root) if trusted_root is not None else TrustRoot.bundled()

    return KeylessChecker(trust=trust)
