"""Shared pytest fixtures: real registries, the fault proxy, the container engine, test images."""

from tests.infra.fixtures import *  # noqa: F403
from tests.support import *  # noqa: F403

pytest_plugins = ["tests.infra.engine_fixtures"]
