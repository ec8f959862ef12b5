"""Shared parts of the benchmarks: child processes timed from outside, registries behind a latency proxy,
statistics, request logs and tables."""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.infra.faults import ProxiedRequest  # noqa: E402
from tests.infra.proxy import FaultProxy  # noqa: E402
from tests.infra.registry import start_registry  # noqa: E402

LATENCY = 0.025
"""Seconds the proxy adds to every request: a registry in the same region."""
FAR_LATENCY = 0.1
"""A CI runner talking to GHCR across an ocean."""
HOIST = [str(Path(sys.executable).parent / "hoist")]
"""The console script users run (``uv sync`` installs it next to the interpreter)."""
GNU_TIME = "/usr/bin/time"


@dataclass
class Bench:
    """One run of the harness: where it works, how many repetitions, and what sections learnt that later
    sections quote (only measured values go in ``facts``)."""

    work: Path
    runs: int
    quick: bool
    home: Path
    facts: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)

    def dir(self, name: str) -> Path:
        path = self.work / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a measured command: no hoist settings, credentials or settle override from
        the caller's shell, a home of its own (no docker or containers credentials), then ``extra``."""
        dropped = ("HOIST_", "REGISTRY_AUTH_FILE", "DOCKER_", "GITHUB_", "GH_TOKEN", "XDG_RUNTIME_DIR")
        env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
        env.update(HOME=str(self.home), HOIST_ACTOR="bench", **extra)
        return env


@dataclass(frozen=True)
class Timed:
    """A command as seen from outside: wall clock from spawn to exit, GNU time's peak RSS, its output."""

    seconds: float
    rss_mib: float
    stdout: str
    stderr: str
    code: int

    def json(self) -> Any:
        return json.loads(self.stdout)


def timed(argv: Sequence[str], *, env: dict[str, str], check: bool = True, expect: int = 0) -> Timed:
    """Run ``argv`` under GNU time; the wall time is taken here, around the whole child process.

    The peak RSS is GNU time's ``%M`` for the command itself, not for this (large) Python process, whose
    pages a forked child would count until it execs.
    """
    with tempfile.NamedTemporaryFile(suffix=".rss") as rss_file:
        started = time.monotonic()
        done = subprocess.run(
            [GNU_TIME, "-q", "-f", "%M", "-o", rss_file.name, *argv], capture_output=True, env=env, check=False
        )
        seconds = time.monotonic() - started
        text = Path(rss_file.name).read_text().split()
    if check and done.returncode != expect:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.decode()[-2000:]}")
    rss_kib = int(text[-1]) if text and text[-1].isdigit() else 0
    return Timed(seconds, rss_kib / 1024, done.stdout.decode(), done.stderr.decode(), done.returncode)


def quiet(argv: Sequence[str], *, env: dict[str, str]) -> str:
    """Run a set-up command (not measured); its stdout."""
    done = subprocess.run(list(argv), capture_output=True, env=env, check=False, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr[-2000:]}")
    return done.stdout


@dataclass(frozen=True)
class Stats:
    """Repeated measurements of one quantity."""

    values: tuple[float, ...]

    @classmethod
    def of(cls, values: Iterable[float]) -> Stats:
        return cls(tuple(values))

    @property
    def median(self) -> float:
        return statistics.median(self.values) if self.values else float("nan")

    @property
    def low(self) -> float:
        return min(self.values) if self.values else float("nan")

    @property
    def high(self) -> float:
        return max(self.values) if self.values else float("nan")

    def seconds(self, digits: int = 3) -> str:
        """``0.463 s (0.410-0.520)``: the median, then the range when there is more than one value."""
        if not self.values:
            return "-"
        if len(self.values) == 1:
            return f"{self.median:.{digits}f} s"
        return f"{self.median:.{digits}f} s ({self.low:.{digits}f}-{self.high:.{digits}f})"

    def count(self) -> str:
        """Request counts: the median, with the range when the runs differ."""
        if not self.values:
            return "-"
        if self.low == self.high:
            return f"{self.median:.0f}"
        return f"{self.median:.0f} ({self.low:.0f}-{self.high:.0f})"


@dataclass
class Far:
    """A registry reached through a proxy adding ``latency`` to every request; the proxy counts them."""

    direct: str
    proxy: FaultProxy
    latency: float

    @property
    def host(self) -> str:
        return self.proxy.host

    def log(self) -> list[ProxiedRequest]:
        return self.proxy.requests

    def requests(self) -> int:
        return len(self.proxy.requests)

    def clear(self) -> None:
        self.proxy.clear_requests()


@contextlib.contextmanager
def far(direct: str, latency: float = LATENCY) -> Iterator[Far]:
    with FaultProxy(direct, latency=latency) as proxy:
        yield Far(direct, proxy, latency)


@contextlib.contextmanager
def far_registry(workdir: Path, latency: float = LATENCY) -> Iterator[Far]:
    """A fresh distribution 2.8 registry (plain HTTP, no auth) behind its own latency proxy."""
    with start_registry(workdir, "plain") as registry, far(registry.host, latency) as proxied:
        yield proxied


def request_kind(method: str, path: str, status: int | None = None) -> str:
    """``GET manifest``, ``HEAD blob``, ``PATCH upload``...: what a logged request was for; a redirect
    or an error answer is shown with its status (``GET blob 302``, ``HEAD manifest 404``)."""
    path = path.split("?", 1)[0]
    if "/blobs/uploads/" in path:
        kind = "upload"
    elif "/blobs/" in path:
        kind = "blob"
    elif "/manifests/" in path:
        kind = "manifest"
    elif path.endswith("/tags/list"):
        kind = "tag list"
    elif "/referrers/" in path:
        kind = "referrers"
    elif path.rstrip("/") == "/v2":
        kind = "version check"
    elif path.startswith("/token"):
        kind = "token"
    elif path.startswith("/extensions/v2/") and "/signatures/" in path:
        kind = "signature extension"
    else:
        kind = "other"
    shown = f" {status}" if status is not None and status >= 300 else ""
    return f"{method} {kind}{shown}"


def request_mix(log: Iterable[ProxiedRequest]) -> Counter[str]:
    return Counter(request_kind(r.method, r.path, r.status) for r in log)


def mix_text(mix: Counter[str]) -> str:
    """``GET manifest 3, PUT manifest 1``: most frequent first."""
    return ", ".join(f"{kind} {n}" for kind, n in sorted(mix.items(), key=lambda kv: (-kv[1], kv[0]))) or "none"


def skopeo_cache_files(home: Path) -> list[Path]:
    """Every blob-info cache file of every skopeo version (boltdb before 1.15, sqlite after) where root or
    a user keeps one: ``/var/lib/containers/cache``, ``~/.local/share`` and ``$XDG_DATA_HOME``."""
    roots = [Path("/var/lib/containers/cache")]
    for base in {Path(pwd.getpwuid(os.getuid()).pw_dir), Path.home(), home}:
        roots.append(base / ".local/share/containers/cache")
    if os.environ.get("XDG_DATA_HOME"):
        roots.append(Path(os.environ["XDG_DATA_HOME"]) / "containers/cache")
    return sorted({p for root in roots for p in root.glob("blob-info-cache-v1*")})


def clear_skopeo_cache(home: Path) -> int:
    """Remove the blob-info caches (skopeo cold); how many files there were."""
    found = skopeo_cache_files(home)
    for path in found:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    return len(found)


def skopeo_copy_argv(source: str, destination: str, *, digest_file: Path, authfile: Path | None = None) -> list[str]:
    """skopeo copying what hoist copies: every platform, digests kept, plain HTTP on loopback."""
    argv = ["skopeo", "copy", "--quiet", "--all", "--preserve-digests", "--src-tls-verify=false"]
    argv += ["--dest-tls-verify=false", f"--digestfile={digest_file}"]
    if authfile is not None:
        argv.append(f"--authfile={authfile}")
    return [*argv, f"docker://{source}", f"docker://{destination}"]


def version_of(argv: Sequence[str]) -> str:
    """The first line a ``--version`` command prints (or why there is none)."""
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, check=False, timeout=30)
    except OSError as exc:
        return f"unavailable ({exc})"
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0] if lines else f"unavailable (exit {done.returncode})"


def plural(count: int, word: str) -> str:
    """``1 run``, ``5 runs``."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def met(value: float, limit: float) -> str:
    return "yes" if value <= limit else "**no**"


def ratio(slower: float, faster: float) -> str:
    """How many times ``faster`` fits into ``slower`` (``1.8x``; below 1 hoist is the slower one)."""
    return f"{slower / faster:.2f}x" if faster > 0 else "-"


def require(*programs: str) -> None:
    missing = [p for p in programs if shutil.which(p) is None]
    if missing:
        raise SystemExit(f"the benchmarks need {', '.join(missing)} on PATH (scripts/debian-packages.txt)")
