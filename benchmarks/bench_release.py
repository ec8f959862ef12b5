"""Release: ``hoist release staging production`` with a signed test-evidence gate, deploying the busybox
test image to podman's Docker-compatible API with a health check — on loopback and 25 ms per request —
and the automatic rollback after a failing release, timed by a probe outside hoist."""

from __future__ import annotations

import contextlib
import statistics
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.common import HOIST, LATENCY, Bench, Far, Stats, Timed, far_registry, quiet, timed
from benchmarks.release_probe import Probe, died_at, rollback_times
from benchmarks.release_report import render
from tests.infra.engine import LOOPBACK_REGISTRIES, RunningEngine, start_engine
from tests.infra.images import make_busybox_image
from tests.infra.ports import free_port
from tests.infra.registry import start_registry

HEALTH_INTERVAL = 0.1


@dataclass
class Series:
    """The releases and failing releases at one latency."""

    latency: float
    walls: list[float] = field(default_factory=list)
    stages: list[dict[str, float]] = field(default_factory=list)
    requests: list[int] = field(default_factory=list)
    resolution: list[float] = field(default_factory=list)
    recovery: list[float] = field(default_factory=list)
    """Failure (engine's died event) -> previous version answering the probe again, per failing release."""
    downtime: list[float] = field(default_factory=list)
    own_restore: list[float] = field(default_factory=list)
    failed_walls: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    """Releases that did not end as expected, and why: reported, not measured."""

    def hoist_part(self) -> Stats:
        """Per run: the wall time minus that run's container start and health wait."""
        return Stats.of(
            wall - s.get("target.start", 0.0) - s.get("health", 0.0)
            for wall, s in zip(self.walls, self.stages, strict=True)
        )


def _config(path: Path, *, repo: str, socket_url: str, port: int, name: str, keys: Path) -> Path:
    path.write_text(f"""
[environments.staging]
image = "{repo}:staging"
key = "{keys}.key"

[environments.production]
image = "{repo}:main"
from = "staging"
require = ["tests"]

[environments.production.gates]
tests = {{ environment = "staging", keys = ["{keys}.pub"] }}

[environments.production.deploy]
target = "docker"
host = "{socket_url}"
container = "{name}"
ports = ["127.0.0.1:{port}:8080"]

[environments.production.health]
url = "http://127.0.0.1:{port}/health"
timeout = "30s"
interval = "{HEALTH_INTERVAL}s"
""")
    return path


@contextlib.contextmanager
def _registry(work: Path, latency: float) -> Iterator[tuple[str, str, Far | None]]:
    """(host hoist and the engine use, host to seed directly, the far endpoint or None)."""
    if latency:
        with far_registry(work, latency) as endpoint:
            yield endpoint.host, endpoint.direct, endpoint
    else:
        with start_registry(work, "plain") as registry:
            yield registry.host, registry.host, None


def _series(bench: Bench, engine: RunningEngine, layout: Path, latency: float, keys: Path, broken: list[str]) -> Series:
    series = Series(latency)
    work = bench.dir(f"release-{latency}")
    env = bench.env(HOIST_KEY_PASSWORD="")
    port = free_port()
    with _registry(work / "registry", latency) as (host, direct, endpoint):
        repo = f"{host}/bench/app"
        config = _config(work / "hoist.toml", repo=repo, socket_url=engine.socket_url, port=port,
                         name=f"bench-app-{int(latency * 1000)}", keys=keys)  # fmt: skip
        base = [*HOIST, "--config", str(config)]

        def stage(tag: str) -> None:
            quiet([*HOIST, "copy", f"oci:{layout}:{tag}", f"{direct}/bench/app:staging", "--no-referrers"], env=env)
            quiet([*base, "test", "staging", "--", "true"], env=env)

        stage("v0")
        quiet([*base, "release", "staging", "production"], env=env)  # the first deploy: nothing to replace
        serving = "v0"
        for n in range(1, bench.runs + 1):
            stage(f"v{n}")
            if endpoint is not None:
                endpoint.clear()
            run = timed([*base, "release", "staging", "production", "--json"], env=env, check=False)
            if run.code != 0:
                series.failures.append(_failure(f"release of v{n}", run, engine))
                continue
            doc = run.json()
            serving = f"v{n}"
            series.walls.append(run.seconds)
            series.stages.append({**doc["stages"], **_target_timings(doc["deploy"]["timings"])})
            if endpoint is not None:
                series.requests.append(endpoint.requests())
        for n in range(bench.runs):
            stage(f"broken-{n}")
            with Probe(f"http://127.0.0.1:{port}/version") as probe:
                run = timed([*base, "release", "staging", "production"], env=env, check=False)
            if run.code != 4:
                series.failures.append(_failure(f"failing release broken-{n} (exit 4 expected)", run, engine))
                continue
            died = died_at(engine.workdir / "events.log", digest=broken[n])
            recovery, downtime, resolution = rollback_times(probe.seen, previous=serving, died=died)
            series.resolution.append(resolution)
            series.recovery.append(recovery)
            series.downtime.append(downtime)
            series.failed_walls.append(run.seconds)
            last = timed([*base, "history", "production", "--json", "--limit", "1"], env=env).json()[0]
            if last["kind"] != "deploy" or last["deploy"]["result"] != "restored":
                raise RuntimeError(f"the failing release did not end restored: {last}")
            series.own_restore.append(float(last["timings"]["restore"]))
    return series


def _failure(what: str, run: Timed, engine: RunningEngine) -> str:
    """A release that did not end as expected: reported with hoist's error and the engine's last complaint
    (the run goes on; the tables count only the releases that did)."""
    said = (run.stderr.strip().splitlines() or ["(nothing on stderr)"])[-1]
    log = (engine.workdir / "service.log").read_text(errors="replace").splitlines()
    complaints = [line for line in log if "level=error" in line or "level=warning" in line]
    engine_said = f"; the engine's last error or warning: `{_clip(complaints[-1])}`" if complaints else ""
    return f"{what} exited {run.code} after {run.seconds:.3f} s: `{_clip(said)}`{engine_said}"


def _clip(text: str, limit: int = 1200) -> str:
    """A long message with its start and its end (the cause an engine names comes last)."""
    return text if len(text) <= limit else f"{text[: limit // 3]} … {text[-(2 * limit) // 3 :]}"


def _target_timings(timings: dict[str, float]) -> dict[str, float]:
    return {k: float(v) for k, v in timings.items() if k.startswith("target.")}


def report(bench: Bench) -> str:
    layout = bench.dir("release-layout")
    for n in range(bench.runs + 1):
        make_busybox_image(layout, tag=f"v{n}", version=f"v{n}")
    broken = [make_busybox_image(layout, tag=f"broken-{n}", version=f"broken-{n}", broken="exit").digest
              for n in range(bench.runs)]  # fmt: skip
    keys = bench.dir("release-keys") / "staging"
    quiet([*HOIST, "keygen", "--output-prefix", str(keys)], env=bench.env(HOIST_KEY_PASSWORD=""))
    engine = start_engine(bench.dir("release-engine"), insecure_registries=LOOPBACK_REGISTRIES)
    try:
        found = [_series(bench, engine, layout, latency, keys, broken) for latency in (0.0, LATENCY)]
    finally:
        engine.stop()
    bench.facts["release"] = {s.latency: statistics.median(s.walls) for s in found}
    return render(bench, found, interval=HEALTH_INTERVAL)
