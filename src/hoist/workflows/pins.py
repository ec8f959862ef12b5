"""The third-party actions the generated workflows use, each pinned to the full commit SHA of a release tag.

A tag can be moved; a commit SHA cannot, so every ``uses:`` names a 40-hex commit and a ``# vX.Y.Z``
comment says which release it is (Dependabot and Renovate understand that form and keep both current).

Where each SHA came from (public records of the tag's commit, cross-checked; no tag was resolved here):

- ``actions/checkout`` v7.0.1: Dependabot's "Bump actions/checkout from 7.0.0 to 7.0.1" compares
  ``9c091bb2…`` (v7.0.0) with ``3d3c42e5…`` (ChrisCarini/jetbrains-auto-power-saver#811, 2026-07-21),
  and a runner log resolves ``actions/checkout@v7`` to ``3d3c42e5…`` (2026-09-12).
- ``actions/setup-python`` v7.0.0: Dependabot's "Bump actions/setup-python from 6.3.0 to 7.0.0" compares
  ``ece7cb06…`` (v6.3.0) with ``5fda3b95…`` (ms609/citation-bot#6023, 2026-09-16).
- ``docker/setup-buildx-action`` v4.4.1: Dependabot's "bump docker/setup-buildx-action from 4.3.0 to
  4.4.1" compares ``37fe6310…`` (v4.3.0) with ``f87e5991…`` (projectcontour/contour #7737, 2026-09-21).
- ``docker/login-action`` v4.6.0: Dependabot's "Bump docker/login-action from 4.4.0 to 4.6.0" compares
  ``af1e73f9…`` with ``dbcb8138…``; roostorg/coop#1165 derived the same SHA from the tag through the
  API (2026-09-10), and a runner log resolves ``docker/login-action@v4`` to it (2026-09-12).
- ``docker/build-push-action`` v7.4.0: Dependabot's "bump docker/build-push-action from 7.3.0 to 7.4.0"
  compares ``53b7df96…`` (v7.3.0) with ``c3c9e263…`` (ghostty-org/ghostty's history, 2026-09).
- ``actions/attest-build-provenance`` v4.2.2 (released 2026-08-06; the newest in a release survey of
  2026-10-08): ``4d101475…``, read from the tag with ``git ls-remote`` and ``gh api`` in several projects'
  pin tables, and pinned by release workflows whose reviews checked it against the tag; Renovate's
  "Update actions/attest-build-provenance action to v4.2.2" (plengauer/Thoth#3916) moved v4.1.1
  (``0f67c3f4…``) to it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hoist.errors import InputError

SHA = re.compile(r"^[0-9a-f]{40}$")
_REPO = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}(?:/[A-Za-z0-9._/-]+)?$")


@dataclass(frozen=True, slots=True)
class Pin:
    """``owner/repo[/path]@<40-hex sha>`` and the release it is."""

    repo: str
    sha: str
    version: str

    @property
    def uses(self) -> str:
        """What follows ``uses:``, with the release as a trailing comment."""
        return f"{self.repo}@{self.sha} # {self.version}"


CHECKOUT = Pin("actions/checkout", "3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1")
SETUP_PYTHON = Pin("actions/setup-python", "5fda3b95a4ea91299a34e894583c3862153e4b97", "v7.0.0")
SETUP_BUILDX = Pin("docker/setup-buildx-action", "f87e5991a6d7451dcb8d9637bfbc97413f497069", "v4.4.1")
LOGIN = Pin("docker/login-action", "dbcb813823bdd20940b903addbd779551569679f", "v4.6.0")
BUILD_PUSH = Pin("docker/build-push-action", "c3c9e263c25d99ce0380d002d59b67737d91b0dc", "v7.4.0")
ATTEST_PROVENANCE = Pin("actions/attest-build-provenance", "4d101475d8b20a2381f78447822ac1eab6504dd8", "v4.2.2")

THIRD_PARTY = (CHECKOUT, SETUP_PYTHON, SETUP_BUILDX, LOGIN, BUILD_PUSH, ATTEST_PROVENANCE)

PLACEHOLDER_ACTION = "OWNER/hoist@" + "0" * 40
"""The default ``--action``: it lints, and fails at its first run until it names the real repository and commit."""


def parse_action(text: str, *, version: str) -> Pin:
    """``OWNER/REPO@SHA`` (a full commit SHA: a tag or branch could be moved under the workflows).

    ``version`` is what the ``# vX.Y.Z`` comment names: the hoist that wrote the workflows.
    """
    repo, sep, ref = text.strip().partition("@")
    if not sep or not _REPO.match(repo):
        raise InputError(f"--action {text!r}: expected OWNER/REPO@SHA, such as acme/hoist@{'0' * 40}")
    if not SHA.match(ref):
        raise InputError(
            f"--action {text!r}: pin hoist to a full 40-character commit SHA, not {ref!r} (a tag or branch can move)"
        )
    return Pin(repo, ref, f"v{version}")
