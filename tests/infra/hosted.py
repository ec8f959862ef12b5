"""Fixtures for the hosted-registry table: emulators on demand, big images, a test case's context."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.infra.emulate import Emulator
from tests.infra.emulations import Behaviour
from tests.infra.images import ImageInfo, make_image
from tests.infra.registry import RunningRegistry
from tests.infra.skopeo import layout_ref, skopeo_copy, skopeo_digest
from tests.infra.storage_host import StorageHost
from tests.support import Hoist, HoistResult, Seeded

__all__ = ["Big", "Case", "big", "case", "one_line_failure", "upstream_tags"]


@dataclass(frozen=True)
class Big:
    """A 90 MB single-layer image and a 4 x 50 MB image, uncompressed, in the shared source registry."""

    one: ImageInfo
    four: ImageInfo
    registry: RunningRegistry

    def ref(self, name: str) -> str:
        return f"{self.registry.host}/big/{name}:v1"


@pytest.fixture(scope="session")
def big(registry: RunningRegistry, tmp_path_factory: pytest.TempPathFactory) -> Big:
    layout = tmp_path_factory.mktemp("big") / "layout"
    one = make_image(layout, tag="one", layers=1, layer_size=90_000_000, seed="big-90", compress=False)
    four = make_image(layout, tag="four", layers=4, layer_size=50_000_000, seed="big-4x50", compress=False)
    for name in ("one", "four"):
        skopeo_copy(layout_ref(layout, name), f"docker://{registry.host}/big/{name}:v1", dest_tls_verify=False)
    return Big(one, four, registry)


@dataclass
class Case:
    hoist: Hoist
    seeded: Seeded
    upstream: RunningRegistry
    repo: str
    tmp_path: Path
    monkeypatch: pytest.MonkeyPatch
    request: pytest.FixtureRequest
    stack: ExitStack

    def emulate(self, behaviour: Behaviour, upstream: RunningRegistry | None = None) -> Emulator:
        registry = upstream or self.upstream
        storage = self.stack.enter_context(StorageHost(registry.host))
        return self.stack.enter_context(Emulator(registry.host, behaviour, storage=storage))

    def seed(self, kind: str, ref: str) -> None:
        """Put a seeded test image at ``ref`` (a registry the emulator fronts, reached directly)."""
        skopeo_copy(f"docker://{self.seeded.ref(kind)}", f"docker://{ref}", src_tls_verify=False, dest_tls_verify=False)

    def digest(self, ref: str) -> str | None:
        try:
            return skopeo_digest(f"docker://{ref}", tls_verify=False)
        except Exception:
            return None

    def login(self, host: str, user: str, password: str) -> None:
        config = self.tmp_path / "docker"
        config.mkdir(exist_ok=True)
        auth = base64.b64encode(f"{user}:{password}".encode()).decode()
        (config / "config.json").write_text(json.dumps({"auths": {host: {"auth": auth}}}))
        self.monkeypatch.setenv("DOCKER_CONFIG", str(config))

    def config(self, staging: str, production: str) -> Path:
        path = self.tmp_path / "hoist.toml"
        path.write_text(
            f'[environments.staging]\nimage = "{staging}"\n\n'
            f'[environments.production]\nimage = "{production}"\nfrom = "staging"\n'
        )
        return path


@pytest.fixture
def case(
    hoist: Hoist,
    seeded: Seeded,
    registry2: RunningRegistry,
    unique_repo: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> Iterator[Case]:
    monkeypatch.setenv("HOIST_ACTOR", "tester")
    monkeypatch.setenv("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567")
    with ExitStack() as stack:
        yield Case(hoist, seeded, registry2, unique_repo, tmp_path, monkeypatch, request, stack)


def one_line_failure(result: HoistResult, code: int = 1) -> str:
    assert result.code == code, result
    assert "Traceback" not in result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    return lines[0]


def upstream_tags(registry: RunningRegistry, repo: str) -> dict[str, str]:
    """Every tag of ``repo`` with its digest, asked of the registry directly."""
    accept = {"Accept": "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json"}
    with registry.client() as client:
        tags = client.get(f"/v2/{repo}/tags/list").json().get("tags") or []
        return {
            t: client.head(f"/v2/{repo}/manifests/{t}", headers=accept).headers["docker-content-digest"] for t in tags
        }
