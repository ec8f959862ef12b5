"""Layer tarballs streamed straight into a layout's blob store (constant memory, any size).

The chain is ``tarfile (stream mode) -> diff_id hasher -> gzip -> BlobWriter``: the uncompressed
digest (diff_id) and the blob digest are both computed while the bytes go by.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import random
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, cast

from tests.infra.layout import open_blob

_BLOCK = 64 * 1024


@dataclass(frozen=True)
class LayerBlob:
    """A layer written to a layout: blob ``digest``/``size`` and the uncompressed ``diff_id``."""

    digest: str
    size: int
    diff_id: str


@dataclass(frozen=True)
class Entry:
    """One tar member: a regular file (``data`` or ``source``), a directory, or a symlink."""

    name: str
    kind: str = "file"  # "file" | "dir" | "symlink"
    data: bytes | None = None
    source: IO[bytes] | None = None
    size: int = 0
    mode: int = 0o644
    target: str = ""

    def tarinfo(self) -> tarfile.TarInfo:
        info = tarfile.TarInfo(self.name)
        info.mtime = 0
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mode = self.mode
        if self.kind == "dir":
            info.type = tarfile.DIRTYPE
        elif self.kind == "symlink":
            info.type = tarfile.SYMTYPE
            info.linkname = self.target
        else:
            info.size = len(self.data) if self.data is not None else self.size
        return info

    def fileobj(self) -> IO[bytes] | None:
        if self.kind != "file":
            return None
        return io.BytesIO(self.data) if self.data is not None else self.source


class SeededReader(io.RawIOBase):
    """``size`` pseudo-random (incompressible) bytes from ``seed``, generated block by block."""

    def __init__(self, seed: str, size: int) -> None:
        super().__init__()
        self._rng = random.Random(seed)
        self._left = size
        self._pending = b""

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1, /) -> bytes:
        if size < 0:
            size = self._left + len(self._pending)
        while len(self._pending) < size and self._left > 0:
            block = min(_BLOCK, self._left)
            self._pending += self._rng.randbytes(block)
            self._left -= block
        out, self._pending = self._pending[:size], self._pending[size:]
        return out


class _DiffHasher(io.RawIOBase):
    """Forwards writes to ``sink`` and hashes them (the uncompressed tar: the diff_id)."""

    def __init__(self, sink: IO[bytes]) -> None:
        super().__init__()
        self._sink = sink
        self.hash = hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview, /) -> int:  # type: ignore[override]
        self.hash.update(data)
        self._sink.write(data)
        return len(data)


def write_layer(layout: Path, entries: Iterable[Entry], *, compress: bool = True) -> LayerBlob:
    """Stream a tar of ``entries`` (gzip-compressed if ``compress``) into ``layout``'s blobs."""
    with open_blob(layout) as blob:
        gz = gzip.GzipFile(filename="", mode="wb", compresslevel=1, fileobj=blob, mtime=0) if compress else None
        sink = cast(IO[bytes], gz) if gz is not None else cast(IO[bytes], blob)
        hasher = _DiffHasher(sink)
        with tarfile.open(fileobj=cast(IO[bytes], hasher), mode="w|", format=tarfile.USTAR_FORMAT) as tar:
            for entry in entries:
                tar.addfile(entry.tarinfo(), entry.fileobj())
        if gz is not None:
            gz.close()
        stored = blob.commit()
    return LayerBlob(digest=stored.digest, size=stored.size, diff_id=f"sha256:{hasher.hash.hexdigest()}")


def random_layer(layout: Path, *, seed: str, size: int, compress: bool = True) -> LayerBlob:
    """A layer holding one file of ``size`` seeded random bytes (so the blob is about ``size`` bytes)."""
    entries = [
        Entry("data", kind="dir", mode=0o755),
        Entry("data/random.bin", source=cast(IO[bytes], SeededReader(seed, size)), size=size),
    ]
    return write_layer(layout, entries, compress=compress)
