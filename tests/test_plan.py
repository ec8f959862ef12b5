"""``hoist plan``: what a release would do, on real registries, proven read-only by the request log of
the proxy every repository is reached through.

A set of two images (web, api) goes from staging to production, with a mirror per image; the images'
revision labels name commits of a real git repository the plan runs in.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

import hoist as library
from tests.infra.images import make_image
from tests.infra.proxy import FaultProxy
from tests.infra.registry import RunningRegistry
from tests.support import Hoist, HoistResult

NAMES = ("web", "api")
REVISION = "org.opencontainers.image.revision"


@dataclass
class Planned:
    config: Path
    proxy: FaultProxy
    upstream: RunningRegistry
    repo: str
    layout: Path
    commits: list[str]
    builds: dict[str, dict[str, str]]  # build -> member -> digest

    def run(self, hoist: Hoist, *args: str) -> HoistResult:
        return hoist("--config", str(self.config), *args)

    def stage(self, hoist: Hoist, build: str) -> None:
        for name in NAMES:
            hoist.ok("copy", f"oci:{self.layout}:{name}-{build}", f"{self.proxy.host}/{self.repo}/{name}:staging")

    def tags(self) -> dict[str, str | None]:
        """Every tag hoist could move, and the ledger heads, read from the registry behind the proxy."""
        found: dict[str, str | None] = {}
        with self.upstream.client() as client:
            for repository in (f"{self.repo}/{where}{n}" for n in NAMES for where in ("", "prod/")):
                for tag in ("staging", "main", "latest", "hoist-ledger.production", "hoist-ledger.staging"):
                    found[f"{repository}:{tag}"] = self._digest(client, repository, tag)
            for name in NAMES:
                found[f"mirror/{name}"] = self._digest(client, f"mirror-{self.repo}/{name}", "main")
        return found

    @staticmethod
    def _digest(client: object, repository: str, tag: str) -> str | None:
        accept = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json"
        answer = client.head(f"/v2/{repository}/manifests/{tag}", headers={"Accept": accept})  # type: ignore[attr-defined]
        return answer.headers.get("docker-content-digest") if answer.status_code == 200 else None


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.fixture
def planned(
    tmp_path: Path,
    fault_proxy: FaultProxy,
    proxied_registry: RunningRegistry,
    unique_repo: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Planned:
    monkeypatch.setenv("HOIST_ACTOR", "tester")
    monkeypatch.setenv("HOIST_LEDGER_SETTLE", "0.05")
    monkeypatch.setenv("HOIST_NOW", "2026-06-01T09:00:00Z")
    source = tmp_path / "app"
    source.mkdir()
    _git(source, "init", "-q", "-b", "main")
    _git(source, "config", "user.email", "dev@example.com")
    _git(source, "config", "user.name", "Dev")
    commits = []
    for message in ("first release", "fix the login form", "faster start-up"):
        (source / "log.txt").write_text(message)
        _git(source, "add", "log.txt")
        _git(source, "commit", "-q", "-m", message)
        commits.append(_git(source, "rev-parse", "HEAD"))
    monkeypatch.chdir(source)  # the plan reads git in the working directory
    layout = tmp_path / "build"
    builds: dict[str, dict[str, str]] = {}
    for build, commit in (("A", commits[0]), ("B", commits[2])):
        builds[build] = {
            name: make_image(
                layout,
                tag=f"{name}-{build}",
                layers=2,
                layer_size=2048,
                seed=f"plan-{name}-{build}",
                labels={REVISION: commit},
            ).digest
            for name in NAMES
        }
    repo, host = unique_repo, fault_proxy.host
    config = tmp_path / "hoist.toml"
    config.write_text(f"""
[environments.staging]
images = {{ web = "{host}/{repo}/web:staging", api = "{host}/{repo}/api:staging" }}

[environments.production]
images = {{ web = "{host}/{repo}/prod/web:main", api = "{host}/{repo}/prod/api:main" }}
from = "staging"
tags = ["latest"]
same = ["revision"]
mirrors = ["{host}/mirror-{repo}/{{name}}:main"]
require = ["tests"]
gates.tests = {{ environment = "staging" }}
deploy.web = {{ target = "command", run = "true" }}
""")
    return Planned(config, fault_proxy, proxied_registry, repo, layout, commits, builds)


def test_plan_of_a_set_shows_everything_and_writes_nothing(hoist: Hoist, planned: Planned) -> None:
    planned.stage(hoist, "A")
    assert planned.run(hoist, "test", "staging", "--", "true").code == 0
    assert planned.run(hoist, "promote", "staging", "production").code == 0
    # the web mirror falls behind (someone pushed another image there by hand)
    hoist.ok("copy", f"oci:{planned.layout}:web-B", f"{planned.proxy.host}/mirror-{planned.repo}/web:main")
    assert planned.run(hoist, "freeze", "production", "--for", "1d", "--reason", "launch week").code == 0
    planned.stage(hoist, "B")
    assert planned.run(hoist, "test", "staging", "--only", "web", "--", "true").code == 0  # api has no tests

    before = planned.tags()
    planned.proxy.clear_requests()
    result = planned.run(hoist, "plan", "--json")
    assert result.code == 3, result
    methods = {r.method for r in planned.proxy.requests}
    assert methods <= {"GET", "HEAD"} and planned.proxy.requests, methods  # read-only, seen by the proxy
    assert planned.tags() == before  # and nothing changed
    assert set(result.json["reads"]["methods"]) <= {"GET", "HEAD"}

    (plan,) = result.json["plans"]
    assert (plan["source"], plan["environment"], plan["would_release"], plan["seq"]) == (
        "staging",
        "production",
        False,
        3,
    )
    images = {i["name"]: i for i in plan["images"]}
    for name in NAMES:
        assert images[name]["current"] == planned.builds["A"][name]
        assert images[name]["candidate"] == planned.builds["B"][name]
        commits = images[name]["commits"]
        assert commits["direction"] == "ahead" and (commits["current"], commits["candidate"]) == (
            planned.commits[0],
            planned.commits[2],
        )
        assert [line.split(" ", 1)[1] for line in commits["log"]] == ["faster start-up", "fix the login form"]
        assert images[name]["tags"] == ["main", "latest"] and images[name]["copy"] == "mount"  # one registry
    refusals = {(g["gate"], g.get("member")) for g in plan["refusals"]}
    assert refusals == {("freeze", None), ("tests", "api")}
    gates = {(g["gate"], g.get("member")): g for g in plan["gates"]}
    assert gates[("tests", "web")]["passed"] and gates[("tests", "web")]["evidence"]
    assert gates[("same", None)]["passed"] and planned.commits[2] in gates[("same", None)]["detail"]
    assert "launch week" in gates[("freeze", None)]["detail"]
    assert [f["reason"] for f in plan["freezes"]] == ["launch week"]
    assert plan["mirrors_behind"] == [f"{planned.proxy.host}/mirror-{planned.repo}/web:main"]
    assert plan["deploy"] == "web: command 'true'"
    actions = [(r["action"], r["where"]) for r in plan["requests"]]
    web, api = (f"{planned.proxy.host}/{planned.repo}/prod/{n}" for n in NAMES)
    assert actions.count(("mount blob", web)) == 3 and actions.count(("mount blob", api)) == 3  # 2 layers, config
    assert ("put tag", web) in actions and ("put tag", api) in actions
    assert ("copy to mirror", f"{planned.proxy.host}/mirror-{planned.repo}/api") in actions
    assert ("put ledger record", f"{web}:hoist-ledger.production") in actions
    assert ("deploy", "command 'true'") in actions

    text = planned.run(hoist, "plan", "staging", "production")
    assert text.code == 3
    assert "release staging -> production (seq 3): REFUSED by 2 rule(s)" in text.out
    assert "FROZEN: production is frozen until 2026-06-02 09:00 UTC" in text.out
    assert "commits: adds 2" in text.out and "fix the login form" in text.out
    assert "tests [api]: REFUSE: no valid test evidence" in text.out
    assert "mirror " in text.out and "BEHIND" in text.out
    assert planned.tags() == before


def test_plan_passes_when_the_release_would_and_from_python(
    hoist: Hoist, planned: Planned, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    planned.stage(hoist, "A")
    assert planned.run(hoist, "test", "staging", "--", "true").code == 0
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "output"))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary"))
    result = planned.run(hoist, "plan", "staging", "production")
    assert result.code == 0, result
    assert "would go through" in result.out and "nothing -> " in result.out
    assert "no image with a revision label yet" in result.out
    assert "would-release=true" in (tmp_path / "output").read_text()
    assert "| staging → production | would go through | - |" in (tmp_path / "summary").read_text()
    monkeypatch.delenv("GITHUB_ACTIONS")

    with hoist_project(planned) as project:
        (plan,) = project.plan("staging", "production")
        assert isinstance(plan, library.ReleasePlan) and plan.would_release and not plan.refusals
        assert [i.candidate for i in plan.images] == [library.Digest.parse(planned.builds["A"][n]) for n in NAMES]
        assert all(i.current is None and i.changes for i in plan.images)
        assert plan.mirrors == () or all(m.found is None for m in plan.mirrors)
    assert planned.run(hoist, "promote", "staging", "production").code == 0
    again = planned.run(hoist, "plan", "--json").json["plans"][0]
    assert again["noop"] and again["would_release"] and again["requests"] == []

    bad = planned.run(hoist, "plan", "staging")
    assert bad.code == 2 and "name both environments" in bad.err
    unknown = planned.run(hoist, "plan", "staging", "qa")
    assert unknown.code == 2 and "unknown environment 'qa'" in unknown.err


def hoist_project(planned: Planned) -> library.Project:
    return library.Project.load(planned.config)
