"""One options value for every call of the public API: credentials, TLS, parallelism, progress, time."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from hoist.clock import Clock, clock_from_environ
from hoist.errors import Cancelled, InputError
from hoist.secret import Secret

if TYPE_CHECKING:
    import httpx

    from hoist.ops.copy import CopyObserver
    from hoist.store.registry.answers import Wait
    from hoist.store.registry.credentials import CredentialResolver, Credentials
    from hoist.store.registry.options import RegistryOptions

DEFAULT_CHUNK = 64 * 1024 * 1024


@dataclass(frozen=True, kw_only=True)
class Options:
    """How hoist reaches registries and reports on its work.

    Everything has a default: credentials come from where docker, podman and skopeo users keep them,
    TLS is verified (loopback registries may speak plain HTTP), eight transfers run at once.
    """

    authfile: Path | None = None
    """Read registry credentials only from this ``auth.json`` / ``config.json``."""
    credentials: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    """Explicit ``(username, password)`` per registry host (``ghcr.io``), tried before any file."""
    ca_file: Path | None = None
    """Extra CA certificates (PEM) to trust for registries."""
    insecure: frozenset[str] = frozenset()
    """Registry hosts allowed over plain HTTP or with unverified TLS."""
    jobs: int = 8
    """Parallel transfers."""
    observer: CopyObserver | None = None
    """Told about planned copies and each blob's progress (a progress bar)."""
    timeout: float | None = None
    """Seconds one call may take; after that, its next registry request raises :class:`hoist.Cancelled`."""
    cancel: threading.Event | None = None
    """Set it (from another thread) to stop a call at its next registry request."""
    environ: Mapping[str, str] | None = None
    """Where the actor, git and CI facts, key passwords and template variables come from (default:
    the process environment)."""
    clock: Clock | None = None
    """What time it is (default: ``HOIST_NOW`` when set in ``environ``, else the system clock)."""
    prompt: Callable[[str], str] | None = None
    """Asks for an encrypted key's password when no environment variable holds one (default: never ask)."""
    on_wait: Callable[[str], None] | None = None
    """Told (with a line such as ``waiting 3s for ghcr.io (rate limited)``) when a registry throttles hoist
    for a second or more; the observer hears it too."""
    chunk_size: int = DEFAULT_CHUNK
    """Blobs larger than this are uploaded in chunks."""
    transport: httpx.BaseTransport | None = None
    """An httpx transport for every registry request (tests, proxies)."""

    def __post_init__(self) -> None:
        if isinstance(self.insecure, str):  # type: ignore[unreachable]
            raise InputError("insecure: give a collection of host names, not one string")
        object.__setattr__(self, "insecure", frozenset(self.insecure))
        if not 1 <= self.jobs <= 64:
            raise InputError(f"jobs must be between 1 and 64, not {self.jobs}")
        if self.timeout is not None and self.timeout <= 0:
            raise InputError(f"timeout must be positive, not {self.timeout}")

    def with_insecure(self, hosts: Iterable[str]) -> Options:
        from dataclasses import replace

        return replace(self, insecure=self.insecure | frozenset(hosts))

    @property
    def env(self) -> Mapping[str, str]:
        return self.environ if self.environ is not None else os.environ

    def now(self) -> Clock:
        return self.clock if self.clock is not None else clock_from_environ(self.env)

    def registry_options(self) -> RegistryOptions:
        """The transport's options for one call (its deadline starts now)."""
        from hoist.store.registry.options import RegistryOptions

        return RegistryOptions(
            insecure=self.insecure,
            ca_file=self.ca_file,
            credentials=self._resolver(),
            jobs=self.jobs,
            max_connections=max(32, 4 * self.jobs),
            chunk_size=self.chunk_size,
            transport=self.transport,
            check=_stopper(self.timeout, self.cancel),
            on_wait=self._waiting() if self.on_wait is not None or self.observer is not None else None,
        )

    def _waiting(self) -> Callable[[Wait], None]:
        observer, on_wait = self.observer, self.on_wait

        def told(wait: Wait) -> None:
            if not wait.worth_showing:
                return
            if observer is not None:
                observer.waiting(str(wait))
            if on_wait is not None:
                on_wait(str(wait))

        return told

    def _resolver(self) -> CredentialResolver:
        from hoist.store.registry.credentials import CredentialResolver

        explicit = {
            host: Credentials(user, Secret(password), source="options")
            for host, (user, password) in self.credentials.items()
        }
        return CredentialResolver(environ=dict(self.env), authfile=self.authfile, explicit=explicit)


def _stopper(timeout: float | None, cancel: threading.Event | None) -> Callable[[], None] | None:
    if timeout is None and cancel is None:
        return None
    deadline = time.monotonic() + timeout if timeout is not None else None

    def check() -> None:
        if cancel is not None and cancel.is_set():
            raise Cancelled("cancelled by the caller")
        if deadline is not None and time.monotonic() > deadline:
            raise Cancelled(f"stopped: the call took longer than its {timeout:g}s timeout")

    return check
