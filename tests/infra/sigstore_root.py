"""A test-only Sigstore instance: bundles bound to digests the tests choose, verifiable by sigstore-python.

Public-good Sigstore cannot sign for tests (no OIDC token, no network), so this module plays its parts
with throw-away keys, the way the services do it, and writes a ``trusted_root.json`` that trusts them:

- **Fulcio**: a root CA and an intermediate (ECDSA P-384) issuing ten-minute leaf certificates for a fresh
  P-256 key, with an empty subject, the workflow URI as SAN, code-signing usage and the Fulcio claim
  extensions ``1.3.6.1.4.1.57264.1.*`` of a GitHub Actions token (issuer in ``1.1`` and ``1.8``, source
  repository, ref, commit, workflow, trigger, runner environment …; see Fulcio's docs/oid-info.md).
- **CT log**: an embedded precertificate SCT (RFC 6962 §3.2) signed by a CT log key, over the leaf's
  TBSCertificate without the SCT extension, keyed by the issuer's key hash.
- **Rekor (v1)**: ``hashedrekord``/``dsse`` 0.0.1 entries in an RFC 6962 Merkle tree, each with an inclusion
  proof, a signed checkpoint (a signed note whose key hint is the first 4 bytes of the log ID) and an
  inclusion promise (SET: the log key's signature over the RFC 8785 JSON of body, integratedTime, logID
  and logIndex).

Bundles are v0.3 (``application/vnd.dev.sigstore.bundle.v0.3+json``): a message signature over a digest
(what ``cosign sign-blob`` writes, here over an image manifest digest), or a DSSE envelope holding an
in-toto statement whose subject is the image digest (SLSA provenance v1 with GitHub's build type, or
cosign 3's image-signature statement ``https://sigstore.dev/cosign/sign/v1``).

No RFC 3161 timestamp authority: the Rekor v1 inclusion promise gives sigstore-python its signed time.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import struct
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hoist.digest import Digest
from hoist.evidence.dsse import INTOTO_PAYLOAD_TYPE, pae

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
SLSA_PROVENANCE_V1 = "https://slsa.dev/provenance/v1"
COSIGN_SIGN_V1 = "https://sigstore.dev/cosign/sign/v1"
BUNDLE_V03 = "application/vnd.dev.sigstore.bundle.v0.3+json"
GITHUB_BUILD_TYPE = "https://actions.github.io/buildtypes/workflow/v1"
_SCT_LIST_OID = x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2")
_FULCIO = "1.3.6.1.4.1.57264.1."
_SINCE = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class WorkflowRun:
    """The GitHub Actions run a test certificate speaks for; ``signer`` (a workflow ``OWNER/REPO/PATH@REF``)
    is a reusable workflow it called to sign, else the run's own workflow signs."""

    repository: str = "acme/dotca"
    workflow: str = ".github/workflows/staging.yml"
    ref: str = "refs/heads/main"
    sha: str = "5d1e3cbf3c4a1ecbd8a8e9cf1a5b1b1f5e8c4a1e"
    trigger: str = "push"
    runner_environment: str = "github-hosted"
    issuer: str = GITHUB_ISSUER
    signer: str | None = None
    name: str = "staging"
    run_id: int = 4242
    visibility: str = "public"

    @property
    def workflow_uri(self) -> str:
        return f"https://github.com/{self.repository}/{self.workflow}@{self.ref}"

    @property
    def identity(self) -> str:
        """The certificate's SAN: the signing workflow's URI."""
        return f"https://github.com/{self.signer}" if self.signer else self.workflow_uri

    def claims(self) -> dict[str, tuple[str, bool]]:
        """Fulcio extension OID suffix → (value, DER-encoded?)."""
        owner = self.repository.split("/")[0]
        signer_sha = self.sha if self.signer is None else "9" * 40
        return {
            "1": (self.issuer, False),
            "2": (self.trigger, False),
            "3": (self.sha, False),
            "4": (self.name, False),
            "5": (self.repository, False),
            "6": (self.ref, False),
            "8": (self.issuer, True),
            "9": (self.identity, True),
            "10": (signer_sha, True),
            "11": (self.runner_environment, True),
            "12": (f"https://github.com/{self.repository}", True),
            "13": (self.sha, True),
            "14": (self.ref, True),
            "15": ("700100", True),
            "16": (f"https://github.com/{owner}", True),
            "17": ("700001", True),
            "18": (self.workflow_uri, True),
            "19": (self.sha, True),
            "20": (self.trigger, True),
            "21": (f"https://github.com/{self.repository}/actions/runs/{self.run_id}/attempts/1", True),
            "22": (self.visibility, True),
        }


@dataclass
class _Log:
    """An RFC 6962 Merkle tree of entry bodies (starting with a few unrelated entries)."""

    leaves: list[bytes] = field(default_factory=lambda: [f"filler {n}".encode() for n in range(5)])

    def append(self, body: bytes) -> tuple[int, int, bytes, list[bytes]]:
        """Add ``body``; its index, the tree size, root hash and inclusion proof (deepest hash first)."""
        self.leaves.append(body)
        hashed = [_leaf_hash(leaf) for leaf in self.leaves]
        index = len(hashed) - 1
        return index, len(hashed), _root(hashed), _path(index, hashed)


class TestSigstore:
    """Throw-away Fulcio, CT log and Rekor keys; :meth:`trusted_root` trusts exactly them."""

    __test__ = False  # not a pytest test class

    def __init__(self, *, name: str = "hoist-test") -> None:
        self.name = name
        now = dt.datetime.now(dt.UTC)
        self.root_key = ec.generate_private_key(ec.SECP384R1())
        self.intermediate_key = ec.generate_private_key(ec.SECP384R1())
        self.ct_key = ec.generate_private_key(ec.SECP256R1())
        self.rekor_key = ec.generate_private_key(ec.SECP256R1())
        root_name = x509.Name([_o(name), x509.NameAttribute(NameOID.COMMON_NAME, f"{name}-fulcio-root")])
        self.root_cert = _ca(root_name, root_name, self.root_key, self.root_key, now, path_length=1)
        intermediate_name = x509.Name([_o(name), x509.NameAttribute(NameOID.COMMON_NAME, f"{name}-intermediate")])
        self.intermediate_cert = _ca(
            intermediate_name, root_name, self.intermediate_key, self.root_key, now, path_length=0
        )
        self.log = _Log()

    # --- trust root ---------------------------------------------------------------------------------

    def trusted_root(self) -> dict[str, Any]:
        """The ``trusted_root.json`` document (protobuf-specs TrustedRoot, JSON form) for this instance."""
        since = _SINCE.isoformat().replace("+00:00", "Z")
        return {
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [_log_instance(f"https://rekor.{self.name}.test", self.rekor_key, since)],
            "certificateAuthorities": [
                {
                    "subject": {"organization": self.name, "commonName": f"{self.name}-intermediate"},
                    "uri": f"https://fulcio.{self.name}.test",
                    "certChain": {
                        "certificates": [
                            {"rawBytes": _b64(_der(self.intermediate_cert))},
                            {"rawBytes": _b64(_der(self.root_cert))},
                        ]
                    },
                    "validFor": {"start": since},
                }
            ],
            "ctlogs": [_log_instance(f"https://ctfe.{self.name}.test", self.ct_key, since)],
            "timestampAuthorities": [],
        }

    def write_trusted_root(self, path: Path) -> Path:
        path.write_text(json.dumps(self.trusted_root(), indent=2))
        return path

    # --- Fulcio -------------------------------------------------------------------------------------

    def issue(self, run: WorkflowRun, *, now: dt.datetime | None = None) -> tuple[x509.Certificate, Any]:
        """A ten-minute code-signing certificate for ``run`` and a fresh key, with an embedded SCT."""
        now = now or dt.datetime.now(dt.UTC)
        key = ec.generate_private_key(ec.SECP256R1())
        issuer_ski = self.intermediate_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(self.intermediate_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(seconds=30))
            .not_valid_after(now + dt.timedelta(minutes=10))
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_ski), critical=False)
            .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(run.identity)]), critical=True)
        )
        for suffix, (value, der) in run.claims().items():
            raw = _utf8_string(value) if der else value.encode()
            builder = builder.add_extension(
                x509.UnrecognizedExtension(x509.ObjectIdentifier(_FULCIO + suffix), raw), critical=False
            )
        precert = builder.sign(self.intermediate_key, hashes.SHA384())
        sct = self._sct(precert.tbs_certificate_bytes, now)
        cert = builder.add_extension(x509.UnrecognizedExtension(_SCT_LIST_OID, _sct_list(sct)), critical=False).sign(
            self.intermediate_key, hashes.SHA384()
        )
        return cert, key

    def _sct(self, tbs: bytes, now: dt.datetime) -> bytes:
        """A v1 precert SCT (RFC 6962 §3.2) over ``tbs``, signed by the CT log key."""
        timestamp = int(now.timestamp() * 1000)
        issuer_key_hash = _key_id(self.intermediate_cert.public_key())
        signed = struct.pack("!BBQH", 0, 0, timestamp, 1) + issuer_key_hash + _u24(tbs) + struct.pack("!H", 0)
        signature = self.ct_key.sign(signed, ec.ECDSA(hashes.SHA256()))
        return (
            struct.pack("!B", 0)
            + _key_id(self.ct_key.public_key())
            + struct.pack("!QH", timestamp, 0)
            + struct.pack("!BBH", 4, 3, len(signature))  # sha256, ecdsa
            + signature
        )

    # --- bundles -------------------------------------------------------------------------------------

    def sign_digest(self, digest: Digest, run: WorkflowRun | None = None) -> bytes:
        """A message-signature bundle over ``digest`` (ECDSA P-256 over the prehashed digest), logged as a
        ``hashedrekord`` 0.0.1 entry."""
        run = run or WorkflowRun()
        cert, key = self.issue(run)
        value = bytes.fromhex(digest.hex)
        signature = key.sign(value, ec.ECDSA(Prehashed(hashes.SHA256())))
        body = {
            "apiVersion": "0.0.1",
            "kind": "hashedrekord",
            "spec": {
                "data": {"hash": {"algorithm": "sha256", "value": digest.hex}},
                "signature": {"content": _b64(signature), "publicKey": {"content": _pem_b64(cert)}},
            },
        }
        message = {"messageDigest": {"algorithm": "SHA2_256", "digest": _b64(value)}, "signature": _b64(signature)}
        return self._bundle(cert, body, {"messageSignature": message})

    def attest(
        self,
        statement: dict[str, Any] | bytes,
        run: WorkflowRun | None = None,
        *,
        payload_type: str = INTOTO_PAYLOAD_TYPE,
    ) -> bytes:
        """A DSSE bundle holding ``statement`` (an in-toto statement), logged as a ``dsse`` 0.0.1 entry."""
        run = run or WorkflowRun()
        cert, key = self.issue(run)
        payload = statement if isinstance(statement, bytes) else json.dumps(statement).encode()
        signature = key.sign(pae(payload_type, payload), ec.ECDSA(hashes.SHA256()))
        envelope = {
            "payload": _b64(payload),
            "payloadType": payload_type,
            "signatures": [{"sig": _b64(signature), "keyid": ""}],
        }
        body = {
            "apiVersion": "0.0.1",
            "kind": "dsse",
            "spec": {
                "envelopeHash": {
                    "algorithm": "sha256",
                    "value": hashlib.sha256(json.dumps(envelope).encode()).hexdigest(),
                },
                "payloadHash": {"algorithm": "sha256", "value": hashlib.sha256(payload).hexdigest()},
                "signatures": [{"signature": _b64(signature), "verifier": _pem_b64(cert)}],
            },
        }
        return self._bundle(cert, body, {"dsseEnvelope": envelope})

    def provenance(
        self, digest: Digest, run: WorkflowRun | None = None, *, name: str = "registry.test/acme/dotca"
    ) -> bytes:
        """A SLSA provenance v1 attestation for ``digest`` as actions/attest-build-provenance makes it."""
        return self.attest(provenance_statement(digest, run or WorkflowRun(), name=name), run)

    def _bundle(self, cert: x509.Certificate, body: dict[str, Any], content: dict[str, Any]) -> bytes:
        entry = self._log_entry(json.dumps(body, separators=(",", ":")).encode(), body["kind"])
        bundle = {
            "mediaType": BUNDLE_V03,
            "verificationMaterial": {"certificate": {"rawBytes": _b64(_der(cert))}, "tlogEntries": [entry]},
            **content,
        }
        return json.dumps(bundle, indent=2).encode()

    # --- Rekor --------------------------------------------------------------------------------------

    def _log_entry(self, body: bytes, kind: str) -> dict[str, Any]:
        index, size, root, proof = self.log.append(body)
        log_id = _key_id(self.rekor_key.public_key())
        integrated = int(dt.datetime.now(dt.UTC).timestamp())
        promise = {"body": _b64(body), "integratedTime": integrated, "logID": log_id.hex(), "logIndex": index}
        canonical = json.dumps(promise, sort_keys=True, separators=(",", ":")).encode()  # RFC 8785 for this shape
        origin = f"rekor.{self.name}.test - 4242"
        note = f"{origin}\n{size}\n{_b64(root)}\n"
        note_signature = self.rekor_key.sign(note.encode(), ec.ECDSA(hashes.SHA256()))
        checkpoint = f"{note}\n\u2014 rekor.{self.name}.test {_b64(log_id[:4] + note_signature)}\n"
        return {
            "logIndex": str(index),
            "logId": {"keyId": _b64(log_id)},
            "kindVersion": {"kind": kind, "version": "0.0.1"},
            "integratedTime": str(integrated),
            "inclusionPromise": {
                "signedEntryTimestamp": _b64(self.rekor_key.sign(canonical, ec.ECDSA(hashes.SHA256())))
            },
            "inclusionProof": {
                "logIndex": str(index),
                "rootHash": _b64(root),
                "treeSize": str(size),
                "hashes": [_b64(h) for h in proof],
                "checkpoint": {"envelope": checkpoint},
            },
            "canonicalizedBody": _b64(body),
        }


# --- statements ----------------------------------------------------------------------------------------


def provenance_statement(digest: Digest, run: WorkflowRun, *, name: str) -> dict[str, Any]:
    """An in-toto statement with a SLSA provenance v1 predicate in GitHub's build type (what
    actions/attest-build-provenance signs): the workflow, its repository and ref, the run that built it."""
    repository = f"https://github.com/{run.repository}"
    return {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": name, "digest": {digest.algorithm: digest.hex}}],
        "predicateType": SLSA_PROVENANCE_V1,
        "predicate": {
            "buildDefinition": {
                "buildType": GITHUB_BUILD_TYPE,
                "externalParameters": {"workflow": {"ref": run.ref, "repository": repository, "path": run.workflow}},
                "internalParameters": {
                    "github": {
                        "event_name": run.trigger,
                        "repository_id": "700100",
                        "repository_owner_id": "700001",
                        "runner_environment": run.runner_environment,
                    }
                },
                "resolvedDependencies": [{"uri": f"git+{repository}@{run.ref}", "digest": {"gitCommit": run.sha}}],
            },
            "runDetails": {
                "builder": {"id": f"https://github.com/actions/runner/{run.runner_environment}"},
                "metadata": {"invocationId": f"{repository}/actions/runs/{run.run_id}/attempts/1"},
            },
        },
    }


def cosign_sign_statement(digest: Digest, *, name: str = "registry.test/acme/dotca") -> dict[str, Any]:
    """The statement cosign 3 signs for an image (``cosign sign`` with the new bundle format)."""
    return {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": name, "digest": {digest.algorithm: digest.hex}}],
        "predicateType": COSIGN_SIGN_V1,
        "predicate": {},
    }


def tampered(bundle: bytes) -> bytes:
    """``bundle`` with one bit of its signature flipped (message signature or DSSE)."""
    doc = json.loads(bundle)
    holder = doc["dsseEnvelope"]["signatures"][0] if "dsseEnvelope" in doc else doc["messageSignature"]
    field_name = "sig" if "dsseEnvelope" in doc else "signature"
    raw = bytearray(base64.b64decode(holder[field_name]))
    raw[-1] ^= 1
    holder[field_name] = _b64(bytes(raw))
    return json.dumps(doc).encode()


# --- encodings -----------------------------------------------------------------------------------------


def _ca(
    subject: x509.Name, issuer: x509.Name, key: Any, signer: Any, now: dt.datetime, *, path_length: int
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
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if signer is not key:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), critical=False
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
    return builder.sign(signer, hashes.SHA384())


def _log_instance(url: str, key: Any, since: str) -> dict[str, Any]:
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return {
        "baseUrl": url,
        "hashAlgorithm": "SHA2_256",
        "publicKey": {"rawBytes": _b64(spki), "keyDetails": "PKIX_ECDSA_P256_SHA_256", "validFor": {"start": since}},
        "logId": {"keyId": _b64(hashlib.sha256(spki).digest())},
    }


def _key_id(public_key: Any) -> bytes:
    spki = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).digest()


def _sct_list(sct: bytes) -> bytes:
    """The SCT list extension value: a DER OCTET STRING around the TLS-encoded SignedCertificateTimestampList."""
    tls = struct.pack("!H", len(sct) + 2) + struct.pack("!H", len(sct)) + sct
    return _der_tlv(0x04, tls)


def _utf8_string(text: str) -> bytes:
    return _der_tlv(0x0C, text.encode())


def _der_tlv(tag: int, content: bytes) -> bytes:
    size = len(content)
    if size < 0x80:
        length = bytes([size])
    else:
        encoded = size.to_bytes((size.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(encoded)]) + encoded
    return bytes([tag]) + length + content


def _u24(data: bytes) -> bytes:
    return len(data).to_bytes(3, "big") + data


def _leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(size: int) -> int:
    """The largest power of two smaller than ``size`` (RFC 6962 §2.1)."""
    k = 1
    while k * 2 < size:
        k *= 2
    return k


def _root(hashes_: list[bytes]) -> bytes:
    if len(hashes_) == 1:
        return hashes_[0]
    k = _split(len(hashes_))
    return _node(_root(hashes_[:k]), _root(hashes_[k:]))


def _path(index: int, hashes_: list[bytes]) -> list[bytes]:
    """The audit path of leaf ``index`` (RFC 6962 §2.1.1), deepest hash first."""
    if len(hashes_) == 1:
        return []
    k = _split(len(hashes_))
    if index < k:
        return [*_path(index, hashes_[:k]), _root(hashes_[k:])]
    return [*_path(index - k, hashes_[k:]), _root(hashes_[:k])]


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def _pem_b64(cert: x509.Certificate) -> str:
    return _b64(cert.public_bytes(serialization.Encoding.PEM))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _o(name: str) -> x509.NameAttribute:
    return x509.NameAttribute(NameOID.ORGANIZATION_NAME, name)


__all__ = [
    "COSIGN_SIGN_V1",
    "GITHUB_ISSUER",
    "SLSA_PROVENANCE_V1",
    "TestSigstore",
    "WorkflowRun",
    "cosign_sign_statement",
    "provenance_statement",
    "replace",
    "tampered",
]
