"""Evidence carried by a promotion or a copy is verified again where it lands, on real registries
(distribution 2.8). A destination that loses a piece is played by the fault proxy in front of a second
registry, in two ways such registries have been seen to:

- **dropped**: another tool maintains the same ``sha256-<hex>`` referrers fallback tag (cosign does on
  registries without the referrers API, such as GHCR and distribution) and writes it in the same moment,
  so the last writer's index no longer lists what hoist attached (the proxy's ``race`` fault: the other
  writer's PUT lands right after hoist's);
- **rewritten**: the registry (or a cache in front of it) serves other bytes than it was given for a
  bundle (the proxy's ``rewrite`` fault on the blob's GET).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hoist.digest import Digest
from tests.infra.faults import Fault
from tests.infra.keyless import OCI_INDEX, KeylessProject
from tests.infra.proxy import FaultProxy
from tests.infra.registry import RunningRegistry
from tests.infra.sigstore_root import TestSigstore, WorkflowRun
from tests.support import Hoist

EMPTY_INDEX = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}).encode()


@pytest.fixture(scope="module")
def instance() -> TestSigstore:
    return TestSigstore()


def listed(registry: RunningRegistry, repository: str, digest: Digest) -> set[str]:
    """The referrers the fallback index of ``digest`` lists, read with the registry's HTTP API."""
    with registry.client() as client:
        answer = client.get(f"/v2/{repository}/manifests/{digest.fallback_tag}", headers={"Accept": OCI_INDEX})
        if answer.status_code == 404:
            return set()
        return {entry["digest"] for entry in answer.raise_for_status().json()["manifests"]}


def tagged(registry: RunningRegistry, repository: str, tag: str) -> str | None:
    with registry.client() as client:
        answer = client.head(
            f"/v2/{repository}/manifests/{tag}", headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}
        )
        return answer.headers.get("Docker-Content-Digest") if answer.status_code == 200 else None


def evidence(hoist: Hoist, project: KeylessProject, instance: TestSigstore, digest: Digest) -> dict[str, str]:
    """Staging's image with a keyless provenance, a keyless signature, cosign's legacy key-based ``.sig``, and
    a provenance by a workflow the gates do not accept; their manifest digests by name."""
    pieces = {
        "provenance": str(project.attach(digest, instance.provenance(digest)).digest),
        "keyless signature": str(project.attach(digest, instance.sign_digest(digest)).digest),
        "other provenance": str(
            project.attach(digest, instance.provenance(digest, WorkflowRun(ref="refs/heads/dev"))).digest
        ),
    }
    hoist.ok("keygen", "--output-prefix", str(project.tmp / "ci"))
    hoist.ok("sign", project.staging, "--key", str(project.tmp / "ci.key"))
    return pieces


GATES = """
signature  = { keys = ["{keys}/ci.pub"], identities = [{ issuer = "https://token.actions.githubusercontent.com",
               subject_regexp = "^https://github.com/acme/dotca/.github/workflows/staging.yml@refs/heads/main$" }] }
provenance = { repository = "acme/dotca", workflow = ".github/workflows/staging.yml", ref = "refs/heads/main" }
"""


@pytest.fixture
def project(
    registry: RunningRegistry,
    fault_proxy: FaultProxy,
    unique_repo: str,
    tmp_path: Path,
    instance: TestSigstore,
    monkeypatch: pytest.MonkeyPatch,
) -> KeylessProject:
    """Staging on one registry, production on another behind the fault proxy."""
    monkeypatch.setenv("HOIST_ACTOR", "tester")
    monkeypatch.setenv("HOIST_KEY_PASSWORD", "pw")
    staging, production = f"{registry.host}/{unique_repo}:staging", f"{fault_proxy.host}/{unique_repo}-prod:main"
    made = KeylessProject(tmp_path, staging, production, instance)
    made.write('"signature", "provenance"', GATES.replace("{keys}", str(tmp_path)))
    return made


def test_a_promotion_verifies_again_in_production_every_piece_that_verified_in_staging(
    hoist: Hoist,
    project: KeylessProject,
    instance: TestSigstore,
    registry: RunningRegistry,
    proxied_registry: RunningRegistry,
    fault_proxy: FaultProxy,
    unique_repo: str,
) -> None:
    digest = project.stage(hoist, "A")
    pieces = evidence(hoist, project, instance, digest)
    fault_proxy.clear_requests()
    result = project.run(hoist, "promote", "staging", "production", "--json")
    assert result.code == 0, result
    check = result.json["evidence_check"]
    assert check["ok"] is True and check["lost"] == 0 and check["checked"] == 4
    by_artifact = {p["artifact"]: p for p in check["pieces"]}
    for name in ("provenance", "keyless signature"):
        piece = by_artifact[pieces[name]]
        assert (piece["source"], piece["destination"]) == ("verified", "verified"), piece
    assert by_artifact[pieces["provenance"]]["what"] == "https://slsa.dev/provenance/v1"
    assert by_artifact[pieces["provenance"]]["destination_detail"].startswith("built by acme/dotca")
    other = by_artifact[pieces["other provenance"]]  # the gates' policy refuses it at both ends
    assert (other["source"], other["destination"]) == ("invalid", "not checked")
    assert "branch: built from refs/heads/dev" in other["source_detail"] and other["lost"] is False
    (legacy,) = [p for p in check["pieces"] if p["where"] == "legacy sig"]
    assert (legacy["source"], legacy["destination"]) == ("verified", "verified")
    assert legacy["destination_detail"].startswith("signed by key ")

    # independently: production's registry lists every referrer staging's does (and the ledger record)
    assert set(pieces.values()) <= listed(registry, unique_repo, digest)
    assert listed(registry, unique_repo, digest) <= listed(proxied_registry, f"{unique_repo}-prod", digest)

    # bounded: the check read each carried piece once in production (its manifest and its bundle), and
    # the fallback index once more than carrying it took
    gets = [r.path for r in fault_proxy.requests if r.method == "GET" and f"/v2/{unique_repo}-prod/" in r.path]
    for manifest in pieces.values():
        if manifest != pieces["other provenance"]:
            assert gets.count(f"/v2/{unique_repo}-prod/manifests/{manifest}") == 1, gets
    assert gets.count(f"/v2/{unique_repo}-prod/manifests/{pieces['other provenance']}") == 0
    blobs = [p for p in gets if "/blobs/" in p]
    assert len(blobs) == 3, blobs  # two bundles and the .sig payload: never the image's layers
    text = project.run(hoist, "promote", "staging", "production", "--force")
    assert text.code == 0, text
    assert f"evidence: 3 of 4 piece(s) verified again in {fault_proxy.host}/{unique_repo}-prod" in text.out


def test_a_production_registry_that_drops_a_piece_stops_the_promotion_before_any_tag_moves(
    hoist: Hoist,
    project: KeylessProject,
    instance: TestSigstore,
    proxied_registry: RunningRegistry,
    fault_proxy: FaultProxy,
    unique_repo: str,
) -> None:
    digest = project.stage(hoist, "A")
    pieces = evidence(hoist, project, instance, digest)
    race = fault_proxy.add_fault(
        Fault(
            "race",
            method="PUT",
            path_regex=rf"/v2/{unique_repo}-prod/manifests/{digest.fallback_tag}$",
            body=EMPTY_INDEX,
            headers={"Content-Type": OCI_INDEX},
        )
    )
    result = project.run(hoist, "promote", "staging", "production", "--json")
    assert race.fired == 1
    assert result.code == 1, result
    line = result.err.strip().splitlines()[-1]
    assert "piece(s) of evidence that verified in" in line and "no longer verify in" in line
    assert "missing: no longer listed among the image's referrers" in line
    assert line.endswith("nothing was tagged or recorded")
    report = result.json
    assert report["evidence_lost"] is True
    lost = [p for p in report["evidence_check"]["pieces"] if p["lost"]]
    assert len(lost) == 1 and lost[0]["destination"] == "missing" and lost[0]["source"] == "verified"
    # the lost one is the one production's registry no longer lists (asked of it directly) ...
    now = listed(proxied_registry, f"{unique_repo}-prod", digest)
    assert lost[0]["artifact"] not in now and lost[0]["artifact"] in pieces.values()
    # ... and nothing moved: no production tag, no ledger record
    assert tagged(proxied_registry, f"{unique_repo}-prod", "main") is None
    assert tagged(proxied_registry, f"{unique_repo}-prod", "hoist-ledger.production") is None

    # the next promotion carries the piece again and goes through
    again = project.run(hoist, "promote", "staging", "production", "--json")
    assert again.code == 0, again
    assert again.json["evidence_check"]["ok"] is True
    assert set(pieces.values()) <= listed(proxied_registry, f"{unique_repo}-prod", digest)
    assert tagged(proxied_registry, f"{unique_repo}-prod", "main") == str(digest)


def test_a_production_registry_that_serves_other_bytes_is_caught(
    hoist: Hoist,
    project: KeylessProject,
    instance: TestSigstore,
    proxied_registry: RunningRegistry,
    fault_proxy: FaultProxy,
    unique_repo: str,
) -> None:
    digest = project.stage(hoist, "A")
    bundle = instance.provenance(digest)
    descriptor = project.attach(digest, bundle)
    blob = Digest.of(bundle)
    fault_proxy.add_fault(
        Fault(
            "rewrite", method="GET", path_regex=rf"/v2/{unique_repo}-prod/blobs/{blob}$", find=b"v0.3", replace=b"v0.4"
        )
    )
    project.write('"provenance"', GATES.strip().splitlines()[-1])
    result = project.run(hoist, "promote", "staging", "production", "--json")
    assert result.code == 1, result
    (lost,) = [p for p in result.json["evidence_check"]["pieces"] if p["lost"]]
    assert lost["artifact"] == str(descriptor.digest)
    assert (lost["source"], lost["destination"]) == ("verified", "invalid")
    assert "unreadable" in lost["destination_detail"] and str(blob) in lost["destination_detail"]
    assert tagged(proxied_registry, f"{unique_repo}-prod", "main") is None


def test_copy_checks_what_it_carried_with_the_keys_and_root_it_is_given(
    hoist: Hoist,
    project: KeylessProject,
    instance: TestSigstore,
    proxied_registry: RunningRegistry,
    fault_proxy: FaultProxy,
    unique_repo: str,
) -> None:
    digest = project.stage(hoist, "A")
    pieces = evidence(hoist, project, instance, digest)
    source = f"{project.staging.rsplit(':', 1)[0]}@{digest}"
    checks = ("--key", str(project.tmp / "ci.pub"), "--trusted-root", str(project.root))

    copied = hoist("copy", source, f"{fault_proxy.host}/{unique_repo}-copy:v1", *checks, "--json")
    assert copied.code == 0, copied
    outcomes = {p["artifact"]: (p["source"], p["destination"]) for p in copied.json["evidence_check"]["pieces"]}
    assert all(outcomes[m] == ("verified", "verified") for m in pieces.values()), outcomes  # any signer
    assert ("verified", "verified") in {
        (p["source"], p["destination"]) for p in copied.json["evidence_check"]["pieces"] if p["where"] == "legacy sig"
    }

    # without a key or root: the .sig is whole (no key to verify it), the bundles do not chain to the
    # public-good root hoist trusts by default — so they are not checked again
    plain = hoist("copy", source, f"{fault_proxy.host}/{unique_repo}-plain:v1", "--json")
    assert plain.code == 0, plain
    seen = {(p["where"], p["source"], p["destination"]) for p in plain.json["evidence_check"]["pieces"]}
    assert seen == {("legacy sig", "intact", "intact"), ("referrer", "invalid", "not checked")}

    race = fault_proxy.add_fault(
        Fault(
            "race",
            method="PUT",
            path_regex=rf"/v2/{unique_repo}-lossy/manifests/{digest.fallback_tag}$",
            body=EMPTY_INDEX,
            headers={"Content-Type": OCI_INDEX},
        )
    )
    lossy = hoist("copy", source, f"{fault_proxy.host}/{unique_repo}-lossy:v1", *checks)
    assert race.fired == 1
    assert lossy.code == 5, lossy
    assert "copied" in lossy.out  # the image itself was copied and tagged ...
    assert tagged(proxied_registry, f"{unique_repo}-lossy", "v1") == str(digest)
    warnings = [line for line in lossy.err.splitlines() if line.startswith("hoist: warning: carried evidence")]
    assert len(warnings) == 1 and "missing: no longer listed among the image's referrers" in warnings[0]
    assert "1 piece(s) of its evidence were lost (exit 5)" in lossy.err


def test_a_promotion_without_keyless_evidence_never_loads_sigstore(
    hoist: Hoist, project: KeylessProject, tmp_path: Path
) -> None:
    """sigstore costs about a second to import: only a keyless check loads it. A key-signed image is
    promoted — gates, carrying, checking again in production — by a hoist process that never imports it."""
    project.stage(hoist, "A")
    hoist.ok("keygen", "--output-prefix", str(tmp_path / "ci"))
    hoist.ok("sign", project.staging, "--key", str(tmp_path / "ci.key"))
    project.write('"signature"', f'signature = {{ keys = ["{tmp_path}/ci.pub"] }}')
    env = {**os.environ, "HOME": str(tmp_path), "HOIST_ACTOR": "tester"}
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "hoist", "--config", str(project.config), "promote", "staging",
         "production", "--json"],
        capture_output=True, text=True, timeout=120, check=False, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert report["evidence_check"]["pieces"][0]["destination"] == "verified"
    imported = [line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")]
    assert "hoist.evidence.reverify" in imported  # the check ran in this process ...
    assert not [name for name in imported if name.startswith("sigstore")]  # ... without sigstore
