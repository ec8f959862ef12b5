"""pytest fixtures for the podman Docker-compatible API service.

Register with ``pytest_plugins = ["tests.infra.engine_fixtures"]`` (root conftest or a test module).
``engine`` starts one service per session; ``docker_client`` gives a client per test and removes
the containers that test left behind.
"""

from __future__ import annotations

from collections.abc import Iterator

import docker
import pytest

from tests.infra.engine import LOOPBACK_REGISTRIES, RunningEngine, start_engine


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEngine]:
    """A private podman API service; every loopback registry (any port) is ``insecure``."""
    running = start_engine(tmp_path_factory.mktemp("engine"), insecure_registries=LOOPBACK_REGISTRIES)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def docker_client(engine: RunningEngine) -> Iterator[docker.DockerClient]:
    """A docker SDK client for ``engine``; containers created during the test are removed after it."""
    client = engine.docker_client()
    before = {container.id for container in client.containers.list(all=True)}
    try:
        yield client
    finally:
        for container in client.containers.list(all=True):
            if container.id not in before:
                container.remove(force=True)
        client.close()
