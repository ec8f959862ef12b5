"""cosign's encrypted private key body: scrypt-derived key, NaCl secretbox around the PKCS#8 DER.

The PEM body (types ``ENCRYPTED SIGSTORE PRIVATE KEY`` and the older ``ENCRYPTED COSIGN PRIVATE KEY``) is
the JSON that go-securesystemslib's ``encrypted`` package writes, fields in this order::

    {"kdf":{"name":"scrypt","params":{"N":32768,"r":8,"p":1},"salt":"<b64>"},
     "cipher":{"name":"nacl/secretbox","nonce":"<b64>"},"ciphertext":"<b64>"}
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from nacl.exceptions import CryptoError
from nacl.secret import SecretBox

from hoist.errors import ConfigError, InputError
from hoist.evidence._util import as_int, as_object, as_str, b64decode
from hoist.secret import Secret

SCRYPT_N = 32768
SCRYPT_R = 8
SCRYPT_P = 1
SALT_SIZE = 32
_MAX_SCRYPT_MEMORY = 256 * 1024 * 1024  # 128 * N * r bytes; cosign's default needs 32 MiB
_MAX_SCRYPT_P = 16


def seal(plaintext: bytes, password: Secret, *, scrypt_n: int = SCRYPT_N) -> bytes:
    """The JSON body that encrypts ``plaintext`` under ``password`` (fresh random salt and nonce)."""
    salt = os.urandom(SALT_SIZE)
    nonce = os.urandom(SecretBox.NONCE_SIZE)
    box = SecretBox(_derive(password, salt, scrypt_n, SCRYPT_R, SCRYPT_P))
    ciphertext = box.encrypt(plaintext, nonce).ciphertext
    doc = {
        "kdf": {"name": "scrypt", "params": {"N": scrypt_n, "r": SCRYPT_R, "p": SCRYPT_P}, "salt": _b64(salt)},
        "cipher": {"name": "nacl/secretbox", "nonce": _b64(nonce)},
        "ciphertext": _b64(ciphertext),
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def unseal(body: bytes, password: Secret, *, source: str) -> bytes:
    """Decrypt a sealed body; a wrong password is one clear :class:`ConfigError` naming ``source``."""
    try:
        doc = as_object(json.loads(body), what="the encrypted key")
        kdf = as_object(doc.get("kdf"), what="kdf")
        cipher = as_object(doc.get("cipher"), what="cipher")
        params = as_object(kdf.get("params"), what="kdf params")
        kdf_name = as_str(kdf.get("name"), what="kdf name")
        cipher_name = as_str(cipher.get("name"), what="cipher name")
        n, r, p = (as_int(params.get(name), what=f"scrypt {name}") for name in ("N", "r", "p"))
        salt = _field(kdf, "salt")
        nonce = _field(cipher, "nonce")
        ciphertext = _field(doc, "ciphertext")
    except (ValueError, InputError) as exc:
        detail = exc.message if isinstance(exc, InputError) else "not JSON"
        raise ConfigError(f"key {source} is not a valid cosign encrypted key: {detail}") from None
    if kdf_name != "scrypt" or cipher_name != "nacl/secretbox":
        raise ConfigError(
            f"key {source} uses {kdf_name} with {cipher_name}; hoist reads cosign keys (scrypt with nacl/secretbox)"
        )
    _check_params(n, r, p, source)
    if len(nonce) != SecretBox.NONCE_SIZE:
        raise ConfigError(f"key {source} is not a valid cosign encrypted key: the nonce is not 24 bytes")
    box = SecretBox(_derive(password, salt, n, r, p))
    try:
        return box.decrypt(ciphertext, nonce)
    except CryptoError:
        raise ConfigError(f"wrong password for key {source}") from None


def _derive(password: Secret, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=SecretBox.KEY_SIZE, n=n, r=r, p=p).derive(password.reveal().encode())


def _check_params(n: int, r: int, p: int, source: str) -> None:
    if n < 2 or n & (n - 1) or r < 1 or not 1 <= p <= _MAX_SCRYPT_P or 128 * n * r > _MAX_SCRYPT_MEMORY:
        raise ConfigError(
            f"key {source} asks for scrypt parameters N={n} r={r} p={p}; "
            "hoist accepts N a power of two, 128*N*r up to 256 MiB and p up to 16"
        )


def _field(doc: dict[str, Any], name: str) -> bytes:
    return b64decode(as_str(doc.get(name), what=name), what=name, error=ConfigError)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
