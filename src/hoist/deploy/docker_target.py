"""Deploy to a Docker Engine API (Docker, or Podman's compatible service) with the docker SDK.

The new image is pulled by digest before anything running is touched, so a missing image or an
unreachable engine leaves the running version serving. The running container is replaced, keeping
its settings (environment not set by its image, ports, volumes, network, restart policy, labels) under
the configured ones, and is kept stopped as ``<name>-hoist-previous`` for a fast restore.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import docker
import docker.errors
import requests.exceptions
from docker.models.containers import Container

from hoist.deploy.health import Check, Outcome
from hoist.deploy.target import Deployed, Running
from hoist.errors import InputError, OperationError
from hoist.promotion.config import DeployConfig
from hoist.store.registry.credentials import Credentials

_PORT = re.compile(
    r"^(?:(?P<ip>\[[0-9a-fA-F:]+\]|[0-9.]+):)?(?:(?P<host>\d+):)?(?P<container>\d+)(?:/(?P<proto>tcp|udp|sctp))?$"
)
_DEFAULT_NETWORKS = {"default", "bridge", "podman", ""}
API_VERSION = "1.41"
ENGINE_ERRORS = (docker.errors.DockerException, requests.exceptions.RequestException)


def parse_ports(specs: tuple[str, ...]) -> dict[str, Any]:
    """``["127.0.0.1:18080:8080", "9090:9090/udp", "8443"]`` as the docker SDK's ``ports`` mapping."""
    ports: dict[str, Any] = {}
    for spec in specs:
        match = _PORT.match(spec)
        if match is None:
            raise InputError(f"port {spec!r}: expected [HOST_IP:]HOST_PORT:CONTAINER_PORT[/PROTO]")
        key = f"{match['container']}/{match['proto'] or 'tcp'}"
        host_port = int(match["host"]) if match["host"] else None
        ip = (match["ip"] or "").strip("[]")
        binding: Any = (ip, host_port) if ip else host_port
        ports[key] = binding
    return ports


def _message(exc: Exception) -> str:
    explanation = getattr(exc, "explanation", None)
    text = explanation.decode() if isinstance(explanation, bytes) else str(explanation or exc)
    return " ".join(text.split())[:300]


def _stream_error(event: object) -> str | None:
    """The error a pull's progress event reports (``error``, or ``errorDetail.message``), if any."""
    if not isinstance(event, dict):
        return None
    detail = event.get("errorDetail")
    error = event.get("error") or (detail.get("message") if isinstance(detail, dict) else None)
    return " ".join(str(error).split())[:300] if error else None


def _digest_of(image_ref: str) -> str:
    return image_ref.rpartition("@")[2] if "@" in image_ref else ""


class DockerTarget:
    kind = "docker"

    def __init__(
        self, config: DeployConfig, *, environ: Mapping[str, str], credentials: Credentials | None = None
    ) -> None:
        assert config.container is not None
        self.config = config
        self.name = config.container
        self.host = config.host or environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        self.credentials = credentials
        self._pulled: dict[str, float] = {}
        self._stop = max(int(config.stop_timeout), 0)
        try:  # the docker SDK raises requests' errors for transport failures, its own for API answers
            # A fixed API version: negotiating it costs a /version call, half a second on podman.
            # 1.41 is served by Docker 20.10 and later and by Podman's compatible API.
            self.client = docker.DockerClient(base_url=self.host, timeout=int(config.timeout), version=API_VERSION)
            self.client.ping()
        except ENGINE_ERRORS as exc:
            raise OperationError(
                f"cannot reach the container engine at {self.host}: {_message(exc)} "
                "(set deploy.host or DOCKER_HOST to its socket)"
            ) from exc

    def describe(self) -> str:
        return f"docker {self.host} container {self.name}"

    def close(self) -> None:
        self.client.close()

    # -- what runs -----------------------------------------------------------------------------------

    def _get(self, name: str) -> Container | None:
        try:
            return self.client.containers.get(name)
        except docker.errors.NotFound:
            return None
        except ENGINE_ERRORS as exc:
            raise OperationError(f"cannot inspect container {name} at {self.host}: {_message(exc)}") from exc

    def current(self) -> Running | None:
        container = self._get(self.name)
        if container is None:
            return None
        image = str(container.attrs.get("Config", {}).get("Image") or "")
        return Running(image=image, digest=_digest_of(image), handle=container.id)

    # -- deploying -----------------------------------------------------------------------------------

    def prepare(self, image: str) -> None:
        with self._engine(f"pulling {image}"):
            self._pulled[image] = self._pull(image)

    def _pull(self, image: str) -> float:
        if image in self._pulled:
            return 0.0
        started = time.monotonic()
        auth = None
        if self.credentials is not None:
            auth = (
                {"identitytoken": self.credentials.secret.reveal()}
                if self.credentials.identity_token
                else {"username": self.credentials.username, "password": self.credentials.secret.reveal()}
            )
        try:
            # The pull answers 200 at once and reports a failure inside its progress stream (Docker and
            # podman alike): read the stream to the end and take its error as the reason.
            for event in self.client.api.pull(image, auth_config=auth, stream=True, decode=True):
                error = _stream_error(event)
                if error is not None:
                    raise OperationError(f"the engine at {self.host} cannot pull {image}: {error}")
            self.client.images.get(image)
        except ENGINE_ERRORS as exc:
            raise OperationError(f"the engine at {self.host} cannot pull {image}: {_message(exc)}") from exc
        return time.monotonic() - started

    def _settings(self, previous: Container | None) -> dict[str, Any]:
        """The new container's settings: the configured ones over those of the container it replaces."""
        env: dict[str, str] = {}
        ports: dict[str, Any] = {}
        binds: list[str] = []
        network = None
        restart = None
        labels: dict[str, str] = {}
        if previous is not None:
            attrs = previous.attrs
            image_env = set(self._image_env(attrs.get("Image", "")))
            for item in attrs.get("Config", {}).get("Env") or []:
                if item not in image_env and "=" in item:
                    key, value = item.split("=", 1)
                    env[key] = value
            for key, bindings in (attrs.get("HostConfig", {}).get("PortBindings") or {}).items():
                if bindings:
                    first = bindings[0]
                    port = int(first["HostPort"]) if first.get("HostPort") else None
                    ports[key] = (first["HostIp"], port) if first.get("HostIp") else port
            binds = list(attrs.get("HostConfig", {}).get("Binds") or [])
            mode = attrs.get("HostConfig", {}).get("NetworkMode") or ""
            network = None if mode in _DEFAULT_NETWORKS else mode
            policy = attrs.get("HostConfig", {}).get("RestartPolicy") or {}
            restart = policy if policy.get("Name") else None
            labels = {
                k: v for k, v in (attrs.get("Config", {}).get("Labels") or {}).items() if not k.startswith("dev.hoist.")
            }
        env.update(self.config.env)
        if self.config.ports:
            ports = parse_ports(self.config.ports)
        binds += [v for v in self.config.volumes if v not in binds]
        settings: dict[str, Any] = {
            "environment": [f"{k}={v}" for k, v in env.items()],
            "ports": ports,
            "volumes": binds,
            "labels": labels,
            "detach": True,
        }
        if self.config.network or network:
            settings["network"] = self.config.network or network
        if restart:
            settings["restart_policy"] = restart
        if self.config.command:
            settings["command"] = list(self.config.command)
        return settings

    def _image_env(self, image_id: str) -> list[str]:
        try:
            return list(self.client.images.get(image_id).attrs.get("Config", {}).get("Env") or [])
        except ENGINE_ERRORS:
            return []

    def _remove(self, name: str) -> None:
        stale = self._get(name)
        if stale is not None:
            stale.remove(force=True)

    def deploy(self, image: str, digest: str, *, previous: Running | None) -> Deployed:
        with self._engine(f"deploying {image}"):
            return self._deploy(image, digest)

    def _deploy(self, image: str, digest: str) -> Deployed:
        pulled = self._pull(image)
        old = self._get(self.name)
        settings = self._settings(old)
        settings["labels"] = {**settings["labels"], "dev.hoist.digest": digest, "dev.hoist.image": image}
        started = time.monotonic()
        self._remove(f"{self.name}-hoist-next")
        try:
            new = self.client.containers.create(image, name=f"{self.name}-hoist-next", **settings)
        except ENGINE_ERRORS as exc:
            raise OperationError(f"cannot create a container from {image}: {_message(exc)}") from exc
        old_running = old is not None and old.status == "running"
        overlap = old is not None and self._host_ports(old) & self._host_ports_of(settings["ports"])
        if old_running and overlap:
            assert old is not None
            old.stop(timeout=self._stop)
        try:
            new.start()
        except ENGINE_ERRORS as exc:
            new.remove(force=True)
            if old_running and overlap:
                assert old is not None
                old.start()
            raise OperationError(f"cannot start {image} as {self.name}: {_message(exc)}") from exc
        if old is not None:
            if old_running and not overlap:
                old.stop(timeout=self._stop)
            self._remove(f"{self.name}-hoist-previous")
            old.rename(f"{self.name}-hoist-previous")
        new.rename(self.name)
        return Deployed(
            image=image,
            digest=digest,
            handle=new.id,
            timings={"pull": round(pulled, 3), "start": round(time.monotonic() - started, 3)},
            details={"container": self.name, "id": new.id, "previous_container": old.id if old is not None else None},
        )

    def restore(self, previous: Running, *, failed: Deployed | None) -> Deployed:
        with self._engine(f"restoring {previous.image}"):
            return self._restore(previous, failed)

    @contextmanager
    def _engine(self, what: str) -> Iterator[None]:
        """Engine failures not handled where they happen (the engine went away mid-way) as one error."""
        try:
            yield
        except ENGINE_ERRORS as exc:
            raise OperationError(f"the container engine at {self.host} failed while {what}: {_message(exc)}") from exc

    def _restore(self, previous: Running, failed: Deployed | None) -> Deployed:
        started = time.monotonic()
        if failed is not None and failed.handle:
            broken = self._get(failed.handle)
            if broken is not None:
                if broken.status == "running":
                    broken.stop(timeout=self._stop)
                self._remove(f"{self.name}-hoist-failed")
                broken.rename(f"{self.name}-hoist-failed")
        kept = self._get(f"{self.name}-hoist-previous")
        if kept is not None and str(kept.attrs.get("Config", {}).get("Image")) == previous.image:
            kept.rename(self.name)
            try:
                kept.start()
            except ENGINE_ERRORS as exc:
                raise OperationError(f"cannot restart the previous container {self.name}: {_message(exc)}") from exc
            return Deployed(
                image=previous.image,
                digest=previous.digest,
                handle=kept.id,
                timings={"start": round(time.monotonic() - started, 3)},
                details={"container": self.name, "id": kept.id},
            )
        self._remove(self.name)
        return self._deploy(previous.image, previous.digest)

    @staticmethod
    def _host_ports(container: Container) -> set[str]:
        bindings = container.attrs.get("HostConfig", {}).get("PortBindings") or {}
        return {b.get("HostPort") for items in bindings.values() for b in (items or []) if b.get("HostPort")}

    @staticmethod
    def _host_ports_of(ports: dict[str, Any]) -> set[str]:
        out = set()
        for binding in ports.values():
            port = binding[1] if isinstance(binding, tuple) else binding
            if port:
                out.add(str(port))
        return out

    # -- health --------------------------------------------------------------------------------------

    def alive(self, deployed: Deployed) -> str | None:
        container = self._get(deployed.handle or self.name)
        if container is None:
            return "was removed"
        state = container.attrs.get("State", {})
        if container.status in ("exited", "dead"):
            return f"exited with code {state.get('ExitCode')}"
        return None

    def checks(self, deployed: Deployed) -> list[Check]:
        container = self._get(deployed.handle or self.name)
        if container is None:
            return []
        test = (container.attrs.get("Config", {}).get("Healthcheck") or {}).get("Test") or []
        if not test or test[0] == "NONE":
            return []
        return [ContainerHealthcheck(container, test)]


class ContainerHealthcheck:
    """The image's own HEALTHCHECK, run with ``exec`` (engines do not all run it on their own)."""

    def __init__(self, container: Container, test: list[str]) -> None:
        self.container = container
        self.command: list[str] | str = test[1:] if test[0] == "CMD" else ["/bin/sh", "-c", test[1]]
        self.name = f"HEALTHCHECK {' '.join(test[1:])}"[:120]

    def __call__(self) -> Outcome:
        try:
            result = self.container.exec_run(self.command)
        except ENGINE_ERRORS as exc:
            return Outcome(False, f"{self.name}: {_message(exc)}")
        if result.exit_code == 0:
            return Outcome(True, f"{self.name} exited 0")
        output = (result.output or b"").decode(errors="replace").strip().replace("\n", " ")[:80]
        return Outcome(False, f"{self.name} exited {result.exit_code}: {output}")
