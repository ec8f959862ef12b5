"""Gates on keyless evidence, on a real registry (distribution 2.8: the bundles are listed in the
``sha256-<hex>`` fallback index), with bundles from the test Sigstore instance (tests/infra/sigstore_root.py):
the ``provenance`` gate and the ``signature`` gate's keyless ``identities``, configured exactly as the
README shows, through ``hoist promote`` and ``hoist release``."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from hoist.evidence.keyless.trust import TrustRoot
from tests.infra.keyless import STAGING_SAN, KeylessProject, refused
from tests.infra.registry import RunningRegistry
from tests.infra.sigstore_root import TestSigstore, WorkflowRun, cosign_sign_statement, tampered
from tests.support import Hoist

FIXTURES = Path(__file__).parent / "fixtures" / "sigstore"
PROVENANCE_ONLY = (
    'provenance = {{ repository = "{repository}", workflow = "{workflow}", ref = "{ref}", predicate = "{predicate}" }}'
)
DEFAULTS = {
    "repository": "acme/dotca",
    "workflow": ".github/workflows/staging.yml",
    "ref": "refs/heads/main",
    "predicate": "https://slsa.dev/provenance/v1",
}


@pytest.fixture(scope="module")
def instance() -> TestSigstore:
    return TestSigstore()


@pytest.fixture
def project(
    registry: RunningRegistry, unique_repo: str, tmp_path: Path, instance: TestSigstore, monkeypatch: pytest.MonkeyPatch
) -> KeylessProject:
    monkeypatch.setenv("HOIST_ACTOR", "tester")
    staging, production = f"{registry.host}/{unique_repo}:staging", f"{registry.host}/{unique_repo}-prod:main"
    return KeylessProject(tmp_path, staging, production, instance)


def provenance_policy(**changes: str) -> str:
    return PROVENANCE_ONLY.format(**{**DEFAULTS, **changes})


def tag_digest(registry: RunningRegistry, repository: str, tag: str) -> str | None:
    """What ``repository:tag`` points at, asked of the registry's HTTP API (not through hoist)."""
    with registry.client() as client:
        answer = client.head(
            f"/v2/{repository}/manifests/{tag}", headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}
        )
        return answer.headers.get("Docker-Content-Digest") if answer.status_code == 200 else None


def test_provenance_gate_passes_for_the_workflow_it_names(
    hoist: Hoist, project: KeylessProject, instance: TestSigstore, registry: RunningRegistry, unique_repo: str
) -> None:
    project.write('"provenance"')
    digest = project.stage(hoist, "A")
    refused(project.run(hoist, "promote", "staging", "production"), "provenance: no provenance attestation")
    assert tag_digest(registry, f"{unique_repo}-prod", "main") is None

    attached = project.attach(digest, instance.provenance(digest))
    result = project.run(hoist, "promote", "staging", "production", "--json")
    assert result.code == 0, result
    (gate,) = result.json["gates"]
    assert gate["gate"] == "provenance" and gate["passed"]
    assert gate["detail"].startswith(
        "built by acme/dotca .github/workflows/staging.yml at refs/heads/main, commit 5d1e3cb"
    )
    assert gate["evidence"] == [str(attached.digest)]
    assert tag_digest(registry, f"{unique_repo}-prod", "main") == str(digest)
    record = project.run(hoist, "history", "production", "--json").json[0]
    assert record["gates"][0]["evidence"] == [str(attached.digest)]


@pytest.mark.parametrize(
    ("policy", "reason"),
    [
        ({"repository": "acme/other"}, "repository: built in acme/dotca, not acme/other"),
        (
            {"workflow": ".github/workflows/release.yml"},
            "workflow: built by .github/workflows/staging.yml, not .github/workflows/release.yml",
        ),
        ({"ref": "refs/heads/release"}, "branch: built from refs/heads/main, not refs/heads/release"),
        ({"ref": "refs/tags/v1"}, "tag: built from refs/heads/main, not refs/tags/v1"),
        (
            {"predicate": "https://slsa.dev/provenance/v0.2"},
            "predicate: https://slsa.dev/provenance/v1, not https://slsa.dev/provenance/v0.2",
        ),
    ],
    ids=["repository", "workflow", "branch", "tag", "predicate"],
)
def test_a_provenance_policy_naming_another_build_refuses_and_says_why(
    hoist: Hoist, project: KeylessProject, instance: TestSigstore, policy: dict[str, str], reason: str
) -> None:
    digest = project.stage(hoist, "A")
    project.attach(digest, instance.provenance(digest))
    project.write('"provenance"', provenance_policy(**policy))
    line = refused(
        project.run(hoist, "promote", "staging", "production"), f"provenance: no valid provenance in staging ({reason}"
    )
    assert "refused by 1 of 1 rule(s)" in line
    project.write('"provenance"', provenance_policy())  # the policy that names this build
    assert project.run(hoist, "promote", "staging", "production").code == 0


def test_each_failing_check_of_a_provenance_is_named(
    hoist: Hoist, project: KeylessProject, instance: TestSigstore
) -> None:
    """A fork's build from another branch: repository and branch both named, in one refusal."""
    project.write('"provenance"')
    digest = project.stage(hoist, "A")
    fork = WorkflowRun(repository="acme/fork", ref="refs/heads/dev")
    project.attach(digest, instance.provenance(digest, fork))
    refused(
        project.run(hoist, "promote", "staging", "production"),
        "repository: built in acme/fork, not acme/dotca",
        "workflow: built by acme/fork/.github/workflows/staging.yml, not .github/workflows/staging.yml",
        "branch: built from refs/heads/dev, not refs/heads/main",
    )
    other_issuer = WorkflowRun(issuer="https://token.example.com")
    project.attach(digest, instance.provenance(digest, other_issuer))
    refused(project.run(hoist, "promote", "staging", "production"), "issuer: certified by https://token.example.com")


def test_an_attestation_replayed_onto_another_image_is_refused(
    hoist: Hoist, project: KeylessProject, instance: TestSigstore
) -> None:
    """Image A's genuine provenance, attached to image B: found on B, refused for B, accepted for A."""
    project.write('"provenance"')
    a = project.stage(hoist, "A")
    b = project.stage(hoist, "B")
    project.attach(b, instance.provenance(a))
    line = refused(project.run(hoist, "promote", "staging", "production"), "provenance: no valid provenance")
    assert f"digest: no in-toto subject digest matches {b}" in line and a.hex in line
    hoist.ok("copy", f"oci:{project.layout}:A", project.staging)
    project.attach(a, instance.provenance(a))
    assert project.run(hoist, "promote", "staging", "production").code == 0


def test_bundles_that_do_not_verify_count_as_absent_and_say_why(
    hoist: Hoist, project: KeylessProject, instance: TestSigstore, tmp_path: Path
) -> None:
    project.write('"provenance"')
    digest = project.stage(hoist, "A")
    project.attach(digest, tampered(instance.provenance(digest)))
    refused(project.run(hoist, "promote", "staging", "production"), "signature: ")
    project.attach(digest, b"{not json")  # unreadable
    refused(project.run(hoist, "promote", "staging", "production"), "unreadable: ")
    # a real attest-build-provenance bundle of a private repository: GitHub's own Sigstore instance
    # (Fulcio "GitHub, Inc.", GitHub's timestamps, no transparency log), see tests/fixtures/sigstore
    private = FIXTURES / "bundles" / "github-opa-provider.ghcr-image-attestation.sigstore.json"
    project.attach(digest, private.read_bytes())
    refused(
        project.run(hoist, "promote", "staging", "production"),
        "transparency log: the bundle has no transparency log entry",
        "signed by GitHub's own Sigstore instance (certificate from 'GitHub, Inc.', used for private repositories)",
    )
    stranger = TestSigstore(name="stranger")  # a Fulcio this root does not trust
    project.attach(digest, stranger.provenance(digest))
    refused(project.run(hoist, "promote", "staging", "production"), "root: the signing certificate does not chain")
    project.attach(digest, instance.provenance(digest))
    assert project.run(hoist, "promote", "staging", "production").code == 0


def test_pull_request_builds_pass_a_ref_pattern(hoist: Hoist, project: KeylessProject, instance: TestSigstore) -> None:
    """The staging workflow ``hoist init --github`` writes builds pull requests: refs/pull/<n>/merge."""
    digest = project.stage(hoist, "A")
    pattern = (
        'provenance = { repository = "acme/dotca", workflow = ".github/workflows/staging.yml", '
        "ref_regexp = '^refs/(heads/main|pull/[0-9]+/merge)$', trigger = \"push\" }"
    )
    feature = WorkflowRun(ref="refs/heads/feature", trigger="pull_request")
    project.attach(digest, instance.provenance(digest, feature))
    project.write('"provenance"', pattern.replace('"push"', '"pull_request"'))
    refused(
        project.run(hoist, "promote", "staging", "production"),
        "branch: built from refs/heads/feature, which does not match /^refs/(heads/main|pull/[0-9]+/merge)$/",
    )
    pull = WorkflowRun(ref="refs/pull/12/merge", trigger="pull_request")
    project.attach(digest, instance.provenance(digest, pull))
    project.write('"provenance"')
    refused(
        project.run(hoist, "promote", "staging", "production"),
        "branch: built from refs/pull/12/merge, not refs/heads/main",
    )
    project.write('"provenance"', pattern)
    refused(project.run(hoist, "promote", "staging", "production"), "trigger: pull_request, not push")
    project.write('"provenance"', pattern.replace('"push"', '"pull_request"'))
    result = project.run(hoist, "promote", "staging", "production", "--json")
    assert result.code == 0, result
    assert "at refs/pull/12/merge" in result.json["gates"][0]["detail"]


def test_keyless_signature_identities(hoist: Hoist, project: KeylessProject, instance: TestSigstore) -> None:
    project.write('"signature"')
    digest = project.stage(hoist, "A")
    refused(project.run(hoist, "promote", "staging", "production"), "signature: not signed")
    other = WorkflowRun(workflow=".github/workflows/nightly.yml")
    project.attach(digest, instance.sign_digest(digest, other))
    refused(
        project.run(hoist, "promote", "staging", "production"),
        "identity: signed by https://github.com/acme/dotca/.github/workflows/nightly.yml@refs/heads/main, "
        "which does not match /^https://github.com/acme/dotca/.github/workflows/staging.yml@refs/heads/main$/",
    )
    project.attach(digest, instance.provenance(digest))  # an attestation is not a signature
    refused(project.run(hoist, "promote", "staging", "production"), "signature: no valid signature (identity: ")
    project.attach(digest, instance.sign_digest(digest))  # a message signature, as cosign 2 and sign-blob make
    result = project.run(hoist, "promote", "staging", "production", "--json")
    assert result.code == 0, result
    assert result.json["gates"][0]["detail"] == f"signed by {STAGING_SAN}"


def test_cosign_3_image_signatures_are_dsse_statements(
    hoist: Hoist, project: KeylessProject, instance: TestSigstore
) -> None:
    """cosign 3 signs an image with the statement https://sigstore.dev/cosign/sign/v1 naming its digest."""
    project.write('"signature"')
    a = project.stage(hoist, "A")
    b = project.stage(hoist, "B")
    project.attach(b, instance.attest(cosign_sign_statement(a)))  # A's signature, on B
    refused(project.run(hoist, "promote", "staging", "production"), f"digest: no in-toto subject digest matches {b}")
    project.attach(b, instance.attest(cosign_sign_statement(b), rekor=2, timestamp=True))  # Rekor v2 + RFC 3161
    result = project.run(hoist, "promote", "staging", "production", "--json")
    assert result.code == 0, result
    assert result.json["gates"][0]["detail"] == f"signed by {STAGING_SAN}"


def test_key_based_signatures_keep_working_beside_identities(
    hoist: Hoist, project: KeylessProject, instance: TestSigstore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOIST_KEY_PASSWORD", "pw")
    hoist.ok("keygen", "--output-prefix", str(project.tmp / "ci"))
    gates = (
        f'signature = {{ keys = ["{project.tmp}/ci.pub"], identities = [{{ issuer = '
        '"https://token.actions.githubusercontent.com", subject = "https://github.com/acme/dotca/.github/'
        'workflows/release.yml@refs/heads/main" }] }'
    )
    project.write('"signature"', gates)
    digest = project.stage(hoist, "A")
    project.attach(digest, instance.sign_digest(digest))  # keyless, by another workflow than the identity's
    line = refused(project.run(hoist, "promote", "staging", "production"), "identity: signed by")
    assert "not https://github.com/acme/dotca/.github/workflows/release.yml@refs/heads/main" in line
    hoist.ok("sign", project.staging, "--key", str(project.tmp / "ci.key"))
    result = project.run(hoist, "promote", "staging", "production", "--json")
    assert result.code == 0, result
    assert result.json["gates"][0]["detail"].startswith("signed by key ")


def test_the_trusted_root_is_the_environments_then_the_settings_then_the_bundled_one(
    hoist: Hoist, project: KeylessProject, instance: TestSigstore, monkeypatch: pytest.MonkeyPatch
) -> None:
    lookups: list[object] = []
    real = socket.getaddrinfo

    def loopback_only(host: object, *args: object, **kwargs: object) -> object:
        lookups.append(host)
        if str(host) not in ("127.0.0.1", "localhost", "::1"):
            raise OSError(f"network lookup of {host} during an offline check")
        return real(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", loopback_only)
    digest = project.stage(hoist, "A")
    project.attach(digest, instance.provenance(digest))
    project.write('"provenance"')  # [settings] trusted_root: the test instance
    assert project.run(hoist, "promote", "staging", "production", "--dry-run").code == 0
    other = TestSigstore(name="elsewhere").write_trusted_root(project.tmp / "elsewhere.json")
    project.write('"provenance"', extra=f'trusted_root = "{other}"')  # production's own wins
    refused(project.run(hoist, "promote", "staging", "production", "--dry-run"), "root: ")
    text = project.config.read_text().replace(f'trusted_root = "{project.root}"\n', "")
    project.config.write_text(text.replace(f'trusted_root = "{other}"\n', ""))
    # no trusted_root anywhere: the public-good root sigstore ships, offline — which never trusted this CA
    refused(project.run(hoist, "promote", "staging", "production", "--dry-run"), "root: ")
    project.write('"provenance"', extra='trusted_root = "missing.json"')
    missing = project.run(hoist, "promote", "staging", "production", "--dry-run")
    assert missing.code == 2 and "missing.json" in missing.err and len(missing.err.strip().splitlines()) == 1
    assert set(map(str, lookups)) == {"127.0.0.1"}  # the registry's, looked up; never a TUF repository's


def test_the_trust_root_is_read_once_per_promotion(
    hoist: Hoist, project: KeylessProject, instance: TestSigstore, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[Path] = []
    original = TrustRoot.from_file.__func__  # type: ignore[attr-defined]

    def counting(cls: type[TrustRoot], path: Path) -> TrustRoot:
        reads.append(path)
        return original(cls, path)  # type: ignore[no-any-return]

    monkeypatch.setattr(TrustRoot, "from_file", classmethod(counting))
    project.write('"signature", "provenance"')
    digest = project.stage(hoist, "A")
    project.attach(digest, instance.provenance(digest))
    project.attach(digest, instance.sign_digest(digest))
    result = project.run(hoist, "promote", "staging", "production", "--json")
    assert result.code == 0, result
    assert result.json["evidence_check"]["checked"] == 2  # verified again in production, same root
    assert reads == [project.root]


@pytest.mark.parametrize(
    ("gates", "require", "message"),
    [
        ("signature = {}", '"signature"', "gates.signature.keys: list at least one public key file, or keyless"),
        ("", '"provenance"', "production.gates.provenance: the provenance gate needs"),
        ("signature = { identities = [] }", '"signature"', "signature.identities: expected a list of identities"),
        (
            'signature = { identities = [{ issuer = "i" }] }',
            '"signature"',
            "signature.identities[0]: give exactly one of subject or subject_regexp",
        ),
        (
            'provenance = { repository = "acme/dotca", workflow = ".github/workflows/x.yml" }',
            '"provenance"',
            "gates.provenance: missing ref",
        ),
        (
            'provenance = { repository = "acme/dotca", workflow = ".github/workflows/x.yml", ref = "refs/heads/main",'
            ' ref_regexp = "." }',
            '"provenance"',
            "gates.provenance: give exactly one of ref or ref_regexp",
        ),
        ("", '"provenence"', "unknown gate 'provenence'"),
    ],
)
def test_bad_keyless_configuration_is_one_line_and_exit_2(
    hoist: Hoist, project: KeylessProject, gates: str, require: str, message: str
) -> None:
    project.write(require, gates)
    result = project.run(hoist, "promote", "staging", "production")
    assert result.code == 2, result
    assert message in result.err and str(project.config) in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_release_with_a_provenance_gate(
    hoist: Hoist, project: KeylessProject, instance: TestSigstore, registry: RunningRegistry, unique_repo: str
) -> None:
    deploys = project.tmp / "deploys.log"
    deploy = f"""
[environments.production.deploy]
target = "command"
run = "echo $HOIST_DIGEST >> {deploys}"
"""
    project.write('"provenance"', extra=deploy)
    digest = project.stage(hoist, "A")
    project.attach(digest, instance.provenance(digest, WorkflowRun(ref="refs/heads/feature")))
    refused(project.run(hoist, "release", "staging", "production"), "branch: built from refs/heads/feature")
    assert not deploys.exists() and tag_digest(registry, f"{unique_repo}-prod", "main") is None
    project.attach(digest, instance.provenance(digest))
    result = project.run(hoist, "release", "staging", "production")
    assert result.code == 0, result
    assert "gate provenance: pass: built by acme/dotca .github/workflows/staging.yml" in result.out
    assert "evidence: 2 of 2 piece(s) verified again" not in result.out  # the refused build's bundle too:
    assert "evidence: 1 of 2 piece(s) verified again" in result.out  # it did not verify at the source either
    assert deploys.read_text().split() == [str(digest)]
    assert tag_digest(registry, f"{unique_repo}-prod", "main") == str(digest)
    json_release = project.run(hoist, "release", "staging", "production", "--force", "--json")
    assert json_release.code == 0, json_release
    assert json_release.json["promotion"]["gates"][0]["passed"]
