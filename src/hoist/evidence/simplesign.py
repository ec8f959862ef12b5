"""cosign's legacy "simple signing" payload (``cosign sign --key``, the ``sha256-<hex>.sig`` tag).

The payload is the layer blob of the signature manifest; the layer annotation
``dev.cosignproject.cosign/signature`` holds base64 of the ECDSA P-256 SHA-256 ASN.1 signature of exactly
those bytes. cosign writes the payload with Go's ``encoding/json`` (struct field order, no spaces, ``<``,
``>`` and ``&`` escaped as ``\\u003c`` …, ``"optional":null`` when there are no annotations)::

    {"critical":{"identity":{"docker-reference":"REPO"},"image":{"docker-manifest-digest":"sha256:HEX"},
     "type":"cosign container image signature"},"optional":null}

Only the digest binds the signature to an image: a byte-identical copy of the signature in another
repository stays valid, so :func:`verify_for_digest` checks the digest and not the reference.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from hoist.digest import Digest
from hoist.errors import InputError, IntegrityError, InvalidDigest
from hoist.evidence._util import as_object, as_str, load_json
from hoist.evidence.keys import PrivateKey, PublicKey

MEDIA_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
SIGNATURE_TYPE = "cosign container image signature"
MAX_PAYLOAD = 256 * 1024

_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


class SignedImage(NamedTuple):
    """What a simple-signing payload claims: the repository it was signed for and the manifest digest."""

    reference: str
    digest: Digest


@dataclass(frozen=True, slots=True)
class VerifiedSignature:
    """A signature that verified with ``keyid`` and whose payload names the expected digest."""

    reference: str
    digest: Digest
    keyid: str
    optional: Mapping[str, Any] | None = None


def payload(docker_reference: str, digest: Digest | str, *, optional: Mapping[str, Any] | None = None) -> bytes:
    """The payload bytes exactly as cosign writes them for ``docker_reference`` (repository, no tag)."""
    parsed = digest if isinstance(digest, Digest) else Digest.parse(digest)
    doc = {
        "critical": {
            "identity": {"docker-reference": docker_reference},
            "image": {"docker-manifest-digest": str(parsed)},
            "type": SIGNATURE_TYPE,
        },
        "optional": None if optional is None else dict(optional),
    }
    return go_json(doc)


def go_json(value: object) -> bytes:
    """``value`` as Go's ``json.Marshal`` writes it: compact, object keys sorted, HTML-safe escapes.

    Sorting matches Go for the payload: its struct fields happen to be in sorted order, and Go sorts
    ``map`` keys (``optional``).
    """
    text = json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False, allow_nan=False)
    for char, escape in _GO_ESCAPES.items():  # these characters only occur inside JSON strings
        text = text.replace(char, escape)
    return text.encode("utf-8")


def parse_payload(data: bytes) -> SignedImage:
    """The reference and digest a payload claims. Unknown ``critical`` fields are refused (the
    simple-signing rule: a consumer must understand everything critical). Parse only verified bytes."""
    doc = as_object(load_json(data, what="signature payload", limit=MAX_PAYLOAD), what="signature payload")
    critical = as_object(doc.get("critical"), what="signature payload 'critical'")
    _only(critical, {"identity", "image", "type"}, "critical")
    identity = as_object(critical.get("identity"), what="signature payload 'critical.identity'")
    image = as_object(critical.get("image"), what="signature payload 'critical.image'")
    _only(identity, {"docker-reference"}, "critical.identity")
    _only(image, {"docker-manifest-digest"}, "critical.image")
    kind = as_str(critical.get("type"), what="signature payload 'critical.type'")
    if kind != SIGNATURE_TYPE:
        raise InputError(f"signature payload has type {kind!r}, expected {SIGNATURE_TYPE!r}")
    reference = as_str(identity.get("docker-reference"), what="signature payload 'docker-reference'")
    text = as_str(image.get("docker-manifest-digest"), what="signature payload 'docker-manifest-digest'")
    try:
        digest = Digest.parse(text)
    except InvalidDigest as exc:
        raise InputError(f"signature payload: {exc.message}") from None
    return SignedImage(reference, digest)


def sign(payload_bytes: bytes, key: PrivateKey) -> str:
    """base64 of the signature, the value of the :data:`SIGNATURE_ANNOTATION` annotation."""
    return base64.b64encode(key.sign(payload_bytes)).decode("ascii")


def verify(payload_bytes: bytes, signature_b64: str, key: PublicKey) -> bool:
    """Whether ``signature_b64`` signs ``payload_bytes`` with ``key``; malformed base64 is ``False``."""
    try:
        signature = base64.b64decode(signature_b64.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    return key.verify(signature, payload_bytes)


def verify_for_digest(
    payload_bytes: bytes,
    signature_b64: str,
    keys: Sequence[PublicKey],
    *,
    digest: Digest,
    enforce: bool = False,
) -> VerifiedSignature | None:
    """Verify the signature with any of ``keys``, then parse the payload and check it names ``digest``.

    ``None`` when no key verifies or the payload names another digest; with ``enforce`` those raise
    :class:`IntegrityError` instead. A payload that verifies but does not parse is an :class:`InputError`.
    """
    key = next((k for k in keys if verify(payload_bytes, signature_b64, k)), None)
    if key is None:
        if enforce:
            raise IntegrityError(f"the signature for {digest} does not verify with the given key(s)")
        return None
    claimed = parse_payload(payload_bytes)
    if claimed.digest != digest:
        if enforce:
            raise IntegrityError(f"the signature payload names {claimed.digest}, not {digest}")
        return None
    doc = as_object(json.loads(payload_bytes), what="signature payload")
    optional = doc.get("optional")
    return VerifiedSignature(
        reference=claimed.reference,
        digest=claimed.digest,
        keyid=key.keyid,
        optional=optional if isinstance(optional, dict) else None,
    )


def _only(doc: Mapping[str, object], allowed: set[str], where: str) -> None:
    unknown = sorted(set(doc) - allowed)
    if unknown:
        raise InputError(f"signature payload has unknown critical field(s) in {where}: {', '.join(unknown)}")
