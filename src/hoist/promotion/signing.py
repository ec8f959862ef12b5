"""Signed ledger records, and who may write an environment's ledger.

Every record hoist writes for an environment that has a ``key`` is signed with it: an ECDSA P-256
signature (cosign's key format) over the record's canonical JSON, which names the digest of the record
before it, so a chain of signed records cannot be rewritten by someone who only has push access. The
signature travels in the record's manifest and in every copy a later record keeps of it.

An environment's ``trust`` names the keys that may write its ledger. With it, a record without a valid
signature by one of them is *untrusted*: shown as such, never used for a decision, and ``audit verify``
fails on it. ``since`` lets a ledger that existed before signing keep its older, unsigned records.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hoist.promotion.record import Record

if TYPE_CHECKING:
    from hoist.evidence.keys import PrivateKey, PublicKey

DOMAIN = b"hoist ledger record v1\n"
"""What a signature is over, before the record: a signature made for anything else cannot pass as one."""


@dataclass(frozen=True)
class RecordSignature:
    keyid: str
    value: bytes

    def to_json(self) -> dict[str, str]:
        return {"keyid": self.keyid, "sig": base64.b64encode(self.value).decode("ascii")}

    @classmethod
    def from_json(cls, doc: Any) -> RecordSignature | None:
        """The signature in ``doc``, or None when there is none or it is unreadable (counts as unsigned)."""
        if not isinstance(doc, Mapping):
            return None
        try:
            return cls(keyid=str(doc.get("keyid", "")), value=base64.b64decode(str(doc["sig"]), validate=True))
        except (KeyError, binascii.Error, ValueError):
            return None


def signed_bytes(record: Record) -> bytes:
    return DOMAIN + record.canonical().encode()


def sign_record(record: Record, key: PrivateKey) -> RecordSignature:
    return RecordSignature(keyid=key.public_key().keyid, value=key.sign(signed_bytes(record)))


@dataclass(frozen=True)
class Trust:
    """The writers an environment's ledger accepts."""

    keys: tuple[PublicKey, ...]
    since: int = 1
    """Records with a lower sequence number predate signing: accepted unsigned."""

    def problem(self, record: Record, signature: RecordSignature | None) -> str | None:
        """Why ``record`` is not trusted, or None when it is."""
        if record.seq < self.since:
            return None
        if signature is None:
            return "not signed"
        data = signed_bytes(record)
        if any(key.verify(signature.value, data) for key in self.keys):
            return None
        if signature.keyid and all(key.keyid != signature.keyid for key in self.keys):
            return f"signed by a key not trusted here ({signature.keyid[:12]})"
        return "signature does not verify"


def describe(keys: Sequence[PublicKey]) -> str:
    return ", ".join(key.keyid[:12] for key in keys)
