"""Referrers of a digest (signatures, attestations, ledger records): the OCI 1.1 API or its fallback tag.

Registries without the referrers API (distribution 2.8, GHCR) and OCI layouts use the fallback tag
``sha256-<hex>`` holding an OCI index of the referrers; hoist maintains it when a store did not index a
manifest's subject itself (no ``OCI-Subject`` answer).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from hoist.digest import Digest
from hoist.errors import NotFound, UnsupportedManifest
from hoist.manifest import OCI_INDEX, Descriptor, Manifest, parse_manifest
from hoist.store.base import Store


def list_referrers(store: Store, subject: Digest, artifact_type: str | None = None) -> list[Descriptor]:
    native = store.referrers(subject, artifact_type)
    if native is not None:
        return native
    try:
        index = store.get_manifest(subject.fallback_tag)
    except NotFound:
        return []
    found = list(parse_manifest(index).children)
    return [d for d in found if artifact_type is None or d.artifact_type == artifact_type]


Retain = Callable[[list[dict[str, Any]]], list[dict[str, Any]]]


def attach_referrer(store: Store, subject: Digest, descriptor: Descriptor) -> None:
    """Add ``descriptor`` to the fallback index of ``subject`` (a no-op when already listed)."""
    update_fallback_index(store, subject, descriptor)


def update_fallback_index(
    store: Store, subject: Digest, descriptor: Descriptor, *, retain: Retain | None = None
) -> None:
    """Add ``descriptor`` to the fallback index of ``subject``; ``retain`` may first drop or rewrite the
    entries already listed (it sees them as JSON objects, and must leave other tools' entries alone).

    Nothing is written when the index would not change.
    """
    tag = subject.fallback_tag
    try:
        current = store.get_manifest(tag)
        doc = json.loads(current.raw)
    except NotFound:
        doc = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
    before = [e for e in doc.get("manifests", []) if isinstance(e, dict)]
    entries = retain(list(before)) if retain is not None else list(before)
    if not any(e.get("digest") == str(descriptor.digest) for e in entries):
        entries.append(descriptor.to_json())
    if entries == before:
        return
    doc["manifests"] = entries
    raw = json.dumps(doc, separators=(",", ":")).encode()
    store.put_manifest(Manifest(raw, OCI_INDEX, Digest.of(raw)), tag=tag)


def listed_in_fallback(store: Store, subject: Digest, digest: Digest) -> bool:
    """Whether the fallback index of ``subject`` lists the manifest ``digest`` (one GET; an index that is
    missing or unreadable lists nothing)."""
    try:
        children = parse_manifest(store.get_manifest(subject.fallback_tag)).children
    except (NotFound, UnsupportedManifest, ValueError):
        return False
    return any(d.digest == digest for d in children)


def subject_descriptor(manifest: Manifest) -> Descriptor:
    """The descriptor a referrers index lists for ``manifest`` (artifact type and annotations included)."""
    parsed = parse_manifest(manifest)
    return Descriptor(
        manifest.media_type,
        manifest.digest,
        len(manifest.raw),
        artifact_type=parsed.artifact_type,
        annotations=parsed.annotations,
    )
