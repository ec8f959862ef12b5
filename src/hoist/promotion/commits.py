"""The commits between two images: their ``org.opencontainers.image.revision`` labels, and ``git log``
between them in the working directory when it is a git repository that has both."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

from hoist.errors import HoistError
from hoist.manifest import Manifest
from hoist.promotion.moving import _label as image_label
from hoist.store.base import Store

REVISION = "org.opencontainers.image.revision"
MAX_COMMITS = 200
_COMMIT_ID = re.compile(r"^[0-9a-fA-F]{4,64}$")
_GIT_TIMEOUT = 10.0


@dataclass(frozen=True, kw_only=True)
class Commits:
    """What changed between the image an environment has and the candidate, in commits."""

    current: str | None
    """The current image's revision label (None: no image, or no label)."""
    candidate: str | None
    log: tuple[str, ...] = ()
    """``git log --oneline`` lines, newest first: the commits the candidate adds (or takes away)."""
    direction: str | None = None
    """``ahead`` (the candidate adds ``log``), ``behind`` (it goes back over ``log``), ``same``."""
    detail: str = ""
    """Why there is no log, when there is none."""
    truncated: int = 0
    """Commits left out beyond :data:`MAX_COMMITS`."""


def revision(store: Store, manifest: Manifest) -> str | None:
    """An image's revision label (its manifest annotation, else its config label)."""
    try:
        return image_label(store, manifest, REVISION)
    except HoistError:
        return None


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str] | None:
    try:
        return subprocess.run(  # noqa: S603 - fixed git arguments; commit ids are checked before use
            ["git", *args],  # noqa: S607 - git from PATH, as a user runs it
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None


def _log(cwd: Path, first: str, last: str) -> tuple[list[str], int]:
    done = _git(cwd, "log", "--oneline", "--no-decorate", "--no-color", f"{first}..{last}", "--")
    lines = done.stdout.splitlines() if done is not None and done.returncode == 0 else []
    return lines[:MAX_COMMITS], max(0, len(lines) - MAX_COMMITS)


def _unusable(current: str | None, candidate: str | None) -> str | None:
    if candidate is None:
        return "the candidate has no revision label"
    if current is None:
        return "nothing to compare with: the environment has no image with a revision label yet"
    bad = [value for value in (current, candidate) if not _COMMIT_ID.match(value)]
    return f"the revision label {bad[0]!r} is not a commit id" if bad else None


def _unknown_to_git(cwd: Path, revisions: tuple[str, str]) -> str | None:
    inside = _git(cwd, "rev-parse", "--is-inside-work-tree")
    if inside is None:
        return "git is not available"
    if inside.returncode != 0 or inside.stdout.strip() != "true":
        return f"{cwd} is not a git repository"
    for value in revisions:
        known = _git(cwd, "cat-file", "-e", f"{value}^{{commit}}")
        if known is None or known.returncode != 0:
            return f"the git repository in {cwd} does not have {value}"
    return None


def between(current: str | None, candidate: str | None, *, cwd: Path) -> Commits:
    """The commits from ``current`` to ``candidate`` (revisions), from the git repository at ``cwd``."""
    found = Commits(current=current, candidate=candidate)
    if current is not None and current == candidate:
        return replace(found, direction="same")
    problem = _unusable(current, candidate)
    if problem is None:
        assert current is not None and candidate is not None
        problem = _unknown_to_git(cwd, (current, candidate))
    if problem is not None:
        return replace(found, detail=problem)
    assert current is not None and candidate is not None
    log, left = _log(cwd, current, candidate)
    if log:
        return replace(found, log=tuple(log), direction="ahead", truncated=left)
    log, left = _log(cwd, candidate, current)
    return replace(found, log=tuple(log), direction="behind" if log else "same", truncated=left)
