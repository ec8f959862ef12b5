"""Shared parts of the benchmarks: registries behind a latency proxy, timed child processes, tables."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.infra.proxy import FaultProxy  # noqa: E402
from tests.infra.registry import RunningRegistry, start_registry  # noqa: E402

LATENCY = 0.025
HOIST = [sys.executable, "-m", "hoist"]
SKOPEO_CACHES = [
    Path("/var/lib/containers/cache/blob-info-cache-v1.boltdb"),
    Path.home() / ".local/share/containers/cache/blob-info-cache-v1.boltdb",
]


@dataclass
class Far:
    """A registry reached through a proxy adding ``LATENCY`` to every request (a far registry)."""

    registry: RunningRegistry
    proxy: FaultProxy

    @property
    def host(self) -> str:
        return self.proxy.host

    @property
    def direct(self) -> str:
        return self.registry.host

    def requests(self) -> int:
        return len(self.proxy.requests)

    def clear(self) -> None:
        self.proxy.clear_requests()


@contextlib.contextmanager
def far_registry(workdir: Path, latency: float = LATENCY) -> Iterator[Far]:
    with start_registry(workdir, "plain") as registry, FaultProxy(registry.host, latency=latency) as proxy:
        yield Far(registry, proxy)


@dataclass
class Run:
    seconds: float
    max_rss_mb: float
    requests: int
    output: str


@dataclass
class Sample:
    tool: str
    runs: list[Run] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(r.seconds for r in self.runs)

    @property
    def requests(self) -> int:
        return int(statistics.median(r.requests for r in self.runs))

    @property
    def max_rss(self) -> float:
        return max(r.max_rss_mb for r in self.runs)


def timed(argv: Sequence[str], *, env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """Run a command; its wall time, its peak RSS in MiB (GNU time's %M), and its stdout.

    The peak RSS is measured by /usr/bin/time around the command, not by this (large) Python process,
    whose pages a forked child would otherwise count until it execs.
    """
    with tempfile.NamedTemporaryFile(suffix=".rss") as rss_file:
        started = time.monotonic()
        done = subprocess.run(
            ["/usr/bin/time", "-q", "-f", "%M", "-o", rss_file.name, *argv],
            capture_output=True,
            env={**os.environ, **(env or {})},
            check=False,
        )
        seconds = time.monotonic() - started
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.decode()[-2000:]}")
        rss_kib = int(Path(rss_file.name).read_text().split()[-1])
    return seconds, rss_kib / 1024, done.stdout.decode()


def clear_skopeo_cache() -> None:
    for path in SKOPEO_CACHES:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def skopeo_copy_argv(source: str, destination: str) -> list[str]:
    return [
        "skopeo",
        "copy",
        "--quiet",
        "--all",
        "--preserve-digests",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        f"docker://{source}",
        f"docker://{destination}",
    ]


def hoist_json(output: str) -> dict[str, Any]:
    return json.loads(output)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def require(*programs: str) -> None:
    missing = [p for p in programs if shutil.which(p) is None]
    if missing:
        raise SystemExit(f"benchmark needs {', '.join(missing)} on PATH (see .ci/run for the packages)")
