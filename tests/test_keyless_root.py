"""The keyless verification core against bundles made by the test Sigstore instance (tests/infra/sigstore_root.py):
bound to digests the tests choose, signed for GitHub Actions runs the tests describe."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from hoist.digest import Digest
from hoist.errors import BundleRejected
from hoist.evidence.keyless.policy import GITHUB_ISSUER, IdentityPolicy, ProvenancePolicy
from hoist.evidence.keyless.trust import TrustRoot
from hoist.evidence.keyless.verify import Verified, verify_bundle
from tests.infra.sigstore_root import (
    COSIGN_SIGN_V1,
    SLSA_PROVENANCE_V1,
    TestSigstore,
    WorkflowRun,
    cosign_sign_statement,
    tampered,
)

IMAGE = Digest.of(b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}')
OTHER = Digest.of(b"another image")
RUN = WorkflowRun()
STAGING = ProvenancePolicy(repository="acme/dotca", workflow=".github/workflows/staging.yml", ref="refs/heads/main")


@pytest.fixture(scope="module")
def instance() -> TestSigstore:
    return TestSigstore()


@pytest.fixture(scope="module")
def trust(instance: TestSigstore, tmp_path_factory: pytest.TempPathFactory) -> TrustRoot:
    return TrustRoot.from_file(instance.write_trusted_root(tmp_path_factory.mktemp("root") / "trusted_root.json"))


def exact(run: WorkflowRun = RUN, **claims: str) -> IdentityPolicy:
    return IdentityPolicy(issuer=GITHUB_ISSUER, subject=run.identity, claims=claims)


def refused(bundle: bytes, reason: str, *, subject: Digest = IMAGE, **kwargs: object) -> str:
    trust = kwargs.pop("trust")
    policy = kwargs.pop("policy", STAGING.identity())
    with pytest.raises(BundleRejected) as caught:
        verify_bundle(bundle, subject=subject, policy=policy, trust=trust, **kwargs)  # type: ignore[arg-type]
    assert caught.value.reason == reason, caught.value.message
    assert caught.value.message.startswith(f"bundle rejected: {reason}: ")
    assert "\n" not in caught.value.message
    return caught.value.message


def test_message_signature_over_an_image_digest(instance: TestSigstore, trust: TrustRoot) -> None:
    verified = verify_bundle(
        instance.sign_digest(IMAGE), subject=IMAGE, policy=exact(source_repository_ref="refs/heads/main"), trust=trust
    )
    assert isinstance(verified, Verified)
    assert verified.kind == "message-signature"
    assert verified.digest == IMAGE
    assert verified.identity == "https://github.com/acme/dotca/.github/workflows/staging.yml@refs/heads/main"
    assert verified.issuer == GITHUB_ISSUER
    assert verified.claims["source_repository_uri"] == "https://github.com/acme/dotca"
    assert verified.claims["runner_environment"] == "github-hosted"
    assert verified.statement is None
    assert verified.log_index is not None and verified.integrated_time is not None


def test_provenance_attestation_satisfies_the_provenance_policy(instance: TestSigstore, trust: TrustRoot) -> None:
    verified = verify_bundle(
        instance.provenance(IMAGE),
        subject=IMAGE,
        policy=STAGING.identity(),
        trust=trust,
        predicate_type=STAGING.predicate,
    )
    assert verified.kind == "dsse"
    assert verified.predicate_type == SLSA_PROVENANCE_V1
    assert verified.statement is not None and verified.statement.names(IMAGE)
    workflow = verified.statement.predicate["buildDefinition"]["externalParameters"]["workflow"]
    assert workflow == {
        "ref": "refs/heads/main",
        "repository": "https://github.com/acme/dotca",
        "path": STAGING.workflow,
    }
    assert verified.to_json()["subjects"] == [{"name": "registry.test/acme/dotca", "digest": {"sha256": IMAGE.hex}}]


def test_cosign_image_signature_statement(instance: TestSigstore, trust: TrustRoot) -> None:
    bundle = instance.attest(cosign_sign_statement(IMAGE))
    verified = verify_bundle(bundle, subject=IMAGE, policy=exact(), trust=trust, predicate_type=COSIGN_SIGN_V1)
    assert verified.predicate_type == COSIGN_SIGN_V1


def test_subject_regexp_and_claims(instance: TestSigstore, trust: TrustRoot) -> None:
    policy = IdentityPolicy(
        issuer=GITHUB_ISSUER,
        subject_regexp=r"^https://github\.com/acme/dotca/\.github/workflows/staging\.yml@refs/heads/main$",
        claims={"build_trigger": "push", "github_workflow_repository": "acme/dotca"},
    )
    assert verify_bundle(instance.sign_digest(IMAGE), subject=IMAGE, policy=policy, trust=trust).digest == IMAGE
    wrong = replace(policy, subject_regexp=r"^https://github\.com/acme/dotca/\.github/workflows/release\.yml@")
    message = refused(instance.sign_digest(IMAGE), "identity", policy=wrong, trust=trust)
    assert "no certificate SAN matches" in message


@pytest.mark.parametrize(
    ("policy", "claim"),
    [
        (replace(STAGING, repository="acme/other"), "source_repository_uri"),
        (replace(STAGING, workflow=".github/workflows/release.yml"), "build_config_uri"),
        (replace(STAGING, ref="refs/heads/release"), "source_repository_ref"),
        (replace(STAGING, trigger="workflow_dispatch"), "build_trigger"),
        (replace(STAGING, runner_environment="self-hosted"), "runner_environment"),
    ],
    ids=["repository", "workflow", "branch", "trigger", "runner"],
)
def test_provenance_from_another_repository_workflow_or_branch_is_refused(
    instance: TestSigstore, trust: TrustRoot, policy: ProvenancePolicy, claim: str
) -> None:
    message = refused(instance.provenance(IMAGE), "identity", policy=policy.identity(), trust=trust)
    assert f"certificate claim {claim}: " in message


def test_a_run_on_another_branch_is_refused(instance: TestSigstore, trust: TrustRoot) -> None:
    feature = replace(RUN, ref="refs/heads/feature")
    message = refused(instance.provenance(IMAGE, feature), "identity", policy=STAGING.identity(), trust=trust)
    assert "refs/heads/feature" in message


def test_wrong_issuer(instance: TestSigstore, trust: TrustRoot) -> None:
    google = IdentityPolicy(issuer="https://accounts.google.com", subject=RUN.identity)
    message = refused(instance.sign_digest(IMAGE), "issuer", policy=google, trust=trust)
    assert "'https://token.actions.githubusercontent.com', not 'https://accounts.google.com'" in message
    other_issuer = replace(RUN, issuer="https://token.example.test")
    refused(instance.sign_digest(IMAGE, other_issuer), "issuer", policy=exact(), trust=trust)
    pattern = IdentityPolicy(issuer_regexp=r"^https://token\.actions\.githubusercontent\.com$", subject=RUN.identity)
    assert verify_bundle(instance.sign_digest(IMAGE), subject=IMAGE, policy=pattern, trust=trust).digest == IMAGE
    message = refused(instance.sign_digest(IMAGE, other_issuer), "issuer", policy=pattern, trust=trust)
    assert "'https://token.example.test' does not match /" in message


def test_attestation_replayed_onto_another_image(instance: TestSigstore, trust: TrustRoot) -> None:
    message = refused(instance.provenance(IMAGE), "digest", subject=OTHER, trust=trust)
    assert f"no in-toto subject digest matches {OTHER}" in message and IMAGE.hex in message
    message = refused(instance.sign_digest(IMAGE), "digest", subject=OTHER, policy=exact(), trust=trust)
    assert f"the bundle signs {IMAGE}, not {OTHER}" in message


def test_message_signature_without_its_digest_field_is_still_bound(instance: TestSigstore, trust: TrustRoot) -> None:
    doc = json.loads(instance.sign_digest(IMAGE))
    del doc["messageSignature"]["messageDigest"]
    bundle = json.dumps(doc).encode()
    assert verify_bundle(bundle, subject=IMAGE, policy=exact(), trust=trust).digest == IMAGE
    refused(bundle, "signature", subject=OTHER, policy=exact(), trust=trust)


def test_wrong_predicate_type(instance: TestSigstore, trust: TrustRoot) -> None:
    message = refused(instance.provenance(IMAGE), "predicate", trust=trust, predicate_type=COSIGN_SIGN_V1)
    assert f"predicateType is '{SLSA_PROVENANCE_V1}', not '{COSIGN_SIGN_V1}'" in message
    refused(instance.sign_digest(IMAGE), "predicate", policy=exact(), trust=trust, predicate_type=SLSA_PROVENANCE_V1)


def test_a_dsse_payload_that_is_not_an_in_toto_statement(instance: TestSigstore, trust: TrustRoot) -> None:
    """A correctly signed envelope whose payload type is not in-toto is not read as a statement about the image."""
    bundle = instance.attest(cosign_sign_statement(IMAGE), payload_type="application/vnd.acme.note+json")
    message = refused(bundle, "predicate", policy=exact(), trust=trust)
    assert "'application/vnd.acme.note+json', not an in-toto statement" in message
    message = refused(instance.attest(b'{"_type": "nonsense"}'), "predicate", policy=exact(), trust=trust)
    assert "the signed statement is malformed" in message


@pytest.mark.parametrize("kind", ["message-signature", "dsse"])
def test_tampered_signature(instance: TestSigstore, trust: TrustRoot, kind: str) -> None:
    bundle = instance.sign_digest(IMAGE) if kind == "message-signature" else instance.provenance(IMAGE)
    verify_bundle(bundle, subject=IMAGE, policy=STAGING.identity(), trust=trust)
    refused(tampered(bundle), "signature", trust=trust)


def test_a_root_without_the_ca_is_refused(instance: TestSigstore, tmp_path: Path) -> None:
    stranger = TrustRoot.from_file(TestSigstore(name="stranger").write_trusted_root(tmp_path / "stranger.json"))
    message = refused(instance.provenance(IMAGE), "root", trust=stranger)
    assert "does not chain to the trusted root" in message


@pytest.mark.parametrize(("part", "reason"), [("tlogs", "transparency log"), ("ctlogs", "root")])
def test_a_root_with_another_log_key_is_refused(instance: TestSigstore, tmp_path: Path, part: str, reason: str) -> None:
    """Our CA, but the transparency log (or the CT log) of another instance."""
    doc = instance.trusted_root()
    doc[part] = TestSigstore(name="stranger").trusted_root()[part]
    path = tmp_path / "mixed.json"
    path.write_text(json.dumps(doc))
    refused(instance.provenance(IMAGE), reason, trust=TrustRoot.from_file(path))


def test_reusable_workflow_signer(instance: TestSigstore, trust: TrustRoot) -> None:
    """A reusable workflow signs (the SAN), the repository's own workflow ran it (the build claims)."""
    run = replace(RUN, signer="github/attest-workflows/.github/workflows/attest.yml@refs/tags/v1")
    bundle = instance.provenance(IMAGE, run)
    verified = verify_bundle(bundle, subject=IMAGE, policy=STAGING.identity(), trust=trust)
    assert verified.identity == "https://github.com/github/attest-workflows/.github/workflows/attest.yml@refs/tags/v1"
    pinned = replace(STAGING, subject=RUN.workflow_uri)
    assert "SANs do not match" in refused(bundle, "identity", policy=pinned.identity(), trust=trust)


def test_json_lines_first_bundle_that_verifies(instance: TestSigstore, trust: TrustRoot) -> None:
    wrong = instance.provenance(OTHER)
    right = json.dumps({"bundle": json.loads(instance.provenance(IMAGE))}).encode()
    lines = json.dumps(json.loads(wrong)).encode() + b"\n" + right + b"\n"
    assert verify_bundle(lines, subject=IMAGE, policy=STAGING.identity(), trust=trust).digest == IMAGE
    message = refused(lines, "digest", subject=Digest.of(b"third"), trust=trust)
    assert message.startswith("bundle rejected: digest: none of 2 bundles verified; the first: ")
    api = {"attestations": [{"bundle": json.loads(wrong)}, json.loads(right)]}  # GitHub's attestations API
    assert verify_bundle(json.dumps(api).encode(), subject=IMAGE, policy=STAGING.identity(), trust=trust).kind == "dsse"


def test_parsed_bundle_object_as_collected_from_a_registry(instance: TestSigstore, trust: TrustRoot) -> None:
    doc = json.loads(instance.provenance(IMAGE))
    assert verify_bundle(doc, subject=IMAGE, policy=STAGING.identity(), trust=trust).kind == "dsse"


@pytest.mark.parametrize("rekor", [1, 2])
@pytest.mark.parametrize("kind", ["message-signature", "dsse"])
def test_rfc3161_timestamps_and_rekor_v2(instance: TestSigstore, trust: TrustRoot, rekor: int, kind: str) -> None:
    """Rekor v2 entries carry no integration time: the TSA's timestamp (openssl ts) is the signed time."""
    make = instance.sign_digest if kind == "message-signature" else instance.provenance
    bundle = make(IMAGE, rekor=rekor, timestamp=True)
    doc = json.loads(bundle)
    entry = doc["verificationMaterial"]["tlogEntries"][0]
    assert ("inclusionPromise" in entry) == (rekor == 1)
    assert doc["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"]
    verified = verify_bundle(bundle, subject=IMAGE, policy=STAGING.identity(), trust=trust)
    assert verified.kind == kind
    assert (verified.integrated_time is not None) == (rekor == 1)
    refused(bundle, "digest", subject=OTHER, trust=trust)


def test_rekor_v2_entry_without_a_timestamp_has_no_signed_time(instance: TestSigstore, trust: TrustRoot) -> None:
    message = refused(instance.provenance(IMAGE, rekor=2), "timestamp", trust=trust)
    assert "no inclusion promise and no RFC 3161 timestamp" in message


def test_timestamps_need_a_trusted_authority(instance: TestSigstore, tmp_path: Path) -> None:
    """A root without our TSA refuses a bundle whose only signed time is that TSA's timestamp."""
    doc = instance.trusted_root()
    doc["timestampAuthorities"] = TestSigstore(name="stranger").trusted_root()["timestampAuthorities"]
    (tmp_path / "other-tsa.json").write_text(json.dumps(doc))
    refused(
        instance.sign_digest(IMAGE, rekor=2, timestamp=True),
        "timestamp",
        policy=exact(),
        trust=TrustRoot.from_file(tmp_path / "other-tsa.json"),
    )
    doc["timestampAuthorities"] = []
    (tmp_path / "no-tsa.json").write_text(json.dumps(doc))
    message = refused(
        instance.sign_digest(IMAGE, timestamp=True),
        "timestamp",
        policy=exact(),
        trust=TrustRoot.from_file(tmp_path / "no-tsa.json"),
    )
    assert "contains a signed timestamp" in message
