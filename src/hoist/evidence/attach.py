"""Attach a small artifact (an attestation, a signature bundle) to an image digest as an OCI 1.1 referrer."""

from __future__ import annotations

import json
from collections.abc import Mapping

from hoist.digest import Digest
from hoist.manifest import OCI_EMPTY, OCI_EMPTY_DIGEST, OCI_MANIFEST, Descriptor, Manifest
from hoist.ops.referrers import attach_referrer, subject_descriptor
from hoist.store.base import Store

DSSE_TYPE = "application/vnd.dsse.envelope.v1+json"
BUNDLE_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
EMPTY = {"mediaType": OCI_EMPTY, "digest": str(OCI_EMPTY_DIGEST), "size": 2}


def attach(
    store: Store,
    subject: Descriptor,
    content: bytes,
    *,
    artifact_type: str,
    media_type: str,
    annotations: Mapping[str, str],
) -> Descriptor:
    """Push ``content`` as the one layer of an artifact manifest whose subject is ``subject``; list it
    under the subject's referrers (the registry does it, or the fallback tag)."""
    store.push_bytes(b"{}", OCI_EMPTY)
    layer = store.push_bytes(content, media_type)
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": EMPTY,
        "layers": [layer.to_json()],
        "subject": {"mediaType": subject.media_type, "digest": str(subject.digest), "size": subject.size},
        "annotations": dict(annotations),
    }
    raw = json.dumps(doc, separators=(",", ":")).encode()
    manifest = Manifest(raw, OCI_MANIFEST, Digest.of(raw))
    indexed = store.put_manifest(manifest)
    descriptor = subject_descriptor(manifest)
    if not indexed:
        attach_referrer(store, subject.digest, descriptor)
    return descriptor
