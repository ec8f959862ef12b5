"""hoist against Pulp (``pulp-container``): a second, independent registry implementation, token auth on.

Pulp is started once per session by :func:`tests.infra.fixtures.pulp_registry` (see
:mod:`tests.infra.pulp` for how, and for the record of how it answers). Credentials reach hoist the way a
user's would: a containers ``auth.json`` named by ``$REGISTRY_AUTH_FILE``. Every effect is checked
independently: skopeo, and Pulp's registry API through :meth:`RunningPulp.client`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.infra.pulp import RunningPulp
from tests.infra.skopeo import skopeo_copy, skopeo_digest, skopeo_inspect_raw, skopeo_tags
from tests.support import KINDS, Hoist, Images, Seeded

ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)


@pytest.fixture
def pulp(hoist: Hoist, pulp_registry: RunningPulp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RunningPulp:
    """The session's Pulp, with its admin's credentials in ``$REGISTRY_AUTH_FILE`` for this test."""
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(pulp_registry.auth_file(tmp_path / "auth.json")))
    return pulp_registry


def creds(pulp: RunningPulp) -> tuple[str, str]:
    return (pulp.username, pulp.password)


def pulp_digest(pulp: RunningPulp, ref: str) -> str:
    """What skopeo reads at ``HOST/REPO:TAG`` in Pulp: sha256 of the raw manifest."""
    return skopeo_digest(f"docker://{ref}", creds=creds(pulp), tls_verify=False)


def manifest_bytes(pulp: RunningPulp, repo: str, reference: str) -> bytes:
    """The manifest as Pulp's registry API serves it (no hoist code involved)."""
    with pulp.client() as client:
        answer = client.get(f"/v2/{repo}/manifests/{reference}", headers={"Accept": ACCEPT})
    assert answer.status_code == 200, answer.text
    return answer.content


def sha256(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


@pytest.mark.parametrize("kind", KINDS)
def test_push_from_an_oci_layout(hoist: Hoist, pulp: RunningPulp, images: Images, unique_repo: str, kind: str) -> None:
    expected = images.info(kind)
    destination = f"{pulp.host}/{unique_repo}:v1"
    result = hoist.ok("copy", f"oci:{images.layout}:{kind}", destination, "--tag", "extra", "--json").json
    assert result["digest"] == expected.digest
    assert result["mode"] == "stream"
    assert result["blobs"]["streamed"] + result["blobs"]["skipped"] == len(set(expected.blobs))
    assert manifest_bytes(pulp, unique_repo, expected.digest) == expected.manifest_bytes
    assert pulp_digest(pulp, destination) == expected.digest
    assert skopeo_tags(f"docker://{destination}", creds=creds(pulp), tls_verify=False) == ["extra", "v1"]


@pytest.mark.parametrize("kind", ["index", "docker"])
def test_copy_from_distribution_streams(
    hoist: Hoist, pulp: RunningPulp, seeded: Seeded, unique_repo: str, kind: str
) -> None:
    expected = seeded.images.info(kind)
    destination = f"{pulp.host}/{unique_repo}:prod"
    result = hoist.ok("copy", seeded.ref(kind), destination, "--json").json
    assert result["digest"] == expected.digest and result["mode"] == "stream"
    assert result["blobs"]["streamed"] == len(set(expected.blobs))
    assert pulp_digest(pulp, destination) == expected.digest
    for child in expected.children:
        assert sha256(manifest_bytes(pulp, unique_repo, child.digest)) == child.digest


@pytest.mark.parametrize("kind", ["single", "docker_index"])
def test_copy_between_pulp_repositories_mounts(
    hoist: Hoist, pulp: RunningPulp, images: Images, unique_repo: str, kind: str
) -> None:
    expected = images.info(kind)
    source = f"{pulp.host}/{unique_repo}-src:v1"
    hoist.ok("copy", f"oci:{images.layout}:{kind}", source)
    destination = f"{pulp.host}/{unique_repo}-dst:prod"
    result = hoist.ok("copy", source, destination, "--json").json
    assert result["digest"] == expected.digest
    assert result["mode"] == "mount"
    assert result["blobs"]["mounted"] == len(set(expected.blobs))
    assert pulp_digest(pulp, destination) == expected.digest


def test_retag_in_pulp(hoist: Hoist, pulp: RunningPulp, images: Images, unique_repo: str) -> None:
    repo = f"{pulp.host}/{unique_repo}"
    hoist.ok("copy", f"oci:{images.layout}:index", f"{repo}:v1")
    tagged = hoist.ok("tag", f"{repo}:v1", "prod", "stable", "--json").json
    assert tagged["digest"] == images.index.digest
    copied = hoist.ok("copy", f"{repo}:v1", f"{repo}:prod2", "--json").json
    assert copied["mode"] == "retag"
    assert skopeo_tags(f"docker://{repo}", creds=creds(pulp), tls_verify=False) == ["prod", "prod2", "stable", "v1"]
    for tag in ("prod", "prod2", "stable"):
        assert pulp_digest(pulp, f"{repo}:{tag}") == images.index.digest


def test_platform_from_a_pulp_index(hoist: Hoist, pulp: RunningPulp, images: Images, unique_repo: str) -> None:
    index = json.loads(images.index.manifest_bytes)
    arm = next(m for m in index["manifests"] if m["platform"]["architecture"] == "arm64")
    source = f"{pulp.host}/{unique_repo}:v1"
    hoist.ok("copy", f"oci:{images.layout}:index", source)
    destination = f"{pulp.host}/{unique_repo}-arm:prod"
    result = hoist.ok("copy", source, destination, "--platform", "linux/arm64", "--json").json
    assert result["digest"] == arm["digest"]
    assert pulp_digest(pulp, destination) == arm["digest"]


def test_verify_deep(hoist: Hoist, pulp: RunningPulp, images: Images, unique_repo: str) -> None:
    ref = f"{pulp.host}/{unique_repo}:v1"
    hoist.ok("copy", f"oci:{images.layout}:single", ref)
    verified = hoist.ok("verify", ref, "--deep", "--json").json
    assert verified["ok"] and verified["digest"] == images.single.digest
    print(verified)


def test_skopeo_reads_what_hoist_wrote(
    hoist: Hoist, pulp: RunningPulp, images: Images, unique_repo: str, tmp_path: Path
) -> None:
    ref = f"{pulp.host}/{unique_repo}:v1"
    hoist.ok("copy", f"oci:{images.layout}:index", ref)
    raw = skopeo_inspect_raw(f"docker://{ref}", creds=creds(pulp), tls_verify=False)
    assert raw == images.index.manifest_bytes
    skopeo_copy(f"docker://{ref}", f"oci:{tmp_path}/back:x", src_creds=creds(pulp), src_tls_verify=False)
    assert skopeo_digest(f"oci:{tmp_path}/back:x") == images.index.digest


def test_hoist_reads_what_skopeo_wrote(
    hoist: Hoist, pulp: RunningPulp, images: Images, unique_repo: str, tmp_path: Path
) -> None:
    ref = f"{pulp.host}/{unique_repo}:v1"
    skopeo_copy(f"oci:{images.layout}:index", f"docker://{ref}", dest_creds=creds(pulp), dest_tls_verify=False)
    inspected = hoist.ok("inspect", ref, "--json").json
    assert inspected["digest"] == images.index.digest
    hoist.ok("copy", ref, f"oci:{tmp_path}/out:x")
    assert skopeo_digest(f"oci:{tmp_path}/out:x") == images.index.digest
    assert hoist.ok("verify", ref, "--deep", "--json").json["ok"]
