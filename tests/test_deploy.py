"""Deploy, health checks, automatic rollback and release, against podman's Docker-compatible API."""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.infra.engine import RunningEngine
from tests.infra.images import ImageInfo, make_busybox_image
from tests.infra.ports import free_port
from tests.infra.registry import RunningRegistry
from tests.infra.skopeo import skopeo_digest
from tests.support import Hoist, HoistResult

pytestmark = pytest.mark.engine


@dataclass
class App:
    config: Path
    repo: str
    port: int
    images: dict[str, ImageInfo]
    layout: Path
    container: str

    def version(self) -> str:
        return httpx.get(f"http://127.0.0.1:{self.port}/version", timeout=5).text.strip()

    def write(self, *, ports: str | None = None, host: str | None = None, extra: str = "") -> None:
        text = self.config.read_text()
        if ports is not None:
            text = text.replace(f'ports = ["127.0.0.1:{self.port}:8080"]', f'ports = ["{ports}"]')
        if host is not None:
            text = text.replace('host = "unix://', f'host = "{host}" # ', 1)
        self.config.write_text(text + extra)


@pytest.fixture
def app(
    tmp_path: Path,
    registry: RunningRegistry,
    engine: RunningEngine,
    unique_repo: str,
    docker_client: object,
    monkeypatch: pytest.MonkeyPatch,
) -> App:
    monkeypatch.setenv("HOIST_ACTOR", "tester")
    monkeypatch.setenv("GITHUB_SHA", "feedface00000000000000000000000000000000")
    layout = tmp_path / "build"
    images = {
        "A": make_busybox_image(layout, tag="A", version="A"),
        "B": make_busybox_image(layout, tag="B", version="B"),
        "C500": make_busybox_image(layout, tag="C500", version="C", broken="http500"),
        "Dexit": make_busybox_image(layout, tag="Dexit", version="D", broken="exit"),
        "E": make_busybox_image(layout, tag="E", version="E", healthcheck=True, media="docker"),
    }
    port = free_port()
    repo = f"{registry.host}/{unique_repo}"
    container = unique_repo.replace("/", "-")
    config = tmp_path / "hoist.toml"
    config.write_text(f"""
[environments.staging]
image = "{repo}:staging"

[environments.production]
image = "{repo}:main"
from = "staging"

[environments.production.deploy]
target = "docker"
host = "{engine.socket_url}"
container = "{container}"
ports = ["127.0.0.1:{port}:8080"]
env = {{ APP_ENV = "production" }}

[environments.production.health]
url = "http://127.0.0.1:{port}/health"
timeout = "8s"
interval = "0.3s"
""")
    return App(config, repo, port, images, layout, container)


def hoist_in(hoist: Hoist, app: App, *args: str) -> HoistResult:
    return hoist("--config", str(app.config), *args)


def ship(hoist: Hoist, app: App, name: str) -> None:
    hoist.ok("copy", f"oci:{app.layout}:{name}", f"{app.repo}:staging")
    result = hoist_in(hoist, app, "promote", "staging", "production")
    assert result.code == 0, result


def test_deploy_promote_and_automatic_rollback(hoist: Hoist, app: App, docker_client) -> None:  # type: ignore[no-untyped-def]
    ship(hoist, app, "A")
    first = hoist_in(hoist, app, "deploy", "production", "--json")
    assert first.code == 0, first
    assert first.json["healthy"] and first.json["image"] == f"{app.repo}@{app.images['A'].digest}"
    assert app.version() == "A"
    container = docker_client.containers.get(app.container)
    assert container.attrs["Config"]["Image"] == f"{app.repo}@{app.images['A'].digest}"  # by digest, not tag
    assert "APP_ENV=production" in container.attrs["Config"]["Env"]

    ship(hoist, app, "B")
    assert hoist_in(hoist, app, "deploy", "production").code == 0
    assert app.version() == "B"

    ship(hoist, app, "C500")
    failed = hoist_in(hoist, app, "deploy", "production")
    assert failed.code == 4, failed
    line = failed.err.strip().splitlines()[-1]
    assert "500" in line and "rolled back" in line and app.images["B"].digest in line, line
    assert app.version() == "B"
    assert skopeo_digest(f"docker://{app.repo}:main", tls_verify=False) == app.images["B"].digest
    history = hoist_in(hoist, app, "history", "production", "--json").json
    kinds = [(h["kind"], (h.get("deploy") or {}).get("result"), h["digest"]) for h in history[:4]]
    assert kinds == [
        ("deploy", "restored", app.images["B"].digest),
        ("rollback", None, app.images["B"].digest),
        ("deploy", "failed", app.images["C500"].digest),
        ("promote", None, app.images["C500"].digest),
    ]
    assert "500" in history[2]["deploy"]["health"]["detail"]
    status = hoist_in(hoist, app, "status", "production", "--json").json[0]
    assert status["digest"] == status["deployed"] == app.images["B"].digest and status["drift"] is False
    assert hoist_in(hoist, app, "audit", "verify", "production").code == 0


def test_process_that_exits_is_rolled_back_at_once(hoist: Hoist, app: App) -> None:
    ship(hoist, app, "A")
    assert hoist_in(hoist, app, "deploy", "production").code == 0
    ship(hoist, app, "Dexit")
    started = time.monotonic()
    failed = hoist_in(hoist, app, "deploy", "production")
    assert failed.code == 4
    assert "exited with code" in failed.err
    assert time.monotonic() - started < 7  # not the 8 s deadline: a gone process fails fast
    assert app.version() == "A"


def test_release_prints_stage_times_and_uses_the_image_healthcheck(hoist: Hoist, app: App) -> None:
    ship(hoist, app, "A")
    assert hoist_in(hoist, app, "deploy", "production").code == 0
    hoist.ok("copy", f"oci:{app.layout}:E", f"{app.repo}:staging")
    result = hoist_in(hoist, app, "release", "staging", "production", "--reason", "ship E", "--json")
    assert result.code == 0, result
    stages = result.json["stages"]
    for stage in ("resolve", "gates", "copy", "record", "verify", "deploy", "health", "total"):
        assert stage in stages
    assert result.json["deploy"]["healthy"]
    assert any(c.startswith("HEALTHCHECK") for c in result.json["deploy"]["health"]["checks"])
    assert app.version() == "E"
    text = hoist_in(hoist, app, "release", "staging", "production")
    assert text.code == 0 and "stage" in text.out and "health" in text.out
    pinned = hoist_in(hoist, app, "release", "staging", "production", "--digest", app.images["A"].digest, "--json")
    assert pinned.code == 0, pinned
    assert pinned.json["promotion"]["digest"] == app.images["A"].digest
    assert app.version() == "A"


def test_engine_errors_leave_the_running_version(hoist: Hoist, app: App, tmp_path: Path) -> None:
    ship(hoist, app, "A")
    assert hoist_in(hoist, app, "deploy", "production").code == 0
    missing = hoist_in(hoist, app, "deploy", "production", "--digest", "sha256:" + "ab" * 32)
    assert missing.code == 1 and "cannot pull" in missing.err and len(missing.err.strip().splitlines()) == 1
    assert "No such image" not in missing.err, missing.err  # the reason the pull gave, not a later lookup
    assert "manifest" in missing.err, missing.err
    assert app.version() == "A"

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        original = app.config.read_text()
        app.write(ports=f"127.0.0.1:{busy}:8080")
        ship(hoist, app, "B")
        result = hoist_in(hoist, app, "deploy", "production")
        assert result.code == 1, result
        assert "cannot start" in result.err and len(result.err.strip().splitlines()) == 1
        assert app.version() == "A"  # still serving on its own port
        app.config.write_text(original)

    app.write(host=f"unix://{tmp_path}/no-such.sock")
    unreachable = hoist_in(hoist, app, "deploy", "production")
    assert unreachable.code == 1 and "cannot reach the container engine" in unreachable.err
    assert app.version() == "A"


def test_command_target_with_a_real_script(hoist: Hoist, app: App, tmp_path: Path) -> None:
    port = free_port()
    www = tmp_path / "www"
    script = tmp_path / "deploy.sh"
    bad = app.images["C500"].digest
    script.write_text(f"""#!/bin/sh
set -e
echo "$HOIST_ENV $HOIST_IMAGE $HOIST_DIGEST previous=$HOIST_PREVIOUS_IMAGE" >> "{tmp_path}/deploys.log"
echo "deploying $HOIST_IMAGE"
if [ -f "{tmp_path}/httpd.pid" ]; then kill "$(cat {tmp_path}/httpd.pid)" 2>/dev/null || true; sleep 0.2; fi
mkdir -p "{www}"
if [ "$HOIST_DIGEST" = "{bad}" ]; then echo broken > "{www}/health"; else echo "$HOIST_DIGEST" > "{www}/health"; fi
busybox httpd -f -p 127.0.0.1:{port} -h "{www}" & echo $! > "{tmp_path}/httpd.pid"
""")
    script.chmod(0o755)
    config = tmp_path / "command.toml"
    config.write_text(f"""
[environments.staging]
image = "{app.repo}:staging"

[environments.production]
image = "{app.repo}:main"
from = "staging"

[environments.production.deploy]
target = "command"
run = "{script}"

[environments.production.health]
url = "http://127.0.0.1:{port}/health"
body = "^sha256:"
timeout = "5s"
interval = "0.2s"
""")
    try:
        for name in ("A", "B"):
            hoist.ok("copy", f"oci:{app.layout}:{name}", f"{app.repo}:staging")
            hoist.ok("--config", str(config), "promote", "staging", "production")
            assert hoist("--config", str(config), "deploy", "production").code == 0
        assert httpx.get(f"http://127.0.0.1:{port}/health").text.strip() == app.images["B"].digest
        hoist.ok("copy", f"oci:{app.layout}:C500", f"{app.repo}:staging")
        hoist.ok("--config", str(config), "promote", "staging", "production")
        failed = hoist("--config", str(config), "deploy", "production")
        assert failed.code == 4 and "does not match" in failed.err, failed
        assert "deploying" in failed.err  # the script's output passed through
        assert httpx.get(f"http://127.0.0.1:{port}/health").text.strip() == app.images["B"].digest
        log = (tmp_path / "deploys.log").read_text().splitlines()
        assert log[-1].startswith(f"production {app.repo}@{app.images['B'].digest}")
        assert log[-2].split()[2] == bad and log[-2].endswith(f"previous={app.repo}@{app.images['B'].digest}")
    finally:
        pid = tmp_path / "httpd.pid"
        if pid.exists():
            import os
            import signal

            os.kill(int(pid.read_text()), signal.SIGTERM)


def test_deploy_needs_a_deploy_table(hoist: Hoist, app: App) -> None:
    result = hoist_in(hoist, app, "deploy", "staging")
    assert result.code == 2 and "no [environments.staging.deploy]" in result.err


def test_github_summary_of_a_release(hoist: Hoist, app: App, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "out"))
    hoist.ok("copy", f"oci:{app.layout}:A", f"{app.repo}:staging")
    assert hoist_in(hoist, app, "release", "staging", "production").code == 0
    text = summary.read_text()
    assert "hoist released" in text and "| health |" in text
    assert json.dumps(app.images["A"].digest)[1:-1] in (tmp_path / "out").read_text()
