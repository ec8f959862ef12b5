"""A registry repository as a :class:`~hoist.store.base.Store`, over the distribution HTTP API."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import httpx

from hoist.digest import Digest
from hoist.errors import (
    AuthenticationFailed,
    DigestMismatch,
    InvalidDigest,
    RegistryError,
    TransportError,
)
from hoist.manifest import ACCEPT, MAX_MANIFEST_BYTES, Descriptor, Manifest, parse_manifest, sniff_media_type
from hoist.ref import RegistryRef
from hoist.store.base import BlobSource, Progress, Store
from hoist.store.registry import listing, tagging
from hoist.store.registry.auth import Scope
from hoist.store.registry.transport import RegistryClient

if TYPE_CHECKING:
    from hoist.ref import Reference
    from hoist.store.registry.upload import UploadSession

log = logging.getLogger("hoist.registry")


class RegistryStore:
    """One repository in a registry. Created by :class:`~hoist.store.session.Session`."""

    def __init__(self, client: RegistryClient, location: RegistryRef) -> None:
        self.client = client
        self.location: Reference = location
        self.repository = location.repository
        self.pull_scopes = [Scope.pull(self.repository)]
        self.push_scopes = [Scope.push(self.repository)]
        self._lock = threading.Lock()
        self._sessions: dict[Digest, UploadSession] = {}

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
            scopes=self.pull_scopes,
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
        media_type = listing.media_type(response)
        if media_type is None or media_type in ("application/json", "application/octet-stream", "text/plain"):
            media_type = sniff_media_type(raw)
        return Manifest(raw, media_type, actual)

    def head_manifest(self, reference: str | Digest) -> Descriptor | None:
        what = f"manifest {self._what(reference)}"
        response = self.client.request(
            "HEAD",
            self._path("manifests", reference),
            scopes=self.pull_scopes,
            what=what,
            headers={"Accept": ACCEPT},
            ok=(200, 404),
        )
        if response.status_code == 404:
            return None
        claimed = response.headers.get("docker-content-digest")
        media_type = listing.media_type(response)
        if not claimed or media_type is None:
            manifest = self.get_manifest(reference)
            return Descriptor(manifest.media_type, manifest.digest, len(manifest.raw))
        digest = Digest.parse(claimed)
        if isinstance(reference, Digest) and digest != reference:
            raise DigestMismatch(f"{what}: the registry answered for {digest}")
        return Descriptor(media_type, digest, int(response.headers.get("content-length") or 0))

    def put_manifest(self, manifest: Manifest, *, tag: str | None = None) -> bool:
        if tag is not None and not tagging.needs_write(self, manifest, tag):
            return False  # the tag holds this digest already; immutable tags would refuse a re-PUT
        reference: str | Digest = tag if tag is not None else manifest.digest
        what = f"push of manifest {self._what(reference)}"
        try:
            response = self.client.request(
                "PUT",
                self._path("manifests", reference),
                scopes=self.push_scopes,
                what=what,
                headers={"Content-Type": manifest.media_type},
                content=manifest.raw,
                ok=(201, 200),
            )
        except (RegistryError, AuthenticationFailed) as exc:
            if tag is None:
                raise
            tagging.refused(self, manifest, tag, exc)
            return False
        claimed = response.headers.get("docker-content-digest")
        if claimed and claimed != str(manifest.digest):
            raise DigestMismatch(f"{what}: the registry stored it as {claimed}, not {manifest.digest}")
        return bool(response.headers.get("oci-subject")) and self._serves_referrers(manifest)

    def _serves_referrers(self, manifest: Manifest) -> bool:
        """``OCI-Subject`` alone is no proof: ECR sends it without serving the referrers API
        (sigstore/sigstore-js#1183), so the API is asked once before hoist relies on it."""
        if self.client.quirks.referrers_api is None:
            subject = parse_manifest(manifest).subject
            if subject is not None:
                self.referrers(subject.digest)
        return bool(self.client.quirks.referrers_api)

    def delete_manifest(self, digest: Digest) -> None:
        try:
            self.client.request(
                "DELETE",
                self._path("manifests", digest),
                scopes=[Scope(self.repository, ("delete", "pull", "push"))],
                what=f"delete of {self._what(digest)}",
                ok=(202, 200, 404),
            )
        except RegistryError as exc:
            if exc.status != 405 and exc.code != "UNSUPPORTED":
                raise
            # GHCR (containers/skopeo#1880), Docker Hub (docker/hub-feedback#2360), distribution with
            # deletes disabled: 405 UNSUPPORTED
            self.client.quirks.saw_delete_refused()
            raise tagging.cannot_delete(self, status=exc.status, code=exc.code) from exc

    def delete_tag(self, tag: str) -> None:
        tagging.delete_tag(self, tag)

    def tags(self) -> list[str]:
        return listing.tags(self)

    def blob_size(self, digest: Digest) -> int | None:
        response = self.client.request(
            "HEAD",
            self._path("blobs", digest),
            scopes=self.pull_scopes,
            what=f"blob {self._what(digest)}",
            ok=(200, 404, 403),
            follow_redirects=True,
        )
        if response.status_code in (404, 403):  # some registries answer 403 for a blob they lack
            return None
        return int(response.headers.get("content-length") or 0)

    @contextmanager
    def open_blob(self, descriptor: Descriptor, *, offset: int = 0) -> Iterator[Iterator[bytes]]:
        what = f"blob {self._what(descriptor.digest)}"
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        response = self.client.request(
            "GET",
            self._path("blobs", descriptor.digest),
            scopes=self.pull_scopes,
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
            scopes=self.pull_scopes,
            what=what,
            max_body=max_size,
            follow_redirects=True,
        )
        descriptor.digest.verify(response.content, what)
        return response.content

    def push_blob(self, source: BlobSource, *, progress: Progress | None = None) -> None:
        with self._lock:
            session = self._sessions.pop(source.descriptor.digest, None)
        from hoist.store.registry.upload import upload_blob  # loaded by the first push: a retag pushes none

        upload_blob(self.client, self.repository, source, progress=progress, session=session)

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
        if self.client.quirks.mount_refused(source.repository):
            return False
        what = f"mount of blob {descriptor.digest} from {source.repository} into {self.location}"
        from hoist.store.registry.upload import restartable, session_from

        try:
            response = self.client.request(
                "POST",
                f"/v2/{self.repository}/blobs/uploads/",
                scopes=[*self.push_scopes, *source.pull_scopes],
                what=what,
                params={"mount": str(descriptor.digest), "from": source.repository},
                ok=(201, 202),
            )
        except (RegistryError, AuthenticationFailed) as exc:
            if isinstance(exc, RegistryError) and restartable(exc):
                raise
            # Harbor answers 401 for a source project the user cannot read (goharbor/harbor#17097), Pulp
            # 404 for a blob it lacks: copy the bytes instead, and stop asking for this source
            self.client.quirks.refuse_mounts_from(source.repository)
            log.debug("%s refused (%s); uploading instead", what, exc)
            return False
        if response.status_code == 201:
            return True
        if response.headers.get("location"):
            # not mounted (ECR unless a manifest in the source references the blob, containers-roadmap
            # #2860; zot; distribution when the blob is missing): the registry opened an upload session,
            # which the push uses
            with self._lock:
                self._sessions[descriptor.digest] = session_from(self.client, response, what)
        return False

    # -- referrers -----------------------------------------------------------------------------------

    def referrers(self, digest: Digest, artifact_type: str | None = None) -> list[Descriptor] | None:
        """The referrers API's answer, or None where there is none (see :func:`.listing.referrers`)."""
        return listing.referrers(self, digest, artifact_type)

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
