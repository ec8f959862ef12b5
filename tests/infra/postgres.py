"""A throw-away PostgreSQL cluster from Debian's ``postgresql`` package, on a loopback port.

``initdb`` and the server refuse to run as root, so as root every PostgreSQL program runs as the
``postgres`` user (created by the Debian package) and the data directory belongs to it; the directory
holding it must then be traversable by that user (see :func:`shared_tempdir`). Durability is off
(``fsync``, ``full_page_writes``, ``synchronous_commit``): the cluster lives for one test session.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PG_ROOT = Path("/usr/lib/postgresql")  # Debian: /usr/lib/postgresql/<major>/bin
SERVER_USER = "postgres"


def pg_bindir() -> Path:
    """The newest installed major version's ``bin`` directory (15 on Debian 12)."""
    found = sorted(
        (int(p.parent.name), p) for p in PG_ROOT.glob("*/bin") if p.parent.name.isdigit() and (p / "initdb").is_file()
    )
    if not found:
        raise RuntimeError(f"no PostgreSQL server under {PG_ROOT}: install Debian's postgresql package")
    return found[-1][1]


def _drop_root() -> dict[str, Any]:
    """``subprocess`` options that run a program as the ``postgres`` user when we are root."""
    if os.geteuid() != 0:
        return {}
    return {"user": SERVER_USER, "group": SERVER_USER, "extra_groups": [], "cwd": "/"}


def shared_tempdir(prefix: str) -> Path:
    """A fresh temporary directory the ``postgres`` user can traverse (but not list)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o711)
    return path


def give_to_server(path: Path) -> None:
    """Hand a data directory (recursively) to the user the server runs as; mode 0700 as it demands."""
    path.chmod(0o700)
    if os.geteuid() != 0:
        return
    shutil.chown(path, SERVER_USER, SERVER_USER)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            shutil.chown(os.path.join(root, name), SERVER_USER, SERVER_USER)


@dataclass
class Postgres:
    """One cluster: ``datadir`` on ``port``, superuser ``user`` trusted on 127.0.0.1 only."""

    datadir: Path
    port: int
    log_file: Path
    user: str = "pulp"
    bindir: Path | None = None
    running: bool = False

    def _bin(self, name: str) -> str:
        return str((self.bindir or pg_bindir()) / name)

    def _run(self, *args: str, server: bool = True, timeout: float = 60) -> str:
        done = subprocess.run(
            list(args),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
            **(_drop_root() if server else {}),
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} exited {done.returncode}: {done.stderr.strip()}{self._log_tail()}")
        return done.stdout

    def _log_tail(self) -> str:
        try:
            return "\nserver log:\n" + self.log_file.read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def initdb(self) -> None:
        """Create the cluster (an empty ``datadir`` the server user owns)."""
        self.datadir.mkdir(parents=True, exist_ok=True)
        give_to_server(self.datadir)
        self._run(
            self._bin("initdb"),
            "-D",
            str(self.datadir),
            "-U",
            self.user,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
            "--no-instructions",
        )

    def start(self) -> None:
        """Start the server and wait until it accepts connections (the log's directory must be the
        server user's: see :func:`give_to_server`)."""
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' "
            "-c fsync=off -c full_page_writes=off -c synchronous_commit=off -c max_connections=100"
        )
        self._run(
            self._bin("pg_ctl"),
            "-D",
            str(self.datadir),
            "-l",
            str(self.log_file),
            "-w",
            "-t",
            "60",
            "-o",
            options,
            "start",
        )
        self.running = True

    def stop(self, *, mode: str = "fast") -> None:
        """Stop the server: ``fast`` leaves a clean data directory, ``immediate`` one to throw away."""
        if not self.running:
            return
        self._run(self._bin("pg_ctl"), "-D", str(self.datadir), "-m", mode, "-w", "-t", "30", "stop")
        self.running = False

    def sql(self, statement: str, *, database: str = "postgres") -> str:
        """Run one SQL statement with ``psql`` over TCP; its unaligned output."""
        return self._run(
            self._bin("psql"),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            self.user,
            "-d",
            database,
            "-v",
            "ON_ERROR_STOP=1",
            "-qAt",
            "-c",
            statement,
            server=False,
        )
