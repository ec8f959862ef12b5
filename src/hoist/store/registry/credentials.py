"""Where registry credentials come from, in the order docker, podman and skopeo users expect.

1. containers' ``auth.json``: ``$REGISTRY_AUTH_FILE``, ``$XDG_RUNTIME_DIR/containers/auth.json``,
   ``~/.config/containers/auth.json`` — keys may be ``host/namespace/repo``; the most specific wins.
2. docker's ``config.json`` (``$DOCKER_CONFIG`` or ``~/.docker``): ``credHelpers[host]``, then
   ``credsStore``, then ``auths[host]`` (``auth`` = base64 ``user:pass``, or ``identitytoken``).
3. ``$GITHUB_TOKEN`` / ``$GH_TOKEN`` for ``ghcr.io`` (as in GitHub Actions with ``packages: write``).

Credential helpers speak docker's protocol: ``docker-credential-<name> get`` with the server URL on stdin
and ``{"ServerURL", "Username", "Secret"}`` on stdout; the username ``<token>`` means an identity token.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hoist.errors import AuthenticationFailed, ConfigError
from hoist.ref import DOCKER_HUB, DOCKER_HUB_CONFIG_KEY
from hoist.secret import Secret

_HELPER_TIMEOUT = 30.0
_HUB_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io")


@dataclass(frozen=True, slots=True)
class Credentials:
    username: str
    secret: Secret
    identity_token: bool = False
    source: str = ""

    def __repr__(self) -> str:
        kind = "identity token" if self.identity_token else "password"
        return f"Credentials(username={self.username!r}, {kind}=***, source={self.source!r})"


HelperRunner = Callable[[str, str], str | None]


@dataclass(frozen=True, kw_only=True)
class CredentialResolver:
    """Looks up credentials for a registry (and repository) from the user's environment."""

    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    authfile: Path | None = None
    run_helper: HelperRunner | None = None
    explicit: Mapping[str, Credentials] = field(default_factory=dict)
    """Credentials given per registry host by the caller; they come before every file."""

    def lookup(self, registry: str, repository: str | None = None) -> Credentials | None:
        if registry in self.explicit:
            return self.explicit[registry]
        for path in self._auth_json_paths():
            found = _from_auth_json(path, registry, repository, self._helper)
            if found is not None:
                return found
        found = _from_docker_config(self._docker_config_path(), registry, self._helper)
        if found is not None:
            return found
        if registry == "ghcr.io":
            for name in ("GITHUB_TOKEN", "GH_TOKEN"):
                token = self.environ.get(name)
                if token:
                    user = self.environ.get("GITHUB_ACTOR") or "hoist"
                    return Credentials(user, Secret(token), source=f"${name}")
        return None

    def _helper(self, helper: str, server: str) -> str | None:
        runner = self.run_helper or _run_helper
        return runner(helper, server)

    def _auth_json_paths(self) -> list[Path]:
        paths: list[Path] = []
        if self.authfile is not None:
            return [self.authfile]
        explicit = self.environ.get("REGISTRY_AUTH_FILE")
        if explicit:
            paths.append(Path(explicit))
        runtime = self.environ.get("XDG_RUNTIME_DIR")
        if runtime:
            paths.append(Path(runtime) / "containers" / "auth.json")
        home = self.environ.get("HOME")
        if home:
            paths.append(Path(home) / ".config" / "containers" / "auth.json")
        return paths

    def _docker_config_path(self) -> Path | None:
        if self.authfile is not None:
            return None
        base = self.environ.get("DOCKER_CONFIG")
        if base:
            return Path(base) / "config.json"
        home = self.environ.get("HOME")
        return Path(home) / ".docker" / "config.json" if home else None


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"cannot read credentials file {path}: {exc.strerror}") from exc
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"credentials file {path} is not valid JSON (line {exc.lineno}): fix or remove it") from exc
    if not isinstance(doc, dict):
        raise ConfigError(f"credentials file {path} must hold a JSON object")
    return doc


def _normalise_key(key: str) -> str:
    for prefix in ("https://", "http://"):
        if key.startswith(prefix):
            key = key[len(prefix) :]
    key = key.rstrip("/")
    if key in ("index.docker.io/v1", "index.docker.io", "registry-1.docker.io"):
        return DOCKER_HUB
    return key


def _server_url(registry: str) -> str:
    return DOCKER_HUB_CONFIG_KEY if registry == DOCKER_HUB else registry


def _decode_auth(entry: Mapping[str, Any], source: Path, key: str) -> Credentials | None:
    token = entry.get("identitytoken")
    auth = entry.get("auth")
    username = ""
    password = ""
    if isinstance(auth, str) and auth:
        try:
            username, _, password = base64.b64decode(auth, validate=False).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise ConfigError(f"{source}: auths.{key}.auth is not base64 'user:password'") from exc
    elif isinstance(entry.get("username"), str):
        username = str(entry["username"])
        password = str(entry.get("password", ""))
    if isinstance(token, str) and token:
        return Credentials(username or "<token>", Secret(token), identity_token=True, source=str(source))
    if username or password:
        return Credentials(username, Secret(password), source=str(source))
    return None


def _from_auth_json(path: Path, registry: str, repository: str | None, helper: HelperRunner) -> Credentials | None:
    doc = _read_json(path)
    if doc is None:
        return None
    auths = doc.get("auths") if isinstance(doc.get("auths"), dict) else {}
    assert isinstance(auths, dict)
    entries = {_normalise_key(k): v for k, v in auths.items() if isinstance(v, dict)}
    candidates: list[str] = []
    if repository:
        parts = repository.split("/")
        candidates += [f"{registry}/{'/'.join(parts[:n])}" for n in range(len(parts), 0, -1)]
    candidates.append(registry)
    for key in candidates:
        if key in entries:
            found = _decode_auth(entries[key], path, key)
            if found is not None:
                return found
    helpers = doc.get("credHelpers")
    if isinstance(helpers, dict) and isinstance(helpers.get(registry), str):
        return _from_helper(str(helpers[registry]), registry, helper)
    return None


def _from_docker_config(path: Path | None, registry: str, helper: HelperRunner) -> Credentials | None:
    if path is None:
        return None
    doc = _read_json(path)
    if doc is None:
        return None
    helpers = doc.get("credHelpers")
    if isinstance(helpers, dict):
        normalised = {_normalise_key(k): v for k, v in helpers.items()}
        if isinstance(normalised.get(registry), str):
            found = _from_helper(str(normalised[registry]), registry, helper)
            if found is not None:
                return found
    store = doc.get("credsStore")
    if isinstance(store, str) and store:
        found = _from_helper(store, registry, helper)
        if found is not None:
            return found
    auths = doc.get("auths")
    if isinstance(auths, dict):
        for key, entry in auths.items():
            if isinstance(entry, dict) and _normalise_key(key) == registry:
                found = _decode_auth(entry, path, key)
                if found is not None:
                    return found
    return None


def _from_helper(name: str, registry: str, runner: HelperRunner) -> Credentials | None:
    server = _server_url(registry)
    output = runner(name, server)
    if output is None:
        return None
    try:
        doc = json.loads(output)
        username = str(doc.get("Username", ""))
        secret = str(doc.get("Secret", ""))
    except (json.JSONDecodeError, AttributeError) as exc:
        raise AuthenticationFailed(
            f"credential helper docker-credential-{name} returned malformed output for {registry}"
        ) from exc
    if not secret:
        return None
    source = f"docker-credential-{name}"
    if username == "<token>":
        return Credentials(username, Secret(secret), identity_token=True, source=source)
    return Credentials(username, Secret(secret), source=source)


def _run_helper(name: str, server: str) -> str | None:
    program = f"docker-credential-{name}"
    executable = shutil.which(program)
    if executable is None:
        raise AuthenticationFailed(
            f"credential helper {program} is configured in the docker config but not on PATH: "
            "install it or remove it from credHelpers/credsStore"
        )
    try:
        done = subprocess.run(  # noqa: S603 - the helper named by the user's own docker config
            [executable, "get"],
            input=server,
            capture_output=True,
            text=True,
            timeout=_HELPER_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise AuthenticationFailed(f"credential helper {program} did not answer within 30 s") from exc
    if done.returncode != 0:
        message = (done.stdout or done.stderr).strip().lower()
        if "not found" in message or not message:
            return None  # the helper protocol's way of saying "no credentials for this server"
        raise AuthenticationFailed(f"credential helper {program} failed for {server}: {message[:200]}")
    return done.stdout
