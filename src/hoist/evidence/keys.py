"""ECDSA P-256 keys as cosign writes them: PEM public keys, encrypted and plain private keys, key pairs.

Private keys are read from cosign's encrypted format (PEM ``ENCRYPTED SIGSTORE PRIVATE KEY``, or
``ENCRYPTED COSIGN PRIVATE KEY`` from cosign before 2.0), plain PKCS#8 ``PRIVATE KEY``, SEC 1
``EC PRIVATE KEY`` (optionally OpenSSL-encrypted) and PKCS#8 ``ENCRYPTED PRIVATE KEY``. A password is
asked for only when the key is encrypted. Errors name the file, never the key material or the password.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa, utils

from hoist.errors import ConfigError
from hoist.evidence._util import b64decode, read_capped
from hoist.secret import Secret

PUBLIC_KEY_PEM = "PUBLIC KEY"
SIGSTORE_PRIVATE_KEY_PEM = "ENCRYPTED SIGSTORE PRIVATE KEY"
COSIGN_PRIVATE_KEY_PEM = "ENCRYPTED COSIGN PRIVATE KEY"
PASSWORD_VARIABLES = ("HOIST_KEY_PASSWORD", "COSIGN_PASSWORD")
MAX_KEY_FILE = 64 * 1024

PasswordSource = Secret | Callable[[], Secret] | None
"""A password, a callable that finds one when it is needed (only for encrypted keys), or none."""

_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----", re.DOTALL)
_SHA256 = hashes.SHA256()


@dataclass(frozen=True, slots=True, eq=False)
class PublicKey:
    """An ECDSA P-256 public key; equal when the SubjectPublicKeyInfo is."""

    key: ec.EllipticCurvePublicKey = field(repr=False)
    source: str = ""

    @classmethod
    def from_pem(cls, data: bytes, *, source: str = "the public key") -> PublicKey:
        kind, body = _first_block(data, source)
        if kind != PUBLIC_KEY_PEM:
            hint = "a private key; give the .pub file" if "PRIVATE KEY" in kind else f"a {kind}"
            raise ConfigError(f"{source} holds {hint}, not a PEM public key (-----BEGIN PUBLIC KEY-----)")
        try:
            key = serialization.load_der_public_key(body)
        except (ValueError, UnsupportedAlgorithm):
            raise ConfigError(f"{source} is not a valid PEM public key") from None
        if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
            raise ConfigError(f"{source} holds {_describe(key)}; hoist supports ECDSA P-256 keys (cosign's default)")
        return cls(key, source)

    @property
    def der(self) -> bytes:
        """The DER SubjectPublicKeyInfo."""
        return self.key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)

    @property
    def keyid(self) -> str:
        """sha256 of the DER SubjectPublicKeyInfo, hex: stable across PEM formatting, for display and hints."""
        return hashlib.sha256(self.der).hexdigest()

    def pem(self) -> bytes:
        return self.key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def verify(self, signature: bytes, data: bytes) -> bool:
        """Whether ``signature`` (ASN.1 DER ECDSA) signs ``data`` with SHA-256."""
        try:
            self.key.verify(signature, data, ec.ECDSA(_SHA256))
        except (InvalidSignature, ValueError):
            return False
        return True

    def verify_digest(self, signature: bytes, digest: bytes) -> bool:
        """Whether ``signature`` signs the SHA-256 ``digest`` (32 bytes, already hashed)."""
        if len(digest) != _SHA256.digest_size:
            return False
        try:
            self.key.verify(signature, digest, ec.ECDSA(utils.Prehashed(_SHA256)))
        except (InvalidSignature, ValueError):
            return False
        return True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PublicKey) and other.der == self.der

    def __hash__(self) -> int:
        return hash(self.der)


@dataclass(frozen=True, slots=True, eq=False)
class PrivateKey:
    """An ECDSA P-256 private key. Its repr shows the public keyid only."""

    key: ec.EllipticCurvePrivateKey = field(repr=False)

    @classmethod
    def generate(cls) -> PrivateKey:
        return cls(ec.generate_private_key(ec.SECP256R1()))

    def sign(self, data: bytes) -> bytes:
        """ECDSA P-256 over SHA-256 of ``data``, ASN.1 DER (what cosign writes)."""
        return self.key.sign(data, ec.ECDSA(_SHA256))

    def public_key(self) -> PublicKey:
        return PublicKey(self.key.public_key())

    def pkcs8(self) -> bytes:
        """The unencrypted PKCS#8 DER; handle with care."""
        return self.key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def encrypted_pem(self, *, password: Secret, scrypt_n: int | None = None) -> bytes:
        """cosign's encrypted format (``ENCRYPTED SIGSTORE PRIVATE KEY``), as ``cosign generate-key-pair``;
        ``scrypt_n`` defaults to cosign's work factor."""
        from hoist.evidence import _sealed  # nacl loads only for cosign's sealed keys

        sealed = _sealed.seal(self.pkcs8(), password, scrypt_n=_sealed.SCRYPT_N if scrypt_n is None else scrypt_n)
        return _pem(SIGSTORE_PRIVATE_KEY_PEM, sealed)

    def __repr__(self) -> str:
        return f"PrivateKey(keyid={self.public_key().keyid[:16]}…)"


def load_public_key(path: Path) -> PublicKey:
    data = read_capped(path, limit=MAX_KEY_FILE, what="public key", error=ConfigError)
    return PublicKey.from_pem(data, source=f"public key {path}")


def load_private_key(path: Path, *, password: PasswordSource = None) -> PrivateKey:
    """Read a private key file; ``password`` is consulted only if the key is encrypted."""
    data = read_capped(path, limit=MAX_KEY_FILE, what="private key", error=ConfigError)
    return private_key_from_pem(data, password=password, source=str(path))


def private_key_from_pem(data: bytes, *, password: PasswordSource = None, source: str = "the key") -> PrivateKey:
    kind, body = _first_block(data, f"key {source}")
    if kind in (SIGSTORE_PRIVATE_KEY_PEM, COSIGN_PRIVATE_KEY_PEM):
        from hoist.evidence import _sealed

        der = _sealed.unseal(body, _resolve(password, source), source=source)
        return _from_pkcs8(der, source)
    if kind == "PRIVATE KEY":
        return _from_pkcs8(body, source)
    if kind == "ENCRYPTED PRIVATE KEY":
        secret = _resolve(password, source)
        try:
            key = serialization.load_der_private_key(body, secret.reveal().encode())
        except (ValueError, TypeError):
            raise ConfigError(f"wrong password for key {source}") from None
        except UnsupportedAlgorithm:
            raise ConfigError(f"key {source} is encrypted with an unsupported algorithm") from None
        return _check_private(key, source)
    if kind == "EC PRIVATE KEY":
        block = _PEM_BLOCK.search(data)
        assert block is not None
        encrypted = b"Proc-Type: 4,ENCRYPTED" in block.group(2)
        secret_bytes = _resolve(password, source).reveal().encode() if encrypted else None
        try:
            key = serialization.load_pem_private_key(block.group(0), secret_bytes)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            message = f"wrong password for key {source}" if encrypted else f"key {source} is not a valid EC private key"
            raise ConfigError(message) from None
        return _check_private(key, source)
    raise ConfigError(
        f"key {source} is a PEM {kind!r}; hoist reads cosign keys (ENCRYPTED SIGSTORE PRIVATE KEY), "
        "PRIVATE KEY, EC PRIVATE KEY and ENCRYPTED PRIVATE KEY"
    )


def password_for(
    path: Path | str,
    *,
    environ: Mapping[str, str],
    interactive: bool,
    prompt: Callable[[str], str] | None = None,
) -> Secret:
    """The password for key ``path``: ``HOIST_KEY_PASSWORD``, then ``COSIGN_PASSWORD`` (set but empty is an
    empty password), then ``prompt`` when ``interactive``; otherwise a :class:`ConfigError`."""
    for name in PASSWORD_VARIABLES:
        value = environ.get(name)
        if value is not None:
            return Secret(value)
    if interactive and prompt is not None:
        return Secret(prompt(f"Password for key {path}: "))
    raise ConfigError(
        f"key {path} is encrypted and no password was given: set HOIST_KEY_PASSWORD (or COSIGN_PASSWORD), "
        "empty for a key without one"
    )


def generate_key_pair(prefix: Path, *, password: Secret, force: bool = False) -> tuple[Path, Path]:
    """Write ``PREFIX.key`` (cosign's encrypted format, mode 0600) and ``PREFIX.pub``; return both paths.

    Existing files are refused unless ``force``; nothing is written when either path is refused.
    """
    key_path = prefix.with_name(prefix.name + ".key")
    pub_path = prefix.with_name(prefix.name + ".pub")
    if not force:
        for path in (key_path, pub_path):
            if path.exists() or path.is_symlink():
                raise ConfigError(f"{path} already exists; remove it or pass --force to overwrite it")
    private = PrivateKey.generate()
    _write_new(key_path, private.encrypted_pem(password=password), 0o600)
    _write_new(pub_path, private.public_key().pem(), 0o644)
    return key_path, pub_path


def _resolve(password: PasswordSource, source: str) -> Secret:
    if password is None:
        raise ConfigError(f"key {source} is encrypted and no password was given: set HOIST_KEY_PASSWORD")
    return password if isinstance(password, Secret) else password()


def _from_pkcs8(der: bytes, source: str) -> PrivateKey:
    try:
        key = serialization.load_der_private_key(der, None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ConfigError(f"key {source} does not hold a valid PKCS#8 private key") from None
    return _check_private(key, source)


def _check_private(key: object, source: str) -> PrivateKey:
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ConfigError(f"key {source} holds {_describe(key)}; hoist supports ECDSA P-256 keys (cosign's default)")
    return PrivateKey(key)


def _describe(key: object) -> str:
    if isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        return f"an ECDSA {key.curve.name} key"
    kinds = (
        ((rsa.RSAPublicKey, rsa.RSAPrivateKey), "an RSA key"),
        ((ed25519.Ed25519PublicKey, ed25519.Ed25519PrivateKey), "an Ed25519 key"),
        ((ed448.Ed448PublicKey, ed448.Ed448PrivateKey), "an Ed448 key"),
        ((dsa.DSAPublicKey, dsa.DSAPrivateKey), "a DSA key"),
    )
    return next((name for types, name in kinds if isinstance(key, types)), "an unsupported kind of key")


def _first_block(data: bytes, source: str) -> tuple[str, bytes]:
    match = _PEM_BLOCK.search(data)
    if match is None:
        raise ConfigError(f"{source} is not a PEM file (no -----BEGIN ...----- block)")
    kind = match.group(1).decode("ascii")
    lines = match.group(2).decode("ascii", errors="replace").splitlines()
    if ":" in "".join(lines):  # RFC 1421 headers (OpenSSL-encrypted EC keys): the body follows a blank line
        lines = lines[lines.index("") + 1 :] if "" in lines else []
    return kind, b64decode("".join(lines), what=f"{source}: the PEM body", error=ConfigError)


def _pem(kind: str, body: bytes) -> bytes:
    text = base64.b64encode(body).decode("ascii")
    lines = [text[i : i + 64] for i in range(0, len(text), 64)]  # Go's encoding/pem line length
    wrapped = "\n".join(lines)
    return f"-----BEGIN {kind}-----\n{wrapped}\n-----END {kind}-----\n".encode("ascii")


def _write_new(path: Path, data: bytes, mode: int) -> None:
    try:
        if path.is_symlink() or path.exists():
            path.unlink()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise ConfigError(f"{path} already exists; remove it or pass --force to overwrite it") from None
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
