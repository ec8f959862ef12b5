"""Writing and removing tags where registries differ: immutable tags, and registries that cannot delete.

Immutable tags (ECR, Harbor, Docker Hub, Artifact Registry) refuse a second ``PUT`` of a tag even when
it names the digest the tag already holds (aws/containers-roadmap#2380). Where the profile says tags may
be immutable, a tag is read (``HEAD``) before it is written and not written again when it already holds
the digest; elsewhere it is written at once, and a refusal is followed by that ``HEAD``: the same digest
is success, another digest is :class:`~hoist.errors.TagImmutable`. Registries without ``DELETE``
(GHCR, Docker Hub, Harbor by tag, distribution with deletes disabled) raise
:class:`~hoist.errors.DeleteUnsupported` carrying how to remove tags there.
"""

from __future__ import annotations

import json
import os
import re
from typing import TYPE_CHECKING

from hoist.errors import AuthenticationFailed, DeleteUnsupported, NotFound, RegistryError, TagImmutable
from hoist.manifest import OCI_EMPTY, OCI_EMPTY_DIGEST, OCI_MANIFEST, Manifest

if TYPE_CHECKING:
    from hoist.store.registry.store import RegistryStore

_IMMUTABLE = re.compile(r"immutab|cannot be overwrit", re.IGNORECASE)
# ECR: 400 TAG_INVALID "... cannot be overwritten because the tag is immutable" (moby/buildkit#3776);
# Harbor: 412 PRECONDITION "... configured as immutable" (goharbor/harbor#9427); Docker Hub: 403
# (docker/hub-feedback#2466); others 409 CONFLICT.
_REFUSALS = frozenset({400, 403, 409, 412})


def needs_write(store: RegistryStore, manifest: Manifest, tag: str) -> bool:
    """False when the registry may hold immutable tags and ``tag`` already points at ``manifest``."""
    if not store.client.quirks.head_before_tag:
        return True
    current = store.head_manifest(tag)
    return current is None or current.digest != manifest.digest


def refused(store: RegistryStore, manifest: Manifest, tag: str, exc: RegistryError | AuthenticationFailed) -> None:
    """A ``PUT`` of ``tag`` was refused: return when the tag already holds the digest, else raise."""
    if exc.status not in _REFUSALS:
        raise exc
    current = store.head_manifest(tag)
    if current is not None and current.digest == manifest.digest:
        store.client.quirks.saw_immutable_tag()
        return
    says = exc.status == 412 or exc.code == "TAG_INVALID" or _IMMUTABLE.search(exc.message) is not None
    if current is None or not (says or store.client.quirks.profile.head_before_tag):
        raise exc
    store.client.quirks.saw_immutable_tag()
    why = "is immutable" if says else f"was not moved (tags on {store.client.quirks.profile.name} may be immutable)"
    raise TagImmutable(
        f"tag {tag} of {store.location} {why}: it points at {current.digest}, and {store.client.host} refused "
        f"to move it to {manifest.digest} ({exc.status} {exc.code or ''}".rstrip()
        + "); the tag was not changed",
        status=exc.status,
        code=exc.code,
        method=exc.method,
        url=exc.url,
        registry=store.client.host,
    ) from exc


def cannot_delete(store: RegistryStore, *, status: int | None = None, code: str | None = None) -> DeleteUnsupported:
    answered = f" (DELETE answered {status}{' ' + code if code else ''})" if status else ""
    return DeleteUnsupported(
        f"{store.client.host} cannot delete tags through the registry API{answered}",
        hint=store.client.quirks.profile.delete_hint,
        status=status,
        code=code,
        registry=store.client.host,
    )


def delete_tag(store: RegistryStore, tag: str) -> None:
    """Untag: point the tag at a unique empty manifest, then delete that manifest by digest.

    distribution 2.8 deletes manifests only by digest, which would untag every tag sharing it; this
    leaves the other tags of the same image in place. Where the registry cannot delete, the tag is put
    back as it was before :class:`DeleteUnsupported` is raised.
    """
    if store.client.quirks.cannot_delete:
        raise cannot_delete(store)
    try:
        original = store.get_manifest(tag)
    except NotFound:
        return
    store.push_bytes(b"{}", OCI_EMPTY)
    body = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.hoist.tombstone.v1",
        "config": {"mediaType": OCI_EMPTY, "digest": str(OCI_EMPTY_DIGEST), "size": 2},
        "layers": [{"mediaType": OCI_EMPTY, "digest": str(OCI_EMPTY_DIGEST), "size": 2}],
        "annotations": {"dev.hoist.tombstone": os.urandom(16).hex()},
    }
    tombstone = Manifest.from_bytes(json.dumps(body, separators=(",", ":")).encode(), OCI_MANIFEST)
    store.put_manifest(tombstone, tag=tag)
    try:
        store.delete_manifest(tombstone.digest)
    except DeleteUnsupported:
        store.put_manifest(original, tag=tag)
        raise
