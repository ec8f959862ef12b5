"""Environments that hold several images, released together, and mirrors — on real registries.

Three services (web, api, worker) live in the main registry, except worker's production repository,
which sits behind the fault proxy; mirrors are a second registry. Every effect is checked with skopeo.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.infra.images import ImageInfo, make_image
from tests.infra.proxy import Fault, FaultProxy
from tests.infra.registry import RunningRegistry
from tests.infra.skopeo import SkopeoError, skopeo_digest
from tests.support import Hoist, HoistResult

NAMES = ("web", "api", "worker")
REVISION = "org.opencontainers.image.revision"


@dataclass
class SetUp:
    config: Path
    layout: Path
    builds: dict[str, dict[str, ImageInfo]]  # build -> member -> image
    staging: dict[str, str]
    production: dict[str, str]
    mirrors: dict[str, str]
    proxy: FaultProxy

    def run(self, hoist: Hoist, *args: str) -> HoistResult:
        return hoist("--config", str(self.config), *args)

    def stage(self, hoist: Hoist, build: str, **only: str) -> None:
        """Build ``build`` once: push every member (or the given member -> build) to staging."""
        for name in NAMES:
            chosen = only.get(name, build)
            hoist.ok("copy", f"oci:{self.layout}:{name}-{chosen}", self.staging[name], "--no-referrers")

    def digest(self, ref: str) -> str | None:
        try:
            return skopeo_digest(f"docker://{ref}", tls_verify=False)
        except SkopeoError as exc:
            if "manifest unknown" in str(exc):
                return None
            raise

    def production_digests(self) -> dict[str, str | None]:
        return {name: self.digest(self.production[name]) for name in NAMES}

    def wanted(self, build: str) -> dict[str, str | None]:
        return {name: self.builds[build][name].digest for name in NAMES}


@pytest.fixture
def setup(
    tmp_path: Path,
    registry: RunningRegistry,
    registry2: RunningRegistry,
    fault_proxy: FaultProxy,
    unique_repo: str,
    monkeypatch: pytest.MonkeyPatch,
) -> SetUp:
    monkeypatch.setenv("HOIST_ACTOR", "tester")
    monkeypatch.setenv("HOIST_LEDGER_SETTLE", "0.05")
    monkeypatch.setenv("HOIST_KEY_PASSWORD", "")
    layout = tmp_path / "build"
    builds: dict[str, dict[str, ImageInfo]] = {}
    for build in ("A", "B", "C"):
        builds[build] = {
            name: make_image(
                layout,
                tag=f"{name}-{build}",
                layers=1,
                layer_size=2048,
                seed=f"set-{name}-{build}",
                labels={REVISION: f"commit-{build}"},
            )
            for name in NAMES
        }
    staging = {n: f"{registry.host}/{unique_repo}/{n}:staging" for n in NAMES}
    staging["worker"] = f"{fault_proxy.host}/{unique_repo}/worker:staging"
    production = {n: f"{registry.host}/{unique_repo}/{n}:main" for n in NAMES}
    production["worker"] = f"{fault_proxy.host}/{unique_repo}/worker:main"
    mirrors = {n: f"{registry2.host}/mirror-{unique_repo}/{n}:main" for n in NAMES}
    config = tmp_path / "hoist.toml"

    def images(refs: dict[str, str]) -> str:
        return "{ " + ", ".join(f'{n} = "{refs[n]}"' for n in NAMES) + " }"

    config.write_text(f"""
[environments.staging]
images = {images(staging)}

[environments.production]
images = {images(production)}
from = "staging"
same = ["revision"]
tags = ["latest"]
mirrors = ["{registry2.host}/mirror-{unique_repo}/{{name}}:main"]
""")
    return SetUp(config, layout, builds, staging, production, mirrors, fault_proxy)


def test_a_set_promotes_and_rolls_back_as_one(hoist: Hoist, setup: SetUp) -> None:
    setup.stage(hoist, "A")
    first = setup.run(hoist, "promote", "staging", "production", "--json")
    assert first.code == 0, first
    assert setup.production_digests() == setup.wanted("A")
    assert {m["name"] for m in first.json["members"]} == set(NAMES)
    setup.stage(hoist, "B")
    assert setup.run(hoist, "promote", "staging", "production").code == 0
    assert setup.production_digests() == setup.wanted("B")

    history = setup.run(hoist, "history", "production", "--json").json
    assert len(history) == 2  # one record for the whole set each time
    assert {n: m["digest"] for n, m in history[0]["members"].items()} == setup.wanted("B")

    rolled = setup.run(hoist, "rollback", "production", "--json")
    assert rolled.code == 0, rolled
    assert setup.production_digests() == setup.wanted("A")  # every member back, read by skopeo
    status = setup.run(hoist, "status", "production", "--json").json[0]
    assert {m["name"]: m["digest"] for m in status["members"]} == setup.wanted("A")
    assert not status["drift"] and all(not m["drift"] for m in status["members"])
    assert setup.run(hoist, "audit", "verify", "production").code == 0


def test_prune_removes_each_members_old_history_tags_in_its_own_repository(hoist: Hoist, setup: SetUp) -> None:
    for build in "ABC":
        setup.stage(hoist, build)
        assert setup.run(hoist, "promote", "staging", "production").code == 0
    assert setup.run(hoist, "rollback", "production").code == 0  # back to B: main-0002 names what runs
    pruned = setup.run(hoist, "prune", "production", "--keep", "1", "--json")
    assert pruned.code == 0, pruned
    assert pruned.json["removed"] == [f"{n}:main-0001" for n in NAMES]
    assert pruned.json["kept"] == [f"{n}:{t}" for n in NAMES for t in ("main-0003", "main-0002")]
    for name in NAMES:  # read from each member's repository by skopeo
        repository = setup.production[name].rsplit(":", 1)[0]
        assert setup.digest(f"{repository}:main-0001") is None
        assert setup.digest(f"{repository}:main-0002") == setup.builds["B"][name].digest
        assert setup.digest(f"{repository}:main-0003") == setup.builds["C"][name].digest
    assert setup.production_digests() == setup.wanted("B")
    assert setup.run(hoist, "audit", "verify", "production").code == 0


def test_a_gate_refusing_one_member_moves_no_member(hoist: Hoist, setup: SetUp) -> None:
    setup.config.write_text(
        setup.config.read_text() + '\n[environments.production.gates]\ntests = { environment = "staging" }\n'
    )
    setup.config.write_text(
        setup.config.read_text().replace('tags = ["latest"]', 'tags = ["latest"]\nrequire = ["tests"]')
    )
    setup.stage(hoist, "A")
    # the tests ran for web and api only: worker has no test result
    assert setup.run(hoist, "test", "staging", "--only", "web", "--only", "api", "--", "true").code == 0
    refused = setup.run(hoist, "promote", "staging", "production", "--json")
    assert refused.code == 3, refused
    failing = [g for g in refused.json["gates"] if not g["passed"]]
    assert [(g["gate"], g["member"]) for g in failing] == [("tests", "worker")]
    assert setup.production_digests() == dict.fromkeys(NAMES)  # nothing moved anywhere
    assert setup.run(hoist, "history", "production", "--json").json == []


def test_a_tag_move_that_fails_leaves_no_member_half_promoted(hoist: Hoist, setup: SetUp) -> None:
    setup.stage(hoist, "A")
    assert setup.run(hoist, "promote", "staging", "production").code == 0
    setup.stage(hoist, "B")
    setup.proxy.add_fault(Fault("status", method="PUT", path_regex=r"/worker/manifests/main$", status=500, times=None))
    failed = setup.run(hoist, "promote", "staging", "production")
    assert failed.code == 1, failed
    assert "put back" in failed.err and "undo" in failed.err
    setup.proxy.clear_faults()
    assert setup.production_digests() == setup.wanted("A")  # web and api were put back
    history = setup.run(hoist, "history", "production", "--json").json
    assert [h["kind"] for h in history[:2]] == ["rollback", "promote"]
    assert history[0]["details"]["automatic"] is True and history[0]["details"]["undone"] == history[1]["seq"]
    status = setup.run(hoist, "status", "production", "--json").json[0]
    assert {m["name"]: m["digest"] for m in status["members"]} == setup.wanted("A") and not status["drift"]


def test_same_revision_refuses_a_mixed_set(hoist: Hoist, setup: SetUp) -> None:
    setup.stage(hoist, "A", api="B")  # api was built from another commit
    refused = setup.run(hoist, "promote", "staging", "production")
    assert refused.code == 3, refused
    assert "revision" in refused.err and "api commit-B" in refused.err and "web commit-A" in refused.err
    assert setup.production_digests() == dict.fromkeys(NAMES)


def test_only_promotes_one_member_on_purpose(hoist: Hoist, setup: SetUp) -> None:
    setup.stage(hoist, "A")
    assert setup.run(hoist, "promote", "staging", "production").code == 0
    setup.stage(hoist, "B")
    result = setup.run(hoist, "promote", "staging", "production", "--only", "web", "--json")
    assert result.code == 0, result
    assert setup.production_digests() == {**setup.wanted("A"), "web": setup.builds["B"]["web"].digest}
    record = setup.run(hoist, "history", "production", "--json").json[0]
    assert record["only"] == ["web"]
    assert record["members"]["api"]["digest"] == setup.builds["A"]["api"].digest
    bad = setup.run(hoist, "promote", "staging", "production", "--only", "db")
    assert bad.code == 2 and "no image named 'db'" in bad.err


def test_mirrors_get_the_digest_and_sync_repairs_one_that_was_down(
    hoist: Hoist, setup: SetUp, registry2: RunningRegistry
) -> None:
    setup.stage(hoist, "A")
    assert setup.run(hoist, "promote", "staging", "production").code == 0
    assert {n: setup.digest(setup.mirrors[n]) for n in NAMES} == setup.wanted("A")
    # the mirror of worker is down for the next promotion: unreachable for its uploads and tags
    setup.config.write_text(setup.config.read_text().replace(registry2.host, "127.0.0.1:9"))
    setup.stage(hoist, "B")
    result = setup.run(hoist, "promote", "staging", "production", "--json")
    assert result.code == 1, result
    assert "mirror 127.0.0.1:9/" in result.err
    assert setup.production_digests() == setup.wanted("B")  # the environment itself moved
    setup.config.write_text(setup.config.read_text().replace("127.0.0.1:9", registry2.host))
    status = setup.run(hoist, "status", "production", "--json").json[0]
    assert all(m["behind"] for m in status["mirrors"])
    synced = setup.run(hoist, "sync", "production", "--json")
    assert synced.code == 0, synced
    assert {n: setup.digest(setup.mirrors[n]) for n in NAMES} == setup.wanted("B")
    assert not any(m["behind"] for m in setup.run(hoist, "status", "production", "--json").json[0]["mirrors"])
    assert setup.run(hoist, "history", "production", "--json").json[0]["kind"] == "sync"


def test_signatures_verify_on_every_mirror(hoist: Hoist, setup: SetUp, tmp_path: Path) -> None:
    hoist.ok("keygen", "--output-prefix", str(tmp_path / "signer"))
    setup.stage(hoist, "A")
    for name in NAMES:
        ref = setup.staging[name].rsplit(":", 1)[0] + "@" + setup.builds["A"][name].digest
        hoist.ok("sign", ref, "--key", str(tmp_path / "signer.key"))
    assert setup.run(hoist, "promote", "staging", "production").code == 0
    for name in NAMES:
        mirrored = setup.mirrors[name].rsplit(":", 1)[0] + "@" + setup.builds["A"][name].digest
        listing = hoist.ok("evidence", mirrored, "--key", str(tmp_path / "signer.pub"), "--json").json
        assert [(e["kind"], e["valid"]) for e in listing["evidence"]] == [("signature", True)], (name, listing)


def test_evidence_is_looked_up_once_for_every_mirror(
    hoist: Hoist,
    fault_proxy: FaultProxy,
    registry2: RunningRegistry,
    unique_repo: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One image, three mirrors: its signature is found in FROM's repository with one look (counted at the
    proxy in front of it) and verifies on every mirror."""
    layout = tmp_path / "build"
    image = make_image(layout, tag="app", layers=1, layer_size=2048, seed="mirrors-once")
    repo = f"{fault_proxy.host}/{unique_repo}/app"
    mirrors = [f"{registry2.host}/mirror{n}-{unique_repo}/app:main" for n in range(3)]
    config = tmp_path / "hoist.toml"
    config.write_text(
        f'[environments.staging]\nimage = "{repo}:staging"\n\n'
        f'[environments.production]\nimage = "{repo}:main"\nfrom = "staging"\n'
        f"mirrors = [{', '.join(repr(m).replace(chr(39), chr(34)) for m in mirrors)}]\n"
    )
    hoist.ok("copy", f"oci:{layout}:app", f"{repo}:staging", "--no-referrers")
    monkeypatch.setenv("HOIST_KEY_PASSWORD", "")
    hoist.ok("keygen", "--output-prefix", str(tmp_path / "signer"))
    hoist.ok("sign", f"{repo}@{image.digest}", "--key", str(tmp_path / "signer.key"))
    fault_proxy.clear_requests()
    hoist.ok("--config", str(config), "promote", "staging", "production")
    signature_tag = f"/manifests/{image.digest.replace(':', '-')}.sig"
    looks = [r for r in fault_proxy.requests if r.method == "GET" and r.path.endswith(signature_tag)]
    assert len(looks) == 1, [(r.method, r.path) for r in fault_proxy.requests]
    for mirror in mirrors:
        assert skopeo_digest(f"docker://{mirror}", tls_verify=False) == image.digest
        mirrored = mirror.rsplit(":", 1)[0] + "@" + image.digest
        listing = hoist.ok("evidence", mirrored, "--key", str(tmp_path / "signer.pub"), "--json").json
        assert [(e["kind"], e["valid"]) for e in listing["evidence"]] == [("signature", True)], (mirror, listing)


class Serving:
    """Stands in for the services: each command deploy writes the digest it runs to a file; /NAME
    answers 200, or 500 while that file names a digest marked bad."""

    def __init__(self, root: Path) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.root = root
        self.bad: set[str] = set()
        serving = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                running = (serving.root / self.path.strip("/")).read_text().strip()
                self.send_response(500 if running in serving.bad else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def running(self) -> dict[str, str]:
        return {name: (self.root / name).read_text().strip() for name in NAMES}

    def table(self) -> str:
        port = self.server.server_address[1]
        return "".join(
            f'\n[environments.production.deploy.{n}]\ntarget = "command"\n'
            f'run = "echo $HOIST_DIGEST > {self.root}/{n}"\n'
            f'\n[environments.production.health.{n}]\nurl = "http://127.0.0.1:{port}/{n}"\ntimeout = "2s"\n'
            f'interval = "0.1s"\n'
            for n in NAMES
        )


def test_a_set_deploys_together_and_rolls_back_together(hoist: Hoist, setup: SetUp, tmp_path: Path) -> None:
    serving = Serving(tmp_path)
    setup.config.write_text(setup.config.read_text() + serving.table())
    setup.stage(hoist, "A")
    released = setup.run(hoist, "release", "staging", "production", "--json")
    assert released.code == 0, released
    assert serving.running() == setup.wanted("A")
    assert [m["healthy"] for m in released.json["deploy"]["members"]] == [True] * 3

    setup.stage(hoist, "B")
    assert setup.run(hoist, "promote", "staging", "production").code == 0
    serving.bad.add(setup.builds["B"]["api"].digest)  # only api's new build is broken
    failed = setup.run(hoist, "deploy", "production")
    assert failed.code == 4, failed
    assert "api:" in failed.err and "rolled back" in failed.err
    assert serving.running() == setup.wanted("A")  # every member serves its previous version again
    assert setup.production_digests() == setup.wanted("A")  # and the tags went back (read by skopeo)
    newest = setup.run(hoist, "history", "production", "--limit", "8", "--json").json
    kinds = [(h["kind"], (h.get("deploy") or {}).get("result")) for h in newest]
    # B's deploys (web and worker healthy, api failed), one rollback of the whole set, three restores
    assert kinds[:4] == [("deploy", "restored")] * 3 + [("rollback", None)], kinds
    assert sorted(kinds[4:7]) == [("deploy", "failed"), ("deploy", "healthy"), ("deploy", "healthy")], kinds
    assert kinds[7] == ("promote", None), kinds
    serving.server.shutdown()


def test_the_readmes_set_configuration_loads_as_written(tmp_path: Path) -> None:
    from hoist.promotion.config import load_config

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    (block,) = [b for b in readme.split("```toml\n")[1:] if b.startswith("[environments.production]\nimages")]
    staging = '[environments.staging]\nimages = { web = "a/web:s", api = "a/api:s", worker = "a/worker:s" }\n\n'
    config = tmp_path / "hoist.toml"
    config.write_text(staging + block.split("```")[0])
    production = load_config(config).environment("production")
    assert [(m.name, str(m.image), [str(r) for r in m.mirrors]) for m in production.members] == [
        (name, f"ghcr.io/acme/{name}:main", [f"docker.io/acme/{name}:main"]) for name in ("web", "api", "worker")
    ]
    assert production.same == ("org.opencontainers.image.revision",)
