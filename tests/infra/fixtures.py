"""pytest fixtures for real registries (distribution 2.8 and Pulp), the fault proxy and unique repository names.

Registries are session-scoped and shared: use :func:`unique_repo` names, and call
``token_registry.token_server.clear()`` / ``fault_proxy`` (reset per test) before counting requests.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator

import pytest

from tests.infra.proxy import FaultProxy
from tests.infra.pulp import RunningPulp, start_pulp
from tests.infra.registry import RunningRegistry, Variant, start_registry

__all__ = [
    "_shared_proxy",
    "auth_registry",
    "fault_proxy",
    "proxied_registry",
    "pulp_registry",
    "registry",
    "registry2",
    "tls_registry",
    "token_registry",
    "unique_repo",
]


def _registry(factory: pytest.TempPathFactory, name: str, variant: Variant) -> Iterator[RunningRegistry]:
    with start_registry(factory.mktemp(name), variant) as running:
        yield running


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    """A plain-HTTP registry without auth."""
    yield from _registry(tmp_path_factory, "registry", "plain")


@pytest.fixture(scope="session")
def registry2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    """A second plain registry, for cross-registry copies."""
    yield from _registry(tmp_path_factory, "registry2", "plain")


@pytest.fixture(scope="session")
def auth_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    """A registry with htpasswd Basic auth (``username``/``password`` on the object)."""
    yield from _registry(tmp_path_factory, "auth-registry", "htpasswd")


@pytest.fixture(scope="session")
def token_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    """A registry with Bearer token auth; its ``token_server`` records every token request."""
    yield from _registry(tmp_path_factory, "token-registry", "token")


@pytest.fixture(scope="session")
def tls_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    """An HTTPS registry whose certificate chains to ``ca_file``."""
    yield from _registry(tmp_path_factory, "tls-registry", "tls")


@pytest.fixture(scope="session")
def pulp_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPulp]:
    """Pulp (``pulp-container``): a second registry implementation, Bearer token auth on; the admin's
    ``username``/``password`` are on the object (see :mod:`tests.infra.pulp`)."""
    with start_pulp(tmp_path_factory.mktemp("pulp")) as running:
        yield running


@pytest.fixture(scope="session")
def proxied_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    """The plain registry behind :func:`fault_proxy` (talk to it directly to seed or inspect)."""
    yield from _registry(tmp_path_factory, "proxied-registry", "plain")


@pytest.fixture(scope="session")
def _shared_proxy(proxied_registry: RunningRegistry) -> Iterator[FaultProxy]:
    with FaultProxy(proxied_registry.host) as proxy:
        yield proxy


@pytest.fixture
def fault_proxy(_shared_proxy: FaultProxy) -> Iterator[FaultProxy]:
    """A fault-injecting proxy in front of :func:`proxied_registry`; pristine at the start of each test."""
    _shared_proxy.reset()
    yield _shared_proxy
    _shared_proxy.reset()


@pytest.fixture
def unique_repo(request: pytest.FixtureRequest) -> str:
    """A fresh repository name: ``t/<test-name-slug>-<random>``."""
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40].strip("-") or "test"
    return f"t/{slug}-{secrets.token_hex(3)}"
