"""A private podman Docker-compatible API service for tests (rootful podman 4.3, runc, netavark).

Everything lives under ``workdir``: ``containers.conf`` (runc, rlimits these VMs accept, libpod tmp
dir), ``storage.conf`` (overlay graphroot/runroot), ``registries.conf`` (the loopback test
registries as ``insecure``), the netavark network config and the API socket. The service finds the
files through ``CONTAINERS_CONF`` / ``CONTAINERS_STORAGE_CONF`` / ``CONTAINERS_REGISTRIES_CONF``, so
nothing in ``/etc`` is needed. Containers join a bridge network of their own (random /24 in 10.x,
its own interface) so two engines on one machine never hand out the same address; published
ports (``ports={"8080/tcp": ("127.0.0.1", N)}``) are reachable from the host at 127.0.0.1:N.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import docker
import httpx

PODMAN = "podman"
# registries.conf matches a location as a prefix ending at ":" or "/", so "127.0.0.1" also covers
# "127.0.0.1:5000" (containers/image calls that unintended but it holds in podman 4.3): these two
# entries make every loopback registry, on any port, plain-HTTP/unverified-TLS for the engine.
LOOPBACK_REGISTRIES = ("127.0.0.1", "localhost")
_MAX_SOCKET_PATH = 100  # sun_path is 108 bytes


@dataclass
class RunningEngine:
    """A running ``podman system service``; :meth:`stop` removes its containers and ends it."""

    workdir: Path
    socket_path: Path
    env: dict[str, str]
    network: str
    process: subprocess.Popen[bytes]

    @property
    def socket_url(self) -> str:
        return f"unix://{self.socket_path}"

    def docker_client(self, *, timeout: int = 120) -> docker.DockerClient:
        """A docker SDK client talking to this service."""
        return docker.DockerClient(base_url=self.socket_url, timeout=timeout)

    def podman(self, *args: str, timeout: float = 120.0, check: bool = True) -> str:
        """Run the podman CLI against this engine's storage and configuration; returns stdout."""
        return _podman(self.env, *args, timeout=timeout, check=check)

    def stop(self) -> None:
        """Remove all containers, stop the service, remove the network. Safe to call twice."""
        if self.process.poll() is None:
            self.podman("rm", "--all", "--force", "--time=0", check=False)
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.podman("rm", "--all", "--force", "--time=0", check=False)
        self.podman("network", "rm", "--force", self.network, check=False)


def _podman(env: dict[str, str], *args: str, timeout: float = 120.0, check: bool = True) -> str:
    done = subprocess.run([PODMAN, *args], env=env, capture_output=True, timeout=timeout, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"podman {' '.join(args)} exited {done.returncode}: {done.stderr.decode().strip()}")
    return done.stdout.decode()


def write_config(workdir: Path, *, insecure_registries: Sequence[str], network: str) -> dict[str, str]:
    """Write the three config files under ``workdir``; return the environment pointing at them."""
    workdir.mkdir(parents=True, exist_ok=True)
    containers_conf = workdir / "containers.conf"
    containers_conf.write_text(
        "[containers]\n"
        'default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n'
        "[engine]\n"
        'runtime = "runc"\n'
        'cgroup_manager = "cgroupfs"\n'
        'events_logger = "file"\n'
        f'events_logfile_path = "{workdir / "events.log"}"\n'
        f'tmp_dir = "{workdir / "libpod"}"\n'
        "[network]\n"
        f'network_config_dir = "{workdir / "networks"}"\n'
        f'default_network = "{network}"\n'
    )
    storage_conf = workdir / "storage.conf"
    storage_conf.write_text(
        f'[storage]\ndriver = "overlay"\ngraphroot = "{workdir / "storage"}"\nrunroot = "{workdir / "run"}"\n'
        # no private bind mount of graphroot/overlay onto itself: it would outlive the service
        '[storage.options.overlay]\nskip_mount_home = "true"\n'
    )
    registries_conf = workdir / "registries.conf"
    blocks = "".join(f'\n[[registry]]\nlocation = "{host}"\ninsecure = true\n' for host in insecure_registries)
    registries_conf.write_text(f'unqualified-search-registries = []\nshort-name-mode = "permissive"\n{blocks}')
    env = dict(os.environ)
    env.update(
        CONTAINERS_CONF=str(containers_conf),
        CONTAINERS_STORAGE_CONF=str(storage_conf),
        CONTAINERS_REGISTRIES_CONF=str(registries_conf),
        REGISTRY_AUTH_FILE=str(workdir / "auth.json"),
    )
    return env


def write_network(directory: Path, *, name: str, interface: str, subnet: ipaddress.IPv4Network) -> None:
    """A netavark bridge network definition, as ``podman network create`` would write it (podman 4.3
    has no ``--interface-name``; our own interface name keeps engines off each other's bridges)."""
    directory.mkdir(parents=True, exist_ok=True)
    config = {
        "name": name,
        "id": secrets.token_hex(32),
        "driver": "bridge",
        "network_interface": interface,
        "created": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "subnets": [{"subnet": str(subnet), "gateway": str(subnet.network_address + 1)}],
        "ipv6_enabled": False,
        "internal": False,
        "dns_enabled": False,
        "ipam_options": {"driver": "host-local"},
    }
    (directory / f"{name}.json").write_text(json.dumps(config, indent=2))


def _free_subnet() -> ipaddress.IPv4Network:
    """A random 10.x.y.0/24 that no route on this host overlaps."""
    routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True, check=True).stdout
    used = [
        ipaddress.IPv4Network(line.split()[0], strict=False)
        for line in routes.splitlines()
        if line and line.split()[0][0].isdigit()
    ]
    for _ in range(100):
        candidate = ipaddress.IPv4Network(f"10.{secrets.randbelow(100) + 100}.{secrets.randbelow(256)}.0/24")
        if not any(candidate.overlaps(net) for net in used):
            return candidate
    raise RuntimeError("no free 10.x.y.0/24 subnet for the test engine's network")


def start_engine(
    workdir: Path, *, insecure_registries: Sequence[str] = LOOPBACK_REGISTRIES, timeout: float = 30.0
) -> RunningEngine:
    """Configure and start a private podman API service under ``workdir``; wait for ``/_ping``."""
    suffix = secrets.token_hex(4)
    network = f"hoist-test-{suffix}"
    env = write_config(workdir, insecure_registries=insecure_registries, network=network)
    write_network(workdir / "networks", name=network, interface=f"hst{suffix}", subnet=_free_subnet())
    socket_path = workdir / "podman.sock"
    if len(str(socket_path)) > _MAX_SOCKET_PATH:
        socket_path = Path(tempfile.mkdtemp(prefix="hoist-podman-")) / "podman.sock"
    socket_path.unlink(missing_ok=True)
    log = (workdir / "service.log").open("wb")
    process = subprocess.Popen(
        [PODMAN, "system", "service", "--time=0", f"unix://{socket_path}"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    engine = RunningEngine(workdir=workdir, socket_path=socket_path, env=env, network=network, process=process)
    try:
        _wait_for_ping(engine, timeout)
    except BaseException:
        engine.stop()
        raise
    return engine


def _wait_for_ping(engine: RunningEngine, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    transport = httpx.HTTPTransport(uds=str(engine.socket_path))
    with httpx.Client(transport=transport, base_url="http://podman", timeout=2.0) as client:
        while time.monotonic() < deadline:
            if engine.process.poll() is not None:
                log = (engine.workdir / "service.log").read_text(errors="replace")
                raise RuntimeError(f"podman system service exited {engine.process.returncode}:\n{log}")
            if engine.socket_path.exists():
                try:
                    if client.get("/_ping").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
            time.sleep(0.05)
    raise TimeoutError(f"podman service at {engine.socket_path} did not answer /_ping in {timeout}s")
