"""Keyless evidence beyond the gates' happy paths, on a real registry with the test Sigstore instance:
the named checks decide as sigstore's own policy classes do, the configuration ``hoist init --github
--keyless`` writes accepts what its staging workflow attests, ``hoist evidence`` shows who signed, and
cosign's legacy keyless ``.sig`` is named rather than misreported."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from hoist.digest import Digest
from hoist.errors import BundleRejected
from hoist.evidence.keyless.check import ANYONE
from hoist.evidence.keyless.match import Signer, provenance_mismatches
from hoist.evidence.keyless.policy import ProvenancePolicy
from hoist.evidence.keyless.trust import TrustRoot
from hoist.evidence.keyless.verify import verify_bundle
from hoist.ref import parse_reference
from tests.infra.keyless import README_GATES, STAGING_SAN, KeylessProject, refused
from tests.infra.registry import RunningRegistry
from tests.infra.sigstore_root import TestSigstore, WorkflowRun
from tests.support import Hoist


@pytest.fixture(scope="module")
def instance() -> TestSigstore:
    return TestSigstore()


@pytest.fixture
def project(registry: RunningRegistry, unique_repo: str, tmp_path: Path, instance: TestSigstore) -> KeylessProject:
    staging, production = f"{registry.host}/{unique_repo}:staging", f"{registry.host}/{unique_repo}-prod:main"
    return KeylessProject(tmp_path, staging, production, instance)


RUNS = {
    "main": WorkflowRun(),
    "pull": WorkflowRun(ref="refs/pull/7/merge", trigger="pull_request"),
    "feature": WorkflowRun(ref="refs/heads/feature"),
    "fork": WorkflowRun(repository="acme/fork"),
    "nightly": WorkflowRun(workflow=".github/workflows/nightly.yml"),
    "reusable": WorkflowRun(signer="acme/shared/.github/workflows/attest.yml@refs/heads/main"),
    "gitlab": WorkflowRun(issuer="https://gitlab.com"),
}
POLICIES = {
    "exact": ProvenancePolicy(repository="acme/dotca", workflow=".github/workflows/staging.yml", ref="refs/heads/main"),
    "pattern": ProvenancePolicy(
        repository="acme/dotca", workflow=".github/workflows/staging.yml", ref_regexp="^refs/(heads/main|pull/.*)$"
    ),
    "pinned signer": ProvenancePolicy(
        repository="acme/dotca", workflow=".github/workflows/staging.yml", ref="refs/heads/main", subject=STAGING_SAN
    ),
    "push only": ProvenancePolicy(
        repository="acme/dotca", workflow=".github/workflows/staging.yml", ref_regexp=".", trigger="push"
    ),
}


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_the_named_checks_decide_as_the_library_policy_does(
    instance: TestSigstore, tmp_path: Path, policy: str
) -> None:
    """The gates name every failing check (match.py); ``verify-bundle`` refuses at the first, through
    sigstore's own policy classes (identity.py). Both must accept and refuse the same signers."""
    trust = TrustRoot.from_file(instance.write_trusted_root(tmp_path / "root.json"))
    wanted = POLICIES[policy]
    image = Digest.of(b"image")
    decisions = {}
    for name, run in RUNS.items():
        bundle = instance.provenance(image, run)
        reason = _refusal(bundle, image, wanted, trust)
        assert reason in (None, "identity", "issuer"), (name, reason)
        strict = reason is None
        loose = verify_bundle(bundle, subject=image, policy=ANYONE, trust=trust)
        named = provenance_mismatches(wanted, Signer(identity=loose.identity, issuer=loose.issuer, claims=loose.claims))
        assert strict == (not named), (name, named)
        decisions[name] = strict
    assert decisions["main"] and not decisions["fork"] and not decisions["nightly"] and not decisions["gitlab"]
    assert decisions["pull"] == (policy == "pattern")
    assert decisions["reusable"] == (policy != "pinned signer")


def _refusal(bundle: bytes, image: Digest, policy: ProvenancePolicy, trust: TrustRoot) -> str | None:
    try:
        verify_bundle(bundle, subject=image, policy=policy.identity(), trust=trust)
    except BundleRejected as refusal:
        return refusal.reason
    return None


def test_what_hoist_init_keyless_writes_accepts_what_its_staging_workflow_attests(
    hoist: Hoist, registry: RunningRegistry, unique_repo: str, tmp_path: Path, instance: TestSigstore
) -> None:
    """The hoist.toml of ``hoist init --github --keyless``, used as written (plus the test root): the
    provenance of a pull request's build by the generated staging.yml passes; a push to another branch,
    or the same workflow file in another repository, does not."""
    project = tmp_path / "app"
    (project / ".git").mkdir(parents=True)
    (project / ".git" / "config").write_text('[remote "origin"]\n\turl = https://github.com/acme/dotca.git\n')
    hoist.ok(
        "init", "--github", "--keyless", "--dir", str(project), "--image", f"{registry.host}/{unique_repo}:staging"
    )
    config = project / "hoist.toml"
    root = instance.write_trusted_root(tmp_path / "trusted_root.json")
    config.write_text(config.read_text() + f'\n[settings]\ntrusted_root = "{root}"\n')
    setup = KeylessProject(tmp_path, f"{registry.host}/{unique_repo}:staging", "unused", instance)
    setup.config = config
    digest = setup.stage(hoist, "A")
    setup.attach(digest, instance.provenance(digest, WorkflowRun(ref="refs/heads/feature", trigger="push")))
    setup.attach(digest, instance.provenance(digest, WorkflowRun(repository="acme/other", ref="refs/pull/3/merge")))
    refused(setup.run(hoist, "promote", "staging", "production"), "provenance: no valid provenance")
    pull = WorkflowRun(ref="refs/pull/41/merge", trigger="pull_request", sha="a" * 40)
    setup.attach(digest, instance.provenance(digest, pull))
    result = setup.run(hoist, "promote", "staging", "production", "--json")
    assert result.code == 0, result
    assert result.json["gates"][0]["detail"].startswith(
        "built by acme/dotca .github/workflows/staging.yml at refs/pull/41/merge, commit aaaaaaa"
    )
    assert result.json["evidence_check"] is None  # production is staging's repository: nothing was carried


def test_hoist_evidence_shows_who_signed_keyless_bundles(
    hoist: Hoist, project: KeylessProject, instance: TestSigstore
) -> None:
    digest = project.stage(hoist, "A")
    project.attach(digest, instance.provenance(digest))
    project.attach(digest, instance.provenance(project.stage(hoist, "B")))  # B's, replayed onto A
    hoist.ok("copy", f"oci:{project.layout}:A", project.staging)
    shown = hoist.ok("evidence", project.staging, "--trusted-root", str(project.root), "--json").json
    seen = sorted((e["valid"], e["signed_by"], e["reason"]) for e in shown["evidence"])
    assert seen[0][:2] == (False, None) and seen[0][2].startswith(f"digest: no in-toto subject digest matches {digest}")
    assert seen[1] == (True, STAGING_SAN, f"keyless attestation by {STAGING_SAN} verifies")
    text = hoist.ok("evidence", project.staging, "--trusted-root", str(project.root))
    assert f"valid   https://slsa.dev/provenance/v1 [referrer] by {STAGING_SAN}" in text.out
    bundled = hoist.ok("evidence", project.staging, "--json").json  # the public-good root: not this CA
    assert {e["reason"].split(":")[0] for e in bundled["evidence"]} == {"root"}


def test_cosigns_legacy_keyless_signatures_are_named_not_verified(
    hoist: Hoist, project: KeylessProject, instance: TestSigstore
) -> None:
    """cosign 2's keyless ``.sig``: the Fulcio certificate and Rekor's promise in layer annotations, no
    inclusion proof (cosign specs/SIGNATURE_SPEC.md) — which sigstore-python requires; hoist says so."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    from hoist.evidence import simplesign
    from hoist.manifest import OCI_MANIFEST, Manifest
    from hoist.store import Session

    project.write('"signature"')
    digest = project.stage(hoist, "A")
    payload = simplesign.payload(project.staging.rsplit(":", 1)[0], digest)
    bundle = json.loads(instance.sign_digest(Digest.of(payload)))  # a signature over the payload's sha256
    cert = x509.load_der_x509_certificate(base64.b64decode(bundle["verificationMaterial"]["certificate"]["rawBytes"]))
    session = Session()
    store = session.open(parse_reference(project.staging), push=True)
    layer = store.push_bytes(payload, simplesign.MEDIA_TYPE)
    config = store.push_bytes(b"{}", "application/vnd.oci.image.config.v1+json")
    annotations = {
        simplesign.SIGNATURE_ANNOTATION: bundle["messageSignature"]["signature"],
        "dev.sigstore.cosign/certificate": cert.public_bytes(Encoding.PEM).decode(),
        "dev.sigstore.cosign/bundle": json.dumps({"SignedEntryTimestamp": "", "Payload": {}}),
    }
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config.to_json(),
        "layers": [{**layer.to_json(), "annotations": annotations}],
    }
    raw = json.dumps(doc).encode()
    store.put_manifest(Manifest(raw, OCI_MANIFEST, Digest.of(raw)), tag=f"{digest.fallback_tag}.sig")
    session.close()
    refused(project.run(hoist, "promote", "staging", "production"), "cosign's legacy keyless signature")


def test_the_readmes_keyless_configuration_loads_as_written(tmp_path: Path) -> None:
    """The README's keyless gates, character for character (TOML 1.1: inline tables over several lines)."""
    from hoist.promotion.config import load_config

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    (block,) = [b.split("\n", 1)[1] for b in readme.split("```toml")[1:] if "identities" in b.split("```")[0]]
    block = block.split("```")[0]
    assert README_GATES.strip() in block  # the tests' configuration is the README's
    head = '[environments.staging]\nimage = "ghcr.io/acme/dotca:staging"\n'
    body = block.replace(
        "[environments.production]\n",
        '[environments.production]\nimage = "ghcr.io/acme/dotca:main"\nfrom = "staging"\n',
    )
    (tmp_path / "hoist.toml").write_text(head + body)
    gates = load_config(tmp_path / "hoist.toml").environment("production").gates
    assert gates.require == ("signature", "provenance")
    (identity,) = gates.signature_identities
    assert identity.subject_regexp == f"^{STAGING_SAN}$"
    assert gates.provenance is not None and gates.provenance.workflow_uri == STAGING_SAN
