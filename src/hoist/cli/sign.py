"""``hoist sign REF --key KEY``: sign REF's digest as ``cosign sign --key`` does."""

from __future__ import annotations

from pathlib import Path

import click

from hoist.cli.context import STATE, emit_json, reference, say
from hoist.cli.keys import private_key
from hoist.cli.options import json_option


@click.command("sign")
@click.argument("ref", metavar="REF")
@click.option(
    "--key",
    "key_path",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Private key (cosign's encrypted format or PEM).",
)
@json_option
def command(ref: str, key_path: Path, json_out: bool) -> None:
    """Sign REF's digest (cosign's layout: the sha256-<hex>.sig tag, verifiable with cosign verify --key)."""
    from hoist.evidence.sign import sign_image
    from hoist.ops.resolve import resolve

    target = reference(ref)
    key = private_key(key_path)
    store = STATE.session().open(target, push=True)
    manifest = resolve(store, target)
    tag, added = sign_image(store, manifest.descriptor, key)
    if json_out:
        emit_json(
            {
                "reference": str(target),
                "digest": str(manifest.digest),
                "tag": tag,
                "signed": added,
                "keyid": key.public_key().keyid,
            }
        )
        return
    verb = "signed" if added else "already signed by this key:"
    say(f"{verb} {manifest.digest} ({tag} in {store.location})")
