"""cosign's legacy simple-signing payloads and signatures, against signatures made by the real cosign."""

import json
from pathlib import Path
from typing import Any

import pytest

from hoist.digest import Digest
from hoist.errors import InputError, IntegrityError
from hoist.evidence import simplesign
from hoist.evidence.keys import PrivateKey, PublicKey

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cosign"
VECTORS: dict[str, dict[str, Any]] = {
    v["name"]: v for v in json.loads((FIXTURES / "legacy-signatures.json").read_text())["vectors"]
}
VALID = VECTORS["valid"]
REFERENCE = "192.168.64.2:5000/cosign-signed-single-sample"
DIGEST = Digest.parse("sha256:634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00")


def _key(vector: dict[str, Any]) -> PublicKey:
    return PublicKey.from_pem(vector["public_key"].encode())


def test_constants() -> None:
    assert simplesign.MEDIA_TYPE == "application/vnd.dev.cosign.simplesigning.v1+json"
    assert simplesign.SIGNATURE_ANNOTATION == "dev.cosignproject.cosign/signature"


def test_payload_is_byte_identical_to_cosign() -> None:
    assert simplesign.payload(REFERENCE, DIGEST) == VALID["payload"].encode()
    assert simplesign.payload(REFERENCE, str(DIGEST)) == VALID["payload"].encode()


def test_payload_escapes_like_go() -> None:
    text = simplesign.payload("a/b", DIGEST, optional={"z": "<&>", "a": "1"})
    assert text.endswith(b'"optional":{"a":"1","z":"\\u003c\\u0026\\u003e"}}')


@pytest.mark.parametrize("name", ["valid", "valid-2"])
def test_cosign_signatures_verify(name: str) -> None:
    vector = VECTORS[name]
    assert vector["verifies"] is True
    assert simplesign.verify(vector["payload"].encode(), vector["signature"], _key(vector))


def test_signature_by_another_key_does_not_verify() -> None:
    vector = VECTORS["signed-by-another-key"]
    assert vector["verifies"] is False
    assert not simplesign.verify(vector["payload"].encode(), vector["signature"], _key(vector))
    assert (
        simplesign.verify_for_digest(vector["payload"].encode(), vector["signature"], [_key(vector)], digest=DIGEST)
        is None
    )
    with pytest.raises(IntegrityError, match="does not verify"):
        simplesign.verify_for_digest(
            vector["payload"].encode(), vector["signature"], [_key(vector)], digest=DIGEST, enforce=True
        )


def test_tampered_payload_and_garbage_signatures_do_not_verify() -> None:
    payload = VALID["payload"].encode().replace(b"single", b"singlE")
    assert not simplesign.verify(payload, VALID["signature"], _key(VALID))
    assert not simplesign.verify(VALID["payload"].encode(), "not base64!", _key(VALID))
    assert not simplesign.verify(VALID["payload"].encode(), "", _key(VALID))


def test_parse_payload() -> None:
    reference, digest = simplesign.parse_payload(VALID["payload"].encode())
    assert (reference, digest) == (REFERENCE, DIGEST)
    assert str(digest) == VALID["manifest_digest"]


def test_signature_is_bound_to_the_digest_in_the_signed_payload() -> None:
    key = _key(VALID)
    verified = simplesign.verify_for_digest(VALID["payload"].encode(), VALID["signature"], [key], digest=DIGEST)
    assert verified is not None
    assert (verified.reference, verified.digest, verified.keyid) == (REFERENCE, DIGEST, key.keyid)
    # valid-2's signature verifies, but its payload names 634a8f…, not the dc04fa… recorded beside it.
    other = VECTORS["valid-2"]
    claimed = Digest.parse(other["manifest_digest"])
    assert claimed != DIGEST
    assert simplesign.verify_for_digest(other["payload"].encode(), other["signature"], [key], digest=claimed) is None
    with pytest.raises(IntegrityError, match="names sha256:634a8f"):
        simplesign.verify_for_digest(other["payload"].encode(), other["signature"], [key], digest=claimed, enforce=True)


def test_any_of_several_keys_may_verify() -> None:
    stranger = PrivateKey.generate().public_key()
    verified = simplesign.verify_for_digest(
        VALID["payload"].encode(), VALID["signature"], [stranger, _key(VALID)], digest=DIGEST
    )
    assert verified is not None and verified.keyid == _key(VALID).keyid


def test_sign_round_trip() -> None:
    key = PrivateKey.generate()
    payload = simplesign.payload("ghcr.io/example/app", DIGEST)
    signature = simplesign.sign(payload, key)
    verified = simplesign.verify_for_digest(payload, signature, [key.public_key()], digest=DIGEST, enforce=True)
    assert verified is not None and verified.reference == "ghcr.io/example/app"


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"not json", "not valid JSON"),
        (b"[]", "must be a JSON object"),
        (
            b'{"critical":{"identity":{"docker-reference":"r"},"image":{"docker-manifest-digest":"sha256:ab"},'
            b'"type":"cosign container image signature"}}',
            "invalid digest",
        ),
        (
            b'{"critical":{"identity":{"docker-reference":"r"},"image":{"docker-manifest-digest":"sha256:'
            + b"a" * 64
            + b'"},"type":"atomic container signature"}}',
            "expected 'cosign container image signature'",
        ),
        (
            b'{"critical":{"identity":{"docker-reference":"r"},"image":{"docker-manifest-digest":"sha256:'
            + b"a" * 64
            + b'"},"type":"cosign container image signature","expires":1}}',
            "unknown critical field",
        ),
    ],
    ids=["not-json", "not-object", "bad-digest", "wrong-type", "unknown-critical"],
)
def test_malformed_payloads(payload: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message):
        simplesign.parse_payload(payload)
