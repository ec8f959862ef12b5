"""Reading Sigstore bundles as they are found: one bundle per file (``cosign --bundle``, ``sigstore sign``,
a referrer's layer), JSON Lines as ``gh attestation download`` writes them (one bundle per line; lines may
also be ``{"bundle": …}`` objects), or the ``{"attestations": [{"bundle": …}, …]}`` answer of GitHub's
attestations API."""

from __future__ import annotations

import json
from typing import Any

from hoist.errors import InputError
from hoist.evidence._util import load_json

MAX_BUNDLE = 16 * 1024 * 1024
_MEDIA_PREFIX = "application/vnd.dev.sigstore.bundle"


def read_bundles(data: bytes, *, what: str = "bundle") -> list[dict[str, Any]]:
    """The bundles in ``data``; :class:`InputError` if it holds none."""
    if len(data) > MAX_BUNDLE:
        raise InputError(f"{what} is larger than {MAX_BUNDLE} bytes")
    try:
        doc = load_json(data, what=what, limit=MAX_BUNDLE)
        docs = [doc]
    except InputError:
        lines = [line for line in data.splitlines() if line.strip()]
        if len(lines) < 2:
            raise
        docs = [load_json(line, what=f"{what} line {n}", limit=MAX_BUNDLE) for n, line in enumerate(lines, 1)]
    if len(docs) == 1 and isinstance(docs[0], dict) and isinstance(docs[0].get("attestations"), list):
        docs = docs[0]["attestations"]  # GitHub's attestations API: {"attestations": [{"bundle": …}, …]}
    bundles = [unwrap(doc, what=what if len(docs) == 1 else f"{what} item {n}") for n, doc in enumerate(docs, 1)]
    if not bundles:
        raise InputError(f"{what} holds no Sigstore bundle")
    return bundles


def unwrap(doc: object, *, what: str = "bundle") -> dict[str, Any]:
    """A bundle object, taken out of a ``{"bundle": …}`` wrapper when there is one."""
    if isinstance(doc, dict) and "mediaType" not in doc and isinstance(doc.get("bundle"), dict):
        doc = doc["bundle"]
    if not isinstance(doc, dict) or not str(doc.get("mediaType", "")).startswith(_MEDIA_PREFIX):
        raise InputError(
            f"{what} is not a Sigstore bundle (expected a JSON object whose mediaType is {_MEDIA_PREFIX}…)"
        )
    return doc


def kind(doc: dict[str, Any]) -> str:
    """``"dsse"`` or ``"message-signature"``."""
    return "dsse" if "dsseEnvelope" in doc else "message-signature"


def tlog_entries(doc: dict[str, Any]) -> list[Any]:
    material = doc.get("verificationMaterial")
    entries = material.get("tlogEntries") if isinstance(material, dict) else None
    return entries if isinstance(entries, list) else []


def dumps(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


def is_keyless(doc: dict[str, Any]) -> bool:
    """Signed with a Fulcio certificate (``certificate`` or ``x509CertificateChain``), not a key
    (``publicKey``)."""
    material = doc.get("verificationMaterial")
    return isinstance(material, dict) and ("certificate" in material or "x509CertificateChain" in material)


def claimed_predicate(doc: dict[str, Any]) -> str | None:
    """The predicate type a DSSE bundle's statement *claims*, read without verifying anything: only to
    tell a signature from an attestation before checking it (``None`` for a message signature, or a payload
    that is not an in-toto statement)."""
    import base64
    import binascii

    envelope = doc.get("dsseEnvelope")
    if not isinstance(envelope, dict):
        return None
    try:
        statement = json.loads(base64.b64decode(str(envelope.get("payload", "")), validate=True))
    except (binascii.Error, ValueError):
        return None
    predicate = statement.get("predicateType") if isinstance(statement, dict) else None
    return predicate if isinstance(predicate, str) else None
