"""Tag templates such as ``sha-{git_sha:.7}``, ``{date}`` or ``{tag}-{seq:04}``.

Fields: ``digest``, ``digest_short``, ``date`` (UTC, 2026-11-25), ``datetime`` (UTC, 20261125T203000Z),
``git_sha``, ``git_ref``, ``seq``, ``tag`` (the environment's tag), ``environment``, and ``env.NAME`` for
environment variables. A value that is unknown (a git sha outside a repository, an unset variable) is an
error that names it, raised before anything changes.
"""

from __future__ import annotations

import functools
import os
import string
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hoist.errors import ConfigError, InputError
from hoist.ref import valid_tag

FIELDS = ("digest", "digest_short", "date", "datetime", "git_sha", "git_ref", "seq", "tag", "environment")
_formatter = string.Formatter()


def _fields(template: str) -> list[tuple[str, str]]:
    try:
        return [(name, spec or "") for _, name, spec, _ in _formatter.parse(template) if name is not None]
    except ValueError as exc:
        raise ConfigError(f"template {template!r} is malformed: {exc}") from exc


def check_template(template: str) -> None:
    """Reject unknown fields when the config is read, long before a promotion."""
    for name, _ in _fields(template):
        if name.startswith("env."):
            if not name[4:]:
                example = "{env.GITHUB_RUN_NUMBER}"
                raise ConfigError(f"template {template!r}: '{{env.}}' needs a variable name, as in {example}")
            continue
        if name not in FIELDS:
            raise ConfigError(f"template {template!r}: unknown field {{{name}}} (known: {', '.join(FIELDS)}, env.NAME)")


def git_value(*args: str) -> str | None:
    """``git ARGS`` in the working directory; asked once per directory and repository (a promotion
    renders several templates and a record, each wanting the same sha)."""
    return _git(args, os.getcwd(), os.environ.get("GIT_DIR"))


@functools.lru_cache(maxsize=32)
def _git(args: tuple[str, ...], cwd: str, git_dir: str | None) -> str | None:
    try:
        done = subprocess.run(  # noqa: S603 - a fixed git invocation, git found on PATH as users expect
            ["git", *args],  # noqa: S607
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
            cwd=cwd,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def git_sha(environ: Mapping[str, str]) -> str | None:
    return environ.get("GITHUB_SHA") or git_value("rev-parse", "HEAD")


def git_ref(environ: Mapping[str, str]) -> str | None:
    return environ.get("GITHUB_REF") or git_value("symbolic-ref", "-q", "HEAD")


@dataclass
class TemplateContext:
    """The values templates can use; git is asked lazily and once."""

    digest: str
    seq: int
    tag: str
    environment: str
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    _cache: dict[str, str | None] = field(default_factory=dict)

    def value(self, name: str) -> Any:
        if name.startswith("env."):
            variable = name[4:]
            found = self.environ.get(variable)
            if found is None:
                raise InputError(f"template field {{{name}}}: environment variable {variable} is not set")
            return found
        getters: dict[str, Callable[[], Any]] = {
            "digest": lambda: self.digest.replace(":", "-"),
            "digest_short": lambda: self.digest.partition(":")[2][:12],
            "date": lambda: self.now.strftime("%Y-%m-%d"),
            "datetime": lambda: self.now.strftime("%Y%m%dT%H%M%SZ"),
            "seq": lambda: self.seq,
            "tag": lambda: self.tag,
            "environment": lambda: self.environment,
            "git_sha": lambda: self._git("git_sha", git_sha, "not in a git repository and GITHUB_SHA is unset"),
            "git_ref": lambda: self._git("git_ref", git_ref, "not on a git branch and GITHUB_REF is unset"),
        }
        return getters[name]()

    def _git(self, name: str, getter: Callable[[Mapping[str, str]], str | None], why: str) -> str:
        if name not in self._cache:
            self._cache[name] = getter(self.environ)
        found = self._cache[name]
        if found is None:
            raise InputError(f"template field {{{name}}} is unknown: {why}")
        return found


def render_tag(template: str, context: TemplateContext) -> str:
    """Render one tag template and check that the result is a valid tag."""
    out = []
    for literal, name, spec, conversion in _formatter.parse(template):
        out.append(literal)
        if name is None:
            continue
        value = context.value(name)
        if conversion:
            value = _formatter.convert_field(value, conversion)
        try:
            out.append(format(value, spec or ""))
        except ValueError as exc:
            raise ConfigError(f"tag template {template!r}: {{{name}:{spec}}} does not apply: {exc}") from exc
    tag = "".join(out).replace("/", "-")
    if not valid_tag(tag):
        raise InputError(f"tag template {template!r} gave {tag!r}, which is not a valid tag")
    return tag
