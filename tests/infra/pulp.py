"""Pulp (``pulp-container`` on pulpcore) as a second, independent registry implementation.

Versions: pulp-container 2.30.0, pulpcore 3.123.1 (Django 5.2, gunicorn 26.2; pinned with hashes in
``tests/tools/pulp/requirements.txt``), PostgreSQL 15 and nginx 1.22 from Debian 12.

How Pulp answers, as observed (tests/test_pulp_protocol.py and tests/test_pulp.py assert every line
marked *, so a new pin that answers otherwise is noticed):

  auth     * ``401 WWW-Authenticate: Bearer realm="<url>/token/",service="<host>",scope="repository:R:pull"``;
             one ``scope=`` per action (a push answers ``...:push``), a mount also names ``from``'s pull.
           * GET ``/token/?service=&scope=`` with Basic -> 200 ``{token, access_token, expires_in: 300,
             issued_at}``; JWT ``alg: ES256`` with a libtrust ``kid``, ``exp - iat = 300``, ``aud`` = the
             Host the client used. ``delete`` is never granted (pull and push only).
           * wrong password -> 401 ``WWW-Authenticate: Basic realm="api"``; no credentials -> 200 with pull on
             existing repositories (distributions are public) and nothing else.
           * POST ``/token/`` (OAuth2 grants) -> 405. Basic credentials on ``/v2/...`` itself -> 401.
           * a token scoped to repositories gets 401 ``insufficient_scope`` on ``GET /v2/``.
  blobs    * GET and HEAD ``/v2/R/blobs/D`` -> 302 to the content app (CONTENT_ORIGIN, another port):
             ``/pulp/container/R/blobs/D?expires=<now+3600>&validate_token=<hex>:<hex>``, no credentials
             needed there; a changed signature -> 403 ``text/plain``. The content app answers 200 with
             ``Content-Length`` and ``Docker-Content-Digest``. DELETE of a blob -> 202.
  mounts   * ``POST uploads/?mount=D&from=S`` -> 201 (``Location``, ``Docker-Content-Digest``);
           * without ``from`` -> 202 and an upload session (``Range: 0-0``); DELETE on it -> 204.
           * a blob unknown to the source -> 404 ``BLOB_UNKNOWN`` (not a 202 fallback).
           * a token without pull on ``from`` -> 401 ``insufficient_scope`` (not a 202 fallback).
  uploads  * ``Location`` relative (``/v2/R/blobs/uploads/<uuid>``), also ``Docker-Upload-UUID``.
           * PATCH with ``Content-Range: a-b`` -> 202 ``Range: 0-<end>`` (no ``bytes=``); GET on the session
             -> 204 with the same ``Range``. A chunk at the wrong offset -> 500 (an HTML error page), not
             416; a second PATCH without ``Content-Range`` -> 500 too (one streamed PATCH works).
           * a single POST with ``?digest=`` and the body -> 201.
           * PUT ``?digest=`` is NOT checked against the bytes: 201, and the blob is served under the
             claimed digest. Clients must verify what they read (hoist does).
           * a cancelled session's status -> 404 with a DRF body ``{"detail": ...}``, not the registry's
             error format.
  manifests* PUT to a repository that never had an upload -> 404 ``NAME_UNKNOWN``; with a blob missing -> 400
             ``BLOB_UNKNOWN``. A PUT under a wrong digest reference -> 201 with the true digest in
             ``Docker-Content-Digest`` (not 400 ``DIGEST_INVALID``).
           * an OCI manifest asked for with Docker types only -> 404 ``MANIFEST_UNKNOWN`` (as distribution).
           * manifests are served from the database (``container_manifest.data``), not from files.
             A 5 MiB manifest is accepted (distribution caps at 4 MiB). ``subject`` is accepted but no
             ``OCI-Subject`` header comes back.
  referrers* ``GET /v2/R/referrers/D`` -> 404 with an HTML page (no API; hoist uses ``sha256-<hex>`` tags).
  tags     * ``tags/list`` without ``n`` -> every tag, no ``Link``; with ``n`` -> ``Link: <absolute URL?n=&last=>;
             rel="next"``. ``_catalog`` needs the ``registry:catalog:*`` scope and paginates the same way.
  deletes  * DELETE by tag -> 400 ``INVALID_REQUEST`` "A manifest can only be deleted by digest."
           * DELETE by digest -> 202; a worker task then removes the manifest and every tag on it,
             a moment after the answer, from the repository's next version (Pulp keeps every version
             by default: the bytes stay). A manifest that was PUT by digest (kept "pending", outside
             the repository version) is still served by digest after that delete, even after an
             orphan clean-up.
  storage  * pushes land in a ``container`` repository (not ``container-push``) whose latest version
             holds the tags, manifests and blobs (REST API); blobs are files under MEDIA_ROOT/artifact.
  other    * TLS sent to the plain-HTTP port: nginx answers 400 at once (gunicorn alone stalls 30 s).

Topology, as Pulp's deployment docs have it (``pulp_container/app/webserver_snippets/nginx.conf``): nginx
on the registry's port in front of ``pulpcore-api`` (gunicorn, 2 workers), ``pulpcore-content`` on a port
of its own (``CONTENT_ORIGIN``: blob GETs redirect there), one ``pulpcore-worker``, PostgreSQL from Debian
(as the ``postgres`` user when run as root). nginx is not decoration: skopeo with ``--tls-verify=false``
first tries HTTPS, and gunicorn's sync worker waits for a request line that a TLS ClientHello never
sends, until its timeout kills the worker (skopeo gives up after 10 s per call).

Start-up: see :mod:`tests.infra.pulp_setup` for the cached, migrated database template. Every session
copies the template into a temp dir, sets a random admin password, makes a new ES256 key pair, and
starts everything on free loopback ports; :meth:`RunningPulp.stop` ends every process and PostgreSQL and
removes the data. Logs (``api``, ``content``, ``worker``, ``nginx``, ``access``, ``postgres``) stay in the
session's ``pulp0/log``.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from tests.infra.ports import free_port, wait_http
from tests.infra.postgres import Postgres, give_to_server, shared_tempdir
from tests.infra.pulp_setup import (
    ADMIN,
    install,
    migrated_template,
    password_hash,
    pulp_env,
    server_dir,
    write_keys,
    write_settings,
)
from tests.infra.registry import parse_challenge

ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)


@dataclass
class RunningPulp:
    """A started Pulp; offers what tests use from :class:`tests.infra.registry.RunningRegistry`."""

    host: str
    url: str
    content_url: str
    username: str
    password: str = field(repr=False)
    workdir: Path
    datadir: Path
    postgres: Postgres
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    started_in: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)
    variant: str = "pulp"
    ca_file: Path | None = None
    token_server: None = None

    def ssl_context(self) -> bool:
        return True

    def client(self, **kwargs: Any) -> httpx.Client:
        """An httpx client for the registry API: answers Bearer challenges from Pulp's token server."""
        return httpx.Client(base_url=self.url, auth=PulpTokenAuth(self.username, self.password), **kwargs)

    def api(self, **kwargs: Any) -> httpx.Client:
        """An httpx client for Pulp's REST API (``/pulp/api/v3/...``) as the admin (Basic auth)."""
        return httpx.Client(base_url=self.url, auth=(self.username, self.password), **kwargs)

    def token(self, *scopes: str) -> dict[str, Any]:
        """Ask Pulp's token server for ``scopes``; its JSON answer (``token``, ``expires_in``, ...)."""
        params: list[tuple[str, str]] = [("service", self.host), *(("scope", s) for s in scopes)]
        answer = httpx.get(f"{self.url}/token/", params=params, auth=(self.username, self.password))
        answer.raise_for_status()
        result: dict[str, Any] = answer.json()
        return result

    def bearer(self, *scopes: str) -> httpx.Client:
        """A registry client holding one token for ``scopes``; no challenge handling, so every answer
        is Pulp's own."""
        token = self.token(*scopes)["token"]
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {token}"})

    # -- Pulp as an oracle: what it holds, read without hoist ------------------------------------------

    def manifest(self, repo: str, reference: str) -> bytes:
        """The manifest as Pulp's registry API serves it."""
        with self.client() as client:
            answer = client.get(f"/v2/{repo}/manifests/{reference}", headers={"Accept": ACCEPT})
        answer.raise_for_status()
        return answer.content

    def tags(self, repo: str) -> set[str]:
        with self.client() as client:
            answer = client.get(f"/v2/{repo}/tags/list")
        answer.raise_for_status()
        return set(answer.json()["tags"])

    def latest_content(self, repo: str) -> dict[str, int]:
        """What the repository's latest version holds, by the REST API: ``{"container.tag": 2, ...}``."""
        with self.api() as api:
            found = api.get("/pulp/api/v3/repositories/", params={"name": repo}).json()["results"]
            if len(found) != 1:
                raise LookupError(f"{len(found)} Pulp repositories are named {repo!r}")
            version = api.get(found[0]["latest_version_href"]).json()
        return {kind: int(entry["count"]) for kind, entry in version["content_summary"]["present"].items()}

    def wait_for_tasks(self, timeout: float = 30.0) -> None:
        """Until the task queue is empty: registry deletes are tasks the worker runs after the 202."""
        deadline = time.monotonic() + timeout
        with self.api() as api:
            while api.get("/pulp/api/v3/tasks/", params={"state__in": "waiting,running"}).json()["count"]:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"Pulp's tasks did not finish within {timeout} s")
                time.sleep(0.1)

    def orphan_cleanup(self) -> None:
        """Have Pulp remove now what no repository version holds (by default it waits 24 hours)."""
        with self.api() as api:
            api.post("/pulp/api/v3/orphans/cleanup/", json={"orphan_protection_time": 0}).raise_for_status()
        self.wait_for_tasks()

    # -- files -----------------------------------------------------------------------------------------

    def auth_file(self, path: Path, *, password: str | None = None, also: tuple[str, ...] = ()) -> Path:
        """A containers ``auth.json`` with the admin's credentials (or ``password``) for this host and the
        hosts in ``also`` (a proxy in front of Pulp, say)."""
        secret = f"{self.username}:{self.password if password is None else password}"
        entry = {"auth": base64.b64encode(secret.encode()).decode()}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"auths": dict.fromkeys((self.host, *also), entry)}))
        return path

    def artifact_path(self, digest: str) -> Path:
        """Where Pulp keeps a blob's bytes (its file storage: ``MEDIA_ROOT/artifact/ab/cdef...``)."""
        hexdigest = digest.partition(":")[2]
        return self.datadir / "media" / "artifact" / hexdigest[:2] / hexdigest[2:]

    def log_text(self, name: str = "api") -> str:
        """One component's log (``api``, ``content``, ``worker``, ``nginx``, ``postgres``, ``access``)."""
        path = self.workdir / "log" / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        # To the leaders only: gunicorn's master stops its workers itself. SIGINT is its quick shutdown
        # (on SIGTERM an idle sync worker sleeps out its timeout); pulpcore-worker and nginx take SIGTERM.
        quick = {"api": signal.SIGINT, "content": signal.SIGINT}
        for name, process in self.processes.items():
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(quick.get(name, signal.SIGTERM))
        deadline = time.monotonic() + 10
        for process in self.processes.values():
            _end(process, max(0.1, deadline - time.monotonic()))
        self.processes.clear()
        try:
            self.postgres.stop(mode="immediate")  # its data is removed next
        finally:
            with contextlib.suppress(OSError):
                shutil.copy2(self.postgres.log_file, self.workdir / "log" / "postgres.log")
            shutil.rmtree(self.datadir, ignore_errors=True)

    def __enter__(self) -> RunningPulp:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class PulpTokenAuth(httpx.Auth):
    """Answers a Bearer challenge with a token fetched (Basic credentials) from the challenge's realm."""

    def __init__(self, username: str, password: str) -> None:
        self._credentials = (username, password)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        response = yield request
        challenge = response.headers.get("WWW-Authenticate", "")
        if response.status_code != 401 or not challenge.startswith("Bearer "):
            return
        params = parse_challenge(challenge)
        query = [("service", params.get("service", "")), *(("scope", s) for s in params.get("scope", "").split())]
        answer = httpx.get(params["realm"], params=query, auth=self._credentials)
        answer.raise_for_status()
        request.headers["Authorization"] = f"Bearer {answer.json()['token']}"
        yield request


def _end(process: subprocess.Popen[bytes], timeout: float) -> None:
    """Wait for a signalled process, then SIGKILL whatever is left in its process group."""
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=timeout)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # the leader if it hung, workers a master left behind
    process.wait(timeout=5)


# -- starting it ------------------------------------------------------------------------------------

NGINX_CONF = """
worker_processes 1;
pid {run}/nginx.pid;
error_log {log}/nginx.log warn;
events {{ worker_connections 512; }}
http {{
    log_format timed '$request_method $request_uri $status $request_time';
    access_log {log}/access.log timed;
    client_body_temp_path {run}/body;
    proxy_temp_path {run}/proxy;
    fastcgi_temp_path {run}/fastcgi;
    uwsgi_temp_path {run}/uwsgi;
    scgi_temp_path {run}/scgi;
    upstream pulp-api {{ server 127.0.0.1:{api_port}; }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 0;
        location / {{
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header Host $http_host;
            proxy_redirect off;
            proxy_read_timeout 300s;
            proxy_pass http://pulp-api;
        }}
    }}
}}
"""


def start_pulp(workdir: Path) -> RunningPulp:
    """Start Pulp with its settings and logs under ``workdir`` (data in a temp dir of its own)."""
    clock = _Phases()
    log_dir = workdir / "log"
    log_dir.mkdir(parents=True, exist_ok=True)
    with clock("install"):
        venv = install()
    with clock("template"):
        template = migrated_template(venv, log_dir)
    datadir = shared_tempdir("hoist-pulp-")
    port, api_port, content_port = free_port(), free_port(), free_port()
    log = server_dir(datadir / "pglog") / "postgres.log"
    running = RunningPulp(
        host=f"127.0.0.1:{port}",
        url=f"http://127.0.0.1:{port}",
        content_url=f"http://127.0.0.1:{content_port}",
        username=ADMIN,
        password=secrets.token_urlsafe(18),
        workdir=workdir,
        datadir=datadir,
        postgres=Postgres(datadir=datadir / "pgdata", port=free_port(), log_file=log),
    )
    try:
        with clock("database"):
            shutil.copytree(template / "pgdata", running.postgres.datadir, symlinks=True)
            give_to_server(running.postgres.datadir)
            running.postgres.start()
            running.postgres.sql(
                f"UPDATE auth_user SET password = '{password_hash(running.password)}' WHERE username = '{ADMIN}'",
                database="pulp",
            )
        with clock("settings"):
            etc = workdir / "etc"
            etc.mkdir(exist_ok=True)
            shutil.copy2(template / "database_fields.symmetric.key", etc / "database_fields.symmetric.key")
            write_keys(etc)
            settings = write_settings(
                etc=etc, data=datadir, db_port=running.postgres.port, url=running.url, content_url=running.content_url
            )
        with clock("services"):
            _start_services(running, venv, pulp_env(settings), etc, port=port, api_port=api_port)
            _wait_ready(running)
    except BaseException:
        running.stop()
        raise
    running.phases = clock.spent
    running.started_in = sum(clock.spent.values())
    (log_dir / "startup.json").write_text(json.dumps({"seconds": running.started_in, "phases": clock.spent}))
    return running


class _Phases:
    """Times named phases: ``with clock("name"): ...``; ``spent`` maps names to seconds."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        began = time.monotonic()
        try:
            yield
        finally:
            self.spent[name] = round(time.monotonic() - began, 2)


def _start_services(
    running: RunningPulp, venv: Path, env: dict[str, str], etc: Path, *, port: int, api_port: int
) -> None:
    log_dir = running.workdir / "log"
    content_port = running.content_url.rsplit(":", 1)[1]
    bin_dir = venv / "bin"
    # No control socket: gunicorn would put one at ~/.gunicorn/gunicorn.ctl, shared by every instance.
    gunicorn = ["--no-control-socket", "--timeout", "120", "--graceful-timeout", "3", "--workers"]
    commands = {
        "api": [str(bin_dir / "pulpcore-api"), "--bind", f"127.0.0.1:{api_port}", *gunicorn, "2"],
        "content": [str(bin_dir / "pulpcore-content"), "--bind", f"127.0.0.1:{content_port}", *gunicorn, "1"],
        "worker": [str(bin_dir / "pulpcore-worker")],
    }
    for name, argv in commands.items():
        running.processes[name] = _spawn(argv, log_dir / f"{name}.log", env)
    run_dir = running.datadir / "nginx"
    run_dir.mkdir()
    conf = etc / "nginx.conf"
    conf.write_text(NGINX_CONF.format(run=run_dir, log=log_dir, port=port, api_port=api_port))
    nginx = [
        shutil.which("nginx") or "/usr/sbin/nginx",
        "-c",
        str(conf),
        "-p",
        str(run_dir),
        "-e",
        str(log_dir / "nginx.log"),
        "-g",
        "daemon off;",
    ]
    running.processes["nginx"] = _spawn(nginx, log_dir / "nginx.log", env)


def _spawn(argv: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with log.open("ab") as handle:
        return subprocess.Popen(
            argv, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True
        )


def _wait_ready(running: RunningPulp, timeout: float = 120.0) -> None:
    """Until the registry answers through nginx and the API, content app and worker report online."""
    deadline = time.monotonic() + timeout
    wait_http(f"{running.content_url}/pulp/content/", timeout, process=running.processes["content"])
    with httpx.Client(base_url=running.url, timeout=5.0) as client:
        while True:
            for name, process in running.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(
                        f"pulp {name} exited with {process.returncode}; its log:\n{running.log_text(name)[-3000:]}"
                    )
            try:
                status = client.get("/pulp/api/v3/status/")
                if status.status_code == 200:
                    body = status.json()
                    if all(body.get(key) for key in ("online_workers", "online_content_apps", "online_api_apps")):
                        return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"pulp not ready within {timeout}s; api log:\n{running.log_text('api')[-3000:]}")
            time.sleep(0.1)
