"""``hoist deploy ENV`` with ``target = "gitops"``: a real registry and ledger, a bare Git repository as the
GitOps repository, and a stand-in for the cluster that renders the repository with ``kubectl kustomize``
on every health request (as Argo CD would, with no sync delay) and answers 500 for a known-bad digest."""

from __future__ import annotations

import json
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from hoist.errors import InputError
from tests.infra.gitrepo import Remote, make_remote
from tests.infra.images import ImageInfo, make_image
from tests.infra.kubectl import debian_kubectl, kustomize
from tests.infra.registry import RunningRegistry
from tests.infra.skopeo import skopeo_digest
from tests.support import Hoist, HoistResult
from tests.test_gitops import trailers

FILE = "apps/dotca/production/kustomization.yaml"
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: dotca
spec:
  template:
    spec:
      containers:
        - name: app
          image: dotca
"""


class Cluster:
    """Serves ``/health``: 200 and the image the repository renders to, or 500 for ``bad``."""

    def __init__(self, remote: Remote) -> None:
        self.remote = remote
        self.kubectl = debian_kubectl()
        self.bad: set[str] = set()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def image(self) -> str:
        archive = subprocess.run(
            ["git", "--git-dir", str(self.remote.bare), "archive", "main", "apps/dotca/production"],
            capture_output=True,
            check=True,
        ).stdout
        with tempfile.TemporaryDirectory() as scratch:
            # GNU tar: tarfile's extraction filters need Python 3.11.4, Debian 12 has 3.11.2
            subprocess.run(["tar", "-x", "-C", scratch], input=archive, capture_output=True, check=True)
            out = kustomize(self.kubectl, Path(scratch) / "apps/dotca/production")
        return next(line.split("image:", 1)[1].strip() for line in out.splitlines() if "image:" in line)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        cluster = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                image = cluster.image()
                bad = image.rpartition("@")[2] in cluster.bad
                body = image.encode()
                self.send_response(500 if bad else 200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        return Handler

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Setup:
    config: Path
    repo: str
    layout: Path
    images: dict[str, ImageInfo]
    remote: Remote
    cluster: Cluster

    def hoist(self, hoist: Hoist, *args: str) -> HoistResult:
        return hoist("--config", str(self.config), *args)

    def ship(self, hoist: Hoist, name: str) -> None:
        hoist.ok("copy", f"oci:{self.layout}:{name}", f"{self.repo}:staging")
        hoist.ok("--config", str(self.config), "promote", "staging", "production")


@pytest.fixture
def setup(
    tmp_path: Path, registry: RunningRegistry, unique_repo: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Setup]:
    monkeypatch.setenv("HOIST_ACTOR", "tester")
    repo = f"{registry.host}/{unique_repo}"
    layout = tmp_path / "build"
    images = {name: make_image(layout, tag=name, seed=f"gitops-{name}", layers=1) for name in ("A", "B", "C")}
    kustomization = f"images:\n  - name: dotca\n    newName: {repo}\nresources:\n  - deployment.yaml\n"
    remote = make_remote(
        tmp_path / "remote",
        {FILE: kustomization, "apps/dotca/production/deployment.yaml": DEPLOYMENT},
    )
    cluster = Cluster(remote)
    config = tmp_path / "hoist.toml"
    config.write_text(f"""
[environments.staging]
image = "{repo}:staging"

[environments.production]
image = "{repo}:main"
from = "staging"

[environments.production.deploy]
target = "gitops"
repository = "{remote.url}"
branch = "main"
file = "{FILE}"
edit = "kustomize"
mode = "push"

[environments.production.health]
url = "http://127.0.0.1:{cluster.port}/health"
timeout = "3s"
interval = "0.2s"
""")
    yield Setup(config, repo, layout, images, remote, cluster)
    cluster.close()


def test_hoist_deploy_commits_the_digest_and_rolls_back_by_commit(hoist: Hoist, setup: Setup) -> None:
    digest = {name: info.digest for name, info in setup.images.items()}
    setup.ship(hoist, "A")
    first = setup.hoist(hoist, "deploy", "production", "--json")
    assert first.code == 0, first
    assert first.json["healthy"] and first.json["target"].startswith(f"gitops {setup.remote.url} main:")
    assert setup.cluster.image() == f"{setup.repo}@{digest['A']}"
    assert f"    digest: {digest['A']}\n" in setup.remote.show(FILE)
    history = setup.hoist(hoist, "history", "production", "--json").json
    assert history[0]["deploy"]["commit"] == setup.remote.tip() and history[0]["deploy"]["mode"] == "push"

    setup.ship(hoist, "B")
    setup.cluster.bad.add(digest["B"])
    failed = setup.hoist(hoist, "deploy", "production")
    assert failed.code == 4, failed
    assert "rolled back" in failed.err and digest["A"] in failed.err.strip().splitlines()[-1]
    log = setup.remote.log()
    # each commit names the ledger record that promoted its digest (A: seq 1; B: seq 3, after A's deploy)
    assert log[0].subject == f"production: roll back to sha256:{digest['A'][7:19]} (seq 1)"
    assert log[1].subject == f"production: deploy sha256:{digest['B'][7:19]} (seq 3)"
    assert setup.cluster.image() == f"{setup.repo}@{digest['A']}"
    assert skopeo_digest(f"docker://{setup.repo}:main", tls_verify=False) == digest["A"]
    kinds = [
        (h["kind"], (h.get("deploy") or {}).get("result"))
        for h in setup.hoist(hoist, "history", "production", "--json").json[:4]
    ]
    assert kinds == [("deploy", "restored"), ("rollback", None), ("deploy", "failed"), ("promote", None)]

    setup.cluster.bad.clear()
    setup.ship(hoist, "C")
    assert setup.hoist(hoist, "deploy", "production").code == 0
    assert setup.cluster.image() == f"{setup.repo}@{digest['C']}"


def test_bad_gitops_config_is_a_one_line_error(hoist: Hoist, setup: Setup) -> None:
    text = setup.config.read_text()
    for old, new, message in [
        ('edit = "kustomize"', 'edit = "helm:"', "environments.production.deploy.edit: expected"),
        ('mode = "push"', 'mode = "pr"', 'deploy.mode: expected "push"'),
        (f'file = "{FILE}"', 'file = "../outside.yaml"', "deploy.file: expected a file path inside the repository"),
        ('target = "gitops"', 'target = "gitops"\ntoken = "x"', "deploy.token: unknown key"),
    ]:
        setup.config.write_text(text.replace(old, new))
        result = setup.hoist(hoist, "deploy", "production")
        assert result.code == InputError.exit_code, result
        assert message in result.err and len(result.err.strip().splitlines()) == 1, result.err
    setup.config.write_text(text.replace(f'file = "{FILE}"', 'file = "apps/missing.yaml"'))
    setup.ship(hoist, "A")
    tip = setup.remote.tip()
    result = setup.hoist(hoist, "deploy", "production")
    assert result.code == 2 and "has no file apps/missing.yaml" in result.err, result
    assert setup.remote.tip() == tip


def test_release_clones_while_promoting_and_commits_the_promoted_digest(hoist: Hoist, setup: Setup) -> None:
    hoist.ok("copy", f"oci:{setup.layout}:B", f"{setup.repo}:staging")
    result = setup.hoist(hoist, "release", "staging", "production", "--reason", "ship B", "--json")
    assert result.code == 0, result
    digest = setup.images["B"].digest
    assert result.json["promotion"]["digest"] == digest and result.json["deploy"]["healthy"]
    assert setup.cluster.image() == f"{setup.repo}@{digest}"
    commit = setup.remote.log()[0]
    assert commit.subject.startswith(f"production: deploy sha256:{digest[7:19]} (seq ")
    # the commit names the ledger record that promoted the digest, and why
    seq = setup.hoist(hoist, "history", "production", "--json").json[-1]["seq"]
    assert trailers(commit.body)["Hoist-Seq"] == str(seq) == str(result.json["promotion"]["seq"])
    assert "ship B" in commit.body
    # status reads what the repository holds (what Argo CD or Flux applies), independently of the ledger
    status = setup.hoist(hoist, "status", "production", "--json").json[0]
    assert status["target_digest"] == digest and setup.remote.tip() in status["target_detail"]


def test_webhooks_hear_of_promotions_failed_deploys_and_rollbacks(
    hoist: Hoist, setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    received: list[dict[str, object]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"])))["event"])
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    down = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    dead_port = down.server_address[1]
    down.server_close()  # nothing listens there
    setup.config.write_text(
        setup.config.read_text()
        + f"""
[notify]
timeout = "1s"
retries = 0

[[notify.webhooks]]
name = "ops"
url = "http://127.0.0.1:{server.server_address[1]}/hoist"
format = "json"
events = ["promote", "rollback", "deploy-failed"]

[[notify.webhooks]]
name = "dead"
url = "http://127.0.0.1:{dead_port}/hoist"
format = "json"
"""
    )
    try:
        digest = {name: info.digest for name, info in setup.images.items()}
        setup.ship(hoist, "A")
        assert setup.hoist(hoist, "deploy", "production").code == 0
        setup.ship(hoist, "B")
        setup.cluster.bad.add(digest["B"])
        failed = setup.hoist(hoist, "deploy", "production")
        assert failed.code == 4, failed
        assert "warning: webhook dead" in failed.err  # reported, and the exit status is the deploy's own
    finally:
        server.shutdown()
        server.server_close()
    kinds = [(event["kind"], event["digest"]) for event in received]
    assert kinds == [
        ("promote", digest["A"]),
        ("promote", digest["B"]),
        ("rollback", digest["A"]),
        ("deploy-failed", digest["B"]),
    ], kinds
    rollback = received[2]
    assert rollback["automatic"] is True and rollback["previous_digest"] == digest["B"]
    assert received[3]["restored"] == digest["A"] and received[3]["failure"]
