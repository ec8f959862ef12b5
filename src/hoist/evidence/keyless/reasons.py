"""Why a bundle was refused: the check, as :attr:`hoist.errors.BundleRejected.reason`, and the one-line message."""

from __future__ import annotations

from enum import StrEnum
from typing import NoReturn

from hoist.errors import BundleRejected


class Reason(StrEnum):
    """The check that refused a bundle (:attr:`hoist.errors.BundleRejected.reason`)."""

    IDENTITY = "identity"
    ISSUER = "issuer"
    DIGEST = "digest"
    PREDICATE = "predicate"
    SIGNATURE = "signature"
    ROOT = "root"
    TLOG = "transparency log"
    TIMESTAMP = "timestamp"
    BUNDLE = "bundle"


# sigstore raises one VerificationError class for every failed check; which check it was shows only in
# its message. This table, in one place, names the check for hoist's reason (tested case by case).
_LIBRARY_REASONS: tuple[tuple[str, Reason], ...] = (
    ("SCT", Reason.ROOT),
    ("log entry", Reason.TLOG),
    ("Integrated time", Reason.TLOG),
    ("imestamp", Reason.TIMESTAMP),
    ("verified time", Reason.TIMESTAMP),
    ("inclusion", Reason.TLOG),
    ("checkpoint", Reason.TLOG),
    ("SET:", Reason.TLOG),
    ("message digest", Reason.DIGEST),
    ("usage", Reason.ROOT),
    ("expired", Reason.ROOT),
    ("ignature", Reason.SIGNATURE),
)


def library_reason(message: str) -> Reason:
    return next((reason for text, reason in _LIBRARY_REASONS if text in message), Reason.BUNDLE)


def message(reason: Reason, detail: str) -> str:
    return f"bundle rejected: {reason}: {' '.join(detail.split())}"


def rejected(reason: Reason, detail: str) -> BundleRejected:
    return BundleRejected(message(reason, detail), reason=reason)


def refuse(reason: Reason, detail: str) -> NoReturn:
    raise rejected(reason, detail)
