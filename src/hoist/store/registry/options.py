"""How hoist talks to registries (one value per command) and the request counts a command made.

Importing this module imports no HTTP library: the CLI builds options before it knows whether a
registry will be contacted at all (an OCI layout copy never needs one).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from hoist.ref import split_host_port
from hoist.store.registry.credentials import CredentialResolver

if TYPE_CHECKING:
    import httpx

    from hoist.store.registry.answers import Wait


@dataclass(frozen=True, kw_only=True)
class RegistryOptions:
    """How hoist talks to registries; one value shared by every client in a command.

    ``on_wait`` is called (from worker threads) before hoist sleeps because a registry asked it to
    wait (``429``/``503`` with ``Retry-After``) or failed transiently; a progress display can show it.
    """

    insecure: frozenset[str] = frozenset()
    ca_file: Path | None = None
    timeout: float = 60.0
    retries: int = 5
    retry_budget: float = 120.0
    backoff: float = 0.25
    credentials: CredentialResolver = field(default_factory=CredentialResolver)
    transport: httpx.BaseTransport | None = None
    max_connections: int = 32
    chunk_size: int = 64 * 1024 * 1024
    jobs: int = 8
    on_wait: Callable[[Wait], None] | None = None
    check: Callable[[], None] | None = None
    """Called before every request and retry; raises to stop the command (a deadline, a cancellation)."""

    def is_insecure(self, host: str) -> bool:
        return host in self.insecure or split_host_port(host)[0] in self.insecure


class RequestStats:
    """Thread-safe counts of the HTTP requests a command made."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        self.auth_requests = 0
        self.retries = 0
        self.log: list[tuple[str, str, int]] = []

    def record(self, method: str, path: str, status: int, *, auth: bool = False) -> None:
        with self._lock:
            self.requests += 1
            if auth:
                self.auth_requests += 1
            self.log.append((method, path, status))

    def retried(self) -> None:
        with self._lock:
            self.retries += 1

    def snapshot(self) -> tuple[int, int]:
        with self._lock:
            return self.requests, self.auth_requests
