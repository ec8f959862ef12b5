"""Copies through a fault-injecting proxy: each either succeeds with the identical digest, or fails with
exit 1 and the destination tag untouched."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from tests.infra.faults import Fault
from tests.infra.proxy import FaultProxy
from tests.infra.registry import RunningRegistry
from tests.infra.skopeo import SkopeoError, skopeo_digest
from tests.support import Hoist, HoistResult, Seeded

MANIFEST = r"/manifests/"
BLOB_GET = r"/blobs/sha256:"
UPLOAD = r"/blobs/uploads/"


def digest_at(ref: str) -> str | None:
    """What ``ref`` points at, read by skopeo; None only when the registry answers that the tag does not
    exist — any other failure (registry unreachable, skopeo broken) is an error, not "untouched"."""
    try:
        return skopeo_digest(f"docker://{ref}", tls_verify=False)
    except SkopeoError as exc:
        if "manifest unknown" in exc.stderr:
            return None
        raise


@pytest.fixture
def through_proxy(hoist: Hoist, seeded: Seeded, fault_proxy: FaultProxy, unique_repo: str) -> str:
    """The single-platform image, in the proxied registry (seeded directly, then seen through the proxy)."""
    direct = fault_proxy.upstream
    hoist.ok("copy", seeded.ref("single"), f"{direct[0]}:{direct[1]}/{unique_repo}:v1")
    fault_proxy.clear_requests()
    return f"{fault_proxy.host}/{unique_repo}:v1"


def outcome(
    hoist: Hoist, source: str, destination: str, expected: str, previous: str | None, *args: str
) -> HoistResult:
    result = hoist("copy", source, destination, *args, "--json")
    assert "Traceback" not in result.err
    if result.code == 0:
        assert result.json["digest"] == expected
        assert digest_at(destination) == expected
    else:
        assert result.code == 1, result
        assert len(result.err.strip().splitlines()) == 1, result.err
        assert digest_at(destination) == previous  # untouched
    return result


RECOVERABLE_SOURCE_FAULTS = [
    Fault("reset", method="GET", path_regex=MANIFEST),
    Fault("status", method="GET", path_regex=BLOB_GET, status=500, times=2),
    Fault("status", method="GET", path_regex=MANIFEST, status=429, headers={"Retry-After": "1"}),
    Fault("truncate", method="GET", path_regex=BLOB_GET, after_bytes=1000),
    Fault("truncate", method="GET", path_regex=MANIFEST, after_bytes=10),
    Fault("reset", method="GET", path_regex=BLOB_GET, after_bytes=5000),
    Fault("status", method="GET", path_regex=BLOB_GET, status=502),
    Fault("latency", path_regex=BLOB_GET, delay=0.3, times=None),
]


@pytest.mark.parametrize("fault", RECOVERABLE_SOURCE_FAULTS, ids=lambda f: f"{f.kind}-{f.path_regex}-{f.status}")
def test_source_faults_are_retried(
    fault: Fault,
    hoist: Hoist,
    seeded: Seeded,
    through_proxy: str,
    fault_proxy: FaultProxy,
    registry2: RunningRegistry,
    unique_repo: str,
) -> None:
    fault = fault_proxy.add_fault(replace(fault, fired=0))  # the parameter is shared: count on a copy
    destination = f"{registry2.host}/{unique_repo}:prod"
    started = time.monotonic()
    result = outcome(hoist, through_proxy, destination, seeded.images.single.digest, None)
    assert result.code == 0, result
    assert fault.fired >= 1
    if fault.headers.get("Retry-After"):
        assert time.monotonic() - started >= 1.0


@pytest.mark.parametrize(
    "fault",
    [
        Fault("flip", method="GET", path_regex=BLOB_GET, offset=100),
        Fault("flip", method="GET", path_regex=MANIFEST, offset=20),
        Fault("reset", method="GET", path_regex=BLOB_GET, times=None),
        Fault("status", method="GET", path_regex=BLOB_GET, status=503, times=None),
    ],
    ids=lambda f: f"{f.kind}-{f.path_regex}",
)
def test_source_corruption_or_outage_fails_cleanly(
    fault: Fault,
    hoist: Hoist,
    seeded: Seeded,
    through_proxy: str,
    fault_proxy: FaultProxy,
    registry2: RunningRegistry,
    unique_repo: str,
) -> None:
    destination = f"{registry2.host}/{unique_repo}:prod"
    hoist.ok("copy", seeded.ref("docker"), destination)  # the tag already points at another image
    fault = fault_proxy.add_fault(replace(fault, fired=0))  # the parameter is shared: count on a copy
    result = outcome(hoist, through_proxy, destination, seeded.images.single.digest, seeded.images.docker.digest)
    assert result.code == 1, result


@pytest.mark.parametrize(
    ("fault", "recoverable"),
    [
        (Fault("status", method="PUT", path_regex=MANIFEST, status=503), True),
        (Fault("reset", method="PUT", path_regex=UPLOAD), True),
        (Fault("reset", method="POST", path_regex=UPLOAD, times=2), True),
        (Fault("status", method="PUT", path_regex=UPLOAD, status=500, forward=True), True),
        (Fault("reset", method="PUT", path_regex=MANIFEST, times=None), False),
        (Fault("status", method="POST", path_regex=UPLOAD, status=500, times=None), False),
    ],
    ids=lambda f: f"{f.kind}-{f.method}-{f.path_regex}" if isinstance(f, Fault) else str(f),
)
def test_destination_faults(
    fault: Fault, recoverable: bool, hoist: Hoist, seeded: Seeded, fault_proxy: FaultProxy, unique_repo: str
) -> None:
    destination = f"{fault_proxy.host}/{unique_repo}:prod"
    hoist.ok("copy", seeded.ref("docker"), destination)
    fault = fault_proxy.add_fault(replace(fault, fired=0))  # the parameter is shared: count on a copy
    result = outcome(hoist, seeded.ref("single"), destination, seeded.images.single.digest, seeded.images.docker.digest)
    assert result.code == (0 if recoverable else 1), result


def test_chunked_upload_resumes_after_a_failed_chunk(
    hoist: Hoist, seeded: Seeded, fault_proxy: FaultProxy, unique_repo: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOIST_CHUNK_SIZE", "16k")
    destination = f"{fault_proxy.host}/{unique_repo}:prod"
    fault = fault_proxy.add_fault(Fault("reset", method="PATCH", path_regex=UPLOAD, times=1))
    result = outcome(hoist, seeded.ref("single"), destination, seeded.images.single.digest, None, "--jobs", "1")
    assert result.code == 0, result
    assert fault.fired == 1
    log = fault_proxy.requests
    posts = [r for r in log if r.method == "POST"]
    status_checks = [r for r in log if r.method == "GET" and UPLOAD in r.path]
    assert status_checks, "the failed chunk was followed by an upload status request"
    assert len(posts) == len(set(seeded.images.single.blobs)), "no upload was started again"
    patches = [r for r in log if r.method == "PATCH"]
    assert len(patches) > len(posts)  # several chunks per blob


def test_slow_source_registry(
    hoist: Hoist,
    seeded: Seeded,
    through_proxy: str,
    fault_proxy: FaultProxy,
    registry2: RunningRegistry,
    unique_repo: str,
) -> None:
    fault_proxy.latency = 0.05
    destination = f"{registry2.host}/{unique_repo}:prod"
    result = hoist.ok("copy", through_proxy, destination, "--json").json
    assert result["digest"] == seeded.images.single.digest
    assert digest_at(destination) == seeded.images.single.digest
