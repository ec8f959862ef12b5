"""Sign an image digest the way ``cosign sign --key`` does (the legacy layout ``cosign verify --key`` reads),
and record attestations as DSSE-wrapped in-toto statements attached as referrers."""

from __future__ import annotations

import json
from collections.abc import Mapping

from hoist.digest import Digest
from hoist.errors import NotFound
from hoist.evidence import dsse, simplesign
from hoist.evidence.attach import DSSE_TYPE, attach
from hoist.evidence.intoto import Evidence, evidence_statement
from hoist.evidence.keys import PrivateKey
from hoist.manifest import OCI_CONFIG, OCI_MANIFEST, Descriptor, Manifest
from hoist.ref import DOCKER_HUB, LayoutRef, Reference
from hoist.store.base import Store

ZERO_TIME = "0001-01-01T00:00:00Z"


def docker_reference(ref: Reference) -> str:
    """The ``docker-reference`` cosign writes: the repository, without tag or digest."""
    if isinstance(ref, LayoutRef):
        return ref.path.name
    registry = "index.docker.io" if ref.registry == DOCKER_HUB else ref.registry
    return f"{registry}/{ref.repository}"


def sign_image(store: Store, subject: Descriptor, key: PrivateKey) -> tuple[str, bool]:
    """Add a signature of ``subject`` to its ``sha256-<hex>.sig`` tag; returns the tag and whether it
    added a signature (False when the same key had signed the digest already)."""
    tag = f"{subject.digest.fallback_tag}.sig"
    payload = simplesign.payload(docker_reference(store.location), subject.digest)
    try:
        existing: Manifest | None = store.get_manifest(tag)
    except NotFound:
        existing = None
    layers: list[dict[str, object]] = json.loads(existing.raw).get("layers", []) if existing is not None else []
    for layer in layers:
        annotations = layer.get("annotations")
        if isinstance(annotations, dict) and layer.get("mediaType") == simplesign.MEDIA_TYPE:
            signature = str(annotations.get(simplesign.SIGNATURE_ANNOTATION, ""))
            blob = store.read_blob(_descriptor(layer), max_size=1024 * 1024)
            if simplesign.verify(blob, signature, key.public_key()):
                return tag, False
    payload_desc = store.push_bytes(payload, simplesign.MEDIA_TYPE)
    layer = {**payload_desc.to_json(), "annotations": {simplesign.SIGNATURE_ANNOTATION: simplesign.sign(payload, key)}}
    layers.append(layer)
    config = {
        "architecture": "",
        "created": ZERO_TIME,
        "history": [{"created": ZERO_TIME} for _ in layers],
        "os": "",
        "rootfs": {"type": "layers", "diff_ids": [str(item["digest"]) for item in layers]},
        "config": {},
    }
    config_desc = store.push_bytes(json.dumps(config, separators=(",", ":")).encode(), OCI_CONFIG)
    doc = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config_desc.to_json(), "layers": layers}
    raw = json.dumps(doc, separators=(",", ":")).encode()
    store.put_manifest(Manifest(raw, OCI_MANIFEST, Digest.of(raw)), tag=tag)
    return tag, True


def _descriptor(layer: Mapping[str, object]) -> Descriptor:
    return Descriptor(str(layer["mediaType"]), Digest.parse(str(layer["digest"])), int(str(layer["size"])))


def attest(
    store: Store, subject: Descriptor, evidence: Evidence, *, key: PrivateKey | None, created: str
) -> Descriptor:
    """Record ``evidence`` about ``subject`` as a DSSE envelope (signed when ``key``) attached as a referrer."""
    statement = evidence_statement(evidence, subject_name=docker_reference(store.location), digest=subject.digest)
    envelope = dsse.sign(statement.to_json(), dsse.INTOTO_PAYLOAD_TYPE, key)
    return attach(
        store,
        subject,
        json.dumps(envelope, separators=(",", ":")).encode(),
        artifact_type=DSSE_TYPE,
        media_type=DSSE_TYPE,
        annotations={"org.opencontainers.image.created": created, "dev.hoist.predicate-type": statement.predicate_type},
    )
