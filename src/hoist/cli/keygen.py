"""``hoist keygen``: a cosign-compatible key pair (encrypted private key, public key)."""

from __future__ import annotations

import getpass
import os
from pathlib import Path

import click

from hoist.cli.context import emit_json, interactive, say
from hoist.cli.options import json_option
from hoist.errors import InputError
from hoist.secret import Secret


def _new_password() -> Secret:
    for name in ("HOIST_KEY_PASSWORD", "COSIGN_PASSWORD"):
        if name in os.environ:
            return Secret(os.environ[name])
    if not interactive():
        raise InputError("set HOIST_KEY_PASSWORD (or COSIGN_PASSWORD) to the new key's password; empty for none")
    first = getpass.getpass("Password for the new private key: ")
    if getpass.getpass("Again: ") != first:
        raise InputError("the two passwords differ; nothing was written")
    return Secret(first)


@click.command("keygen")
@click.option(
    "--output-prefix",
    type=click.Path(path_type=Path),
    default=Path("cosign"),
    show_default=True,
    help="Writes PREFIX.key (encrypted, mode 0600) and PREFIX.pub.",
)
@click.option("--force", is_flag=True, help="Overwrite existing files.")
@json_option
def command(output_prefix: Path, force: bool, json_out: bool) -> None:
    """Make a key pair for signing images and evidence (cosign's format: cosign reads it too)."""
    from hoist.evidence.keys import generate_key_pair, load_public_key

    key_path, pub_path = generate_key_pair(output_prefix, password=_new_password(), force=force)
    keyid = load_public_key(pub_path).keyid
    if json_out:
        emit_json({"private_key": str(key_path), "public_key": str(pub_path), "keyid": keyid})
        return
    say(f"wrote {key_path} (private, encrypted) and {pub_path} (public); key id {keyid}")
