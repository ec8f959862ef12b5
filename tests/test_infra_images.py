"""Self-tests of the image/skopeo/engine test infrastructure against a real registry and podman."""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest
from docker.models.containers import Container

from tests.infra.engine import RunningEngine
from tests.infra.images import (
    DEFAULT_PLATFORMS,
    MEDIA_TYPES,
    Media,
    blob_path,
    layout_digest,
    make_busybox_image,
    make_image,
    make_index,
)
from tests.infra.skopeo import (
    SkopeoError,
    layout_ref,
    skopeo_copy,
    skopeo_digest,
    skopeo_inspect_raw,
    skopeo_tags,
)

pytest_plugins = ["tests.infra.engine_fixtures"]

ACCEPT = ", ".join([*(t.manifest for t in MEDIA_TYPES.values()), *(t.index for t in MEDIA_TYPES.values())])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A plain-HTTP distribution registry on a free loopback port; yields ``127.0.0.1:PORT``."""
    root = tmp_path_factory.mktemp("registry")
    host = f"127.0.0.1:{_free_port()}"
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: {host}\n  secret: self-test\n"
    )
    with (root / "registry.log").open("wb") as log:
        process = subprocess.Popen(["/usr/bin/docker-registry", "serve", str(config)], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                httpx.get(f"http://{host}/v2/", timeout=1).raise_for_status()
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.02)
        yield host
    finally:
        process.terminate()
        process.wait(timeout=10)


def _registry_digest(host: str, repo: str, reference: str) -> str:
    response = httpx.head(f"http://{host}/v2/{repo}/manifests/{reference}", headers={"Accept": ACCEPT})
    response.raise_for_status()
    return response.headers["Docker-Content-Digest"]


# --- images.py on its own -------------------------------------------------------------------------


def test_make_image_is_deterministic_and_self_consistent(tmp_path: Path) -> None:
    first = make_image(tmp_path / "a", tag="v1", seed=7)
    again = make_image(tmp_path / "b", tag="v1", seed=7)
    other = make_image(tmp_path / "a", tag="v2", seed=8)

    assert first == again
    assert first.digest != other.digest
    assert first.digest == "sha256:" + hashlib.sha256(first.manifest_bytes).hexdigest()
    assert layout_digest(tmp_path / "a", "v1") == first.digest
    assert layout_digest(tmp_path / "a", "v2") == other.digest
    sizes = 0
    for digest in first.blobs:
        data = blob_path(tmp_path / "a", digest).read_bytes()
        assert "sha256:" + hashlib.sha256(data).hexdigest() == digest
        sizes += len(data)
    assert sizes == first.size
    manifest = json.loads(first.manifest_bytes)
    assert [layer["digest"] for layer in manifest["layers"]] == list(first.layers)


def test_retagging_replaces_the_index_entry(tmp_path: Path) -> None:
    make_image(tmp_path, tag="latest", seed=1)
    newer = make_image(tmp_path, tag="latest", seed=2)
    entries = json.loads((tmp_path / "index.json").read_text())["manifests"]
    assert [entry["digest"] for entry in entries] == [newer.digest]


def test_big_layers_stream_in_constant_memory(tmp_path: Path) -> None:
    size = 32 * 1024 * 1024
    tracemalloc.start()
    try:
        info = make_image(tmp_path, tag="big", layers=1, layer_size=size)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert size < info.size < size * 1.01  # incompressible
    assert peak < 4 * 1024 * 1024


def test_index_children_have_distinct_layers(tmp_path: Path) -> None:
    index = make_index(tmp_path, tag="multi", layers_per_image=2)
    assert len(index.children) == len(DEFAULT_PLATFORMS)
    assert len(set(index.blobs)) == len(index.blobs)
    platforms = [entry["platform"] for entry in json.loads(index.manifest_bytes)["manifests"]]
    assert {"os": "linux", "architecture": "arm", "variant": "v7"} in platforms


# --- skopeo interop --------------------------------------------------------------------------------


@pytest.mark.parametrize("media", ["oci", "docker"])
def test_skopeo_push_keeps_image_digest(tmp_path: Path, registry: str, media: Media) -> None:
    info = make_image(tmp_path / "layout", tag="v1", media=media, seed=f"push-{media}")
    skopeo_copy(layout_ref(tmp_path / "layout", "v1"), f"docker://{registry}/push/{media}:v1")

    assert skopeo_digest(f"docker://{registry}/push/{media}:v1") == info.digest
    assert _registry_digest(registry, f"push/{media}", "v1") == info.digest
    assert skopeo_inspect_raw(f"docker://{registry}/push/{media}@{info.digest}") == info.manifest_bytes
    assert skopeo_tags(f"docker://{registry}/push/{media}:v1") == ["v1"]


@pytest.mark.parametrize("media", ["oci", "docker"])
def test_skopeo_push_all_keeps_index_digest(tmp_path: Path, registry: str, media: Media) -> None:
    index = make_index(tmp_path / "layout", tag="multi", media=media, seed=f"index-{media}")
    assert index.media_type == MEDIA_TYPES[media].index
    skopeo_copy(layout_ref(tmp_path / "layout", "multi"), f"docker://{registry}/index/{media}:multi")

    assert _registry_digest(registry, f"index/{media}", "multi") == index.digest
    for child in index.children:
        assert _registry_digest(registry, f"index/{media}", child.digest) == child.digest


def test_skopeo_copies_back_to_a_new_oci_layout(tmp_path: Path, registry: str) -> None:
    image = make_image(tmp_path / "src", tag="one", seed="back")
    index = make_index(tmp_path / "src", tag="many", seed="back")
    plain = make_image(tmp_path / "src", tag="raw", seed="back", compress=False)
    for tag in ("one", "many", "raw"):
        skopeo_copy(f"oci:{tmp_path / 'src'}:{tag}", f"docker://{registry}/back/app:{tag}")
        skopeo_copy(f"docker://{registry}/back/app:{tag}", f"oci:{tmp_path / 'dst'}:{tag}")

    assert layout_digest(tmp_path / "dst", "one") == image.digest
    assert layout_digest(tmp_path / "dst", "many") == index.digest
    assert layout_digest(tmp_path / "dst", "raw") == plain.digest
    for child in index.children:
        assert blob_path(tmp_path / "dst", child.digest).read_bytes() == child.manifest_bytes


def test_docker_media_types_round_trip_through_dir_but_not_oci(tmp_path: Path, registry: str) -> None:
    index = make_index(tmp_path / "src", tag="list", media="docker", seed="dir")
    skopeo_copy(layout_ref(tmp_path / "src", "list"), f"docker://{registry}/dir/app:list")
    skopeo_copy(f"docker://{registry}/dir/app:list", f"dir:{tmp_path / 'back'}")

    assert (tmp_path / "back" / "manifest.json").read_bytes() == index.manifest_bytes
    with pytest.raises(SkopeoError, match="preserve digests"):
        skopeo_copy(f"docker://{registry}/dir/app:list", f"oci:{tmp_path / 'oci'}:list")


def test_skopeo_errors_carry_stderr_and_hide_passwords(registry: str) -> None:
    with pytest.raises(SkopeoError) as caught:
        skopeo_inspect_raw(f"docker://{registry}/nothing/here:x", creds=("user", "s3cret-pw"))
    assert "manifest unknown" in caught.value.stderr
    assert "s3cret-pw" not in str(caught.value)


# --- the busybox image through the podman engine --------------------------------------------------


def _push_busybox(tmp_path: Path, registry: str, name: str, **options: Any) -> str:
    """Build and push a busybox image; return the by-digest reference."""
    info = make_busybox_image(tmp_path / name, tag="v", **options)
    skopeo_copy(layout_ref(tmp_path / name, "v"), f"docker://{registry}/bb/{name}:v")
    return f"{registry}/bb/{name}@{info.digest}"


def _run(client: docker.DockerClient, ref: str, port: int) -> Container:
    client.images.pull(ref)
    container: Container = client.containers.run(ref, detach=True, ports={"8080/tcp": ("127.0.0.1", port)})
    return container


def _get(url: str, container: Container, timeout: float = 15.0) -> httpx.Response:
    """GET ``url`` once the container serves it; fail early if the container exits."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return httpx.get(url, timeout=2)
        except httpx.TransportError:
            container.reload()
            if container.status == "exited" or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


@pytest.mark.engine
@pytest.mark.parametrize("media", ["oci", "docker"])
def test_busybox_pulled_by_digest_serves_health(
    tmp_path: Path,
    registry: str,
    docker_client: docker.DockerClient,
    media: Media,
    request: pytest.FixtureRequest,
) -> None:
    ref = _push_busybox(tmp_path, registry, f"good-{media}", health_body="all good", version="A", media=media)
    port = _free_port()
    started = time.monotonic()
    docker_client.images.pull(ref)
    pulled = time.monotonic()
    container = docker_client.containers.run(ref, detach=True, ports={"8080/tcp": ("127.0.0.1", port)})
    running = time.monotonic()
    health = _get(f"http://127.0.0.1:{port}/health", container)
    serving = time.monotonic()
    request.node.user_properties += [
        ("pull_s", round(pulled - started, 3)),
        ("run_s", round(running - pulled, 3)),
        ("first_health_s", round(serving - pulled, 3)),
    ]

    assert (health.status_code, health.text) == (200, "all good")
    assert httpx.get(f"http://127.0.0.1:{port}/version").text == "A"
    assert docker_client.images.get(ref).attrs["RepoDigests"]
    stop_started = time.monotonic()
    container.stop(timeout=10)
    container.reload()
    assert container.attrs["State"]["ExitCode"] == 0
    assert time.monotonic() - stop_started < 5  # the signal shim: no 10 s SIGKILL fallback


@pytest.mark.engine
def test_broken_http500_answers_500_on_health(
    tmp_path: Path, registry: str, docker_client: docker.DockerClient
) -> None:
    ref = _push_busybox(tmp_path, registry, "http500", broken="http500", version="B")
    port = _free_port()
    container = _run(docker_client, ref, port)

    for _ in range(3):  # the nc responder keeps serving
        response = _get(f"http://127.0.0.1:{port}/health", container)
        assert response.status_code == 500
    assert httpx.get(f"http://127.0.0.1:{port}/version").text == "B"
    container.reload()
    assert container.status == "running"


@pytest.mark.engine
def test_broken_exit_stops_at_once(tmp_path: Path, registry: str, docker_client: docker.DockerClient) -> None:
    ref = _push_busybox(tmp_path, registry, "exit", broken="exit")
    container = _run(docker_client, ref, _free_port())

    assert container.wait(timeout=15)["StatusCode"] == 1
    container.reload()
    assert container.status == "exited"


@pytest.mark.engine
def test_health_cgi_and_healthcheck(
    tmp_path: Path, registry: str, engine: RunningEngine, docker_client: docker.DockerClient
) -> None:
    ref = _push_busybox(tmp_path, registry, "cgi", health_status_cgi=503, healthcheck=True, media="docker")
    port = _free_port()
    container = _run(docker_client, ref, port)

    assert _get(f"http://127.0.0.1:{port}/health", container).status_code == 200
    cgi = httpx.get(f"http://127.0.0.1:{port}/cgi-bin/health")
    assert (cgi.status_code, cgi.text) == (503, "ok")
    assert container.attrs["Config"]["Healthcheck"]["Test"][0] == "CMD"
    # No systemd here, so podman never schedules the check itself; run it once by hand.
    engine.podman("healthcheck", "run", container.id)
    container.reload()
    assert container.attrs["State"]["Health"]["Status"] == "healthy"
