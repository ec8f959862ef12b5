"""Bad input: a one-line error naming what was wrong, the right exit code, no traceback, nothing changed."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.infra.faults import Fault
from tests.infra.proxy import FaultProxy
from tests.support import Hoist, HoistResult, Seeded


def one_line(result: HoistResult, code: int, *words: str) -> None:
    assert result.code == code, result
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("hoist: error: ")
    assert "Traceback" not in result.err
    for word in words:
        assert word in lines[0], (word, lines[0])


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["copy", "Bad//Ref", "x/y"], ["Bad//Ref"]),
        (["copy", "ghcr.io/o/app:bad tag", "x/y"], ["bad tag"]),
        (["inspect", "ghcr.io/o/app@sha256:1234"], ["64"]),
        (["copy", "oci:", "x/y"], ["directory"]),
        (["copy", "a/b", "c/d", "--platform", "linux"], ["OS/ARCH"]),
        (["copy", "a/b", "c/d", "--tag", "-bad"], ["-bad"]),
        (["copy", "a/b"], ["DST"]),
        (["tag"], ["REF"]),
        (["frobnicate"], ["frobnicate"]),
    ],
)
def test_usage_errors_exit_2(hoist: Hoist, args: list[str], words: list[str]) -> None:
    one_line(hoist(*args), 2, *words)


def test_unknown_tag_and_repository(hoist: Hoist, seeded: Seeded) -> None:
    one_line(hoist("copy", f"{seeded.registry.host}/seed/single:nope", "oci:/tmp/x:y"), 2, ":nope")
    one_line(hoist("inspect", f"{seeded.registry.host}/no/such/repo:v1"), 2, "no/such/repo")
    digest = "sha256:" + "0" * 64
    one_line(hoist("verify", f"{seeded.registry.host}/seed/single@{digest}"), 2, digest)


def test_missing_layout(hoist: Hoist, tmp_path: Path) -> None:
    one_line(hoist("copy", f"oci:{tmp_path}/absent:v1", f"oci:{tmp_path}/out:v1"), 2, "does not exist")
    assert not (tmp_path / "out").exists()
    (tmp_path / "plain").mkdir()
    one_line(hoist("inspect", f"oci:{tmp_path}/plain"), 2, "not an OCI image layout")


def test_unreachable_registry_exits_1(hoist: Hoist, tmp_path: Path) -> None:
    from tests.infra.ports import free_port

    result = hoist("inspect", f"127.0.0.1:{free_port()}/app:v1")
    one_line(result, 1, "cannot connect")


def test_destination_digest_must_match(hoist: Hoist, seeded: Seeded, tmp_path: Path) -> None:
    wrong = "sha256:" + "1" * 64
    one_line(hoist("copy", seeded.ref("single"), f"oci:{tmp_path}/out@{wrong}"), 2, "never changes the digest")


def _layout_with(tmp_path: Path, manifest: bytes, media_type: str) -> str:
    layout = tmp_path / "odd"
    (layout / "blobs" / "sha256").mkdir(parents=True)
    digest = hashlib.sha256(manifest).hexdigest()
    (layout / "blobs" / "sha256" / digest).write_bytes(manifest)
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    entry = {
        "mediaType": media_type,
        "digest": f"sha256:{digest}",
        "size": len(manifest),
        "annotations": {"org.opencontainers.image.ref.name": "v1"},
    }
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [entry]}))
    return f"oci:{layout}:v1"


def test_schema1_is_refused(hoist: Hoist, tmp_path: Path) -> None:
    schema1 = json.dumps({"schemaVersion": 1, "name": "x", "tag": "v1", "fsLayers": []}).encode()
    source = _layout_with(tmp_path, schema1, "application/vnd.docker.distribution.manifest.v1+prettyjws")
    one_line(hoist("copy", source, f"oci:{tmp_path}/out:v1"), 2, "schema 1")


def test_manifest_over_4_mib(hoist: Hoist, tmp_path: Path, fault_proxy: FaultProxy, unique_repo: str) -> None:
    huge = b'{"schemaVersion":2,"layers":[],"x":"' + b"a" * (4 * 1024 * 1024) + b'"}'
    one_line(
        hoist("inspect", _layout_with(tmp_path, huge, "application/vnd.oci.image.manifest.v1+json")),
        1,
        "4 MiB",
    )
    fault_proxy.add_fault(
        Fault(
            "status",
            method="GET",
            path_regex="/manifests/",
            status=200,
            body=huge,
            headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
        )
    )
    one_line(hoist("inspect", f"{fault_proxy.host}/{unique_repo}:v1"), 1, "4 MiB")


def test_registry_answering_other_content(
    hoist: Hoist, seeded: Seeded, fault_proxy: FaultProxy, unique_repo: str
) -> None:
    upstream = f"{fault_proxy.upstream[0]}:{fault_proxy.upstream[1]}"
    hoist.ok("copy", seeded.ref("single"), f"{upstream}/{unique_repo}:v1")
    fault_proxy.add_fault(Fault("flip", method="GET", path_regex="/manifests/", offset=30))
    digest = seeded.images.single.digest
    one_line(hoist("inspect", f"{fault_proxy.host}/{unique_repo}@{digest}"), 1, "digest")


def test_verify_reports_a_missing_blob(hoist: Hoist, seeded: Seeded, tmp_path: Path) -> None:
    hoist.ok("copy", seeded.ref("single"), f"oci:{tmp_path}/copy:v1")
    layer = seeded.images.single.blobs[-1]
    (tmp_path / "copy" / "blobs" / "sha256" / layer.partition(":")[2]).unlink()
    result = hoist("verify", f"oci:{tmp_path}/copy:v1", "--json")
    assert result.code == 1
    failed = [c for c in result.json["checks"] if not c["ok"]]
    assert failed == [{"check": f"blob {layer}", "ok": False, "detail": "missing"}]


def test_verify_against_another_reference(hoist: Hoist, seeded: Seeded) -> None:
    same = hoist("verify", seeded.ref("single"), "--against", f"oci:{seeded.images.layout}:single")
    assert same.code == 0, same
    other = hoist("verify", seeded.ref("single"), "--against", seeded.ref("docker"), "--json")
    assert other.code == 1
    assert not other.json["ok"]
