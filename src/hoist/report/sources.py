"""Where a report's inputs come from: an environment's ledger (back to the window's start), and git."""

from __future__ import annotations

import re
import subprocess
from datetime import datetime
from pathlib import Path

from hoist.clock import parse_time_or_none
from hoist.promotion.ledger import Ledger
from hoist.promotion.record import Record

_SHA = re.compile(r"^[0-9a-fA-F]{7,64}$")


def records_since(ledger: Ledger, start: datetime) -> list[Record]:
    """The ledger's records, newest first, back to (and including) the first one older than ``start``.

    Each record manifest carries copies of the records before it and names more, which are read in
    parallel (:meth:`Ledger.history`); a record without a readable time does not stop the walk.
    """

    def older(record: Record) -> bool:
        moment = record.moment
        return moment is not None and moment < start

    entries = ledger.history(None, until=older)
    trust = ledger.trust  # records no trusted writer signed say nothing the report can count on
    return [e.record for e in entries if trust is None or trust.problem(e.record, e.signature) is None]


class GitCommitTimes:
    """Committer times from the git repository in ``cwd`` (``git show -s --format=%cI SHA``), cached.

    A sha the repository does not have (a shallow CI clone, another repository), or no git at all,
    gives ``None``.
    """

    def __init__(self, cwd: Path | None = None) -> None:
        self.cwd = cwd
        self._known: dict[str, datetime | None] = {}

    def __call__(self, sha: str) -> datetime | None:
        if sha not in self._known:
            self._known[sha] = self._lookup(sha)
        return self._known[sha]

    def _lookup(self, sha: str) -> datetime | None:
        if not _SHA.match(sha):
            return None  # also keeps anything that looks like an option away from git
        try:
            done = subprocess.run(  # noqa: S603 - a fixed git invocation with a checked hex argument
                ["git", "show", "-s", "--format=%cI", f"{sha}^{{commit}}"],  # noqa: S607 - git from PATH
                cwd=self.cwd,
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        if done.returncode != 0:
            return None
        return parse_time_or_none(done.stdout.strip())
