"""The one storage interface: a repository of manifests, blobs and tags.

Two backends implement it: :mod:`hoist.store.registry` (the distribution HTTP API) and
:mod:`hoist.store.ocidir` (an OCI image layout directory). Both raise the same errors, so the layers
above never ask which one they hold. Optional capabilities are separate small protocols.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Protocol, runtime_checkable

from hoist.digest import Digest
from hoist.manifest import Descriptor, Manifest
from hoist.ref import Reference

Progress = Callable[[int], None]
"""Called with the number of bytes just moved."""


class BlobSource(Protocol):
    """Where a blob's bytes come from; ``open(offset)`` lets an interrupted upload resume."""

    descriptor: Descriptor

    def open(self, offset: int) -> AbstractContextManager[Iterator[bytes]]: ...


@runtime_checkable
class Store(Protocol):
    """One repository: a registry repository or an OCI image layout directory."""

    location: Reference
    """The repository, without tag or digest."""

    def get_manifest(self, reference: str | Digest) -> Manifest:
        """The manifest for a tag or digest, its bytes checked against the digest.

        Raises :class:`~hoist.errors.NotFound` when absent.
        """
        ...

    def head_manifest(self, reference: str | Digest) -> Descriptor | None:
        """The descriptor a tag or digest points at, or None when absent."""
        ...

    def put_manifest(self, manifest: Manifest, *, tag: str | None = None) -> bool:
        """Store the raw manifest bytes (by digest, or under ``tag``); children must exist already.

        Returns True when the store indexed the manifest's ``subject`` for the referrers API itself.
        """
        ...

    def delete_manifest(self, digest: Digest) -> None: ...

    def delete_tag(self, tag: str) -> None:
        """Remove one tag, leaving other tags of the same digest in place."""
        ...

    def tags(self) -> list[str]: ...

    def blob_size(self, digest: Digest) -> int | None:
        """The size of a blob, or None when the repository does not have it."""
        ...

    def open_blob(self, descriptor: Descriptor, *, offset: int = 0) -> AbstractContextManager[Iterator[bytes]]:
        """The blob's bytes from ``offset``, streamed; the caller checks the digest."""
        ...

    def read_blob(self, descriptor: Descriptor, *, max_size: int) -> bytes:
        """A small blob whole, checked against its digest."""
        ...

    def push_blob(self, source: BlobSource, *, progress: Progress | None = None) -> None:
        """Store a blob streamed from ``source``, checking its digest before it is committed."""
        ...

    def push_bytes(self, data: bytes, media_type: str) -> Descriptor:
        """Store a small blob held in memory."""
        ...

    def referrers(self, digest: Digest, artifact_type: str | None = None) -> list[Descriptor] | None:
        """Native referrers, or None when the store has no referrers API (use the fallback tag)."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class Mountable(Protocol):
    """Stores that can link a blob from another repository of the same registry without copying it."""

    def can_mount_from(self, other: Store) -> bool: ...

    def mount_blob(self, descriptor: Descriptor, source: Store) -> bool:
        """True when mounted; False when the registry declined (then copy the bytes)."""
        ...


class StoreBlobSource:
    """A :class:`BlobSource` reading from a store."""

    def __init__(self, store: Store, descriptor: Descriptor) -> None:
        self.store = store
        self.descriptor = descriptor

    def open(self, offset: int) -> AbstractContextManager[Iterator[bytes]]:
        return self.store.open_blob(self.descriptor, offset=offset)


class BytesBlobSource:
    """A :class:`BlobSource` over bytes already in memory (small artifacts, ledger records)."""

    def __init__(self, descriptor: Descriptor, data: bytes) -> None:
        self.descriptor = descriptor
        self.data = data

    def open(self, offset: int) -> AbstractContextManager[Iterator[bytes]]:
        from contextlib import nullcontext

        return nullcontext(iter((self.data[offset:],)))
