"""A registry repository as a :class:`~hoist.store.base.Store`, over the distribution HTTP API."""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import httpx

from hoist.digest import Digest
from hoist.errors import DigestMismatch, InvalidDigest, RegistryError, TransportError
from hoist.manifest import (
    ACCEPT,
    MAX_MANIFEST_BYTES,
    OCI_EMPTY,
    OCI_EMPTY_DIGEST,
    OCI_MANIFEST,
    Descriptor,
    Manifest,
    sniff_media_type,
)
from hoist.ref import RegistryRef
from hoist.store.base import BlobSource, Progress, Store
from hoist.store.registry.auth import Scope
from hoist.store.registry.transport import RegistryClient
from hoist.store.registry.upload import upload_blob

if TYPE_CHECKING:
    from hoist.ref import Reference

_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')
_TAG_PAGE = "1000"


def _media_type(response: httpx.Response) -> str | None:
    value = response.headers.get("content-type", "").split(";")[0].strip()
    return value or None


class RegistryStore:
    """One repository in a registry. Created by :class:`~hoist.store.session.Session`."""

    def __init__(self, client: RegistryClient, location: RegistryRef) -> None:
        self.client = client
        self.location: Reference = location
        self.repository = location.repository
        self._pull = [Scope.pull(self.repository)]
        self._push = [Scope.push(self.repository)]
        self._lock = threading.Lock()
        self._sessions: dict[Digest, str] = {}

    def __repr__(self) -> str:
        return f"RegistryStore({self.location})"

    def _path(self, kind: str, reference: str | Digest) -> str:
        return f"/v2/{self.repository}/{kind}/{reference}"

    def _what(self, reference: str | Digest) -> str:
        sep = "@" if isinstance(reference, Digest) else ":"
        return f"{self.location}{sep}{reference}"

    # -- manifests -----------------------------------------------------------------------------------

    def get_manifest(self, reference: str | Digest) -> Manifest:
        what = f"manifest {self._what(reference)}"
        response = self.client.request(
            "GET",
            self._path("manifests", reference),
            scopes=self._pull,
            what=what,
            headers={"Accept": ACCEPT},
            max_body=MAX_MANIFEST_BYTES,
        )
        raw = response.content
        actual = Digest.of(raw)
        if isinstance(reference, Digest):
            if Digest.of(raw, reference.algorithm) != reference:
                raise DigestMismatch(f"{what}: the registry sent content with digest {actual}")
        else:
            claimed = response.headers.get("docker-content-digest")
            if claimed:
                try:
                    claimed_digest = Digest.parse(claimed)
                except InvalidDigest:
                    claimed_digest = None
                if claimed_digest is not None and Digest.of(raw, claimed_digest.algorithm) != claimed_digest:
                    raise DigestMismatch(f"{what}: the registry says {claimed} but sent content with digest {actual}")
        media_type = _media_type(response)
        if media_type is None or media_type in ("application/json", "application/octet-stream", "text/plain"):
            media_type = sniff_media_type(raw)
        return Manifest(raw, media_type, actual)

    def head_manifest(self, reference: str | Digest) -> Descriptor | None:
        what = f"manifest {self._what(reference)}"
        response = self.client.request(
            "HEAD",
            self._path("manifests", reference),
            scopes=self._pull,
            what=what,
            headers={"Accept": ACCEPT},
            ok=(200, 404),
        )
        if response.status_code == 404:
            return None
        claimed = response.headers.get("docker-content-digest")
        media_type = _media_type(response)
        if not claimed or media_type is None:
            manifest = self.get_manifest(reference)
            return Descriptor(manifest.media_type, manifest.digest, len(manifest.raw))
        digest = Digest.parse(claimed)
        if isinstance(reference, Digest) and digest != reference:
            raise DigestMismatch(f"{what}: the registry answered for {digest}")
        return Descriptor(media_type, digest, int(response.headers.get("content-length") or 0))

    def put_manifest(self, manifest: Manifest, *, tag: str | None = None) -> bool:
        reference: str | Digest = tag if tag is not None else manifest.digest
        what = f"push of manifest {self._what(reference)}"
        response = self.client.request(
            "PUT",
            self._path("manifests", reference),
            scopes=self._push,
            what=what,
            headers={"Content-Type": manifest.media_type},
            content=manifest.raw,
            ok=(201, 200),
        )
        claimed = response.headers.get("docker-content-digest")
        if claimed and claimed != str(manifest.digest):
            raise DigestMismatch(f"{what}: the registry stored it as {claimed}, not {manifest.digest}")
        if response.headers.get("oci-subject"):
            self.client.referrers_api = True
            return True
        return False

    def delete_manifest(self, digest: Digest) -> None:
        self.client.request(
            "DELETE",
            self._path("manifests", digest),
            scopes=[Scope(self.repository, ("delete", "pull", "push"))],
            what=f"delete of {self._what(digest)}",
            ok=(202, 200, 404),
        )

    def delete_tag(self, tag: str) -> None:
        """Untag: point the tag at a unique empty manifest, then delete that manifest by digest.

        distribution 2.8 deletes manifests only by digest, which would untag every tag sharing it; this
        leaves the other tags of the same image in place.
        """
        self.push_bytes(b"{}", OCI_EMPTY)
        body = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": "application/vnd.hoist.tombstone.v1",
            "config": {"mediaType": OCI_EMPTY, "digest": str(OCI_EMPTY_DIGEST), "size": 2},
            "layers": [{"mediaType": OCI_EMPTY, "digest": str(OCI_EMPTY_DIGEST), "size": 2}],
            "annotations": {"dev.hoist.tombstone": os.urandom(16).hex()},
        }
        tombstone = Manifest.from_bytes(json.dumps(body, separators=(",", ":")).encode(), OCI_MANIFEST)
        self.put_manifest(tombstone, tag=tag)
        self.delete_manifest(tombstone.digest)

    def tags(self) -> list[str]:
        found: list[str] = []
        path: str | None = f"/v2/{self.repository}/tags/list?n={_TAG_PAGE}"
        while path:
            response = self.client.request(
                "GET", path, scopes=self._pull, what=f"tag list of {self.location}", ok=(200, 404)
            )
            if response.status_code == 404:
                return found
            try:
                found += [str(t) for t in (response.json().get("tags") or [])]
            except (ValueError, AttributeError) as exc:
                raise RegistryError(f"tag list of {self.location}: malformed answer") from exc
            match = _LINK.search(response.headers.get("link", ""))
            path = match.group(1) if match else None
        return found

    # -- blobs ---------------------------------------------------------------------------------------

    def blob_size(self, digest: Digest) -> int | None:
        response = self.client.request(
            "HEAD",
            self._path("blobs", digest),
            scopes=self._pull,
            what=f"blob {self._what(digest)}",
            ok=(200, 404),
            follow_redirects=True,
        )
        if response.status_code == 404:
            return None
        return int(response.headers.get("content-length") or 0)

    @contextmanager
    def open_blob(self, descriptor: Descriptor, *, offset: int = 0) -> Iterator[Iterator[bytes]]:
        what = f"blob {self._what(descriptor.digest)}"
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        response = self.client.request(
            "GET",
            self._path("blobs", descriptor.digest),
            scopes=self._pull,
            what=what,
            headers=headers,
            stream=True,
            ok=(200, 206),
            follow_redirects=True,
        )
        skip = offset if response.status_code == 200 else 0
        try:
            yield _chunks(response, skip, what)
        finally:
            response.close()

    def read_blob(self, descriptor: Descriptor, *, max_size: int) -> bytes:
        what = f"blob {self._what(descriptor.digest)}"
        response = self.client.request(
            "GET",
            self._path("blobs", descriptor.digest),
            scopes=self._pull,
            what=what,
            max_body=max_size,
            follow_redirects=True,
        )
        descriptor.digest.verify(response.content, what)
        return response.content

    def push_blob(self, source: BlobSource, *, progress: Progress | None = None) -> None:
        with self._lock:
            session = self._sessions.pop(source.descriptor.digest, None)
        upload_blob(self.client, self.repository, source, progress=progress, location=session)

    def push_bytes(self, data: bytes, media_type: str) -> Descriptor:
        from hoist.store.base import BytesBlobSource

        descriptor = Descriptor(media_type, Digest.of(data), len(data))
        if self.blob_size(descriptor.digest) is None:
            self.push_blob(BytesBlobSource(descriptor, data))
        return descriptor

    # -- mounts --------------------------------------------------------------------------------------

    def can_mount_from(self, other: Store) -> bool:
        return isinstance(other, RegistryStore) and other.client is self.client and other.repository != self.repository

    def mount_blob(self, descriptor: Descriptor, source: Store) -> bool:
        assert isinstance(source, RegistryStore)
        what = f"mount of blob {descriptor.digest} from {source.repository} into {self.location}"
        response = self.client.request(
            "POST",
            f"/v2/{self.repository}/blobs/uploads/",
            scopes=[*self._push, *source._pull],
            what=what,
            params={"mount": str(descriptor.digest), "from": source.repository},
            ok=(201, 202),
        )
        if response.status_code == 201:
            return True
        location = response.headers.get("location")
        if location:  # not mounted: the registry opened an upload session instead; the push will use it
            with self._lock:
                self._sessions[descriptor.digest] = self.client.absolute(location)
        return False

    # -- referrers -----------------------------------------------------------------------------------

    def referrers(self, digest: Digest, artifact_type: str | None = None) -> list[Descriptor] | None:
        if self.client.referrers_api is False:
            return None
        params = {"artifactType": artifact_type} if artifact_type else None
        response = self.client.request(
            "GET",
            self._path("referrers", digest),
            scopes=self._pull,
            what=f"referrers of {digest}",
            headers={"Accept": "application/vnd.oci.image.index.v1+json"},
            params=params,
            ok=(200, 404, 400, 405),
        )
        if response.status_code != 200 or _media_type(response) != "application/vnd.oci.image.index.v1+json":
            self.client.referrers_api = False
            return None
        self.client.referrers_api = True
        from hoist.manifest import parse_manifest

        parsed = parse_manifest(Manifest.from_bytes(response.content, "application/vnd.oci.image.index.v1+json"))
        found = list(parsed.children)
        if artifact_type and "OCI-Filters-Applied" not in response.headers:
            found = [d for d in found if d.artifact_type == artifact_type]
        return found

    def close(self) -> None:
        """The client is shared and closed by the session."""


def _chunks(response: httpx.Response, skip: int, what: str) -> Iterator[bytes]:
    try:
        for received in response.iter_bytes():
            if skip >= len(received):
                skip -= len(received)
                continue
            yield received[skip:] if skip else received
            skip = 0
    except httpx.TransportError as exc:
        raise TransportError(f"{what}: connection dropped while reading") from exc
