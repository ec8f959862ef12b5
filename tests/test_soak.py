"""The soak gate on a real registry: a digest must have served healthy in staging for a minimum time,
without a failed deploy or a rollback since; the clock is set through HOIST_NOW.

Staging deploys run a real command against a loopback service whose health depends on the digest it
serves. Records are read back with the registry's HTTP API, not through hoist.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hoist.promotion import ledger as ledger_module
from tests.infra.images import ImageInfo, make_image
from tests.infra.registry import RunningRegistry
from tests.infra.service import Service, running_service
from tests.infra.skopeo import skopeo_digest
from tests.support import Hoist, HoistResult

DAY = "2026-05-04"


@dataclass
class Soaking:
    config: Path
    registry: RunningRegistry
    repo: str
    layout: Path
    images: dict[str, ImageInfo]
    service: Service
    monkeypatch: pytest.MonkeyPatch

    def at(self, clock: str) -> None:
        self.monkeypatch.setenv("HOIST_NOW", f"{DAY}T{clock}Z")

    def run(self, hoist: Hoist, *args: str) -> HoistResult:
        return hoist("--config", str(self.config), *args)

    def stage(self, hoist: Hoist, name: str) -> str:
        hoist.ok("copy", f"oci:{self.layout}:{name}", f"{self.registry.host}/{self.repo}:staging")
        return self.images[name].digest

    def head_record(self, environment: str) -> dict[str, Any]:
        with self.registry.client() as client:
            answer = client.get(
                f"/v2/{self.repo}/manifests/hoist-ledger.{environment}",
                headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
            )
        assert answer.status_code == 200, answer.text
        record: dict[str, Any] = json.loads(answer.json()["annotations"]["dev.hoist.ledger.record"])
        return record


@pytest.fixture
def soaking(
    tmp_path: Path, registry: RunningRegistry, unique_repo: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Soaking]:
    monkeypatch.setenv("HOIST_ACTOR", "tester")
    monkeypatch.setenv("HOIST_LEDGER_SETTLE", "0.05")
    layout = tmp_path / "build"
    images = {n: make_image(layout, tag=n, layers=1, layer_size=2048, seed=f"soak-{n}") for n in "ABC"}
    with running_service(tmp_path / "serving") as service:
        config = tmp_path / "hoist.toml"
        config.write_text(f"""
[environments.staging]
image = "{registry.host}/{unique_repo}:staging"

[environments.staging.deploy]
target = "command"
run = '{service.deploy_command}'

[environments.staging.health]
url = "{service.url}"
timeout = "2s"
interval = "0.1s"

[environments.production]
image = "{registry.host}/{unique_repo}:main"
from = "staging"
require = ["soak"]

[environments.production.gates]
soak = {{ environment = "staging", min = "30m" }}
""")
        yield Soaking(config, registry, unique_repo, layout, images, service, monkeypatch)


def refused(result: HoistResult, *words: str) -> str:
    assert result.code == 3, result
    line = result.err.strip().splitlines()[-1]
    for word in words:
        assert word in line, (word, line)
    return line


def test_soak_time_counts_from_the_deploy_that_began_the_run(hoist: Hoist, soaking: Soaking) -> None:
    soaking.at("10:00:00")
    never = soaking.stage(hoist, "A")
    refused(soaking.run(hoist, "promote", "staging", "production"), "soak: never deployed to staging")
    assert soaking.run(hoist, "deploy", "staging").code == 0  # seq 1
    soaking.at("10:10:00")
    refused(
        soaking.run(hoist, "promote", "staging", "production"),
        "soak: served healthy in staging for 10m since seq 1: 20m to go "
        f"(the minimum is 30m; ready at {DAY}T10:30:00.000Z)",
    )
    soaking.at("10:20:00")
    assert soaking.run(hoist, "deploy", "staging").code == 0  # seq 2: a redeploy keeps the clock running
    assert soaking.head_record("staging")["details"]["serving_since"] == {"seq": 1, "time": f"{DAY}T10:00:00.000Z"}
    soaking.at("10:29:59")
    refused(soaking.run(hoist, "promote", "staging", "production"), "for 29m since seq 1: 1s to go")
    soaking.at("10:30:00")
    passed = soaking.run(hoist, "promote", "staging", "production", "--json")
    assert passed.code == 0, passed
    (gate,) = passed.json["gates"]
    assert gate["detail"] == "served healthy in staging for 30m since seq 1 (the minimum is 30m)"
    assert gate["evidence"] and gate["environment"] == "staging"
    assert skopeo_digest(f"docker://{soaking.registry.host}/{soaking.repo}:main", tls_verify=False) == never

    # a new image starts its own clock; the one it replaced is no longer soaking there
    soaking.at("10:40:00")
    b = soaking.stage(hoist, "B")
    assert soaking.run(hoist, "deploy", "staging").code == 0  # seq 3
    soaking.at("10:50:00")
    refused(soaking.run(hoist, "promote", "staging", "production"), "for 10m since seq 3: 20m to go")
    refused(
        soaking.run(hoist, "promote", "staging", "production", "--digest", never),
        f"soak: not serving in staging: it runs {b[:19]} (deployed seq 3)",
    )

    # a failed deploy (and the restore after it) starts B's clock again
    c = soaking.stage(hoist, "C")
    soaking.service.broken.add(c)
    soaking.at("10:55:00")
    failed = soaking.run(hoist, "deploy", "staging")
    assert failed.code == 4, failed
    assert soaking.service.serving() == b
    restored = soaking.head_record("staging")
    assert restored["deploy"]["result"] == "restored" and "serving_since" not in restored.get("details", {})
    soaking.at("11:10:00")  # 30 minutes after B's first deploy, 15 after the restore
    refused(
        soaking.run(hoist, "promote", "staging", "production"),
        f"for 15m since seq {restored['seq']}: 15m to go",
    )
    refused(
        soaking.run(hoist, "promote", "staging", "production", "--digest", c),
        f"soak: not serving in staging: it runs {b[:19]}",
    )
    soaking.at("11:25:00")
    assert soaking.run(hoist, "promote", "staging", "production").code == 0


def test_soak_reads_one_ledger_head_at_any_length(
    hoist: Hoist, soaking: Soaking, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a window of 3 records and 6 freeze records written after the deploy, the head still holds
    the deploy (pinned) and the gate reads only that head from staging's ledger."""
    monkeypatch.setattr(ledger_module, "WINDOW", 3)
    soaking.at("09:00:00")
    soaking.stage(hoist, "A")
    assert soaking.run(hoist, "deploy", "staging").code == 0
    for minute in range(6):
        soaking.at(f"09:0{minute + 1}:00")
        kind = "freeze" if minute % 2 == 0 else "unfreeze"
        args = ("--for", "1h") if kind == "freeze" else ()
        assert soaking.run(hoist, kind, "staging", *args, "--reason", f"record {minute}").code == 0
    soaking.at("09:45:00")
    result = soaking.run(hoist, "promote", "staging", "production", "--json", "--verbose")
    assert result.code == 0, result
    assert result.json["gates"][0]["detail"] == "served healthy in staging for 45m since seq 1 (the minimum is 30m)"
    staging_reads = [line for line in result.err.splitlines() if "hoist-ledger.staging" in line]
    assert len(staging_reads) == 1, staging_reads  # the head only: never an older window


def test_soak_is_decided_per_image_of_a_set(
    hoist: Hoist, tmp_path: Path, registry: RunningRegistry, unique_repo: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOIST_LEDGER_SETTLE", "0.05")
    layout = tmp_path / "build"
    for name in ("web", "api"):
        for build in "AB":
            make_image(layout, tag=f"{name}-{build}", layers=1, layer_size=1024, seed=f"soak-{name}-{build}")
    repo = f"{registry.host}/{unique_repo}"
    config = tmp_path / "hoist.toml"
    config.write_text(f"""
[environments.staging]
images = {{ web = "{repo}/web:staging", api = "{repo}/api:staging" }}
deploy.web = {{ target = "command", run = "true" }}
deploy.api = {{ target = "command", run = "true" }}

[environments.production]
images = {{ web = "{repo}/web:main", api = "{repo}/api:main" }}
from = "staging"
require = ["soak"]
gates.soak = {{ environment = "staging", min = "30m" }}
""")

    def run(*args: str) -> HoistResult:
        return hoist("--config", str(config), *args)

    def stage(name: str, build: str) -> None:
        hoist.ok("copy", f"oci:{layout}:{name}-{build}", f"{repo}/{name}:staging")

    monkeypatch.setenv("HOIST_NOW", f"{DAY}T10:00:00Z")
    stage("web", "A")
    stage("api", "A")
    assert run("deploy", "staging").code == 0  # web seq 1, api seq 2
    monkeypatch.setenv("HOIST_NOW", f"{DAY}T10:20:00Z")
    stage("web", "B")
    assert run("deploy", "staging").code == 0  # web B begins its run (seq 3), api's goes on (seq 4)
    # more records than the head's window holds: each image's newest deploy stays pinned
    monkeypatch.setattr(ledger_module, "WINDOW", 3)
    for kind, extra in (("freeze", ("--for", "1m")), ("unfreeze", ()), ("freeze", ("--for", "1m")), ("unfreeze", ())):
        assert run(kind, "staging", *extra, "--reason", "filler").code == 0
    monkeypatch.setenv("HOIST_NOW", f"{DAY}T10:35:00Z")
    result = run("promote", "staging", "production", "--json")
    assert result.code == 3, result
    decided = {g["member"]: (g["passed"], g["detail"]) for g in result.json["gates"]}
    assert decided["api"] == (True, "served healthy in staging for 35m since seq 2 (the minimum is 30m)")
    assert decided["web"][0] is False and "for 15m since seq 3: 15m to go" in decided["web"][1]
    line = result.err.strip().splitlines()[-1]
    assert "soak [web]: served healthy in staging for 15m" in line and "[api]" not in line
    monkeypatch.setenv("HOIST_NOW", f"{DAY}T10:50:00Z")
    assert run("promote", "staging", "production").code == 0


def test_soak_needs_a_time(hoist: Hoist, soaking: Soaking) -> None:
    soaking.config.write_text(soaking.config.read_text().replace(', min = "30m"', ""))
    result = soaking.run(hoist, "promote", "staging", "production")
    assert result.code == 2 and "the soak gate needs a time" in result.err, result
    soaking.config.write_text(soaking.config.read_text().replace('environment = "staging" }', 'min = "soon" }'))
    result = soaking.run(hoist, "promote", "staging", "production")
    assert result.code == 2 and "gates.soak.min" in result.err and "duration" in result.err, result
