"""Gates on evidence about the exact digest, evidence carried along, signing — on a real registry
(distribution 2.8: no referrers API) and on an OCI layout, the same table."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from hoist.digest import Digest
from hoist.evidence import dsse
from hoist.evidence.attach import DSSE_TYPE, attach
from hoist.evidence.intoto import Outcome, TestResult, evidence_statement
from hoist.evidence.keys import PrivateKey, load_private_key
from hoist.manifest import OCI_MANIFEST, Descriptor
from hoist.ref import parse_reference
from hoist.secret import Secret
from hoist.store import Session
from tests.infra.images import ImageInfo, make_image
from tests.infra.registry import RunningRegistry
from tests.support import Hoist, HoistResult

FIXTURES = Path(__file__).parent / "fixtures"
PASSWORD = "s3cret-key-password"


@dataclass
class Gated:
    config: Path
    staging: str
    production: str
    layout: Path
    images: dict[str, ImageInfo]
    keys: Path
    tmp: Path

    def run(self, hoist: Hoist, *args: str) -> HoistResult:
        return hoist("--config", str(self.config), *args)

    def stage(self, hoist: Hoist, name: str) -> str:
        hoist.ok("copy", f"oci:{self.layout}:{name}", self.staging)
        return self.images[name].digest

    def deploy_staging(self, hoist: Hoist) -> None:
        result = self.run(hoist, "deploy", "staging")
        assert result.code == 0, result

    def write(self, require: str, extra: str = "") -> None:
        self.config.write_text(f"""
[environments.staging]
image = "{self.staging}"
key = "{self.keys}/staging.key"

[environments.staging.deploy]
target = "command"
run = "true"

[environments.production]
image = "{self.production}"
from = "staging"
require = [{require}]

[environments.production.gates]
deployed = {{ environment = "staging" }}
tests = {{ environment = "staging", max_age = "7d", keys = ["{self.keys}/staging.pub"] }}
signature = {{ keys = ["{self.keys}/staging.pub"] }}
scan = {{ max_severity = "high" }}
{extra}
""")


@pytest.fixture(params=["registry", "layout"])
def gated(
    request: pytest.FixtureRequest, tmp_path: Path, unique_repo: str, monkeypatch: pytest.MonkeyPatch, hoist: Hoist
) -> Gated:
    monkeypatch.setenv("HOIST_KEY_PASSWORD", PASSWORD)
    monkeypatch.setenv("HOIST_ACTOR", "tester")
    monkeypatch.setenv("GITHUB_SHA", "c0ffee0000000000000000000000000000000000")
    layout = tmp_path / "build"
    images = {n: make_image(layout, tag=n, layers=1, layer_size=4096, seed=f"gates-{n}") for n in "ABC"}
    if request.param == "registry":
        registry: RunningRegistry = request.getfixturevalue("registry")
        staging, production = f"{registry.host}/{unique_repo}:staging", f"{registry.host}/{unique_repo}-prod:main"
    else:
        staging, production = f"oci:{tmp_path}/staging:staging", f"oci:{tmp_path}/production:main"
    keys = tmp_path / "keys"
    keys.mkdir()
    for name in ("staging", "production", "stranger"):
        hoist.ok("keygen", "--output-prefix", str(keys / name))
    setup = Gated(tmp_path / "hoist.toml", staging, production, layout, images, keys, tmp_path)
    setup.write('"deployed", "tests"')
    return setup


def refused(result: HoistResult, *words: str) -> None:
    assert result.code == 3, result
    line = result.err.strip().splitlines()[-1]
    for word in words:
        assert word in line, (word, line)


def test_deployed_and_tests_gates(hoist: Hoist, gated: Gated) -> None:
    gated.stage(hoist, "A")
    refused(
        gated.run(hoist, "promote", "staging", "production"),
        "deployed: never deployed to staging",
        "tests: no valid test evidence",
    )
    gated.deploy_staging(hoist)
    refused(gated.run(hoist, "promote", "staging", "production"), "tests: no valid test evidence")

    failing = gated.run(hoist, "test", "staging", "--", "sh", "-c", "echo running the suite; exit 7")
    assert failing.code == 7 and "running the suite" in failing.err
    refused(gated.run(hoist, "promote", "staging", "production"), "tests: the newest test run FAILED")

    passing = gated.run(hoist, "test", "staging", "--json", "--", "true")
    assert passing.code == 0 and passing.json["result"] == "PASSED" and passing.json["signed"] is True
    result = gated.run(hoist, "promote", "staging", "production", "--json")
    assert result.code == 0, result
    gates = {g["gate"]: g for g in result.json["gates"]}
    assert gates["deployed"]["passed"] and gates["tests"]["passed"]
    assert gates["tests"]["evidence"], "the evidence used is named"
    record = gated.run(hoist, "history", "production", "--json").json[0]
    assert [g["gate"] for g in record["gates"]] == ["deployed", "tests"]

    # the newest valid result decides: a later FAILED run refuses again
    gated.stage(hoist, "B")
    gated.deploy_staging(hoist)
    assert gated.run(hoist, "test", "staging", "--", "true").code == 0
    assert gated.run(hoist, "test", "staging", "--", "false").code == 1
    refused(gated.run(hoist, "promote", "staging", "production"), "FAILED")
    assert gated.run(hoist, "test", "staging", "--", "true").code == 0
    assert gated.run(hoist, "promote", "staging", "production").code == 0


def _subject(ref: str, digest: str) -> tuple[Session, object, Descriptor]:
    session = Session()
    target = parse_reference(ref)
    store = session.open(target, push=True)
    found = store.head_manifest(Digest.parse(digest))
    assert found is not None
    return session, store, found


def test_evidence_for_another_digest_or_tampered_counts_as_absent(hoist: Hoist, gated: Gated) -> None:
    other = gated.stage(hoist, "B")
    digest = gated.stage(hoist, "A")
    gated.deploy_staging(hoist)
    key = load_private_key(gated.keys / "staging.key", password=Secret(PASSWORD))
    session, store, subject = _subject(gated.staging, digest)
    passed = TestResult(result=Outcome.PASSED, command="true")
    # a PASSED result about B, attached to A
    wrong = evidence_statement(passed, subject_name="x", digest=Digest.parse(other))
    envelope = dsse.sign(wrong.to_json(), dsse.INTOTO_PAYLOAD_TYPE, key)
    attach(
        store,
        subject,
        json.dumps(envelope).encode(),
        artifact_type=DSSE_TYPE,
        media_type=DSSE_TYPE,  # type: ignore[arg-type]
        annotations={},
    )
    refused(gated.run(hoist, "promote", "staging", "production"), "for another digest")
    # a FAILED result about A whose payload was edited to PASSED: the signature no longer verifies
    failed = evidence_statement(
        TestResult(result=Outcome.FAILED, command="false"), subject_name="x", digest=Digest.parse(digest)
    )
    envelope = dsse.sign(failed.to_json(), dsse.INTOTO_PAYLOAD_TYPE, key)
    edited = base64.b64decode(envelope["payload"]).replace(b'"FAILED"', b'"PASSED"')
    envelope["payload"] = base64.b64encode(edited).decode()
    attach(
        store,
        subject,
        json.dumps(envelope).encode(),
        artifact_type=DSSE_TYPE,
        media_type=DSSE_TYPE,  # type: ignore[arg-type]
        annotations={},
    )
    refused(gated.run(hoist, "promote", "staging", "production"), "signature invalid")
    # unsigned evidence does not count when the gate has keys
    stranger = gated.run(hoist, "test", "staging", "--key", str(gated.keys / "stranger.key"), "--", "true")
    assert stranger.code == 0
    refused(gated.run(hoist, "promote", "staging", "production"), "signature invalid or by an unknown key")
    session.close()
    assert gated.run(hoist, "test", "staging", "--", "true").code == 0
    assert gated.run(hoist, "promote", "staging", "production").code == 0


def test_signature_gate_and_evidence_carried_along(hoist: Hoist, gated: Gated) -> None:
    gated.write('"signature"', extra=f'sign_with = "{gated.keys}/production.key"')
    digest = gated.stage(hoist, "A")
    refused(gated.run(hoist, "promote", "staging", "production"), "signature: not signed")
    hoist.ok("sign", gated.staging, "--key", str(gated.keys / "stranger.key"))
    refused(gated.run(hoist, "promote", "staging", "production"), "signature: no valid signature")
    signed = hoist.ok("sign", gated.staging, "--key", str(gated.keys / "staging.key"), "--json").json
    assert signed["tag"] == f"sha256-{digest[7:]}.sig" and signed["signed"]
    again = hoist.ok("sign", gated.staging, "--key", str(gated.keys / "staging.key"), "--json").json
    assert again["signed"] is False  # idempotent per key
    assert gated.run(hoist, "test", "staging", "--", "true").code == 0
    result = gated.run(hoist, "promote", "staging", "production", "--json")
    assert result.code == 0, result
    assert result.json["signature"] == f"sha256-{digest[7:]}.sig"
    assert len(result.json["evidence"]["legacy_tags"]) == 1 and len(result.json["evidence"]["referrers"]) == 1
    production = gated.production.rsplit(":", 1)[0] + f"@{digest}"
    listing = hoist.ok(
        "evidence",
        production,
        "--key",
        str(gated.keys / "staging.pub"),
        "--key",
        str(gated.keys / "production.pub"),
        "--json",
    ).json
    kinds = sorted((e["kind"], e["valid"]) for e in listing["evidence"])
    # the stranger's and staging's signatures (carried), production's own, and the test attestation
    assert kinds == [("attestation", True), ("signature", False), ("signature", True), ("signature", True)], kinds
    text = hoist.ok("evidence", production, "--key", str(gated.keys / "staging.pub"))
    assert "test-result" in text.out and "PASSED" in text.out


@pytest.mark.parametrize(
    ("report", "passes"),
    [
        ("trivy-high.json", False),
        ("trivy-low.json", True),
        ("sarif-high.sarif", False),
        ("sarif-low.sarif", True),
    ],
)
def test_scan_gate(hoist: Hoist, gated: Gated, report: str, passes: bool) -> None:
    gated.write('"scan"')
    gated.stage(hoist, "A")
    refused(gated.run(hoist, "promote", "staging", "production"), "scan: no valid scan report")
    recorded = gated.run(hoist, "attest", "staging", "--scan", str(FIXTURES / "scans" / report), "--json")
    assert recorded.code == 0, recorded
    result = gated.run(hoist, "promote", "staging", "production")
    if passes:
        assert result.code == 0, result
    else:
        refused(result, "CRITICAL above the limit (HIGH)")


def test_force_with_reason_is_recorded(hoist: Hoist, gated: Gated) -> None:
    gated.stage(hoist, "A")
    no_reason = gated.run(hoist, "promote", "staging", "production", "--force")
    assert no_reason.code == 2 and "--reason" in no_reason.err
    json_refusal = gated.run(hoist, "promote", "staging", "production", "--json")
    assert json_refusal.code == 3 and json_refusal.json["refused"] is True
    assert {g["gate"] for g in json_refusal.json["gates"]} == {"deployed", "tests"}
    forced = gated.run(hoist, "promote", "staging", "production", "--force", "--reason", "hotfix for outage")
    assert forced.code == 0, forced
    assert "OVERRIDDEN" in forced.out
    record = gated.run(hoist, "history", "production", "--json").json[0]
    assert record["forced"] is True and record["reason"] == "hotfix for outage" and record["actor"] == "tester"
    assert all(g["overridden"] for g in record["gates"])
    assert "(forced)" in gated.run(hoist, "history", "production").out


def test_cosign_signatures_verify_through_a_layout(hoist: Hoist, tmp_path: Path) -> None:
    """The real cosign's legacy signature, stored the way cosign stores it, read back by hoist."""
    vector = json.loads((FIXTURES / "cosign" / "legacy-signatures.json").read_text())["vectors"][0]
    layout = tmp_path / "signed"
    (layout / "blobs" / "sha256").mkdir(parents=True)
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')

    def blob(data: bytes) -> dict[str, object]:
        digest = Digest.of(data)
        (layout / "blobs" / "sha256" / digest.hex).write_bytes(data)
        return {"digest": str(digest), "size": len(data)}

    image = vector["manifest"].encode()
    image_desc = blob(image)
    assert image_desc["digest"] == vector["manifest_digest"]
    payload = blob(vector["payload"].encode())
    config = blob(b"{}")
    signature_manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config},
            "layers": [
                {
                    "mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
                    **payload,
                    "annotations": {"dev.cosignproject.cosign/signature": vector["signature"]},
                }
            ],
        }
    ).encode()
    sig_desc = blob(signature_manifest)
    tag = vector["manifest_digest"].replace(":", "-") + ".sig"
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                **image_desc,
                "annotations": {"org.opencontainers.image.ref.name": "signed"},
            },
            {"mediaType": OCI_MANIFEST, **sig_desc, "annotations": {"org.opencontainers.image.ref.name": tag}},
        ],
    }
    (layout / "index.json").write_text(json.dumps(index))
    public = tmp_path / "cosign.pub"
    public.write_text(vector["public_key"])
    result = hoist.ok("evidence", f"oci:{layout}:signed", "--key", str(public), "--json").json
    assert [(e["kind"], e["valid"]) for e in result["evidence"]] == [("signature", True)]
    other = tmp_path / "other.pub"
    other_key = PrivateKey.generate().public_key()
    other.write_bytes(other_key.pem())
    result = hoist.ok("evidence", f"oci:{layout}:signed", "--key", str(other), "--json").json
    assert [(e["kind"], e["valid"]) for e in result["evidence"]] == [("signature", False)]


def test_keys_never_wait_for_a_prompt_without_a_terminal(
    hoist: Hoist, gated: Gated, monkeypatch: pytest.MonkeyPatch
) -> None:
    gated.stage(hoist, "A")
    monkeypatch.delenv("HOIST_KEY_PASSWORD")
    monkeypatch.delenv("COSIGN_PASSWORD", raising=False)
    result = hoist("sign", gated.staging, "--key", str(gated.keys / "staging.key"))
    assert result.code == 2 and "HOIST_KEY_PASSWORD" in result.err
    monkeypatch.setenv("COSIGN_PASSWORD", "not-the-right-one")
    result = hoist("sign", gated.staging, "--key", str(gated.keys / "staging.key"))
    assert result.code == 2 and "wrong password" in result.err and PASSWORD not in result.err


def test_signature_gate_accepts_sigstore_bundles_found_through_referrers(hoist: Hoist, gated: Gated) -> None:
    """cosign's OCI 1.1 layout: a bundle artifact whose subject is the image (no legacy .sig tag)."""
    from hoist.evidence.attach import BUNDLE_TYPE
    from hoist.evidence.intoto import statement

    gated.write('"signature"')
    digest = gated.stage(hoist, "A")
    session, store, subject = _subject(gated.staging, digest)
    manifest = store.get_manifest(Digest.parse(digest))  # type: ignore[attr-defined]
    stranger = load_private_key(gated.keys / "stranger.key", password=Secret(PASSWORD))
    staging = load_private_key(gated.keys / "staging.key", password=Secret(PASSWORD))

    def message_bundle(key: PrivateKey) -> bytes:
        signed = {"algorithm": "SHA2_256", "digest": base64.b64encode(bytes.fromhex(digest[7:])).decode()}
        signature = base64.b64encode(key.sign(manifest.raw)).decode()
        return json.dumps(
            {
                "mediaType": BUNDLE_TYPE,
                "verificationMaterial": {"publicKey": {"hint": "k"}},
                "messageSignature": {"messageDigest": signed, "signature": signature},
            }
        ).encode()

    def add(content: bytes) -> None:
        attach(
            store,
            subject,
            content,
            artifact_type=BUNDLE_TYPE,
            media_type=BUNDLE_TYPE,  # type: ignore[arg-type]
            annotations={"dev.sigstore.bundle.content": "message-signature"},
        )

    add(message_bundle(stranger))
    refused(gated.run(hoist, "promote", "staging", "production"), "bundle signature invalid or by an unknown key")
    add(message_bundle(staging))
    result = gated.run(hoist, "promote", "staging", "production", "--json")
    assert result.code == 0, result
    assert result.json["gates"][0]["passed"]

    # a DSSE bundle names the digest in its statement
    digest_b = gated.stage(hoist, "B")
    session2, store_b, subject_b = _subject(gated.staging, digest_b)
    about = statement(
        subject_name="dotca",
        digest=Digest.parse(digest_b),
        predicate_type="https://sigstore.dev/cosign/sign/v1",
        predicate={},
    )
    envelope = dsse.sign(about.to_json(), dsse.INTOTO_PAYLOAD_TYPE, staging)
    bundle = json.dumps({"mediaType": BUNDLE_TYPE, "dsseEnvelope": envelope}).encode()
    attach(
        store_b,
        subject_b,
        bundle,
        artifact_type=BUNDLE_TYPE,
        media_type=BUNDLE_TYPE,  # type: ignore[arg-type]
        annotations={"dev.sigstore.bundle.content": "dsse-envelope"},
    )
    assert gated.run(hoist, "promote", "staging", "production").code == 0
    session.close()
    session2.close()


def test_deployed_gate_wants_this_digest_deployed(hoist: Hoist, gated: Gated) -> None:
    """Another digest deployed (and healthy) in staging does not let this one through."""
    gated.write('"deployed"')
    gated.stage(hoist, "A")
    gated.deploy_staging(hoist)  # A runs in staging, healthy
    digest_b = gated.stage(hoist, "B")  # B is staging's tag now, never deployed
    result = gated.run(hoist, "promote", "staging", "production", "--json")
    assert result.code == 3, result
    gate = result.json["gates"][0]
    assert gate["gate"] == "deployed" and not gate["passed"] and gate["detail"] == "never deployed to staging"
    assert result.json["digest"] == digest_b
    gated.deploy_staging(hoist)
    assert gated.run(hoist, "promote", "staging", "production").code == 0


def test_evidence_older_than_max_age_refuses(hoist: Hoist, gated: Gated, monkeypatch: pytest.MonkeyPatch) -> None:
    """The clock is set through HOIST_NOW (the documented setting), never by sleeping."""
    gated.write('"tests"')
    gated.stage(hoist, "A")
    hoist.ok("copy", f"oci:{gated.layout}:C", gated.production.rsplit(":", 1)[0] + ":unrelated")  # TO exists
    monkeypatch.setenv("HOIST_NOW", "2026-01-01T12:00:00Z")
    assert gated.run(hoist, "test", "staging", "--", "true").code == 0  # recorded at that time
    monkeypatch.setenv("HOIST_NOW", "2026-01-08T11:59:00Z")  # 6 days 23:59 later: within 7d
    assert gated.run(hoist, "promote", "staging", "production", "--dry-run").code == 0
    monkeypatch.setenv("HOIST_NOW", "2026-01-08T12:01:00Z")  # 7 days and a minute later
    refused(gated.run(hoist, "promote", "staging", "production"), "tests: the newest test evidence is too old")
    monkeypatch.setenv("HOIST_NOW", "not a time")
    bad = gated.run(hoist, "promote", "staging", "production")
    assert bad.code == 2 and "HOIST_NOW" in bad.err
