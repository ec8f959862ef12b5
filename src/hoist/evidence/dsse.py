"""DSSE envelopes (Dead Simple Signing Envelope v1), as ``cosign attest`` writes them.

An envelope is ``{"payloadType": T, "payload": base64(BODY), "signatures": [{"keyid": K, "sig": base64(S)}]}``
where ``S`` signs ``PAE(T, BODY) = b"DSSEv1 " + len(T) + b" " + T + b" " + len(BODY) + b" " + BODY``
(lengths in ASCII decimal, of the UTF-8 bytes). ``keyid`` is an unauthenticated hint (cosign writes
``""``), so every signature is tried against every key. The payload is verified before anyone parses it.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, overload

from hoist.errors import InputError, IntegrityError
from hoist.evidence._util import as_list, as_object, as_str, b64decode, load_json
from hoist.evidence.keys import PrivateKey, PublicKey

MEDIA_TYPE = "application/vnd.dsse.envelope.v1+json"
INTOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
MAX_ENVELOPE = 16 * 1024 * 1024
MAX_SIGNATURES = 16


@dataclass(frozen=True, slots=True)
class VerifiedEnvelope:
    """The authenticated content of an envelope and the keyid (:attr:`PublicKey.keyid`) that verified it."""

    payload: bytes
    payload_type: str
    keyid: str


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: the bytes that are signed."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def sign(payload: bytes, payload_type: str, key: PrivateKey | None) -> dict[str, Any]:
    """An envelope for ``payload``, signed by ``key`` (``signatures: []`` when ``key`` is ``None``)."""
    signatures = []
    if key is not None:
        sig = key.sign(pae(payload_type, payload))
        signatures.append({"keyid": key.public_key().keyid, "sig": base64.b64encode(sig).decode("ascii")})
    return {
        "payloadType": payload_type,
        "payload": base64.b64encode(payload).decode("ascii"),
        "signatures": signatures,
    }


def parse(data: bytes) -> dict[str, Any]:
    """Read an envelope's JSON and check its shape (not its signatures); malformed is an :class:`InputError`."""
    envelope = as_object(load_json(data, what="DSSE envelope", limit=MAX_ENVELOPE), what="DSSE envelope")
    _check_shape(envelope)
    return envelope


@overload
def verify(envelope: Mapping[str, Any], keys: Sequence[PublicKey], *, enforce: Literal[True]) -> VerifiedEnvelope: ...
@overload
def verify(
    envelope: Mapping[str, Any], keys: Sequence[PublicKey], *, enforce: bool = False
) -> VerifiedEnvelope | None: ...
def verify(envelope: Mapping[str, Any], keys: Sequence[PublicKey], *, enforce: bool = False) -> VerifiedEnvelope | None:
    """The payload if any signature verifies with any of ``keys``, else ``None`` (or, with ``enforce``,
    an :class:`IntegrityError`). A malformed envelope is an :class:`InputError` either way."""
    payload_type, payload, signatures = _check_shape(envelope)
    message = pae(payload_type, payload)
    for signature in signatures:
        for key in keys:
            if key.verify(signature, message):
                return VerifiedEnvelope(payload=payload, payload_type=payload_type, keyid=key.keyid)
    if enforce:
        if not signatures:
            raise IntegrityError("the DSSE envelope is not signed")
        raise IntegrityError(f"no signature on the DSSE envelope verifies with the given key(s) ({len(keys)})")
    return None


def _check_shape(envelope: Mapping[str, Any]) -> tuple[str, bytes, list[bytes]]:
    payload_type = as_str(envelope.get("payloadType"), what="DSSE envelope 'payloadType'")
    payload = b64decode(as_str(envelope.get("payload"), what="DSSE envelope 'payload'"), what="DSSE payload")
    entries = as_list(envelope.get("signatures"), what="DSSE envelope 'signatures'")
    if len(entries) > MAX_SIGNATURES:
        raise InputError(f"DSSE envelope has {len(entries)} signatures; at most {MAX_SIGNATURES} are read")
    signatures = []
    for index, entry in enumerate(entries):
        fields = as_object(entry, what=f"DSSE signature {index}")
        if fields.get("keyid") is not None:
            as_str(fields["keyid"], what=f"DSSE signature {index} 'keyid'")
        sig = as_str(fields.get("sig"), what=f"DSSE signature {index} 'sig'")
        signatures.append(b64decode(sig, what=f"DSSE signature {index} 'sig'"))
    return payload_type, payload, signatures
