"""OCI image layout directories: blobs written with their digest computed while writing, and index.json.

Stdlib only; this is part of the independent test oracle and never imports ``hoist``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
REF_NAME = "org.opencontainers.image.ref.name"


@dataclass(frozen=True)
class Blob:
    """A blob stored in a layout: its digest (``sha256:…``) and size in bytes."""

    digest: str
    size: int


def blob_path(layout: Path, digest: str) -> Path:
    """Where the blob ``digest`` lives (or would live) inside ``layout``."""
    algorithm, _, hexdigest = digest.partition(":")
    if algorithm != "sha256" or len(hexdigest) != 64:
        raise ValueError(f"not a sha256 digest: {digest!r}")
    return layout / "blobs" / algorithm / hexdigest


class BlobWriter(io.RawIOBase):
    """A writable stream into ``layout``'s blob store that hashes what it writes.

    Bytes go to a temporary file in ``blobs/sha256``; :meth:`commit` renames it to its digest.
    Use it as a context manager so an exception removes the temporary file.
    """

    def __init__(self, layout: Path) -> None:
        super().__init__()
        directory = layout / "blobs" / "sha256"
        directory.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=directory, prefix=".tmp-")
        self._tmp = Path(name)
        self._file = os.fdopen(fd, "wb")
        self._hash = hashlib.sha256()
        self._size = 0
        self._layout = layout
        self._blob: Blob | None = None

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview, /) -> int:  # type: ignore[override]
        view = memoryview(data).cast("B")
        self._hash.update(view)
        self._file.write(view)
        self._size += len(view)
        return len(view)

    def commit(self) -> Blob:
        """Finish the blob: flush, rename to ``blobs/sha256/<hex>`` and return its descriptor."""
        if self._blob is None:
            self._file.close()
            blob = Blob(digest=f"sha256:{self._hash.hexdigest()}", size=self._size)
            self._tmp.replace(blob_path(self._layout, blob.digest))
            self._blob = blob
        return self._blob

    def close(self) -> None:
        if self._blob is None:
            self._file.close()
            self._tmp.unlink(missing_ok=True)
        super().close()


@contextlib.contextmanager
def open_blob(layout: Path) -> Iterator[BlobWriter]:
    """``with open_blob(layout) as w: w.write(...)``; then ``w.commit()`` gives the blob."""
    writer = BlobWriter(layout)
    try:
        yield writer
    finally:
        writer.close()


def write_blob(layout: Path, data: bytes) -> Blob:
    """Store ``data`` as a blob (through the hashing writer) and return its descriptor."""
    with open_blob(layout) as writer:
        writer.write(data)
        return writer.commit()


def canonical_json(value: Any) -> bytes:
    """Compact JSON, keys in insertion order: the bytes we write (and hash) for manifests and configs."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def ensure_layout(layout: Path) -> None:
    """Create ``oci-layout`` and an empty ``index.json`` if they are missing."""
    (layout / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    marker = layout / "oci-layout"
    if not marker.exists():
        marker.write_text('{"imageLayoutVersion":"1.0.0"}')
    index = layout / "index.json"
    if not index.exists():
        index.write_text(json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}))


def read_index(layout: Path) -> dict[str, Any]:
    """The layout's ``index.json`` as a dict."""
    index: dict[str, Any] = json.loads((layout / "index.json").read_text())
    return index


def set_ref(layout: Path, descriptor: dict[str, Any], tag: str | None) -> None:
    """Add ``descriptor`` to index.json, named ``tag`` (replacing an entry with that name)."""
    ensure_layout(layout)
    index = read_index(layout)
    entries = [entry for entry in index.get("manifests", []) if not _replaced(entry, descriptor, tag)]
    entry = dict(descriptor)
    if tag is not None:
        entry["annotations"] = {REF_NAME: tag}
    entries.append(entry)
    index["manifests"] = entries
    tmp = layout / "index.json.tmp"
    tmp.write_text(json.dumps(index, indent=2))
    tmp.replace(layout / "index.json")


def _replaced(entry: dict[str, Any], descriptor: dict[str, Any], tag: str | None) -> bool:
    name = entry.get("annotations", {}).get(REF_NAME)
    if tag is None:
        return name is None and entry.get("digest") == descriptor["digest"]
    return bool(name == tag)


def layout_digest(layout: Path, tag: str) -> str:
    """The digest that ``tag`` names in ``layout``'s index.json."""
    for entry in read_index(layout).get("manifests", []):
        if entry.get("annotations", {}).get(REF_NAME) == tag:
            digest: str = entry["digest"]
            return digest
    raise KeyError(f"no manifest tagged {tag!r} in {layout / 'index.json'}")


def read_blob(layout: Path, digest: str) -> bytes:
    """A (small) blob's bytes, checked against its digest."""
    data = blob_path(layout, digest).read_bytes()
    actual = f"sha256:{hashlib.sha256(data).hexdigest()}"
    if actual != digest:
        raise ValueError(f"blob {digest} in {layout} hashes to {actual}")
    return data
