"""Running the hoist CLI in-process, and images shared by the copy tests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hoist.cli.app import run
from tests.infra.images import ImageInfo, make_image, make_index
from tests.infra.registry import RunningRegistry
from tests.infra.skopeo import layout_ref, skopeo_copy

__all__ = ["KINDS", "Hoist", "HoistResult", "Images", "Seeded", "cli", "hoist", "images", "seeded"]


@dataclass
class HoistResult:
    code: int
    out: str
    err: str

    @property
    def json(self) -> Any:
        return json.loads(self.out)

    def __repr__(self) -> str:
        return f"HoistResult(code={self.code}, out={self.out[-2000:]!r}, err={self.err[-2000:]!r})"


class Hoist:
    """Calls ``hoist`` in-process, like a user at a shell (exit code, stdout, stderr)."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys

    def __call__(self, *args: str) -> HoistResult:
        self.capsys.readouterr()
        code = run([str(a) for a in args])
        captured = self.capsys.readouterr()
        return HoistResult(code, captured.out, captured.err)

    def ok(self, *args: str) -> HoistResult:
        result = self(*args)
        assert result.code == 0, result
        return result


@pytest.fixture
def hoist(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Hoist:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DOCKER_CONFIG", raising=False)
    monkeypatch.delenv("REGISTRY_AUTH_FILE", raising=False)
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    return Hoist(capsys)


@pytest.fixture
def cli(hoist: Hoist) -> Hoist:
    """The ``hoist`` command, for test modules where ``hoist`` names the library."""
    return hoist


@dataclass(frozen=True)
class Images:
    """Test images in one OCI layout: single-platform (OCI and Docker types) and multi-arch indexes."""

    layout: Path
    single: ImageInfo
    docker: ImageInfo
    index: ImageInfo
    docker_index: ImageInfo

    def info(self, kind: str) -> ImageInfo:
        return {
            "single": self.single,
            "docker": self.docker,
            "index": self.index,
            "docker_index": self.docker_index,
        }[kind]


@pytest.fixture(scope="session")
def images(tmp_path_factory: pytest.TempPathFactory) -> Images:
    layout = tmp_path_factory.mktemp("images") / "layout"
    return Images(
        layout=layout,
        single=make_image(layout, tag="single", layers=3, layer_size=64 * 1024, seed="single"),
        docker=make_image(layout, tag="docker", layers=3, layer_size=32 * 1024, seed="docker", media="docker"),
        index=make_index(layout, tag="index", layers_per_image=3, layer_size=16 * 1024, seed="index"),
        docker_index=make_index(
            layout, tag="docker_index", layers_per_image=2, layer_size=8 * 1024, seed="dindex", media="docker"
        ),
    )


@dataclass(frozen=True)
class Seeded:
    """The test images pushed by skopeo into the shared registry under ``seed/<kind>:v1``."""

    registry: RunningRegistry
    images: Images

    def ref(self, kind: str) -> str:
        return f"{self.registry.host}/seed/{kind}:v1"


@pytest.fixture(scope="session")
def seeded(registry: RunningRegistry, images: Images, tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    for kind in KINDS:
        skopeo_copy(layout_ref(images.layout, kind), f"docker://{registry.host}/seed/{kind}:v1", dest_tls_verify=False)
    return Seeded(registry, images)


KINDS = ("single", "docker", "index", "docker_index")
