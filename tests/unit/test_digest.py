"""Digests: parsing says what is wrong with a bad one, and the checks compare every byte and the size."""

from __future__ import annotations

import hashlib

import pytest

from hoist.digest import Digest, Hasher
from hoist.errors import DigestMismatch, InvalidDigest

HEX = hashlib.sha256(b"hoist").hexdigest()


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("sha256", "expected 'sha256:' followed by 64 hex digits"),  # no separator
        (HEX, "expected 'sha256:' followed by 64 hex digits"),
        (f"SHA256:{HEX}", "expected 'sha256:' followed by 64 hex digits"),  # algorithms are lowercase
        (f"md5:{HEX[:32]}", "unsupported digest algorithm 'md5'"),
        (f"sha256:{HEX[:63]}", "expected 64 lowercase hex digits after 'sha256:'"),
        (f"sha256:{HEX.upper()}", "expected 64 lowercase hex digits after 'sha256:'"),
        # the first colon separates: what follows it is the encoded part, colons and all
        (f"sha256:{HEX}:extra", "expected 64 lowercase hex digits after 'sha256:'"),
        (f"sha512:{HEX}", "expected 128 lowercase hex digits after 'sha512:'"),
    ],
)
def test_a_bad_digest_is_refused_saying_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(InvalidDigest) as caught:
        Digest.parse(text)
    assert says in str(caught.value)
    assert repr(text) in str(caught.value), "the message quotes the input"


def test_parse_and_str_round_trip_for_both_algorithms() -> None:
    long = hashlib.sha512(b"hoist").hexdigest()
    for text in (f"sha256:{HEX}", f"sha512:{long}"):
        digest = Digest.parse(text)
        assert str(digest) == text
        assert digest.algorithm == text.partition(":")[0]
    assert Digest.parse(f"sha256:{HEX}").short == HEX[:12]
    assert Digest.parse(f"sha256:{HEX}").fallback_tag == f"sha256-{HEX}"


def test_verify_uses_the_digest_algorithm() -> None:
    data = b"some bytes"
    sha512 = Digest.of(data, "sha512")
    assert sha512.hex == hashlib.sha512(data).hexdigest()
    sha512.verify(data, "blob")  # a sha512 digest is checked with sha512
    with pytest.raises(DigestMismatch) as caught:
        sha512.verify(data + b"!", "the blob")
    assert str(caught.value).startswith("the blob: content has digest sha512:")
    assert str(caught.value).endswith(f"expected {sha512}")


def test_hasher_checks_size_then_content() -> None:
    data = b"0123456789" * 10
    expected = Digest.of(data)
    hasher = expected.hasher()
    assert isinstance(hasher, Hasher) and hasher.expected == expected
    hasher.update(data[:40])
    with pytest.raises(DigestMismatch) as short:
        hasher.check("layer x", size=len(data))
    assert str(short.value) == f"layer x: received 40 bytes, expected {len(data)}"
    hasher.update(data[40:])
    hasher.check("layer x", size=len(data))
    hasher.check("layer x")
    assert hasher.actual() == expected


def test_a_hasher_copy_continues_independently() -> None:
    """What resumed uploads rely on (store/registry/reader.py): a copy taken at a checkpoint carries the
    expected digest, the hash state and the byte count, and later updates of either side stay apart."""
    data = b"abcdefghij" * 50
    expected = Digest.of(data)
    original = Hasher(expected)
    original.update(data[:200])
    checkpoint = original.copy()
    original.update(b"bytes the registry never kept")
    assert checkpoint.size == 200
    assert checkpoint.expected == expected
    checkpoint.update(data[200:])
    checkpoint.check("resumed", size=len(data))
    with pytest.raises(DigestMismatch):
        original.check("diverged")
