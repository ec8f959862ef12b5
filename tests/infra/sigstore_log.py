"""The logging and time-stamping parts of the test Sigstore instance (tests/infra/sigstore_root.py).

- :class:`TransparencyLog` — Rekor-like: entries in an RFC 6962 Merkle tree, each with an inclusion proof and
  a signed checkpoint (a signed note whose key hint is the first 4 bytes of the log ID, as sigstore-python
  matches it). Rekor v1 entries (``hashedrekord``/``dsse`` 0.0.1) also carry the integration time and an
  inclusion promise (SET: the log key's ECDSA signature over the RFC 8785 JSON of body, integratedTime,
  logID and logIndex); Rekor v2 entries (``hashedrekord`` 0.0.2) carry neither, so they need a timestamp.
- :class:`TimestampAuthority` — an RFC 3161 TSA: Debian's ``openssl ts -reply`` signs the time-stamp
  responses with a test TSA certificate (critical timeStamping usage) under a test root.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SINCE = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)


@dataclass
class TransparencyLog:
    """A Rekor-like log with its own ECDSA P-256 key (starting with a few unrelated entries)."""

    url: str
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    leaves: list[bytes] = field(default_factory=lambda: [f"filler {n}".encode() for n in range(5)])

    @property
    def log_id(self) -> bytes:
        return key_id(self.key.public_key())

    def trust_entry(self) -> dict[str, Any]:
        return log_instance(self.url, self.key)

    def entry(self, body: dict[str, Any], *, version: int) -> dict[str, Any]:
        """Append ``body`` and return the bundle's ``tlogEntries`` item for it (Rekor ``version`` 1 or 2)."""
        raw = json.dumps(body, separators=(",", ":")).encode()
        self.leaves.append(raw)
        hashed = [leaf_hash(leaf) for leaf in self.leaves]
        index, size = len(hashed) - 1, len(hashed)
        root = merkle_root(hashed)
        host = self.url.removeprefix("https://")
        note = f"{host} - 4242\n{size}\n{b64(root)}\n"
        signature = self.key.sign(note.encode(), ec.ECDSA(hashes.SHA256()))
        entry: dict[str, Any] = {
            "logIndex": str(index),
            "logId": {"keyId": b64(self.log_id)},
            "kindVersion": {"kind": body["kind"], "version": body["apiVersion"]},
            "inclusionProof": {
                "logIndex": str(index),
                "rootHash": b64(root),
                "treeSize": str(size),
                "hashes": [b64(h) for h in audit_path(index, hashed)],
                "checkpoint": {"envelope": f"{note}\n\u2014 {host} {b64(self.log_id[:4] + signature)}\n"},
            },
            "canonicalizedBody": b64(raw),
        }
        if version == 1:
            integrated = int(dt.datetime.now(dt.UTC).timestamp())
            promise = {"body": b64(raw), "integratedTime": integrated, "logID": self.log_id.hex(), "logIndex": index}
            canonical = json.dumps(promise, sort_keys=True, separators=(",", ":")).encode()  # RFC 8785 here
            entry["integratedTime"] = str(integrated)
            entry["inclusionPromise"] = {
                "signedEntryTimestamp": b64(self.key.sign(canonical, ec.ECDSA(hashes.SHA256())))
            }
        return entry


class TimestampAuthority:
    """An RFC 3161 time-stamping authority: ``openssl ts -reply`` with a test TSA certificate."""

    def __init__(self, name: str) -> None:
        now = dt.datetime.now(dt.UTC)
        self.root_key = ec.generate_private_key(ec.SECP384R1())
        self.key = ec.generate_private_key(ec.SECP384R1())
        root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name}-tsa-root")])
        self.root = ca_certificate(root_name, root_name, self.root_key, self.root_key, now, path_length=None)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name}-tsa")]))
            .issuer_name(root_name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(key_usage(digital_signature=True), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.root_key.public_key()), critical=False
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
            .sign(self.root_key, hashes.SHA384())
        )
        self.name = name

    def trust_entry(self) -> dict[str, Any]:
        return {
            "subject": {"organization": self.name, "commonName": f"{self.name}-tsa"},
            "uri": f"https://tsa.{self.name}.test",
            "certChain": {"certificates": [{"rawBytes": b64(der(self.cert))}, {"rawBytes": b64(der(self.root))}]},
            "validFor": {"start": iso(SINCE)},
        }

    def timestamp(self, message: bytes) -> bytes:
        """A DER TimeStampResp over sha256(``message``), with the TSA certificate in the token."""
        with tempfile.TemporaryDirectory(prefix="hoist-tsa-") as tmp:
            where = Path(tmp)
            (where / "message").write_bytes(message)
            (where / "tsa.pem").write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
            (where / "tsa.key").write_bytes(
                self.key.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                )
            )
            (where / "serial").write_text("01\n")
            (where / "tsa.cnf").write_text(_TSA_CONFIG.format(serial=where / "serial"))
            openssl = ["openssl", "ts"]
            query = [*openssl, "-query", "-data", "message", "-sha256", "-cert", "-no_nonce", "-out", "request.tsq"]
            subprocess.run(query, cwd=where, check=True, capture_output=True, timeout=30)
            reply = [*openssl, "-reply", "-config", "tsa.cnf", "-queryfile", "request.tsq"]
            reply += ["-signer", "tsa.pem", "-inkey", "tsa.key", "-out", "response.tsr"]
            subprocess.run(reply, cwd=where, check=True, capture_output=True, timeout=30)
            return (where / "response.tsr").read_bytes()


_TSA_CONFIG = """[ tsa ]
default_tsa = test_tsa

[ test_tsa ]
serial = {serial}
crypto_device = builtin
signer_digest = sha256
default_policy = 1.3.6.1.4.1.57264.2
other_policies = 1.3.6.1.4.1.57264.2
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = no
tsa_name = no
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


# --- certificates and keys -------------------------------------------------------------------------------


def ca_certificate(
    subject: x509.Name, issuer: x509.Name, key: Any, signer: Any, now: dt.datetime, *, path_length: int | None
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if signer is not key:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), critical=False
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
    return builder.sign(signer, hashes.SHA384())


def key_usage(*, digital_signature: bool = False, key_cert_sign: bool = False, crl_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )


def log_instance(url: str, key: Any) -> dict[str, Any]:
    """A ``tlogs``/``ctlogs`` item of a trusted root."""
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return {
        "baseUrl": url,
        "hashAlgorithm": "SHA2_256",
        "publicKey": {
            "rawBytes": b64(spki),
            "keyDetails": "PKIX_ECDSA_P256_SHA_256",
            "validFor": {"start": iso(SINCE)},
        },
        "logId": {"keyId": b64(hashlib.sha256(spki).digest())},
    }


def key_id(public_key: Any) -> bytes:
    """RFC 6962's key ID: sha256 of the DER SubjectPublicKeyInfo."""
    spki = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).digest()


# --- RFC 6962 Merkle tree --------------------------------------------------------------------------------


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(size: int) -> int:
    """The largest power of two smaller than ``size`` (RFC 6962 §2.1)."""
    k = 1
    while k * 2 < size:
        k *= 2
    return k


def merkle_root(hashed: list[bytes]) -> bytes:
    if len(hashed) == 1:
        return hashed[0]
    k = _split(len(hashed))
    return _node(merkle_root(hashed[:k]), merkle_root(hashed[k:]))


def audit_path(index: int, hashed: list[bytes]) -> list[bytes]:
    """The audit path of leaf ``index`` (RFC 6962 §2.1.1), deepest hash first."""
    if len(hashed) == 1:
        return []
    k = _split(len(hashed))
    if index < k:
        return [*audit_path(index, hashed[:k]), merkle_root(hashed[k:])]
    return [*audit_path(index - k, hashed[k:]), merkle_root(hashed[:k])]


# --- encodings -------------------------------------------------------------------------------------------


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def iso(when: dt.datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")
