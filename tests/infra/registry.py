"""Real distribution 2.8 registries (``/usr/bin/docker-registry``) on loopback ports.

Variants: ``plain`` (HTTP, no auth), ``htpasswd`` (Basic, realm ``hoist-test``), ``token`` (Bearer
tokens from a :class:`TokenServer`) and ``tls`` (HTTPS with a certificate from a throw-away CA).
"""

from __future__ import annotations

import json
import os
import secrets
import ssl
import subprocess
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal

import httpx

from tests.infra.pki import TestCA, server_cert, signing_cert
from tests.infra.ports import free_port, wait_http
from tests.infra.token_server import TokenServer

Variant = Literal["plain", "htpasswd", "token", "tls"]
BINARY = "/usr/bin/docker-registry"
DEFAULT_USER = "hoist-user"


@dataclass
class RunningRegistry:
    """A started registry process; ``stop()`` (or leaving the ``with`` block) ends it."""

    variant: Variant
    host: str
    url: str
    storage_dir: Path
    log_file: Path
    config_file: Path
    process: subprocess.Popen[bytes]
    username: str | None = None
    password: str | None = None
    ca_file: Path | None = None
    token_server: TokenServer | None = None
    _log_handle: IO[bytes] | None = field(default=None, repr=False)

    def ssl_context(self) -> ssl.SSLContext | bool:
        """What to pass as httpx ``verify=``: a context trusting the test CA for TLS, else True."""
        if self.ca_file is None:
            return True
        return ssl.create_default_context(cafile=str(self.ca_file))

    def client(self, **kwargs: Any) -> httpx.Client:
        """An httpx client for this registry with full access (tokens are minted, not requested)."""
        auth: httpx.Auth | None = None
        if self.variant == "htpasswd":
            assert self.username is not None
            assert self.password is not None
            auth = httpx.BasicAuth(self.username, self.password)
        elif self.token_server is not None:
            auth = MintedTokenAuth(self.token_server, self.username or DEFAULT_USER)
        return httpx.Client(base_url=self.url, verify=self.ssl_context(), auth=auth, **kwargs)

    def log_text(self) -> str:
        """The registry's log so far (warnings and errors only)."""
        return self.log_file.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self._log_handle is not None:
            self._log_handle.close()
        if self.token_server is not None:
            self.token_server.stop()

    def __enter__(self) -> RunningRegistry:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


Registry = RunningRegistry


class MintedTokenAuth(httpx.Auth):
    """Answers a Bearer challenge with a token minted for exactly the challenged scope."""

    def __init__(self, server: TokenServer, subject: str) -> None:
        self._server = server
        self._subject = subject

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        response = yield request
        challenge = response.headers.get("WWW-Authenticate", "")
        if response.status_code != 401 or not challenge.startswith("Bearer "):
            return
        params = parse_challenge(challenge)
        scopes = params.get("scope", "").split()
        token = self._server.mint(self._subject, scopes, service=params.get("service"))
        request.headers["Authorization"] = f"Bearer {token}"
        yield request


def parse_challenge(header: str) -> dict[str, str]:
    """``Bearer realm="x",service="y",scope="a b"`` -> {realm, service, scope} (quoted values only)."""
    params: dict[str, str] = {}
    rest = header.partition(" ")[2]
    while rest:
        key, _, rest = rest.lstrip(", ").partition("=")
        if not rest.startswith('"'):
            break
        value, _, rest = rest[1:].partition('"')
        params[key.strip()] = value
    return params


def start_registry(
    workdir: Path, variant: Variant, *, users: dict[str, str] | None = None, delete: bool = True
) -> RunningRegistry:
    """Start a registry of ``variant`` with its config, storage and log under ``workdir``; ``delete=False``
    turns manifest deletes off (the registry then answers them 405 UNSUPPORTED)."""
    workdir.mkdir(parents=True, exist_ok=True)
    users = users or {DEFAULT_USER: secrets.token_urlsafe(12)}
    username, password = next(iter(users.items()))
    for attempt in range(3):  # free_port() can race with another process grabbing the port
        try:
            return _start_once(workdir, variant, users, username, password, delete=delete)
        except RuntimeError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _start_once(
    workdir: Path, variant: Variant, users: dict[str, str], username: str, password: str, *, delete: bool = True
) -> RunningRegistry:
    port = free_port()
    storage = workdir / "storage"
    storage.mkdir(exist_ok=True)
    config: dict[str, Any] = {
        "version": "0.1",
        "log": {"level": "warn", "accesslog": {"disabled": True}, "formatter": "text"},
        "storage": {"filesystem": {"rootdirectory": str(storage)}, "delete": {"enabled": delete}},
        "http": {"addr": f"127.0.0.1:{port}", "secret": secrets.token_hex(16)},
    }
    token_server: TokenServer | None = None
    ca_file: Path | None = None
    if variant == "htpasswd":
        config["auth"] = {"htpasswd": {"realm": "hoist-test", "path": str(_write_htpasswd(workdir, users))}}
    elif variant == "token":
        signer = signing_cert(workdir / "pki", TestCA.create("hoist token CA"))
        token_server = TokenServer(signing=signer, users=users).start()
        config["auth"] = {
            "token": {
                "realm": token_server.realm,
                "service": token_server.service,
                "issuer": token_server.issuer,
                "rootcertbundle": str(signer.ca_cert),
            }
        }
    elif variant == "tls":
        certs = server_cert(workdir / "pki")
        ca_file = certs.ca_cert
        config["http"]["tls"] = {"certificate": str(certs.cert), "key": str(certs.key)}
    config_file = workdir / "config.yml"
    config_file.write_text(json.dumps(config, indent=2))  # JSON is valid YAML
    log_file = workdir / "registry.log"
    log = log_file.open("ab")
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    process = subprocess.Popen(
        [BINARY, "serve", str(config_file)],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    scheme = "https" if variant == "tls" else "http"
    running = RunningRegistry(
        variant=variant,
        host=f"127.0.0.1:{port}",
        url=f"{scheme}://127.0.0.1:{port}",
        storage_dir=storage,
        log_file=log_file,
        config_file=config_file,
        process=process,
        username=username if variant in ("htpasswd", "token") else None,
        password=password if variant in ("htpasswd", "token") else None,
        ca_file=ca_file,
        token_server=token_server,
        _log_handle=log,
    )
    try:
        wait_http(f"{running.url}/v2/", 15.0, verify=running.ssl_context(), process=process)
    except RuntimeError as exc:
        running.stop()
        raise RuntimeError(f"{exc}; registry log:\n{running.log_text()[-2000:]}") from exc
    except BaseException:
        running.stop()
        raise
    return running


def _write_htpasswd(workdir: Path, users: dict[str, str]) -> Path:
    lines = []
    for user, password in users.items():
        out = subprocess.run(["/usr/bin/htpasswd", "-Bbn", user, password], check=True, capture_output=True, text=True)
        lines.append(out.stdout.strip())
    path = workdir / "htpasswd"
    path.write_text("\n".join(lines) + "\n")
    return path
