"""Content digests: ``algorithm:hex`` per the OCI image spec, and streaming verification."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from hoist.errors import DigestMismatch, InvalidDigest

_ALGORITHM = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*$")
_HEX_LENGTH = {"sha256": 64, "sha512": 128}
_ENCODED = re.compile(r"^[a-f0-9]+$")


@dataclass(frozen=True, slots=True, order=True)
class Digest:
    """A content digest such as ``sha256:2c26…``; only registered algorithms are accepted."""

    algorithm: str
    hex: str

    @classmethod
    def parse(cls, text: str) -> Digest:
        algorithm, sep, encoded = text.partition(":")
        if not sep or not _ALGORITHM.match(algorithm):
            raise InvalidDigest(f"invalid digest {text!r}: expected 'sha256:' followed by 64 hex digits")
        expected = _HEX_LENGTH.get(algorithm)
        if expected is None:
            raise InvalidDigest(f"unsupported digest algorithm {algorithm!r} in {text!r}: use sha256 or sha512")
        if len(encoded) != expected or not _ENCODED.match(encoded):
            raise InvalidDigest(
                f"invalid digest {text!r}: expected {expected} lowercase hex digits after '{algorithm}:'"
            )
        return cls(algorithm, encoded)

    @classmethod
    def of(cls, data: bytes, algorithm: str = "sha256") -> Digest:
        return cls(algorithm, hashlib.new(algorithm, data).hexdigest())

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"

    @property
    def short(self) -> str:
        """The first 12 hex digits, as docker shows image IDs."""
        return self.hex[:12]

    @property
    def fallback_tag(self) -> str:
        """The referrers fallback tag for this digest: ``sha256-<hex>``."""
        return f"{self.algorithm}-{self.hex}"

    def hasher(self) -> Hasher:
        return Hasher(self)

    def verify(self, data: bytes, what: str) -> None:
        actual = Digest.of(data, self.algorithm)
        if actual != self:
            raise DigestMismatch(f"{what}: content has digest {actual}, expected {self}")


class Hasher:
    """Incremental digest of a stream, checked against the digest it should have."""

    def __init__(self, expected: Digest) -> None:
        self.expected = expected
        self._hash = hashlib.new(expected.algorithm)
        self.size = 0

    def update(self, chunk: bytes) -> None:
        self._hash.update(chunk)
        self.size += len(chunk)

    def copy(self) -> Hasher:
        clone = Hasher.__new__(Hasher)
        clone.expected = self.expected
        clone._hash = self._hash.copy()
        clone.size = self.size
        return clone

    def actual(self) -> Digest:
        return Digest(self.expected.algorithm, self._hash.hexdigest())

    def check(self, what: str, *, size: int | None = None) -> None:
        if size is not None and self.size != size:
            raise DigestMismatch(f"{what}: received {self.size} bytes, expected {size}")
        actual = self.actual()
        if actual != self.expected:
            raise DigestMismatch(f"{what}: content has digest {actual}, expected {self.expected}")
