"""A test-only Sigstore instance: bundles bound to digests the tests choose, verifiable by sigstore-python.

Public-good Sigstore cannot sign for tests (no OIDC token, no network), so this module plays its parts
with throw-away keys, the way the services do it, and writes a ``trusted_root.json`` that trusts them:

- **Fulcio**: a root CA and an intermediate (ECDSA P-384) issuing ten-minute leaf certificates for a fresh
  P-256 key, with an empty subject, the workflow URI as SAN, code-signing usage and the Fulcio claim
  extensions ``1.3.6.1.4.1.57264.1.*`` of a GitHub Actions token (issuer in ``1.1`` and ``1.8``, source
  repository, ref, commit, workflow, trigger, runner environment …; see Fulcio's docs/oid-info.md).
- **CT log**: an embedded precertificate SCT (RFC 6962 §3.2) signed by a CT log key, over the leaf's
  TBSCertificate without the SCT extension, keyed by the issuer's key hash.
- **Rekor** v1 (``hashedrekord``/``dsse`` 0.0.1 entries with inclusion proof, signed checkpoint and inclusion
  promise) or v2 (``hashedrekord`` 0.0.2, inclusion proof and checkpoint only), and an **RFC 3161 TSA**
  (``openssl ts``): see tests/infra/sigstore_log.py.

Bundles are v0.3 (``application/vnd.dev.sigstore.bundle.v0.3+json``): a message signature over a digest
(what ``cosign sign-blob`` writes, here over an image manifest digest), or a DSSE envelope holding an
in-toto statement whose subject is the image digest (SLSA provenance v1 with GitHub's build type, or
cosign 3's image-signature statement ``https://sigstore.dev/cosign/sign/v1``).

A Rekor v1 entry's inclusion promise gives sigstore-python its signed time; a Rekor v2 entry needs a
timestamp (``timestamp=True``), which a v1 entry may carry too.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hoist.digest import Digest
from hoist.evidence.dsse import INTOTO_PAYLOAD_TYPE, pae
from tests.infra.sigstore_log import (
    SINCE,
    TimestampAuthority,
    TransparencyLog,
    b64,
    ca_certificate,
    der,
    iso,
    key_id,
    key_usage,
    log_instance,
)

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
SLSA_PROVENANCE_V1 = "https://slsa.dev/provenance/v1"
COSIGN_SIGN_V1 = "https://sigstore.dev/cosign/sign/v1"
BUNDLE_V03 = "application/vnd.dev.sigstore.bundle.v0.3+json"
GITHUB_BUILD_TYPE = "https://actions.github.io/buildtypes/workflow/v1"
_SCT_LIST_OID = x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2")
_FULCIO = "1.3.6.1.4.1.57264.1."


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


class TestSigstore:
    """Throw-away Fulcio, CT log and Rekor keys; :meth:`trusted_root` trusts exactly them."""

    __test__ = False  # not a pytest test class

    def __init__(self, *, name: str = "hoist-test") -> None:
        self.name = name
        now = dt.datetime.now(dt.UTC)
        self.root_key = ec.generate_private_key(ec.SECP384R1())
        self.intermediate_key = ec.generate_private_key(ec.SECP384R1())
        self.ct_key = ec.generate_private_key(ec.SECP256R1())
        root_name = x509.Name([_o(name), x509.NameAttribute(NameOID.COMMON_NAME, f"{name}-fulcio-root")])
        self.root_cert = ca_certificate(root_name, root_name, self.root_key, self.root_key, now, path_length=1)
        intermediate_name = x509.Name([_o(name), x509.NameAttribute(NameOID.COMMON_NAME, f"{name}-intermediate")])
        self.intermediate_cert = ca_certificate(
            intermediate_name, root_name, self.intermediate_key, self.root_key, now, path_length=0
        )
        self.rekor = TransparencyLog(f"https://rekor.{name}.test")
        self.rekor_v2 = TransparencyLog(f"https://log2025-1.rekor.{name}.test")
        self.tsa = TimestampAuthority(name)

    # --- trust root ---------------------------------------------------------------------------------

    def trusted_root(self) -> dict[str, Any]:
        """The ``trusted_root.json`` document (protobuf-specs TrustedRoot, JSON form) for this instance."""
        chain = [{"rawBytes": b64(der(self.intermediate_cert))}, {"rawBytes": b64(der(self.root_cert))}]
        return {
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [self.rekor.trust_entry(), self.rekor_v2.trust_entry()],
            "certificateAuthorities": [
                {
                    "subject": {"organization": self.name, "commonName": f"{self.name}-intermediate"},
                    "uri": f"https://fulcio.{self.name}.test",
                    "certChain": {"certificates": chain},
                    "validFor": {"start": iso(SINCE)},
                }
            ],
            "ctlogs": [log_instance(f"https://ctfe.{self.name}.test", self.ct_key)],
            "timestampAuthorities": [self.tsa.trust_entry()],
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
            .add_extension(key_usage(digital_signature=True), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_ski), critical=False)
            .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(run.identity)]), critical=True)
        )
        for suffix, (value, encoded) in run.claims().items():
            raw = _utf8_string(value) if encoded else value.encode()
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
        issuer_key_hash = key_id(self.intermediate_cert.public_key())
        signed = struct.pack("!BBQH", 0, 0, timestamp, 1) + issuer_key_hash + _u24(tbs) + struct.pack("!H", 0)
        signature = self.ct_key.sign(signed, ec.ECDSA(hashes.SHA256()))
        return (
            struct.pack("!B", 0)
            + key_id(self.ct_key.public_key())
            + struct.pack("!QH", timestamp, 0)
            + struct.pack("!BBH", 4, 3, len(signature))  # sha256, ecdsa
            + signature
        )

    # --- bundles -------------------------------------------------------------------------------------

    def sign_digest(
        self, digest: Digest, run: WorkflowRun | None = None, *, rekor: int = 1, timestamp: bool = False
    ) -> bytes:
        """A message-signature bundle over ``digest`` (ECDSA P-256 over the prehashed digest), logged as a
        ``hashedrekord`` entry in Rekor v1 or v2, with an RFC 3161 timestamp when asked."""
        run = run or WorkflowRun()
        cert, key = self.issue(run)
        value = bytes.fromhex(digest.hex)
        signature = key.sign(value, ec.ECDSA(Prehashed(hashes.SHA256())))
        message = {"messageDigest": {"algorithm": "SHA2_256", "digest": b64(value)}, "signature": b64(signature)}
        if rekor == 1:
            body = {
                "apiVersion": "0.0.1",
                "kind": "hashedrekord",
                "spec": {
                    "data": {"hash": {"algorithm": "sha256", "value": digest.hex}},
                    "signature": {"content": b64(signature), "publicKey": {"content": _pemb64(cert)}},
                },
            }
        else:
            body = _hashedrekord_v2(value, signature, cert)
        return self._bundle(cert, body, signature, {"messageSignature": message}, rekor=rekor, timestamp=timestamp)

    def attest(
        self,
        statement: dict[str, Any] | bytes,
        run: WorkflowRun | None = None,
        *,
        payload_type: str = INTOTO_PAYLOAD_TYPE,
        rekor: int = 1,
        timestamp: bool = False,
    ) -> bytes:
        """A DSSE bundle holding ``statement`` (an in-toto statement), logged as a ``dsse`` 0.0.1 entry (Rekor
        v1) or a ``hashedrekord`` 0.0.2 entry over the envelope's PAE (Rekor v2)."""
        run = run or WorkflowRun()
        cert, key = self.issue(run)
        payload = statement if isinstance(statement, bytes) else json.dumps(statement).encode()
        signature = key.sign(pae(payload_type, payload), ec.ECDSA(hashes.SHA256()))
        envelope = {
            "payload": b64(payload),
            "payloadType": payload_type,
            "signatures": [{"sig": b64(signature), "keyid": ""}],
        }
        if rekor == 1:
            envelope_hash = hashlib.sha256(json.dumps(envelope).encode()).hexdigest()
            body = {
                "apiVersion": "0.0.1",
                "kind": "dsse",
                "spec": {
                    "envelopeHash": {"algorithm": "sha256", "value": envelope_hash},
                    "payloadHash": {"algorithm": "sha256", "value": hashlib.sha256(payload).hexdigest()},
                    "signatures": [{"signature": b64(signature), "verifier": _pemb64(cert)}],
                },
            }
        else:
            body = _hashedrekord_v2(hashlib.sha256(pae(payload_type, payload)).digest(), signature, cert)
        return self._bundle(cert, body, signature, {"dsseEnvelope": envelope}, rekor=rekor, timestamp=timestamp)

    def provenance(
        self, digest: Digest, run: WorkflowRun | None = None, *, name: str = "registry.test/acme/dotca", **options: Any
    ) -> bytes:
        """A SLSA provenance v1 attestation for ``digest`` as actions/attest-build-provenance makes it."""
        return self.attest(provenance_statement(digest, run or WorkflowRun(), name=name), run, **options)

    def _bundle(
        self,
        cert: x509.Certificate,
        body: dict[str, Any],
        signature: bytes,
        content: dict[str, Any],
        *,
        rekor: int,
        timestamp: bool,
    ) -> bytes:
        log = self.rekor if rekor == 1 else self.rekor_v2
        material: dict[str, Any] = {
            "certificate": {"rawBytes": b64(der(cert))},
            "tlogEntries": [log.entry(body, version=rekor)],
        }
        if timestamp:
            token = self.tsa.timestamp(signature)
            material["timestampVerificationData"] = {"rfc3161Timestamps": [{"signedTimestamp": b64(token)}]}
        bundle = {"mediaType": BUNDLE_V03, "verificationMaterial": material, **content}
        return json.dumps(bundle, indent=2).encode()


def _hashedrekord_v2(digest: bytes, signature: bytes, cert: x509.Certificate) -> dict[str, Any]:
    """A Rekor v2 ``hashedrekord`` 0.0.2 entry body (protobuf JSON): the signed digest and the certificate."""
    return {
        "kind": "hashedrekord",
        "apiVersion": "0.0.2",
        "spec": {
            "hashedRekordV002": {
                "data": {"algorithm": "SHA2_256", "digest": b64(digest)},
                "signature": {
                    "content": b64(signature),
                    "verifier": {
                        "x509Certificate": {"rawBytes": b64(der(cert))},
                        "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                    },
                },
            }
        },
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
    holder[field_name] = b64(bytes(raw))
    return json.dumps(doc).encode()


# --- encodings -----------------------------------------------------------------------------------------


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


def _pemb64(cert: x509.Certificate) -> str:
    return b64(cert.public_bytes(serialization.Encoding.PEM))


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
    "tampered",
]
