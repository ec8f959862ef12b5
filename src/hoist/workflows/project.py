"""What ``hoist init`` writes about: the images, the production branch, the test command, the hoist action.

Staging and production share one repository (``…/app:staging`` and ``…/app:production``), so a promotion
is a same-repository retag: no blob moves, the digest is the one that was tested.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from hoist.errors import HoistError, InputError
from hoist.ref import LayoutRef, Reference, RegistryRef, parse_reference
from hoist.workflows.pins import Pin

PLACEHOLDER_IMAGE = "ghcr.io/owner/app:staging"
STAGING_TAG = "staging"
PRODUCTION_TAG = "production"
DEFAULT_BRANCH = "main"
DEFAULT_TEST_COMMAND = "./scripts/smoke-test.sh"
GHCR = "ghcr.io"

_GITHUB_REMOTE = re.compile(r"github\.com[:/]+([A-Za-z0-9-]+)/([A-Za-z0-9._-]+?)(?:\.git)?/*$")
_BRANCH = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._/-]{0,199}$")
_RESERVED_TAGS = (PRODUCTION_TAG, "latest")


@dataclass(frozen=True, kw_only=True)
class Project:
    staging: Reference
    production: Reference
    action: Pin
    branch: str = DEFAULT_BRANCH
    test_command: str = DEFAULT_TEST_COMMAND
    keyless: bool = False
    """Staging attests each build's provenance (Sigstore); production's provenance gate checks it."""
    github_repository: str | None = None
    """``OWNER/REPO`` on GitHub, whose workflows the provenance gate accepts (None: unknown)."""

    @property
    def registry(self) -> str | None:
        return self.staging.registry if isinstance(self.staging, RegistryRef) else None

    @property
    def repository(self) -> str:
        """``registry/repository`` without a tag: where the immutable ``sha-<commit>`` tags go."""
        return self.staging.name


def staging_image(text: str | None, directory: Path) -> Reference:
    """``--image`` (or a guess from the git remote): a tag, not a digest; no tag means ``:staging``."""
    text = text.strip() if text is not None else default_image(directory)
    try:
        ref = parse_reference(text)
    except HoistError as exc:
        raise InputError(f"--image: {exc}") from exc
    if ref.digest is not None:
        raise InputError(f"--image {text!r}: give staging's tag (such as {ref.name}:staging), not a digest")
    if not _has_tag(text):
        ref = ref.with_tag(STAGING_TAG)
    if ref.tag in _RESERVED_TAGS:
        raise InputError(
            f"--image {text!r}: production uses the tags {', '.join(_RESERVED_TAGS)} in the same repository;"
            f" give staging another tag, such as {ref.name}:staging"
        )
    return ref


def production_image(staging: Reference) -> Reference:
    return staging.with_tag(PRODUCTION_TAG)


def check_github(project: Project) -> None:
    """The workflows build and push with docker: they need a registry, not an OCI layout directory."""
    if isinstance(project.staging, LayoutRef):
        raise InputError(f"--github: the workflows push to a registry; {project.staging} is an OCI layout directory")


def check_branch(branch: str) -> str:
    if not _BRANCH.match(branch) or ".." in branch or branch.endswith(("/", ".lock", ".")):
        raise InputError(f"--branch {branch!r}: not a branch name")
    return branch


def check_test_command(command: str) -> str:
    """One line that splits like a shell command line (the action splits it the same way, never evaluates it)."""
    command = command.strip()
    if not command:
        raise InputError("--test-command: give the command that tests staging, such as ./scripts/smoke-test.sh")
    if "${{" in command or any(ord(c) < 32 or ord(c) == 127 for c in command):
        raise InputError(f"--test-command {command!r}: one line of plain text, without ${{{{ expressions }}}}")
    try:
        shlex.split(command)
    except ValueError as exc:
        raise InputError(f"--test-command {command!r}: {exc}") from exc
    return command


def default_image(directory: Path) -> str:
    """``ghcr.io/<owner>/<repo>:staging`` from the ``origin`` remote on GitHub, else a placeholder."""
    url = origin_url(directory)
    match = _GITHUB_REMOTE.search(url) if url else None
    if match is None:
        return PLACEHOLDER_IMAGE
    guess = f"{GHCR}/{match.group(1).lower()}/{match.group(2).lower()}:{STAGING_TAG}"
    try:
        parse_reference(guess)
    except HoistError:
        return PLACEHOLDER_IMAGE
    return guess


def github_repository(directory: Path, staging: Reference) -> str | None:
    """``OWNER/REPO`` from the ``origin`` remote on GitHub, else from a ``ghcr.io/OWNER/REPO`` image."""
    url = origin_url(directory)
    match = _GITHUB_REMOTE.search(url) if url else None
    if match is not None:
        return f"{match.group(1)}/{match.group(2)}"
    if isinstance(staging, RegistryRef) and staging.registry == GHCR and staging.repository.count("/") == 1:
        return staging.repository
    return None


def origin_url(directory: Path) -> str | None:
    """The ``url`` of ``[remote "origin"]`` in ``DIR/.git/config`` (read, not run: no git needed)."""
    try:
        text = (directory / ".git" / "config").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    in_origin = False
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("["):
            in_origin = re.fullmatch(r'\[\s*remote\s+"origin"\s*\]', line) is not None
        elif in_origin:
            key, sep, value = line.partition("=")
            if sep and key.strip().lower() == "url":
                return value.strip()
    return None


def _has_tag(text: str) -> bool:
    """Whether the reference names a tag (``parse_reference`` fills in ``latest`` when it does not)."""
    body = text.split("@", 1)[0]
    if body.startswith("oci:"):
        return ":" in body[len("oci:") :]
    return body.rfind(":") > body.rfind("/")
