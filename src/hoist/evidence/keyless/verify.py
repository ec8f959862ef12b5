"""Verify a Sigstore bundle about one digest, keylessly: with sigstore-python, offline, against a trust root.

What is checked (the library does the cryptography; hoist adds what it leaves to its caller):

1. the signing certificate chains to a Fulcio CA of the trust root at the signed time (transparency-log
   integration time or RFC 3161 timestamp), carries an SCT from a trusted CT log, and is a code-signing
   certificate;
2. the certificate names the required signer: issuer, subject (SAN) and claims of the
   :class:`~hoist.evidence.keyless.policy.IdentityPolicy`;
3. the transparency-log entry (Rekor v1 or v2): inclusion proof, signed checkpoint, inclusion promise, and
   that the entry is about this signature;
4. the signature: over the digest (message signature) or over the DSSE envelope;
5. for DSSE, what ``verify_dsse`` does not check: the payload is an in-toto statement, a subject of the
   statement is the digest being checked (an attestation replayed onto another image is refused), and the
   predicate type is the one asked for.

Any failure raises :class:`~hoist.errors.BundleRejected` with ``reason`` naming the check; bundles hoist
cannot read raise :class:`~hoist.errors.InputError`. Bundles from GitHub's own Sigstore instance (private
repositories: no transparency-log entry) are refused with that reason, never accepted unchecked.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from hoist.digest import Digest
from hoist.errors import BundleRejected, InputError
from hoist.evidence.intoto import PAYLOAD_TYPE, Statement, parse_statement
from hoist.evidence.keyless.bundle import dumps, kind, read_bundles, tlog_entries, unwrap
from hoist.evidence.keyless.certificate import certificate_claims, issuer, issuer_organization, sans
from hoist.evidence.keyless.identity import LibraryPolicy, Refused
from hoist.evidence.keyless.policy import IdentityPolicy
from hoist.evidence.keyless.reasons import Reason, library_reason, message, refuse, rejected
from hoist.evidence.keyless.trust import TrustRoot

if TYPE_CHECKING:
    from sigstore.models import Bundle
    from sigstore.verify import Verifier


@dataclass(frozen=True, kw_only=True)
class Verified:
    """A bundle that verified: who signed (certificate subject, issuer, claims), what (the digest, and for
    DSSE the statement) and where it was logged (``integrated_time`` only when the log's inclusion promise,
    which signs it, is there: Rekor v1)."""

    kind: str  # "message-signature" or "dsse"
    digest: Digest
    identity: str
    issuer: str
    claims: Mapping[str, str] = field(default_factory=dict)
    statement: Statement | None = None
    log_index: int | None = None
    integrated_time: datetime | None = None
    trust: str = ""

    @property
    def predicate_type(self) -> str | None:
        return self.statement.predicate_type if self.statement is not None else None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "verified": True,
            "kind": self.kind,
            "digest": str(self.digest),
            "identity": self.identity,
            "issuer": self.issuer,
            "claims": dict(self.claims),
            "predicate_type": self.predicate_type,
            "log_index": self.log_index,
            "integrated_time": self.integrated_time.isoformat().replace("+00:00", "Z")
            if self.integrated_time
            else None,
            "trusted_root": self.trust,
        }
        if self.statement is not None:
            out["subjects"] = [s.to_json() for s in self.statement.subjects]
        return out


def verify_bundle(
    bundle: bytes | Mapping[str, Any],
    *,
    subject: Digest | bytes,
    policy: IdentityPolicy,
    trust: TrustRoot,
    predicate_type: str | None = None,
) -> Verified:
    """Verify ``bundle`` (its bytes — one bundle or JSON Lines — or an already parsed bundle object) about
    ``subject`` (a digest, or the bytes of the signed file), signed as ``policy`` requires, under ``trust``.
    ``predicate_type``, when given, is required of the attestation (a message signature has none).

    With several bundles (JSON Lines), the first that verifies is returned; if none does, the first
    refusal is raised."""
    docs = read_bundles(bundle) if isinstance(bundle, bytes) else [unwrap(dict(bundle))]
    verifier = _verifier(trust)
    refusals: list[BundleRejected] = []
    for doc in docs:
        try:
            return _verify(doc, verifier, subject, policy, trust, predicate_type)
        except BundleRejected as refused:
            refusals.append(refused)
    first = refusals[0]
    if len(refusals) == 1:
        raise first
    detail = first.message.removeprefix(message(Reason(first.reason), ""))
    raise rejected(Reason(first.reason), f"none of {len(refusals)} bundles verified; the first: {detail}")


def _verify(
    doc: dict[str, Any],
    verifier: Verifier,
    subject: Digest | bytes,
    policy: IdentityPolicy,
    trust: TrustRoot,
    predicate_type: str | None,
) -> Verified:
    from sigstore.errors import CertValidationError, MetadataError, VerificationError
    from sigstore.errors import Error as SigstoreError

    what = kind(doc)
    digest = subject if isinstance(subject, Digest) else Digest.of(subject)
    if what == "message-signature":
        if predicate_type is not None:
            refuse(Reason.PREDICATE, f"a message-signature bundle has no predicate; {predicate_type} was required")
        _check_message_digest(doc, digest)
    loaded = _load(doc)
    checks = LibraryPolicy(policy)
    try:
        if what == "dsse":
            payload_type, payload = verifier.verify_dsse(loaded, checks)
        else:
            verifier.verify_artifact(subject if isinstance(subject, bytes) else _hashed(digest), loaded, checks)
    except Refused as refused:
        raise BundleRejected(message(refused.reason, refused.detail), reason=refused.reason) from None
    except CertValidationError as exc:
        raise rejected(Reason.ROOT, f"the signing certificate does not chain to the trusted root: {exc}") from None
    except VerificationError as exc:
        raise rejected(library_reason(str(exc)), str(exc)) from None
    except MetadataError as exc:
        raise rejected(Reason.ROOT, str(exc)) from None
    except (SigstoreError, ValueError) as exc:
        raise rejected(Reason.BUNDLE, str(exc)) from None
    statement = None
    if what == "dsse":
        statement = _statement(payload_type, payload, subject, predicate_type)
    entry = tlog_entries(doc)[0]
    return Verified(
        kind=what,
        digest=digest if isinstance(subject, Digest) or statement is None else _named(statement, subject),
        identity=sans(loaded.signing_certificate)[0],
        issuer=issuer(loaded.signing_certificate) or "",
        claims=certificate_claims(loaded.signing_certificate),
        statement=statement,
        log_index=_int(entry.get("logIndex")),
        integrated_time=_time(entry.get("integratedTime")) if entry.get("inclusionPromise") else None,
        trust=trust.source,
    )


# --- trust root and bundle ---------------------------------------------------------------------------


def _verifier(trust: TrustRoot) -> Verifier:
    from sigstore.errors import Error as SigstoreError
    from sigstore.verify import Verifier

    try:
        return Verifier(trusted_root=trust.root)
    except SigstoreError as exc:
        detail = str(exc)
        if "no transparency log" in detail:
            detail += (
                " (GitHub's own Sigstore instance, used for private repositories, has none): hoist verifies "
                "only signatures recorded in a transparency log"
            )
        raise rejected(Reason.ROOT, f"{trust.source}: {detail}") from None


def _load(doc: dict[str, Any]) -> Bundle:
    from sigstore.models import Bundle, InvalidBundle

    entries = tlog_entries(doc)
    if not entries:
        raise rejected(Reason.TLOG, _no_tlog_entry(doc))
    stamped = (doc.get("verificationMaterial") or {}).get("timestampVerificationData")
    if isinstance(entries[0], dict) and not entries[0].get("inclusionPromise") and not stamped:
        refuse(Reason.TIMESTAMP, "the bundle has no signed time: no inclusion promise and no RFC 3161 timestamp")
    try:
        return Bundle.from_json(dumps(doc))
    except InvalidBundle as exc:
        raise rejected(Reason.BUNDLE, f"sigstore cannot read the bundle: {exc}") from None


def _no_tlog_entry(doc: dict[str, Any]) -> str:
    why = "the bundle has no transparency log entry (no tlogEntries)"
    issuer = issuer_organization(doc)
    if issuer == "GitHub, Inc.":
        return (
            f"{why}: it was signed by GitHub's own Sigstore instance (certificate from 'GitHub, Inc.', "
            "used for private repositories), which hoist cannot verify; attest from a public repository "
            "or check it with 'gh attestation verify'"
        )
    return f"{why}: hoist verifies only signatures recorded in a transparency log"


def _check_message_digest(doc: dict[str, Any], digest: Digest) -> None:
    signed = (doc.get("messageSignature") or {}).get("messageDigest") or {}
    algorithm = {"SHA2_256": "sha256", "SHA2_384": "sha384", "SHA2_512": "sha512"}.get(signed.get("algorithm", ""))
    if digest.algorithm != "sha256":
        refuse(Reason.DIGEST, f"message signatures are checked over sha256 digests; {digest} is {digest.algorithm}")
    if algorithm is None or "digest" not in signed:
        return  # the signature itself is checked against the digest below
    try:
        value = base64.b64decode(str(signed["digest"]), validate=True).hex()
    except binascii.Error:
        refuse(Reason.BUNDLE, "the bundle's message digest is not base64")
    if algorithm != digest.algorithm or value != digest.hex:
        refuse(Reason.DIGEST, f"the bundle signs {algorithm}:{value}, not {digest}")


def _hashed(digest: Digest) -> Any:
    from sigstore.hashes import Hashed
    from sigstore_models.common.v1 import HashAlgorithm

    return Hashed(algorithm=HashAlgorithm.SHA2_256, digest=bytes.fromhex(digest.hex))


# --- DSSE statement -----------------------------------------------------------------------------------


def _statement(payload_type: str, payload: bytes, subject: Digest | bytes, predicate_type: str | None) -> Statement:
    if payload_type != PAYLOAD_TYPE:
        refuse(Reason.PREDICATE, f"the DSSE payload is {payload_type!r}, not an in-toto statement ({PAYLOAD_TYPE})")
    try:
        statement = parse_statement(payload)
    except InputError as exc:
        refuse(Reason.PREDICATE, f"the signed statement is malformed: {exc}")
    wanted = _wanted(statement, subject)
    if not any(statement.names(d) for d in wanted):
        about = ", ".join(f"{a}:{h}" for s in statement.subjects for a, h in s.digest.items()) or "nothing"
        refuse(
            Reason.DIGEST,
            f"no in-toto subject digest matches {' or '.join(map(str, wanted))} (the attestation is about {about})",
        )
    if predicate_type is not None and statement.predicate_type != predicate_type:
        refuse(Reason.PREDICATE, f"predicateType is {statement.predicate_type!r}, not {predicate_type!r}")
    return statement


def _wanted(statement: Statement, subject: Digest | bytes) -> Sequence[Digest]:
    if isinstance(subject, Digest):
        return [subject]
    algorithms = {a for s in statement.subjects for a in s.digest} & {"sha256", "sha512"}
    return [Digest.of(subject, algorithm) for algorithm in sorted(algorithms or {"sha256"})]


def _named(statement: Statement, subject: bytes) -> Digest:
    return next(d for d in _wanted(statement, subject) if statement.names(d))


def _int(value: object) -> int | None:
    try:
        return int(str(value)) if value is not None else None
    except ValueError:
        return None


def _time(value: object) -> datetime | None:
    seconds = _int(value)
    return datetime.fromtimestamp(seconds, tz=UTC) if seconds else None


__all__ = ["Reason", "Verified", "certificate_claims", "verify_bundle"]
