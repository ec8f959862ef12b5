"""What checking carried evidence found: each piece at its source and where it was carried.

Kept apart from :mod:`hoist.evidence.reverify` (which verifies signatures and bundles, and so loads the
key code) so that a copy or promotion that carried nothing reports an empty check without loading it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from hoist.digest import Digest


class Outcome(enum.StrEnum):
    VERIFIED = "verified"
    INTACT = "intact"
    INVALID = "invalid"
    MISSING = "missing"
    UNCHECKED = "not checked"
    """At the destination, for a piece that did not verify at the source either."""


_RANK = {Outcome.VERIFIED: 3, Outcome.INTACT: 2, Outcome.INVALID: 1, Outcome.MISSING: 0}


@dataclass(frozen=True, kw_only=True)
class PieceCheck:
    """One piece of evidence, checked at the source and again at the destination."""

    artifact: str
    """The referrer's manifest digest, or the legacy tag's manifest digest at the source."""
    kind: str
    where: str
    what: str | None
    """The predicate type of an attestation, ``signature``, or the artifact type of anything else."""
    source: Outcome
    source_detail: str
    destination: Outcome
    destination_detail: str

    @property
    def lost(self) -> bool:
        """It verified (or was intact) at the source and no longer is at the destination."""
        return self.source in (Outcome.VERIFIED, Outcome.INTACT) and _RANK.get(self.destination, 0) < _RANK[self.source]

    def to_json(self) -> dict[str, Any]:
        return {
            "artifact": self.artifact,
            "kind": self.kind,
            "where": self.where,
            "what": self.what,
            "source": str(self.source),
            "source_detail": self.source_detail,
            "destination": str(self.destination),
            "destination_detail": self.destination_detail,
            "lost": self.lost,
        }

    def describe(self) -> str:
        piece = f"{self.what or self.kind} [{self.where} {self.artifact[:19]}]"
        return f"{piece}: {self.destination}: {self.destination_detail}"


@dataclass(frozen=True, kw_only=True)
class EvidenceCheck:
    """The evidence on one digest, at its source and where it was carried."""

    digest: Digest
    destination: str
    pieces: tuple[PieceCheck, ...] = ()

    @property
    def lost(self) -> tuple[PieceCheck, ...]:
        return tuple(p for p in self.pieces if p.lost)

    @property
    def ok(self) -> bool:
        return not self.lost

    def summary(self) -> str:
        """One line naming each lost piece and why (empty when none was lost)."""
        return "; ".join(p.describe() for p in self.lost)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "digest": str(self.digest),
            "destination": self.destination,
            "checked": len(self.pieces),
            "lost": len(self.lost),
            "pieces": [p.to_json() for p in self.pieces],
        }
