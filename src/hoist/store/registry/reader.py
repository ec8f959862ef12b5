"""Reading a blob's source for an upload: from any offset, every byte hashed once and in order, with
checkpoints so a resumed upload re-reads (and re-hashes) only what the registry did not keep."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass

from hoist.digest import Hasher
from hoist.errors import DigestMismatch, TransportError
from hoist.store.base import BlobSource, Progress


class Reader:
    """Reads a blob from its source at any offset, hashing every byte once, in order."""

    def __init__(self, source: BlobSource, stack: ExitStack) -> None:
        self.source = source
        self.stack = stack
        self.hasher = Hasher(source.descriptor.digest)
        self._iter: Iterator[bytes] = iter(())
        self._pending = b""
        self._checkpoint = (0, self.hasher.copy())
        self.position = 0

    def reopen(self, offset: int) -> None:
        self.stack.close()
        self._iter = self.stack.enter_context(self.source.open(offset))
        self._pending = b""
        self.position = offset

    def checkpoint(self) -> None:
        self._checkpoint = (self.position, self.hasher.copy())

    def rewind_to(self, offset: int) -> None:
        """Continue from ``offset`` (>= the last checkpoint), re-hashing the bytes in between."""
        start, hasher = self._checkpoint
        if offset < start:
            raise TransportError("the registry lost part of the upload; starting again")
        self.hasher = hasher.copy()
        self.reopen(start)
        for _ in self.take(offset - start):
            pass

    def take(self, count: int) -> Iterator[bytes]:
        """The next ``count`` bytes as chunks, hashed as they pass."""
        left = count
        while left > 0:
            chunk = self._pending or next(self._iter, b"")
            self._pending = b""
            if not chunk:
                raise DigestMismatch(
                    f"blob {self.source.descriptor.digest}: source ended at {self.position} bytes, "
                    f"expected {self.source.descriptor.size}"
                )
            if len(chunk) > left:
                chunk, self._pending = chunk[:left], chunk[left:]
            left -= len(chunk)
            self.position += len(chunk)
            self.hasher.update(chunk)
            yield chunk

    def finish(self, what: str) -> None:
        extra = self._pending or next(self._iter, b"")
        if extra:
            raise DigestMismatch(f"{what}: source has more than the {self.source.descriptor.size} bytes declared")
        self.hasher.check(what, size=self.source.descriptor.size)


@dataclass
class Meter:
    progress: Progress | None
    reported: int = 0

    def at(self, position: int) -> None:
        if self.progress is not None and position > self.reported:
            self.progress(position - self.reported)
            self.reported = position
