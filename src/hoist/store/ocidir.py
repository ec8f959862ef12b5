"""An OCI image layout directory as a :class:`~hoist.store.base.Store` (the offline store).

Layout (image-spec ``image-layout.md``): ``oci-layout``, ``index.json`` and ``blobs/<alg>/<hex>``; a tag
is the ``org.opencontainers.image.ref.name`` annotation of an ``index.json`` entry, as skopeo's ``oci:``
transport and oras write it. Blobs are written to a temporary file, checked, then renamed; ``index.json``
is rewritten atomically under an exclusive lock on the directory, so concurrent hoist processes can share
a layout.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hoist.digest import Digest, Hasher
from hoist.errors import (
    DigestMismatch,
    ManifestTooLarge,
    NotFound,
    ReferenceNotFound,
    TransportError,
    UnsupportedManifest,
)
from hoist.manifest import MAX_MANIFEST_BYTES, OCI_INDEX, Descriptor, Manifest, sniff_media_type
from hoist.ref import LayoutRef, Reference
from hoist.store.base import BlobSource, BytesBlobSource, Progress

REF_NAME = "org.opencontainers.image.ref.name"
_LAYOUT_FILE = {"imageLayoutVersion": "1.0.0"}
_READ_CHUNK = 1024 * 1024


class OCILayoutStore:
    """One OCI image layout directory."""

    def __init__(self, path: Path, *, create: bool, absent_ok: bool = False) -> None:
        """``create``: make the layout when it is not there (a destination); ``absent_ok``: a directory
        that does not exist yet reads as an empty layout and nothing is created (a dry run's destination)."""
        self.path = path.expanduser()
        self.location: Reference = LayoutRef(self.path)
        self._absent = False
        if not (self.path / "oci-layout").is_file():
            if absent_ok and not create and not self.path.exists():
                self._absent = True
                return
            if not create:
                what = "does not exist" if not self.path.exists() else "is not an OCI image layout (no oci-layout file)"
                raise ReferenceNotFound(f"oci:{path} {what}: give the directory of an OCI image layout")
            self._initialise()

    def __repr__(self) -> str:
        return f"OCILayoutStore({self.path})"

    def _initialise(self) -> None:
        try:
            (self.path / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
            with self._locked():
                if not (self.path / "oci-layout").is_file():
                    _atomic_write(self.path / "oci-layout", json.dumps(_LAYOUT_FILE).encode())
                if not (self.path / "index.json").is_file():
                    self._write_index({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []})
        except OSError as exc:
            raise TransportError(f"cannot create OCI layout oci:{self.path}: {exc.strerror}") from exc

    # -- index.json ----------------------------------------------------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[None]:
        fd = os.open(self.path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _read_index(self) -> dict[str, Any]:
        try:
            doc = json.loads((self.path / "index.json").read_bytes())
        except FileNotFoundError as exc:
            if self._absent:
                return {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
            raise ReferenceNotFound(f"oci:{self.path} has no index.json") from exc
        except json.JSONDecodeError as exc:
            raise UnsupportedManifest(f"oci:{self.path}/index.json is not valid JSON") from exc
        if not isinstance(doc, dict) or not isinstance(doc.get("manifests", []), list):
            raise UnsupportedManifest(f"oci:{self.path}/index.json is not an OCI index")
        doc.setdefault("manifests", [])
        return doc

    def _write_index(self, doc: dict[str, Any]) -> None:
        _atomic_write(self.path / "index.json", json.dumps(doc, indent=None, separators=(",", ":")).encode())

    def _entries(self) -> list[dict[str, Any]]:
        return [e for e in self._read_index()["manifests"] if isinstance(e, dict)]

    def _entry_for(self, tag: str) -> dict[str, Any] | None:
        found = None
        for entry in self._entries():
            if (entry.get("annotations") or {}).get(REF_NAME) == tag:
                found = entry
        return found

    def root_descriptors(self) -> list[Descriptor]:
        """Every manifest listed in ``index.json`` (tagged or not)."""
        from hoist.manifest import parse_manifest

        raw = json.dumps({"schemaVersion": 2, "manifests": self._entries()}).encode()
        return list(parse_manifest(Manifest(raw, OCI_INDEX, Digest.of(raw))).children)

    # -- manifests -----------------------------------------------------------------------------------

    def _blob_path(self, digest: Digest) -> Path:
        return self.path / "blobs" / digest.algorithm / digest.hex

    def get_manifest(self, reference: str | Digest) -> Manifest:
        media_type: str | None = None
        if isinstance(reference, Digest):
            digest = reference
            for item in self._entries():
                if item.get("digest") == str(digest):
                    media_type = item.get("mediaType")
        else:
            entry = self._entry_for(reference)
            if entry is None:
                raise NotFound(f"manifest oci:{self.path}:{reference}: no such tag in the layout")
            digest = Digest.parse(str(entry.get("digest")))
            media_type = entry.get("mediaType")
        path = self._blob_path(digest)
        try:
            size = path.stat().st_size
        except FileNotFoundError as exc:
            raise NotFound(f"manifest oci:{self.path}@{digest}: not in the layout") from exc
        if size > MAX_MANIFEST_BYTES:
            raise ManifestTooLarge(f"manifest oci:{self.path}@{digest}: {size} bytes is over the 4 MiB limit")
        raw = path.read_bytes()
        digest.verify(raw, f"manifest oci:{self.path}@{digest}")
        return Manifest(raw, media_type or sniff_media_type(raw), digest)

    def head_manifest(self, reference: str | Digest) -> Descriptor | None:
        try:
            manifest = self.get_manifest(reference)
        except NotFound:
            return None
        return Descriptor(manifest.media_type, manifest.digest, len(manifest.raw))

    def put_manifest(self, manifest: Manifest, *, tag: str | None = None) -> bool:
        path = self._blob_path(manifest.digest)
        if not path.is_file():
            self._store_bytes(manifest.digest, manifest.raw)
        if tag is None:
            return False
        entry = {
            "mediaType": manifest.media_type,
            "digest": str(manifest.digest),
            "size": len(manifest.raw),
            "annotations": {REF_NAME: tag},
        }
        with self._locked():
            doc = self._read_index()
            doc["manifests"] = [e for e in doc["manifests"] if (e.get("annotations") or {}).get(REF_NAME) != tag]
            doc["manifests"].append(entry)
            self._write_index(doc)
        return False

    def delete_manifest(self, digest: Digest) -> None:
        with self._locked():
            doc = self._read_index()
            doc["manifests"] = [e for e in doc["manifests"] if e.get("digest") != str(digest)]
            self._write_index(doc)
        with contextlib.suppress(FileNotFoundError):
            self._blob_path(digest).unlink()

    def delete_tag(self, tag: str) -> None:
        with self._locked():
            doc = self._read_index()
            doc["manifests"] = [e for e in doc["manifests"] if (e.get("annotations") or {}).get(REF_NAME) != tag]
            self._write_index(doc)

    def tags(self) -> list[str]:
        names = [(e.get("annotations") or {}).get(REF_NAME) for e in self._entries()]
        return sorted({n for n in names if isinstance(n, str)})

    # -- blobs ---------------------------------------------------------------------------------------

    def blob_size(self, digest: Digest) -> int | None:
        try:
            return self._blob_path(digest).stat().st_size
        except FileNotFoundError:
            return None

    @contextmanager
    def open_blob(self, descriptor: Descriptor, *, offset: int = 0) -> Iterator[Iterator[bytes]]:
        try:
            handle = self._blob_path(descriptor.digest).open("rb")
        except FileNotFoundError as exc:
            raise NotFound(f"blob oci:{self.path}@{descriptor.digest}: not in the layout") from exc
        with handle:
            handle.seek(offset)
            yield iter(lambda: handle.read(_READ_CHUNK), b"")

    def read_blob(self, descriptor: Descriptor, *, max_size: int) -> bytes:
        size = self.blob_size(descriptor.digest)
        if size is None:
            raise NotFound(f"blob oci:{self.path}@{descriptor.digest}: not in the layout")
        if size > max_size:
            raise DigestMismatch(f"blob oci:{self.path}@{descriptor.digest}: {size} bytes, more than expected")
        data = self._blob_path(descriptor.digest).read_bytes()
        descriptor.digest.verify(data, f"blob oci:{self.path}@{descriptor.digest}")
        return data

    def push_blob(self, source: BlobSource, *, progress: Progress | None = None) -> None:
        descriptor = source.descriptor
        target = self._blob_path(descriptor.digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.parent / f".tmp-{descriptor.digest.hex[:12]}-{os.urandom(4).hex()}"
        hasher = Hasher(descriptor.digest)
        what = f"blob {descriptor.digest} into oci:{self.path}"
        try:
            with temp.open("wb") as out, source.open(0) as chunks:
                for chunk in chunks:
                    hasher.update(chunk)
                    out.write(chunk)
                    if progress is not None:
                        progress(len(chunk))
                    if hasher.size > descriptor.size:
                        break
                out.flush()
                os.fsync(out.fileno())
            hasher.check(what, size=descriptor.size)
            os.replace(temp, target)
        except OSError as exc:
            raise TransportError(f"{what}: {exc.strerror}") from exc
        finally:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()

    def push_bytes(self, data: bytes, media_type: str) -> Descriptor:
        descriptor = Descriptor(media_type, Digest.of(data), len(data))
        if self.blob_size(descriptor.digest) is None:
            self.push_blob(BytesBlobSource(descriptor, data))
        return descriptor

    def _store_bytes(self, digest: Digest, data: bytes) -> None:
        self.push_blob(BytesBlobSource(Descriptor("application/octet-stream", digest, len(data)), data))

    def referrers(self, digest: Digest, artifact_type: str | None = None) -> list[Descriptor] | None:
        return None  # a layout has no referrers API: the fallback tag schema applies

    def close(self) -> None:
        pass


def _atomic_write(path: Path, data: bytes) -> None:
    temp = path.with_name(f".{path.name}.{os.urandom(4).hex()}")
    with temp.open("wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temp, path)
