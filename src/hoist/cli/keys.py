"""Reading keys for the CLI: passwords from HOIST_KEY_PASSWORD / COSIGN_PASSWORD, a prompt only on a terminal."""

from __future__ import annotations

import getpass
import os
from pathlib import Path

from hoist.cli.context import interactive
from hoist.evidence.keys import PrivateKey, load_private_key, password_for
from hoist.secret import Secret


def private_key(path: Path) -> PrivateKey:
    def password() -> Secret:
        return password_for(path, environ=os.environ, interactive=interactive(), prompt=getpass.getpass)

    return load_private_key(path, password=password)
