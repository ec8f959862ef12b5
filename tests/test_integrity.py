"""hoist's own integrity checks, each reached through real components and named in its test.

"Exactly the image you tested, and nothing else": bytes that do not hash to their digest never become
part of a copy, a blob corrupted at rest is found by ``verify --deep``, and a tag someone else moves
between hoist's write and its read-back is an error. Every test here is built so that distribution
cannot do the check for hoist (or so that whether hoist did it shows): each names the check it guards,
and fails when that check is removed.

Effects are checked independently: the registry's HTTP API (directly, not through the proxy), the
files of the registry's storage and of OCI layouts, skopeo.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.infra.faults import Fault
from tests.infra.images import ImageInfo, make_image
from tests.infra.layout import blob_path
from tests.infra.proxy import FaultProxy, ProxiedRequest
from tests.infra.registry import RunningRegistry
from tests.infra.skopeo import skopeo_copy, skopeo_digest
from tests.support import Hoist, HoistResult, Seeded

ACCEPT = ", ".join(
    (
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    )
)


# -- independent views of what a registry or a layout holds --------------------------------------------


def registry_digest(registry: RunningRegistry, repo: str, tag: str) -> str | None:
    """What ``repo:tag`` points at, asked of the registry itself; None only when the tag does not exist."""
    with registry.client() as client:
        answer = client.head(f"/v2/{repo}/manifests/{tag}", headers={"Accept": ACCEPT})
    if answer.status_code == 404:
        return None
    answer.raise_for_status()
    return answer.headers["Docker-Content-Digest"]


def registry_has_blob(registry: RunningRegistry, repo: str, digest: str) -> bool:
    with registry.client() as client:
        answer = client.head(f"/v2/{repo}/blobs/{digest}")
    if answer.status_code == 404:
        return False
    answer.raise_for_status()
    return True


def storage_blob(registry: RunningRegistry, digest: str) -> Path:
    """The file holding blob ``digest`` in distribution's filesystem storage."""
    hexdigest = digest.partition(":")[2]
    path = registry.storage_dir / "docker/registry/v2/blobs/sha256" / hexdigest[:2] / hexdigest / "data"
    assert path.is_file(), path
    return path


def flip_byte(path: Path, offset: int) -> None:
    """Invert one byte in place: same size, other content (what a bad disk or a tamperer leaves)."""
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def tampered_digest(data: bytes, offset: int) -> str:
    changed = bytearray(data)
    changed[offset] ^= 0xFF
    return f"sha256:{hashlib.sha256(bytes(changed)).hexdigest()}"


def one_line_error(result: HoistResult, *words: str) -> str:
    assert result.code == 1, result
    assert "Traceback" not in result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


@pytest.fixture
def fresh(tmp_path: Path) -> tuple[Path, ImageInfo]:
    """An image no other test has (its own layers), in an OCI layout, tagged ``v1``.

    Tests that corrupt stored bytes use it: registries share blobs between repositories.
    """
    layout = tmp_path / "fresh"
    seed = secrets.token_hex(4)
    return layout, make_image(layout, tag="v1", layers=2, layer_size=64 * 1024, seed=f"integrity-{seed}")


@pytest.fixture
def in_proxied(fresh: tuple[Path, ImageInfo], proxied_registry: RunningRegistry, unique_repo: str) -> ImageInfo:
    """``fresh`` pushed by skopeo into the registry behind the fault proxy, as ``unique_repo:v1``."""
    layout, info = fresh
    skopeo_copy(f"oci:{layout}:v1", f"docker://{proxied_registry.host}/{unique_repo}:v1", dest_tls_verify=False)
    return info


@pytest.fixture(scope="module")
def watched(registry2: RunningRegistry) -> Iterator[FaultProxy]:
    """A second fault proxy, in front of ``registry2``: what reaches a copy's destination."""
    with FaultProxy(registry2.host) as proxy:
        yield proxy


@pytest.fixture
def destination_proxy(watched: FaultProxy) -> Iterator[FaultProxy]:
    watched.reset()
    yield watched
    watched.reset()


# -- a blob altered on its way out of a registry ----------------------------------------------------------


def test_blob_altered_between_a_registry_and_a_layout_is_never_stored(
    hoist: Hoist, in_proxied: ImageInfo, fault_proxy: FaultProxy, unique_repo: str, tmp_path: Path
) -> None:
    """Guards the hash check of OCILayoutStore.push_blob (a Hasher, digest.py): a directory cannot check
    anything itself, so without it the altered bytes would be renamed into place under the real digest."""
    layer = in_proxied.layers[0]
    fault = fault_proxy.add_fault(Fault("flip", method="GET", path_regex=f"/blobs/{layer}$", offset=1000))
    out = tmp_path / "out"
    result = hoist("copy", f"{fault_proxy.host}/{unique_repo}:v1", f"oci:{out}:v1")
    assert fault.fired == 1
    one_line_error(result, layer, "content has digest")
    assert not blob_path(out, layer).exists(), "the altered bytes were stored under the real digest"
    assert not [p for p in (out / "blobs" / "sha256").iterdir() if p.name.startswith(".tmp-")], "temp files left"
    index = json.loads((out / "index.json").read_text())
    assert index["manifests"] == [], "the tag was written although a blob failed"


def test_config_altered_on_the_way_from_a_registry_is_refused(
    hoist: Hoist, in_proxied: ImageInfo, fault_proxy: FaultProxy, unique_repo: str
) -> None:
    """Guards RegistryStore.read_blob's digest check: a config claiming another architecture is not shown."""
    config = in_proxied.config_digest
    assert config is not None
    source = f"{fault_proxy.host}/{unique_repo}:v1"
    honest = hoist.ok("inspect", source, "--json").json
    assert honest["images"][0]["platform"] == "linux/amd64"
    fault = fault_proxy.add_fault(
        Fault("rewrite", method="GET", path_regex=f"/blobs/{config}$", find=b'"amd64"', replace=b'"arm64"')
    )
    result = hoist("inspect", source, "--json")
    assert fault.fired == 1
    one_line_error(result, config, "content has digest")
    assert result.out == "", "nothing of the altered config was printed"


# -- a blob altered on its way into another registry -------------------------------------------------------


def _uploads_of(log: list[ProxiedRequest], digest: str) -> list[ProxiedRequest]:
    """Requests that commit an upload of ``digest`` (``PUT …/blobs/uploads/…?digest=``)."""
    quoted = digest.replace(":", "%3A")
    return [r for r in log if r.method == "PUT" and "/blobs/uploads/" in r.path and quoted in r.path]


@pytest.mark.parametrize("path", ["monolithic", "chunked"])
@pytest.mark.parametrize("destination", ["verifying", "trusting"])
def test_blob_altered_on_its_way_into_a_registry_is_refused_by_hoist(
    path: str,
    destination: str,
    hoist: Hoist,
    fresh: tuple[Path, ImageInfo],
    in_proxied: ImageInfo,
    fault_proxy: FaultProxy,
    destination_proxy: FaultProxy,
    registry2: RunningRegistry,
    unique_repo: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The source sends one altered byte of a layer; hoist streams it on to the destination and tells it
    the real digest.

    Which of hoist's upload checks (upload.py, a Hasher) each case guards:

    - monolithic, verifying (distribution as it is): the body is sent before its hash is known, so
      distribution refuses the digest; ``_raise_if_corrupt`` must then name the *source* as the cause (without
      it the user reads a registry error about the destination);
    - monolithic, trusting (the proxy tells distribution the digest of what arrived, as a store that
      checks nothing would): distribution accepts; ``_Reader.finish`` after the PUT is the only check left,
      and without it hoist goes on to write the manifest;
    - chunked, verifying: ``_Reader.finish`` runs before the committing PUT; without it hoist commits,
      distribution refuses, hoist blames the registry and uploads again (the source, read again, is fine,
      and the copy "succeeds" after committing bytes it had read wrong);
    - chunked, trusting: without the check the altered bytes are committed and the manifest PUT follows.
    """
    if path == "chunked":
        monkeypatch.setenv("HOIST_CHUNK_SIZE", "16k")
    if destination == "trusting":
        destination_proxy.add_fault(Fault("trust", method="PUT", path_regex=r"/blobs/uploads/.*digest=", times=None))
    layer = in_proxied.layers[0]
    altered = tampered_digest(blob_path(fresh[0], layer).read_bytes(), 1000)
    flip = fault_proxy.add_fault(Fault("flip", method="GET", path_regex=f"/blobs/{layer}$", offset=1000))
    target = f"{destination_proxy.host}/{unique_repo}:prod"
    result = hoist("copy", f"{fault_proxy.host}/{unique_repo}:v1", target, "--jobs", "1")
    assert flip.fired == 1
    one_line_error(result, layer, "content has digest")
    log = destination_proxy.requests
    assert not [r for r in log if r.method == "PUT" and "/manifests/" in r.path], "a manifest was written"
    commits, altered_commits = _uploads_of(log, layer), _uploads_of(log, altered)
    if path == "chunked":
        assert commits == altered_commits == [], "hoist committed an upload whose bytes it knew were wrong"
    elif destination == "verifying":
        assert [r.status for r in commits] == [400], "one refused commit, no second upload"
    else:  # distribution took the altered bytes (under their own digest): hoist alone refused them
        assert [r.status for r in altered_commits] == [201]
    assert registry_digest(registry2, unique_repo, "prod") is None
    assert not registry_has_blob(registry2, unique_repo, layer)


def test_blob_altered_inside_a_layout_never_reaches_a_registry(
    hoist: Hoist,
    fresh: tuple[Path, ImageInfo],
    destination_proxy: FaultProxy,
    registry2: RunningRegistry,
    unique_repo: str,
) -> None:
    """A layout's blobs are read without a check (OCILayoutStore.open_blob streams the file): the upload's
    Hasher must name the blob, and nothing but the refused blob reaches the destination."""
    layout, info = fresh
    layer = info.layers[1]
    flip_byte(blob_path(layout, layer), 500)
    result = hoist("copy", f"oci:{layout}:v1", f"{destination_proxy.host}/{unique_repo}:prod", "--jobs", "1")
    one_line_error(result, layer, "content has digest")
    assert not [r for r in destination_proxy.requests if "/manifests/" in r.path and r.method == "PUT"]
    assert registry_digest(registry2, unique_repo, "prod") is None


def test_config_altered_inside_a_layout_is_refused(hoist: Hoist, fresh: tuple[Path, ImageInfo]) -> None:
    """Guards OCILayoutStore.read_blob's digest check (inspect reads the config with it)."""
    layout, info = fresh
    assert info.config_digest is not None
    assert hoist.ok("inspect", f"oci:{layout}:v1", "--json").json["images"][0]["platform"] == "linux/amd64"
    path = blob_path(layout, info.config_digest)
    original = path.read_bytes()
    assert original.count(b'"amd64"') == 1
    path.write_bytes(original.replace(b'"amd64"', b'"arm64"'))
    result = hoist("inspect", f"oci:{layout}:v1", "--json")
    one_line_error(result, info.config_digest, "content has digest")
    assert result.out == ""


# -- blobs corrupted at rest: verify --deep ------------------------------------------------------------------


def _verify(hoist: Hoist, ref: str, *args: str) -> HoistResult:
    result = hoist("verify", ref, *args)
    assert "Traceback" not in result.err
    return result


def test_verify_deep_finds_a_blob_corrupted_in_registry_storage(
    hoist: Hoist, fresh: tuple[Path, ImageInfo], registry2: RunningRegistry, unique_repo: str
) -> None:
    """Guards verify --deep (every byte re-hashed with a Hasher): a same-size change is invisible to the
    plain verify and to the registry, which serves the file as it is."""
    layout, info = fresh
    ref = f"{registry2.host}/{unique_repo}:v1"
    skopeo_copy(f"oci:{layout}:v1", f"docker://{ref}", dest_tls_verify=False)
    assert _verify(hoist, ref, "--deep").code == 0
    layer = info.layers[0]
    flip_byte(storage_blob(registry2, layer), 2000)

    plain = _verify(hoist, ref, "--json")
    assert plain.code == 0, "sizes still match: only --deep can tell"
    deep = _verify(hoist, ref, "--deep", "--json")
    assert deep.code == 1, deep
    failed = [c for c in deep.json["checks"] if not c["ok"]]
    assert [c["check"] for c in failed] == [f"blob {layer}"]
    assert tampered_digest(blob_path(layout, layer).read_bytes(), 2000) in failed[0]["detail"]
    text = _verify(hoist, ref, "--deep")
    assert text.code == 1
    assert f"FAIL blob {layer}" in text.out and "NOT verified" in text.out


def test_verify_deep_finds_a_blob_corrupted_in_a_layout(
    hoist: Hoist, fresh: tuple[Path, ImageInfo], tmp_path: Path
) -> None:
    """The same for an OCI layout written by skopeo."""
    source, info = fresh
    layout = tmp_path / "written-by-skopeo"
    skopeo_copy(f"oci:{source}:v1", f"oci:{layout}:v1")
    ref = f"oci:{layout}:v1"
    assert _verify(hoist, ref, "--deep").code == 0
    layer = info.layers[1]
    flip_byte(blob_path(layout, layer), 10)
    assert _verify(hoist, ref).code == 0, "sizes still match: only --deep can tell"
    deep = _verify(hoist, ref, "--deep")
    assert deep.code == 1, deep
    assert f"FAIL blob {layer}" in deep.out and "NOT verified" in deep.out
    failing = [line for line in deep.out.splitlines() if line.startswith("FAIL")]
    assert len(failing) == 1, deep.out


# -- a tag moved by someone else between hoist's write and its read-back ----------------------------------


def test_tag_moved_between_the_write_and_the_read_back_is_an_error(
    hoist: Hoist, seeded: Seeded, fault_proxy: FaultProxy, proxied_registry: RunningRegistry, unique_repo: str
) -> None:
    """Guards the read-back after a tag write (ops/copy.py write_tags) and the TagRaced it raises."""
    other = seeded.images.docker
    # the other writer's image must be in the repository for distribution to take its manifest
    skopeo_copy(
        f"docker://{seeded.ref('docker')}",
        f"docker://{proxied_registry.host}/{unique_repo}:other",
        src_tls_verify=False,
        dest_tls_verify=False,
    )
    race = fault_proxy.add_fault(
        Fault(
            "race",
            method="PUT",
            path_regex=r"/manifests/prod$",
            body=other.manifest_bytes,
            headers={"Content-Type": other.media_type},
        )
    )
    mine = seeded.images.single.digest
    result = hoist("copy", seeded.ref("single"), f"{fault_proxy.host}/{unique_repo}:prod")
    assert race.fired == 1
    line = one_line_error(result, "tag prod", other.digest, mine)
    assert "moved" in line
    # the other writer's image stands: hoist neither hid the race nor wrote over it again
    assert registry_digest(proxied_registry, unique_repo, "prod") == other.digest
    assert skopeo_digest(f"docker://{proxied_registry.host}/{unique_repo}:prod", tls_verify=False) == other.digest
    log = fault_proxy.requests
    tag = f"/v2/{unique_repo}/manifests/prod"
    writes = [i for i, r in enumerate(log) if r.method == "PUT" and r.path == tag]
    assert [log[i].fault for i in writes] == [None, "race"], log
    assert [log[i].status for i in writes] == [201, 201]
    reads = [i for i, r in enumerate(log) if r.method in ("HEAD", "GET") and r.path == tag and i > writes[1]]
    assert reads, "hoist read the tag back after writing it"
