"""DSSE envelopes: PAE, a cosign-signed envelope, tampering, round trips and malformed envelopes."""

import base64
import copy
import json
from pathlib import Path
from typing import Any

import pytest

from hoist.errors import InputError, IntegrityError
from hoist.evidence import dsse
from hoist.evidence.keys import PrivateKey, PublicKey

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cosign"
VECTOR: dict[str, Any] = json.loads((FIXTURES / "dsse-attestation.json").read_text())
KEY = PublicKey.from_pem(VECTOR["public_key"].encode())


def test_pae_matches_the_spec_example() -> None:
    assert (
        dsse.pae("http://example.com/HelloWorld", b"hello world")
        == b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )
    assert dsse.pae("t\u00e9", b"") == b"DSSEv1 3 t\xc3\xa9 0 "


def test_cosign_envelope_verifies() -> None:
    assert VECTOR["verifies"] is True
    verified = dsse.verify(VECTOR["envelope"], [KEY])
    assert verified is not None
    assert verified.payload_type == dsse.INTOTO_PAYLOAD_TYPE
    assert verified.keyid == KEY.keyid
    assert verified.payload == base64.b64decode(VECTOR["envelope"]["payload"])
    assert json.loads(verified.payload)["_type"] == "https://in-toto.io/Statement/v0.1"


def test_cosign_envelope_parses_from_bytes() -> None:
    envelope = dsse.parse(json.dumps(VECTOR["envelope"]).encode())
    assert dsse.verify(envelope, [KEY], enforce=True).keyid == KEY.keyid


@pytest.mark.parametrize("index", [0, 17, -3])
def test_one_changed_payload_byte_fails(index: int) -> None:
    envelope = copy.deepcopy(VECTOR["envelope"])
    payload = bytearray(base64.b64decode(envelope["payload"]))
    payload[index] ^= 0x01
    envelope["payload"] = base64.b64encode(bytes(payload)).decode()
    assert dsse.verify(envelope, [KEY]) is None
    with pytest.raises(IntegrityError, match="no signature"):
        dsse.verify(envelope, [KEY], enforce=True)


def test_changed_payload_type_fails() -> None:
    envelope = dict(VECTOR["envelope"], payloadType="application/json")
    assert dsse.verify(envelope, [KEY]) is None


def test_other_key_fails() -> None:
    assert dsse.verify(VECTOR["envelope"], [PrivateKey.generate().public_key()]) is None
    assert dsse.verify(VECTOR["envelope"], []) is None


def test_sign_verify_round_trip() -> None:
    key = PrivateKey.generate()
    envelope = dsse.sign(b'{"hello":"world"}', dsse.INTOTO_PAYLOAD_TYPE, key)
    assert list(envelope) == ["payloadType", "payload", "signatures"]
    assert envelope["signatures"][0]["keyid"] == key.public_key().keyid
    reparsed = dsse.parse(json.dumps(envelope).encode())
    stranger = PrivateKey.generate().public_key()
    verified = dsse.verify(reparsed, [stranger, key.public_key()], enforce=True)
    assert (verified.payload, verified.payload_type, verified.keyid) == (
        b'{"hello":"world"}',
        dsse.INTOTO_PAYLOAD_TYPE,
        key.public_key().keyid,
    )


def test_unsigned_envelope() -> None:
    envelope = dsse.sign(b"x", "text/plain", None)
    assert envelope["signatures"] == []
    assert dsse.verify(envelope, [KEY]) is None
    with pytest.raises(IntegrityError, match="not signed"):
        dsse.verify(envelope, [KEY], enforce=True)


def test_keyid_is_only_a_hint() -> None:
    key = PrivateKey.generate()
    envelope = dsse.sign(b"x", "text/plain", key)
    envelope["signatures"][0]["keyid"] = "someone-else"
    assert dsse.verify(envelope, [key.public_key()]) is not None


def test_url_safe_base64_is_accepted() -> None:
    key = PrivateKey.generate()
    payload = bytes(range(250, 256)) * 3  # encodes with '+' and '/' in standard base64
    envelope = dsse.sign(payload, "application/octet-stream", key)
    envelope["payload"] = base64.urlsafe_b64encode(payload).decode().rstrip("=")
    verified = dsse.verify(envelope, [key.public_key()])
    assert verified is not None and verified.payload == payload


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"{", "not valid JSON"),
        (b"[]", "must be a JSON object"),
        (b'{"payload":"eA==","signatures":[]}', "'payloadType' must be a string"),
        (b'{"payloadType":"t","signatures":[]}', "'payload' must be a string"),
        (b'{"payloadType":"t","payload":"***","signatures":[]}', "not base64"),
        (b'{"payloadType":"t","payload":"eA=="}', "'signatures' must be a JSON array"),
        (b'{"payloadType":"t","payload":"eA==","signatures":[{"keyid":""}]}', "'sig' must be a string"),
        (b'{"payloadType":"t","payload":"eA==","signatures":["x"]}', "must be a JSON object"),
    ],
    ids=["truncated", "array", "no-type", "no-payload", "bad-base64", "no-signatures", "no-sig", "sig-not-object"],
)
def test_malformed_envelopes(data: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message):
        dsse.parse(data)
