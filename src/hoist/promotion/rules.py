"""Rules a promotion, rollback or release must pass, and the one explicit way to set them aside.

Gates and other rules are enforced by the core itself, so every caller (the command line, the Python
API, the GitHub action) gets the same decisions. Setting a refusing rule aside takes an
:class:`Override` with a reason; the ledger records it (who, why, which rules).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from hoist.errors import GateRefused, InputError
from hoist.promotion.record import GateResult, OverrideInfo


@dataclass(frozen=True)
class Override:
    """Set refusing rules aside, for a reason the ledger keeps.

    ``rules`` limits the override to those rules (gate names such as ``"signature"``); by default it
    covers any rule that refuses.
    """

    reason: str
    rules: frozenset[str] | None = None

    def __init__(self, reason: str, *, rules: Iterable[str] | None = None) -> None:
        if not reason or not reason.strip():
            raise InputError("an override needs a reason: the ledger keeps it")
        object.__setattr__(self, "reason", reason.strip())
        object.__setattr__(self, "rules", frozenset(rules) if rules is not None else None)

    def covers(self, rule: str) -> bool:
        return self.rules is None or rule in self.rules


def decide(
    results: Sequence[GateResult], *, override: Override | None, what: str, subject: object = None
) -> tuple[tuple[GateResult, ...], OverrideInfo | None]:
    """Refuse (:class:`GateRefused`) unless every rule passed or the override covers each refusal.

    Returns the results (refusals marked overridden) and what the ledger records of the override.
    """
    refused = [r for r in results if not r.passed]
    uncovered = [r for r in refused if override is None or not override.covers(r.gate)]
    if uncovered:
        listing = "; ".join(f"{r.gate}{f' [{r.member}]' if r.member else ''}: {r.detail}" for r in uncovered)
        raise GateRefused(
            f"{what} refused by {len(uncovered)} of {len(results)} rule(s): {listing}",
            results=tuple(results),
            subject=str(subject) if subject is not None else None,
        )
    marked = tuple(replace(r, overridden=True) if not r.passed else r for r in results)
    if override is None:
        return marked, None
    return marked, OverrideInfo(reason=override.reason, rules=tuple(r.gate for r in refused))
