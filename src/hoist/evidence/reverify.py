"""Evidence re-verified where it was carried: each piece that verified at the source is read back at the
destination and checked again the same way, so a registry that dropped, rewrote or corrupted one is seen.

Every piece of evidence on the source digest (its referrers and cosign's legacy ``.sig``/``.att`` layers)
gets an :class:`Outcome` at the source:

- ``verified`` — its signature verifies: with one of the keys, or keyless (Sigstore) for the image's digest
  under the trust root, by a signer the policies allow (any signer, when there are no policies);
- ``intact`` — nothing here can check its signature (no key for it; an SBOM), but it reads back whole
  and, when it says, is about this digest;
- ``invalid`` — unreadable, about another digest, or its signature does not verify.

The pieces that were ``verified`` or ``intact`` are then read at the destination — only those: the
referrers listing (one request), each of their manifests and blobs, and the legacy tags that had one —
and checked again. A piece whose destination outcome is worse (``missing`` included) is *lost*.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hoist.digest import Digest
from hoist.errors import HoistError
from hoist.evidence import simplesign
from hoist.evidence.carried import EvidenceCheck, Outcome, PieceCheck
from hoist.evidence.collect import Checked, Item, check, read_legacy, read_referrers
from hoist.evidence.intoto import parse_statement
from hoist.evidence.keyless.bundle import is_keyless
from hoist.ops.carry import Found, find_evidence
from hoist.ops.referrers import list_referrers
from hoist.store.base import Store

if TYPE_CHECKING:
    from hoist.evidence.keyless.check import KeylessChecker
    from hoist.evidence.keys import PublicKey


@dataclass
class Checker:
    """How each piece is checked: key-based pieces with ``keys``, keyless bundles with ``keyless``."""

    keys: Sequence[PublicKey] = ()
    keyless: KeylessChecker | None = None
    _cache: dict[str, Checked] = field(default_factory=dict, repr=False)

    def outcome(self, item: Item, digest: Digest) -> tuple[Outcome, str, str | None]:
        """The piece's outcome, why, and what it is."""
        if item.problem is not None:
            return Outcome.INVALID, item.problem, item.artifact_type
        if item.kind == "other":
            return Outcome.INTACT, "read back whole (not evidence hoist verifies)", item.artifact_type
        if item.kind == "bundle" and item.bundle is not None and is_keyless(item.bundle):
            if self.keyless is None:
                return Outcome.INTACT, "keyless bundle, read back whole (no trust root to verify it)", None
            keyless = self.keyless.check(item, digest)
            what = keyless.predicate_type or "signature"
            return (Outcome.VERIFIED if keyless.valid else Outcome.INVALID), keyless.reason, what
        if self.keys:
            keyed = check(item, digest, self.keys, require_signature=True)
            if keyed.valid:
                return Outcome.VERIFIED, f"signed by key {keyed.signed_by}", keyed.predicate_type or "signature"
        return _intact(item, digest)


def _intact(item: Item, digest: Digest) -> tuple[Outcome, str, str | None]:
    """A key-based piece without a key that verifies it: whole, and about ``digest``?"""
    try:
        about, what = _about(item, digest)
    except (HoistError, ValueError, KeyError, TypeError) as exc:
        return Outcome.INVALID, f"malformed: {exc}", None
    if not about:
        return Outcome.INVALID, "for another digest", what
    return Outcome.INTACT, "whole and about this digest (no key given to verify it)", what


def _about(item: Item, digest: Digest) -> tuple[bool, str]:
    """Whether the (unverified) piece says it is about ``digest``, and what it is."""
    if item.kind == "signature" and item.payload is not None:
        return simplesign.parse_payload(item.payload).digest == digest, "signature"
    envelope = item.envelope or (item.bundle or {}).get("dsseEnvelope")
    if isinstance(envelope, dict):
        statement = parse_statement(base64.b64decode(str(envelope["payload"])))
        return statement.names(digest), statement.predicate_type
    signed = ((item.bundle or {}).get("messageSignature") or {}).get("messageDigest") or {}
    return base64.b64decode(str(signed.get("digest", ""))).hex() == digest.hex, "signature"


def reverify(
    source: Store,
    destination: Store,
    digest: Digest,
    *,
    checker: Checker,
    found: Found | None = None,
    jobs: int = 8,
) -> EvidenceCheck:
    """Check ``digest``'s evidence in ``source`` and, for each piece that verified there, again in
    ``destination`` (where it was carried). ``found`` is what :func:`~hoist.ops.carry.find_evidence`
    listed in ``source`` already (its listing is not repeated)."""
    found = found or find_evidence(source, digest)
    items = read_referrers(source, found.referrers, jobs=jobs)
    for suffix, manifest in found.legacy.items():
        items += read_legacy(source, f"{digest.fallback_tag}.{suffix}", manifest)
    at_source = [(item, checker.outcome(item, digest)) for item in items]
    good = [(item, outcome) for item, outcome in at_source if outcome[0] in (Outcome.VERIFIED, Outcome.INTACT)]
    there = _read_back(destination, digest, [item for item, _ in good], jobs=jobs)
    pieces = []
    for item, (outcome, detail, what) in at_source:
        if outcome not in (Outcome.VERIFIED, Outcome.INTACT):
            after: tuple[Outcome, str] = (Outcome.UNCHECKED, "did not verify at the source")
        else:
            copy = there.get(_key(item))
            after = (Outcome.MISSING, _missing(item)) if copy is None else checker.outcome(copy, digest)[:2]
        pieces.append(
            PieceCheck(
                artifact=item.artifact,
                kind=item.kind,
                where=item.where,
                what=what,
                source=outcome,
                source_detail=detail,
                destination=after[0],
                destination_detail=after[1],
            )
        )
    return EvidenceCheck(digest=digest, destination=str(destination.location), pieces=tuple(pieces))


def _read_back(store: Store, digest: Digest, wanted: list[Item], *, jobs: int) -> dict[str, Item]:
    """The pieces ``wanted`` as ``store`` has them now, by key: one referrers listing, the manifests and
    blobs of the wanted referrers that are listed, and the legacy tags that held a wanted piece."""
    found: dict[str, Item] = {}
    referrers = {item.artifact for item in wanted if item.where == "referrer"}
    if referrers:
        listed = [d for d in list_referrers(store, digest) if str(d.digest) in referrers]
        found.update((_key(i), i) for i in read_referrers(store, listed, jobs=jobs))
    for where in sorted({item.where for item in wanted if item.where != "referrer"}):
        tag = f"{digest.fallback_tag}.{where.removeprefix('legacy ')}"
        try:
            manifest = store.get_manifest(tag)
        except HoistError:  # gone or unreadable: every wanted piece in it shows as missing
            continue
        found.update((_key(i), i) for i in read_legacy(store, tag, manifest))
    return found


def _key(item: Item) -> str:
    """What identifies a piece on both sides: a referrer's manifest digest (the same bytes wherever it is
    copied); for a legacy layer, its content (the tag's manifest may merge in other layers)."""
    if item.where == "referrer":
        return item.artifact
    if item.problem is not None:
        return f"{item.where}:{item.artifact}:{item.problem}"
    content = json.dumps(
        [
            base64.b64encode(item.payload or b"").decode(),
            item.signature,
            item.envelope,
        ],
        sort_keys=True,
    )
    return f"{item.where}:{hashlib.sha256(content.encode()).hexdigest()}"


def _missing(item: Item) -> str:
    if item.where == "referrer":
        return "no longer listed among the image's referrers (or no longer readable)"
    return f"no longer in the {item.where} tag"
