"""Keys: cosign's encrypted private keys (real vectors), PEM public keys, passwords and key generation."""

import base64
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from hoist.errors import ConfigError
from hoist.evidence import keys
from hoist.evidence.keys import PrivateKey, PublicKey
from hoist.secret import Secret

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cosign"
ENCRYPTED: list[dict[str, Any]] = json.loads((FIXTURES / "encrypted-keys.json").read_text())["keys"]


def _public_der(vector: dict[str, Any]) -> bytes:
    if "public_key_der_b64" in vector:
        return base64.b64decode(vector["public_key_der_b64"])
    return PublicKey.from_pem(vector["public_key"].encode()).der


@pytest.mark.parametrize("vector", ENCRYPTED, ids=[v["name"] for v in ENCRYPTED])
def test_cosign_encrypted_keys_decrypt_to_their_public_key(vector: dict[str, Any]) -> None:
    key = keys.private_key_from_pem(vector["private_key"].encode(), password=Secret(vector["password"]))
    assert key.public_key().der == _public_der(vector)
    signature = key.sign(b"payload")
    assert key.public_key().verify(signature, b"payload")


def test_fixture_covers_both_pem_types_and_an_empty_password() -> None:
    kinds = {v["private_key"].split("\n", 1)[0] for v in ENCRYPTED}
    assert kinds == {"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----", "-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----"}
    assert "" in {v["password"] for v in ENCRYPTED}


@pytest.mark.parametrize("vector", ENCRYPTED, ids=[v["name"] for v in ENCRYPTED])
def test_wrong_password_is_one_clear_error(vector: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "cosign.key"
    path.write_text(vector["private_key"])
    with pytest.raises(ConfigError) as caught:
        keys.load_private_key(path, password=Secret("not-the-password"))
    assert str(caught.value) == f"wrong password for key {path}"
    assert caught.value.exit_code == 2


def test_encrypted_key_without_password_says_what_to_set(tmp_path: Path) -> None:
    path = tmp_path / "cosign.key"
    path.write_text(ENCRYPTED[0]["private_key"])
    with pytest.raises(ConfigError, match="HOIST_KEY_PASSWORD"):
        keys.load_private_key(path)


def test_password_callable_is_only_consulted_for_encrypted_keys(tmp_path: Path) -> None:
    calls: list[str] = []

    def password() -> Secret:
        calls.append("asked")
        return Secret(ENCRYPTED[0]["password"])

    plain = tmp_path / "plain.pem"
    plain.write_bytes(
        PrivateKey.generate().key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    keys.load_private_key(plain, password=password)
    assert calls == []
    encrypted = tmp_path / "cosign.key"
    encrypted.write_text(ENCRYPTED[0]["private_key"])
    keys.load_private_key(encrypted, password=password)
    assert calls == ["asked"]


@pytest.mark.parametrize(
    ("fmt", "encryption", "password"),
    [
        (serialization.PrivateFormat.PKCS8, serialization.NoEncryption(), None),
        (serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption(), None),
        (serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"s3cret"), "s3cret"),
        (serialization.PrivateFormat.TraditionalOpenSSL, serialization.BestAvailableEncryption(b"s3cret"), "s3cret"),
    ],
    ids=["pkcs8", "ec-private-key", "encrypted-pkcs8", "encrypted-ec-private-key"],
)
def test_openssl_private_key_formats(
    fmt: serialization.PrivateFormat, encryption: serialization.KeySerializationEncryption, password: str | None
) -> None:
    original = PrivateKey.generate()
    pem = original.key.private_bytes(serialization.Encoding.PEM, fmt, encryption)
    loaded = keys.private_key_from_pem(pem, password=Secret(password) if password is not None else None)
    assert loaded.public_key() == original.public_key()
    if password is not None:
        with pytest.raises(ConfigError, match=r"^wrong password for key the key$"):
            keys.private_key_from_pem(pem, password=Secret("wrong"))


def test_keygen_round_trip(tmp_path: Path) -> None:
    key_path, pub_path = keys.generate_key_pair(tmp_path / "cosign", password=Secret("correct horse"))
    assert (key_path.name, pub_path.name) == ("cosign.key", "cosign.pub")
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    text = key_path.read_text()
    assert text.startswith("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n")
    assert all(len(line) <= 64 for line in text.splitlines())
    body = json.loads(base64.b64decode("".join(text.splitlines()[1:-1])))
    assert list(body) == ["kdf", "cipher", "ciphertext"]
    assert body["kdf"]["name"] == "scrypt" and body["kdf"]["params"] == {"N": 32768, "r": 8, "p": 1}
    assert len(base64.b64decode(body["kdf"]["salt"])) == 32
    assert body["cipher"]["name"] == "nacl/secretbox" and len(base64.b64decode(body["cipher"]["nonce"])) == 24
    assert pub_path.read_text().startswith("-----BEGIN PUBLIC KEY-----\n")

    private = keys.load_private_key(key_path, password=Secret("correct horse"))
    public = keys.load_public_key(pub_path)
    assert private.public_key() == public
    assert public.verify(private.sign(b"hello"), b"hello")
    assert not public.verify(private.sign(b"hello"), b"hellO")
    with pytest.raises(ConfigError, match="wrong password"):
        keys.load_private_key(key_path, password=Secret("wrong horse"))


def test_keygen_with_empty_password(tmp_path: Path) -> None:
    key_path, _ = keys.generate_key_pair(tmp_path / "k", password=Secret(""))
    keys.load_private_key(key_path, password=Secret(""))


def test_keygen_refuses_to_overwrite_unless_forced(tmp_path: Path) -> None:
    (tmp_path / "cosign.pub").write_text("keep me")
    with pytest.raises(ConfigError, match=r"cosign\.pub already exists"):
        keys.generate_key_pair(tmp_path / "cosign", password=Secret("pw"))
    assert not (tmp_path / "cosign.key").exists()
    assert (tmp_path / "cosign.pub").read_text() == "keep me"
    keys.generate_key_pair(tmp_path / "cosign", password=Secret("pw"), force=True)
    assert (tmp_path / "cosign.pub").read_text().startswith("-----BEGIN PUBLIC KEY-----")


def test_public_key_keyid_is_stable_across_pem_formatting() -> None:
    pem = ENCRYPTED[1]["public_key"]
    body = "".join(pem.splitlines()[1:-1])
    rewrapped = "-----BEGIN PUBLIC KEY-----\r\n" + "\r\n".join(body[i : i + 40] for i in range(0, len(body), 40))
    rewrapped += "\r\n-----END PUBLIC KEY-----\r\n"
    a = PublicKey.from_pem(pem.encode())
    b = PublicKey.from_pem(rewrapped.encode())
    assert a == b and a.keyid == b.keyid
    assert len(a.keyid) == 64
    assert PublicKey.from_pem(a.pem()).keyid == a.keyid


def test_verify_digest_takes_a_prehashed_sha256() -> None:
    private = PrivateKey.generate()
    signature = private.sign(b"data")
    digest = hashes.Hash(hashes.SHA256())
    digest.update(b"data")
    value = digest.finalize()
    assert private.public_key().verify_digest(signature, value)
    assert not private.public_key().verify_digest(signature, bytes(32))
    assert not private.public_key().verify_digest(signature, value[:16])
    assert not private.public_key().verify(b"not DER", b"data")


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key(), "an RSA key"),
        (lambda: ed25519.Ed25519PrivateKey.generate().public_key(), "an Ed25519 key"),
        (lambda: ec.generate_private_key(ec.SECP384R1()).public_key(), "an ECDSA secp384r1 key"),
    ],
    ids=["rsa", "ed25519", "p384"],
)
def test_other_public_keys_are_refused_naming_the_file(make: Any, expected: str, tmp_path: Path) -> None:
    path = tmp_path / "other.pub"
    path.write_bytes(make().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    with pytest.raises(ConfigError) as caught:
        keys.load_public_key(path)
    assert str(path) in str(caught.value) and expected in str(caught.value) and "P-256" in str(caught.value)


def test_public_key_file_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        keys.load_public_key(tmp_path / "missing.pub")
    private = tmp_path / "cosign.key"
    private.write_text(ENCRYPTED[0]["private_key"])
    with pytest.raises(ConfigError, match=r"holds a private key; give the \.pub file"):
        keys.load_public_key(private)
    garbage = tmp_path / "garbage.pub"
    garbage.write_text("hello")
    with pytest.raises(ConfigError, match=f"{garbage} is not a PEM file"):
        keys.load_public_key(garbage)


def test_unknown_private_key_pem_type(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    path.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n")
    with pytest.raises(ConfigError, match="'OPENSSH PRIVATE KEY'"):
        keys.load_private_key(path)


def test_hostile_scrypt_parameters_are_refused() -> None:
    body = {
        "kdf": {"name": "scrypt", "params": {"N": 1 << 30, "r": 8, "p": 1}, "salt": "AAAA"},
        "cipher": {"name": "nacl/secretbox", "nonce": base64.b64encode(bytes(24)).decode()},
        "ciphertext": "AAAA",
    }
    pem = b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n"
    pem += base64.b64encode(json.dumps(body).encode()) + b"\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n"
    with pytest.raises(ConfigError, match="scrypt parameters"):
        keys.private_key_from_pem(pem, password=Secret(""))


def test_password_resolution_order() -> None:
    both = {"HOIST_KEY_PASSWORD": "hoist-pw", "COSIGN_PASSWORD": "cosign-pw"}
    assert keys.password_for("k", environ=both, interactive=False).reveal() == "hoist-pw"
    assert keys.password_for("k", environ={"COSIGN_PASSWORD": "cosign-pw"}, interactive=False).reveal() == "cosign-pw"
    empty = keys.password_for("k", environ={"HOIST_KEY_PASSWORD": "", "COSIGN_PASSWORD": "x"}, interactive=True)
    assert empty.reveal() == ""


def test_password_prompt_only_when_interactive() -> None:
    prompts: list[str] = []

    def prompt(text: str) -> str:
        prompts.append(text)
        return "typed"

    assert keys.password_for("cosign.key", environ={}, interactive=True, prompt=prompt).reveal() == "typed"
    assert prompts == ["Password for key cosign.key: "]
    for interactive, callback in ((False, prompt), (True, None)):
        with pytest.raises(ConfigError, match="set HOIST_KEY_PASSWORD"):
            keys.password_for("cosign.key", environ={}, interactive=interactive, prompt=callback)
    assert len(prompts) == 1


def test_secrets_stay_out_of_messages_and_reprs(tmp_path: Path) -> None:
    password = "hunter2-very-secret"
    key_path, _ = keys.generate_key_pair(tmp_path / "s", password=Secret(password))
    private = keys.load_private_key(key_path, password=Secret(password))
    assert password not in repr(private)
    pkcs8_b64 = base64.b64encode(private.pkcs8()).decode()
    assert pkcs8_b64 not in repr(private)
    with pytest.raises(ConfigError) as caught:
        keys.load_private_key(key_path, password=Secret(password + "x"))
    assert password not in str(caught.value)
    assert key_path.read_text().split("\n")[1] not in str(caught.value)


def test_key_file_is_created_private_even_with_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        key_path, pub_path = keys.generate_key_pair(tmp_path / "u", password=Secret("pw"))
    finally:
        os.umask(old)
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(pub_path.stat().st_mode) == 0o644
