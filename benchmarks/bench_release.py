"""Release benchmark on loopback: ``hoist release`` of the busybox test image through podman's
Docker-compatible API, stage by stage, and the automatic rollback after a failed health check."""

from __future__ import annotations

import json
import statistics
import subprocess
from pathlib import Path

from benchmarks.common import HOIST, markdown_table, timed
from tests.infra.engine import LOOPBACK_REGISTRIES, start_engine
from tests.infra.images import make_busybox_image
from tests.infra.ports import free_port
from tests.infra.registry import start_registry

STAGES = ("resolve", "gates", "copy", "record", "verify", "deploy", "health")


def _config(path: Path, repo: str, socket_url: str, port: int) -> Path:
    path.write_text(f"""
[environments.staging]
image = "{repo}:staging"

[environments.production]
image = "{repo}:main"
from = "staging"

[environments.production.deploy]
target = "docker"
host = "{socket_url}"
container = "bench-app"
ports = ["127.0.0.1:{port}:8080"]

[environments.production.health]
url = "http://127.0.0.1:{port}/health"
timeout = "30s"
interval = "0.1s"
""")
    return path


def report(work: Path, runs: int) -> str:
    layout = work / "layout"
    images = [make_busybox_image(layout, tag=f"v{i}", version=f"v{i}") for i in range(runs + 1)]
    make_busybox_image(layout, tag="broken", version="broken", broken="exit")
    samples: list[dict[str, float]] = []
    totals: list[float] = []
    rollbacks: list[float] = []
    engine = start_engine(work / "engine", insecure_registries=LOOPBACK_REGISTRIES)
    try:
        with start_registry(work / "registry", "plain") as registry:
            repo = f"{registry.host}/bench/app"
            config = _config(work / "hoist.toml", repo, engine.socket_url, free_port())
            base = [*HOIST, "--config", str(config)]

            def stage(tag: str) -> None:
                timed([*HOIST, "copy", f"oci:{layout}:{tag}", f"{repo}:staging"])

            stage("v0")
            timed([*base, "release", "staging", "production"])  # first deploy: nothing to replace yet
            for image in images[1:]:
                stage(image.tag or "")
                seconds, _, out = timed([*base, "release", "staging", "production", "--json"])
                doc = json.loads(out)
                target = {k: v for k, v in doc["deploy"]["timings"].items() if k.startswith("target.")}
                samples.append({**doc["stages"], **target})
                totals.append(seconds)
            for _ in range(max(2, runs // 2)):
                stage("broken")
                done = subprocess.run(
                    [*base, "release", "staging", "production"], capture_output=True, text=True, check=False
                )
                assert done.returncode == 4, done.stderr
                history = json.loads(
                    subprocess.run(
                        [*base, "history", "production", "--json", "--limit", "1"],
                        capture_output=True,
                        text=True,
                        check=True,
                    ).stdout
                )
                restored = history[0]
                assert restored["kind"] == "deploy" and restored["deploy"]["result"] == "restored"
                rollbacks.append(restored["timings"]["restore"])
                stage(images[-1].tag or "")
                timed([*base, "promote", "staging", "production", "--force"])
    finally:
        engine.stop()
    rows = [[name, f"{statistics.median(s.get(name, 0.0) for s in samples):.3f} s"] for name in STAGES]
    start = statistics.median(s.get("target.start", 0.0) for s in samples)
    pull = statistics.median(s.get("target.pull", 0.0) for s in samples)
    health = statistics.median(s.get("health", 0.0) for s in samples)
    total = statistics.median(totals)
    hoist_part = total - start - health
    rows.append(["total wall time (process start to exit)", f"{total:.3f} s"])
    rows.append(["of which the engine's container start (in deploy)", f"{start:.3f} s"])
    rows.append(["of which the engine's pull by digest (in deploy)", f"{pull:.3f} s"])
    rows.append(["of which the health wait", f"{health:.3f} s"])
    rows.append(["**hoist's part** (total - container start - health wait)", f"**{hoist_part:.3f} s** (target < 1 s)"])
    table = markdown_table(["stage of `hoist release staging production`", "median"], rows)
    rollback_table = markdown_table(
        ["automatic rollback", "median"],
        [["failure detected -> previous version answering its health check", f"{statistics.median(rollbacks):.3f} s"]],
    )
    return (
        "## Release\n\n"
        f"`hoist release` of the busybox test image, {runs} runs, on loopback: a registry (distribution 2.8) "
        "and podman 4.3's Docker-compatible API service (runc), each release replacing the running container; "
        "health is `GET /health` every 0.1 s.\n\n"
        f"{table}\n\n"
        f"{rollback_table}\n\n"
        "The rollback is measured on releases of an image whose process exits at once: from the failure "
        "being detected to the previous container (kept stopped as `<name>-hoist-previous`) running and "
        "answering its health check, taken from the `restore` stage recorded in the ledger.\n"
    )
