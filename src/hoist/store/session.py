"""Opens stores for one command, sharing one HTTP client and authenticator per registry host."""

from __future__ import annotations

import threading
from types import TracebackType
from typing import TYPE_CHECKING

from hoist.ref import LayoutRef, Reference, RegistryRef
from hoist.secret import SecretScope, current_scope, use_scope
from hoist.store.base import Store
from hoist.store.ocidir import OCILayoutStore
from hoist.store.registry.options import RegistryOptions, RequestStats

if TYPE_CHECKING:
    from hoist.store.registry.transport import RegistryClient


class Session:
    """Everything one command needs to reach its stores; close it (or use ``with``) when done."""

    def __init__(self, options: RegistryOptions | None = None) -> None:
        self.options = options or RegistryOptions()
        self.stats = RequestStats()
        self._clients: dict[str, RegistryClient] = {}
        self._lock = threading.Lock()
        # the scope its secrets are masked in: the caller's (a CLI command's), else its own until close()
        outer = current_scope()
        self.secrets = outer if outer is not None else SecretScope()
        self._own_secrets = outer is None

    def __enter__(self) -> Session:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def client(self, registry: str) -> RegistryClient:
        from hoist.store.registry.transport import RegistryClient  # the HTTP stack, only when needed

        with self._lock:
            client = self._clients.get(registry)
            if client is None:
                with use_scope(self.secrets):  # its authenticator keeps the scope for its worker threads
                    client = RegistryClient(registry, self.options, self.stats)
                self._clients[registry] = client
            return client

    def open(self, ref: Reference, *, push: bool = False, absent_ok: bool = False) -> Store:
        """The store holding ``ref``'s repository; ``push`` declares write access up front; ``absent_ok``:
        an OCI layout that does not exist yet reads as empty (what a dry run would write to).

        Declaring every store's access before the first request lets the first token cover the
        whole command (pull on the source and push on the destination in one token).
        """
        if isinstance(ref, LayoutRef):
            return OCILayoutStore(ref.path, create=push, absent_ok=absent_ok)
        from hoist.store.registry.auth import Scope
        from hoist.store.registry.store import RegistryStore

        assert isinstance(ref, RegistryRef)
        client = self.client(ref.registry)
        client.auth.declare([Scope.push(ref.repository) if push else Scope.pull(ref.repository)])
        return RegistryStore(client, RegistryRef(ref.registry, ref.repository))

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()
        if self._own_secrets:
            self.secrets.close()
