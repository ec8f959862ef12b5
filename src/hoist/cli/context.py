"""What every command shares: global options, the store session, and output (text, JSON, errors)."""

from __future__ import annotations

import functools
import getpass
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hoist.clock import clock_from_environ
from hoist.errors import InputError
from hoist.options import DEFAULT_CHUNK, Options
from hoist.ref import Reference, parse_reference
from hoist.secret import redact


@dataclass
class Globals:
    verbose: bool = False
    insecure: frozenset[str] = frozenset()
    ca_file: Path | None = None
    authfile: Path | None = None
    jobs: int = 8
    config: Path | None = None
    sessions: list[Session] = field(default_factory=list)
    projects: list[Project] = field(default_factory=list)

    def load_config(self) -> Config:
        """hoist.toml (``--config`` or the working directory); its [settings] add to the global options."""
        from hoist.promotion.config import find_config, load_config

        config = load_config(find_config(self.config))
        self.insecure = self.insecure | config.insecure
        if self.ca_file is None:
            self.ca_file = config.ca_file
        return config

    def options(self, *, observer: CopyObserver | None = None) -> Options:
        """The public API's options from the global flags and the environment."""
        chunk = os.environ.get("HOIST_CHUNK_SIZE")
        try:
            clock = clock_from_environ(os.environ)
        except ValueError as exc:
            raise InputError(f"HOIST_NOW={os.environ.get('HOIST_NOW')!r} is not an RFC 3339 time") from exc
        return Options(
            authfile=self.authfile,
            ca_file=self.ca_file,
            insecure=self.insecure,
            jobs=self.jobs,
            observer=observer,
            environ=os.environ,
            clock=clock,
            prompt=getpass.getpass if interactive() else None,
            on_wait=None if observer is not None else (lambda message: note(f"hoist: {message}")),
            chunk_size=_parse_size(chunk) if chunk else DEFAULT_CHUNK,
        )

    def registry_options(self) -> RegistryOptions:
        return self.options().registry_options()

    def session(self) -> Session:
        from hoist.store.session import Session

        session = Session(self.registry_options())
        self.sessions.append(session)
        return session

    def project(self, *, observer: CopyObserver | None = None) -> Project:
        """The project of ``--config`` (or ./hoist.toml), closed when the command ends."""
        from hoist.project import Project

        config = self.load_config()
        project = Project(config, options=self.options(observer=observer))
        self.projects.append(project)
        return project

    def close(self) -> None:
        for project in self.projects:
            for delivery in project.deliveries:
                if not delivery.ok:
                    note(f"hoist: warning: {delivery.describe()}")
        for session in self.sessions:
            session.close()
        for project in self.projects:
            project.close()
        self.sessions.clear()
        self.projects.clear()


STATE = Globals()


def _parse_size(text: str) -> int:
    units = {"k": 1024, "m": 1024**2, "g": 1024**3}
    text = text.strip().lower().removesuffix("ib").removesuffix("b")
    try:
        if text and text[-1] in units:
            return int(float(text[:-1]) * units[text[-1]])
        return int(text)
    except ValueError as exc:
        raise InputError(f"HOIST_CHUNK_SIZE={text!r} is not a size such as 64M") from exc


def reference(text: str) -> Reference:
    return parse_reference(text)


if TYPE_CHECKING:
    from rich.console import Console

    from hoist.ops.copy import CopyObserver
    from hoist.project import Project
    from hoist.promotion.config import Config
    from hoist.store.registry.options import RegistryOptions
    from hoist.store.session import Session


@functools.cache
def console(*, stderr: bool = False) -> Console:
    """A rich console, created on first use (rich is imported only by commands that draw)."""
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def interactive() -> bool:
    """A prompt is allowed only with a terminal on both ends; in CI nothing ever waits on one."""
    return is_terminal(sys.stdin) and is_terminal(sys.stderr)


def emit_json(value: Any) -> None:
    """One JSON document on stdout (the ``--json`` contract); its strings are redacted one by one, so it
    stays valid JSON."""
    sys.stdout.write(json.dumps(_redacted(value), indent=2, sort_keys=False) + "\n")
    sys.stdout.flush()


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {_redacted(k): _redacted(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(v) for v in value]
    return value


_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` safe for a terminal: control characters (escape sequences, carriage returns, newlines)
    from registry content or ledger records are shown escaped, never interpreted."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def say(text: str) -> None:
    """One line of output for people (registry and ledger text in it is made terminal-safe)."""
    sys.stdout.write(printable(redact(text)) + "\n")
    sys.stdout.flush()


def note(text: str) -> None:
    """Secondary information for humans, on stderr so stdout stays parseable."""
    sys.stderr.write(printable(redact(text)) + "\n")
    sys.stderr.flush()


def error_line(message: str) -> None:
    message = printable(" ".join(redact(message).split()))
    if os.environ.get("GITHUB_ACTIONS") == "true":
        sys.stdout.write(f"::error::{_escape_annotation(message)}\n")
        sys.stdout.flush()
    line = f"hoist: error: {message}"
    if is_terminal(sys.stderr) and not os.environ.get("NO_COLOR"):
        line = f"\x1b[1;31m{line}\x1b[0m"
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def _escape_annotation(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"
