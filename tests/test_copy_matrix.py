"""The same table of copy cases against real registries and OCI layouts, checked with real skopeo."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.infra.pulp import RunningPulp
from tests.infra.registry import RunningRegistry
from tests.infra.skopeo import layout_ref, skopeo_copy, skopeo_digest, skopeo_inspect_raw
from tests.support import KINDS, Hoist, Images, Seeded

CASES = [
    "retag",
    "cross-repo",
    "cross-registry",
    "layout-to-registry",
    "registry-to-layout",
    "layout-to-layout",
]


def _endpoints(
    case: str, kind: str, seeded: Seeded, registry2: RunningRegistry, unique_repo: str, tmp_path: Path
) -> tuple[str, str, str]:
    """(source, destination, skopeo reference of the destination)."""
    host = seeded.registry.host
    layout = seeded.images.layout
    if case == "retag":
        repo = f"{host}/{unique_repo}"
        skopeo_copy(f"docker://{seeded.ref(kind)}", f"docker://{repo}:v1", src_tls_verify=False, dest_tls_verify=False)
        return f"{repo}:v1", f"{repo}:prod", f"docker://{repo}:prod"
    if case == "cross-repo":
        return seeded.ref(kind), f"{host}/{unique_repo}:prod", f"docker://{host}/{unique_repo}:prod"
    if case == "cross-registry":
        return (
            seeded.ref(kind),
            f"{registry2.host}/{unique_repo}:prod",
            f"docker://{registry2.host}/{unique_repo}:prod",
        )
    if case == "layout-to-registry":
        return f"oci:{layout}:{kind}", f"{host}/{unique_repo}:prod", f"docker://{host}/{unique_repo}:prod"
    if case == "registry-to-layout":
        return seeded.ref(kind), f"oci:{tmp_path}/out:prod", f"oci:{tmp_path}/out:prod"
    return f"oci:{layout}:{kind}", f"oci:{tmp_path}/out:prod", f"oci:{tmp_path}/out:prod"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case", CASES)
def test_copy_keeps_the_digest(
    case: str,
    kind: str,
    hoist: Hoist,
    seeded: Seeded,
    registry2: RunningRegistry,
    unique_repo: str,
    tmp_path: Path,
) -> None:
    source, destination, check = _endpoints(case, kind, seeded, registry2, unique_repo, tmp_path)
    _copy_and_check(hoist, case, kind, seeded, source, destination, check, count_requests=True)


PULP_CASES = ["retag", "cross-repo", "cross-registry", "layout-to-registry", "registry-to-layout"]


@pytest.fixture(scope="session")
def pulp_seeded(
    pulp_registry: RunningPulp, images: Images, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Seeded, Path]:
    """The test images pushed by skopeo into Pulp under ``seed/<kind>:v1``, and Pulp's auth file."""
    auth = pulp_registry.auth_file(tmp_path_factory.mktemp("pulp-auth") / "auth.json")
    for kind in KINDS:
        ref = f"docker://{pulp_registry.host}/seed/{kind}:v1"
        skopeo_copy(layout_ref(images.layout, kind), ref, dest_tls_verify=False, authfile=auth)
    return Seeded(pulp_registry, images), auth  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case", PULP_CASES)
def test_copy_keeps_the_digest_on_pulp(
    case: str,
    kind: str,
    hoist: Hoist,
    seeded: Seeded,
    pulp_seeded: tuple[Seeded, Path],
    unique_repo: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same table on Pulp, with its token auth on; "cross-registry" streams from distribution."""
    pulp, auth = pulp_seeded
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(auth))  # hoist and skopeo both read it
    host = pulp.registry.host
    if case == "cross-registry":
        source, destination = seeded.ref(kind), f"{host}/{unique_repo}:prod"
        check = f"docker://{destination}"
    else:
        source, destination, check = _endpoints(case, kind, pulp, seeded.registry, unique_repo, tmp_path)
    _copy_and_check(hoist, case, kind, pulp, source, destination, check, count_requests=False)


def _copy_and_check(
    hoist: Hoist,
    case: str,
    kind: str,
    seeded: Seeded,
    source: str,
    destination: str,
    check: str,
    *,
    count_requests: bool,
) -> None:
    expected = seeded.images.info(kind)
    result = hoist.ok("copy", source, destination, "--tag", "extra", "--json").json
    assert result["digest"] == expected.digest
    assert result["tags"] == ["prod", "extra"]
    assert result["mode"] == {
        "retag": "retag",
        "cross-repo": "mount",
        "cross-registry": "stream",
    }.get(case, "stream")
    if case == "retag":
        assert result["requests"] == 5 or not count_requests  # the GET, then a PUT and a read-back per tag
    elif case == "cross-repo":
        assert result["blobs"]["mounted"] == len(set(expected.blobs))
    elif case != "layout-to-layout":
        assert result["blobs"]["streamed"] + result["blobs"]["skipped"] == len(set(expected.blobs))
    if check.startswith("oci:") and kind.startswith("docker"):
        raw = (Path(check[4:].rsplit(":", 1)[0]) / "index.json").read_text()
        assert expected.digest in raw  # skopeo 1.9 cannot read Docker media types from oci:
    else:
        assert skopeo_digest(check, tls_verify=False) == expected.digest
    verified = hoist.ok("verify", destination, "--deep", "--json").json
    assert verified["ok"] and verified["digest"] == expected.digest


def test_retag_is_three_requests(hoist: Hoist, seeded: Seeded, unique_repo: str) -> None:
    repo = f"{seeded.registry.host}/{unique_repo}"
    hoist.ok("copy", seeded.ref("index"), f"{repo}:v1")
    result = hoist.ok("tag", f"{repo}:v1", "prod", "--json").json
    assert result["requests"] == 3  # manifest GET, PUT, read-back HEAD
    again = hoist.ok("copy", f"{repo}:v1", f"{repo}:prod2", "--json").json
    assert again["requests"] == 3 and again["mode"] == "retag"


def test_present_digest_skips_the_blobs(
    hoist: Hoist, seeded: Seeded, registry2: RunningRegistry, unique_repo: str
) -> None:
    destination = f"{registry2.host}/{unique_repo}"
    hoist.ok("copy", seeded.ref("single"), f"{destination}:a")
    result = hoist.ok("copy", seeded.ref("single"), f"{destination}:b", "--no-referrers", "--json").json
    assert result["mode"] == "present"
    assert result["bytes_moved"] == 0
    assert result["requests"] == 4  # GET source, HEAD destination digest, PUT tag, read-back


def test_platform_selects_one_child(hoist: Hoist, seeded: Seeded, unique_repo: str) -> None:
    index = json.loads(seeded.images.index.manifest_bytes)
    arm = next(m for m in index["manifests"] if m["platform"]["architecture"] == "arm64")
    destination = f"{seeded.registry.host}/{unique_repo}:arm"
    result = hoist.ok("copy", seeded.ref("index"), destination, "--platform", "linux/arm64", "--json").json
    assert result["digest"] == arm["digest"]
    assert skopeo_digest(f"docker://{destination}", tls_verify=False) == arm["digest"]
    missing = hoist("copy", seeded.ref("index"), destination, "--platform", "windows/amd64")
    assert missing.code == 2
    assert "linux/arm64" in missing.err and "Traceback" not in missing.err


def test_dry_run_changes_nothing(hoist: Hoist, seeded: Seeded, registry2: RunningRegistry, unique_repo: str) -> None:
    destination = f"{registry2.host}/{unique_repo}:prod"
    result = hoist.ok("copy", seeded.ref("index"), destination, "--dry-run", "--json").json
    assert result["dry_run"] is True
    assert {b["action"] for b in result["plan"]["blobs"]} == {"stream"}
    assert len(result["plan"]["manifests"]) == len(seeded.images.index.children)
    text = hoist.ok("copy", seeded.ref("index"), destination, "--dry-run")
    assert "nothing was changed" in text.out
    assert hoist("inspect", destination).code == 2


def test_skopeo_reads_what_hoist_wrote_and_podman_pulls_it(
    hoist: Hoist, seeded: Seeded, registry2: RunningRegistry, unique_repo: str, tmp_path: Path, docker_client
) -> None:  # type: ignore[no-untyped-def]
    destination = f"{registry2.host}/{unique_repo}:prod"
    hoist.ok("copy", seeded.ref("index"), destination)
    raw = skopeo_inspect_raw(f"docker://{destination}", tls_verify=False)
    assert raw == seeded.images.index.manifest_bytes
    skopeo_copy(f"docker://{destination}", f"oci:{tmp_path}/back:x", src_tls_verify=False)
    assert skopeo_digest(f"oci:{tmp_path}/back:x") == seeded.images.index.digest
    single = f"{registry2.host}/{unique_repo}-single@{seeded.images.single.digest}"
    hoist.ok("copy", seeded.ref("single"), f"{registry2.host}/{unique_repo}-single:prod")
    docker_client.api.pull(single)  # podman's Docker-compatible API, by digest
    pulled = docker_client.images.get(single)
    assert seeded.images.single.digest in " ".join(pulled.attrs.get("RepoDigests", []))


def test_inspect_shows_platforms_and_sizes(hoist: Hoist, seeded: Seeded) -> None:
    result = hoist.ok("inspect", seeded.ref("index"), "--json").json
    assert result["digest"] == seeded.images.index.digest
    assert sorted(result["platforms"]) == sorted(["linux/amd64", "linux/arm64", "linux/arm/v7", "linux/s390x"])
    assert result["total_size"] >= seeded.images.index.size
    single = hoist.ok("inspect", seeded.ref("docker"), "--json").json
    assert len(single["images"][0]["layers"]) == 3
    assert single["media_type"] == "application/vnd.docker.distribution.manifest.v2+json"
    text = hoist.ok("inspect", f"oci:{seeded.images.layout}:single")
    assert seeded.images.single.digest in text.out and "linux/amd64" in text.out
