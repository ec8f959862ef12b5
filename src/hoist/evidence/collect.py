"""Find the evidence about one digest in a store, and check each piece against the keys that must sign it.

Where evidence is found: the digest's referrers (the OCI 1.1 API or the ``sha256-<hex>`` fallback
tag) — hoist's DSSE attestations and cosign's Sigstore bundles — and cosign's legacy tags
``sha256-<hex>.sig`` (simple-signing payloads) and ``sha256-<hex>.att`` (DSSE envelopes).

A piece that cannot be read back intact (its bytes no longer match their digest), whose signature does
not verify with the configured keys, or that speaks of another digest counts as absent.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hoist.digest import Digest
from hoist.errors import HoistError, NotFound
from hoist.evidence import dsse, simplesign
from hoist.evidence.attach import BUNDLE_TYPE, DSSE_TYPE
from hoist.evidence.intoto import (
    TEST_RESULT_PREDICATE,
    VULN_PREDICATE,
    Evidence,
    TestResult,
    VulnScan,
    parse_statement,
    read_evidence,
)
from hoist.evidence.keyless.bundle import is_keyless
from hoist.evidence.keys import PublicKey
from hoist.manifest import Descriptor, Manifest, parse_manifest
from hoist.ops.referrers import list_referrers
from hoist.store.base import Store

MAX_ARTIFACT = 16 * 1024 * 1024
LEDGER_TYPE = "application/vnd.hoist.ledger.record.v1+json"
COSIGN_CERTIFICATE = "dev.sigstore.cosign/certificate"
LEGACY_KEYLESS = (
    "cosign's legacy keyless signature (a certificate in the .sig tag, with no transparency-log inclusion "
    "proof hoist can check): sign with cosign 3, which writes a Sigstore bundle"
)


@dataclass(frozen=True)
class Item:
    """One piece of evidence as stored, not yet checked."""

    kind: str  # "attestation", "signature", "bundle" or "other"
    where: str  # "referrer", "legacy .sig" or "legacy .att"
    artifact: str  # the digest of the manifest holding it
    artifact_type: str | None = None
    created: str | None = None
    envelope: dict[str, Any] | None = None
    payload: bytes | None = None
    signature: str | None = None
    bundle: dict[str, Any] | None = None
    problem: str | None = None
    certificate: bool = False
    """A legacy ``.sig`` layer that carries a Fulcio certificate (cosign's keyless signature before bundles)."""


@dataclass
class Checked:
    """A piece of evidence and what checking it showed."""

    item: Item
    valid: bool
    reason: str
    signed_by: str | None = None
    predicate_type: str | None = None
    evidence: Evidence | None = None

    @property
    def time(self) -> datetime | None:
        return self.evidence.time if self.evidence is not None else None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.item.kind,
            "where": self.item.where,
            "artifact": self.item.artifact,
            "valid": self.valid,
            "reason": self.reason,
            "signed_by": self.signed_by,
            "predicate_type": self.predicate_type,
        }
        if isinstance(self.evidence, TestResult):
            out["result"] = str(self.evidence.result)
        if isinstance(self.evidence, VulnScan):
            out["counts"] = self.evidence.counts.to_json()
        if self.time is not None:
            out["time"] = self.time.isoformat().replace("+00:00", "Z")
        return out


def collect(store: Store, digest: Digest, *, jobs: int = 8) -> list[Item]:
    """Every piece of evidence about ``digest`` in ``store`` (ledger records excluded)."""
    with ThreadPoolExecutor(max_workers=max(jobs, 3), thread_name_prefix="hoist-evidence") as pool:
        referrers = pool.submit(list_referrers, store, digest)
        sig = pool.submit(_legacy, store, f"{digest.fallback_tag}.sig", "signature")
        att = pool.submit(_legacy, store, f"{digest.fallback_tag}.att", "attestation")
        found = [d for d in referrers.result() if d.artifact_type != LEDGER_TYPE]
        items = list(pool.map(lambda d: _referrer(store, d), found))
        return items + sig.result() + att.result()


def _referrer(store: Store, descriptor: Descriptor) -> Item:
    artifact = str(descriptor.digest)
    try:
        manifest = store.get_manifest(descriptor.digest)
        parsed = parse_manifest(manifest)
        created = parsed.annotations.get("org.opencontainers.image.created")
        kind_of = parsed.artifact_type
        if kind_of not in (DSSE_TYPE, BUNDLE_TYPE) or not parsed.layers:
            return Item("other", "referrer", artifact, kind_of, created)
        blob = store.read_blob(parsed.layers[0], max_size=MAX_ARTIFACT)
        if kind_of == DSSE_TYPE:
            return Item("attestation", "referrer", artifact, kind_of, created, envelope=dsse.parse(blob))
        return Item("bundle", "referrer", artifact, kind_of, created, bundle=json.loads(blob))
    except (HoistError, ValueError) as exc:
        return Item("other", "referrer", artifact, descriptor.artifact_type, problem=f"unreadable: {exc}")


def read_referrers(store: Store, descriptors: Sequence[Descriptor], *, jobs: int = 8) -> list[Item]:
    """The pieces of evidence ``descriptors`` (referrers already listed) name, read from ``store``."""
    if not descriptors:
        return []
    with ThreadPoolExecutor(
        max_workers=max(1, min(jobs, len(descriptors))), thread_name_prefix="hoist-evidence"
    ) as pool:
        return list(pool.map(lambda d: _referrer(store, d), descriptors))


def read_legacy(store: Store, tag: str, manifest: Manifest) -> list[Item]:
    """The pieces of evidence in cosign's legacy tag ``tag`` (``….sig`` or ``….att``), whose manifest was
    read already; other tags hold nothing hoist checks."""
    kind = {"sig": "signature", "att": "attestation"}.get(tag.rsplit(".", 1)[-1])
    return _legacy_items(store, tag, kind, manifest) if kind is not None else []


def _legacy(store: Store, tag: str, kind: str) -> list[Item]:
    where = f"legacy {tag.rsplit('.', 1)[1]}"
    try:
        manifest = store.get_manifest(tag)
    except NotFound:
        return []
    except HoistError as exc:
        return [Item(kind, where, tag, problem=f"unreadable: {exc}")]
    return _legacy_items(store, tag, kind, manifest)


def _legacy_items(store: Store, tag: str, kind: str, manifest: Manifest) -> list[Item]:
    where = f"legacy {tag.rsplit('.', 1)[1]}"
    items = []
    for layer in parse_manifest(manifest).layers:
        try:
            blob = store.read_blob(layer, max_size=MAX_ARTIFACT)
        except HoistError as exc:
            items.append(Item(kind, where, str(manifest.digest), problem=f"unreadable: {exc}"))
            continue
        if layer.media_type == simplesign.MEDIA_TYPE:
            signature = layer.annotations.get(simplesign.SIGNATURE_ANNOTATION, "")
            keyless = COSIGN_CERTIFICATE in layer.annotations
            item = Item(
                "signature", where, str(manifest.digest), payload=blob, signature=signature, certificate=keyless
            )
            items.append(item)
        elif layer.media_type == dsse.MEDIA_TYPE:
            try:
                items.append(Item("attestation", where, str(manifest.digest), envelope=dsse.parse(blob)))
            except HoistError as exc:
                items.append(Item("attestation", where, str(manifest.digest), problem=f"malformed: {exc}"))
    return items


def check(item: Item, digest: Digest, keys: Sequence[PublicKey], *, require_signature: bool) -> Checked:
    """Check one piece: readable, signed by one of ``keys`` (when given or required), about ``digest``."""
    if item.problem is not None:
        return Checked(item, False, item.problem)
    try:
        if item.kind == "signature":
            return _check_signature(item, digest, keys)
        if item.kind == "attestation" and item.envelope is not None:
            return _check_attestation(item, item.envelope, digest, keys, require_signature=require_signature)
        if item.kind == "bundle" and item.bundle is not None:
            return _check_bundle(item, digest, keys)
    except (HoistError, ValueError, KeyError, TypeError) as exc:
        return Checked(item, False, f"malformed: {exc}")
    return Checked(item, False, f"not evidence hoist reads ({item.artifact_type})")


def _check_signature(item: Item, digest: Digest, keys: Sequence[PublicKey]) -> Checked:
    assert item.payload is not None
    if item.certificate:
        return Checked(item, False, LEGACY_KEYLESS)
    if not keys:
        return Checked(item, False, "no key to check the signature with")
    verified = simplesign.verify_for_digest(item.payload, item.signature or "", keys, digest=digest)
    if verified is None:
        return Checked(item, False, "signature invalid, by an unknown key, or for another digest")
    return Checked(item, True, "cosign signature verifies", signed_by=verified.keyid)


def _check_attestation(
    item: Item, envelope: dict[str, Any], digest: Digest, keys: Sequence[PublicKey], *, require_signature: bool
) -> Checked:
    if keys:
        verified = dsse.verify(envelope, keys)
        if verified is None:
            why = "unsigned" if not envelope.get("signatures") else "signature invalid or by an unknown key"
            return Checked(item, False, why)
        payload, signed_by = verified.payload, verified.keyid
    elif require_signature:
        return Checked(item, False, "no key to check the signature with")
    else:
        payload, signed_by = base64.b64decode(str(envelope["payload"])), None
    statement = parse_statement(payload)
    if not statement.names(digest):
        return Checked(item, False, "for another digest", signed_by, statement.predicate_type)
    reason = "signed and verified" if signed_by else "unsigned (no key configured to require a signature)"
    if statement.predicate_type not in (TEST_RESULT_PREDICATE, VULN_PREDICATE):
        return Checked(item, True, reason, signed_by, statement.predicate_type)
    evidence = read_evidence(statement, digest=digest)
    return Checked(item, True, reason, signed_by, statement.predicate_type, evidence)


def _check_bundle(item: Item, digest: Digest, keys: Sequence[PublicKey]) -> Checked:
    """cosign's OCI 1.1 bundles, key-based: a message signature over the image manifest digest, or a DSSE
    envelope whose statement names the digest."""
    bundle = item.bundle or {}
    if is_keyless(bundle):
        return Checked(item, False, "keyless (Sigstore) bundle: verified against an identity, not a key")
    if "dsseEnvelope" in bundle:
        return _check_attestation(item, bundle["dsseEnvelope"], digest, keys, require_signature=True)
    message = bundle.get("messageSignature") or {}
    try:
        signed_digest = base64.b64decode(str(message["messageDigest"]["digest"]))
        signature = base64.b64decode(str(message["signature"]))
    except (KeyError, TypeError, binascii.Error) as exc:
        return Checked(item, False, f"malformed bundle: {exc}")
    if signed_digest.hex() != digest.hex:
        return Checked(item, False, "bundle signs another digest")
    key = next((k for k in keys if k.verify_digest(signature, signed_digest)), None)
    if key is None:
        return Checked(item, False, "bundle signature invalid or by an unknown key")
    return Checked(item, True, "sigstore bundle verifies", signed_by=key.keyid)


@dataclass
class EvidenceReport:
    digest: str
    checked: list[Checked] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"digest": self.digest, "evidence": [c.to_json() for c in self.checked]}
