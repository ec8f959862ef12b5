"""Manifests as raw bytes plus what hoist needs to know about them.

The raw bytes are kept untouched (their digest is the image's identity); :func:`parse_manifest` only
reads them to find children, blobs, platforms and the subject. Unknown config, layer and artifact media
types are carried, never rejected.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from hoist.digest import Digest
from hoist.errors import InvalidDigest, UnsupportedManifest

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
IMAGE_CONFIG_TYPES = frozenset({OCI_CONFIG, DOCKER_CONFIG})
OCI_EMPTY_DIGEST = Digest.parse("sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a")
OCI_EMPTY_BYTES = b"{}"

# Artifact types hoist itself writes.
LEDGER_RECORD_TYPE = "application/vnd.hoist.ledger.record.v1+json"
TOMBSTONE_TYPE = "application/vnd.hoist.tombstone.v1"

INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
IMAGE_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
MANIFEST_TYPES = INDEX_TYPES | IMAGE_TYPES
SCHEMA1_TYPES = frozenset({DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED})
ACCEPT = ", ".join([OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST])

MAX_MANIFEST_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Platform:
    os: str
    architecture: str
    variant: str | None = None

    @classmethod
    def parse(cls, text: str) -> Platform:
        parts = text.split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise ValueError(f"invalid platform {text!r}: expected OS/ARCH or OS/ARCH/VARIANT")
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else None)

    def matches(self, other: Platform) -> bool:
        if (self.os, self.architecture) != (other.os, other.architecture):
            return False
        return self.variant is None or other.variant is None or self.variant == other.variant

    def __str__(self) -> str:
        base = f"{self.os}/{self.architecture}"
        return f"{base}/{self.variant}" if self.variant else base


@dataclass(frozen=True, slots=True)
class Descriptor:
    media_type: str
    digest: Digest
    size: int
    platform: Platform | None = None
    artifact_type: str | None = None
    annotations: dict[str, str] = field(default_factory=dict, hash=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": str(self.digest), "size": self.size}
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        if self.platform is not None:
            out["platform"] = {"architecture": self.platform.architecture, "os": self.platform.os}
            if self.platform.variant:
                out["platform"]["variant"] = self.platform.variant
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out


EMPTY_DESCRIPTOR = Descriptor(OCI_EMPTY, OCI_EMPTY_DIGEST, len(OCI_EMPTY_BYTES))
"""The OCI empty descriptor: the config (and only layer) of an artifact that carries no content."""


@dataclass(frozen=True, slots=True)
class Manifest:
    """A manifest exactly as stored: raw bytes, the media type they are served with, their digest."""

    raw: bytes
    media_type: str
    digest: Digest

    @classmethod
    def from_bytes(cls, raw: bytes, media_type: str | None = None) -> Manifest:
        return cls(raw, media_type or sniff_media_type(raw), Digest.of(raw))

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES

    @property
    def descriptor(self) -> Descriptor:
        parsed = parse_manifest(self)
        return Descriptor(self.media_type, self.digest, len(self.raw), artifact_type=parsed.artifact_type)

    def parsed(self) -> ParsedManifest:
        return parse_manifest(self)


@dataclass(frozen=True, slots=True)
class ParsedManifest:
    media_type: str
    children: tuple[Descriptor, ...] = ()
    config: Descriptor | None = None
    layers: tuple[Descriptor, ...] = ()
    subject: Descriptor | None = None
    artifact_type: str | None = None
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def blobs(self) -> tuple[Descriptor, ...]:
        return ((self.config,) if self.config is not None else ()) + self.layers


def sniff_media_type(raw: bytes) -> str:
    """The media type a manifest declares, for stores (like a layout) that do not send one."""
    doc = _load(raw)
    declared = doc.get("mediaType")
    if isinstance(declared, str) and declared:
        return declared
    if doc.get("schemaVersion") == 1:
        return DOCKER_SCHEMA1
    return OCI_INDEX if "manifests" in doc else OCI_MANIFEST


def check_supported(media_type: str, what: str) -> None:
    if media_type in SCHEMA1_TYPES:
        raise UnsupportedManifest(
            f"{what} is a Docker schema 1 manifest, which is deprecated and not supported: "
            "push the image again with a current docker, buildah or skopeo (schema 2 or OCI)"
        )


def parse_manifest(manifest: Manifest) -> ParsedManifest:
    check_supported(manifest.media_type, str(manifest.digest))
    doc = _load(manifest.raw)
    if doc.get("schemaVersion") == 1:
        check_supported(DOCKER_SCHEMA1, str(manifest.digest))
    subject = _descriptor(doc["subject"]) if isinstance(doc.get("subject"), dict) else None
    artifact_type = doc.get("artifactType") if isinstance(doc.get("artifactType"), str) else None
    annotations = _annotations(doc.get("annotations"))
    if manifest.media_type in INDEX_TYPES or (manifest.media_type not in IMAGE_TYPES and "manifests" in doc):
        children = tuple(_descriptor(item) for item in _list(doc.get("manifests")))
        return ParsedManifest(
            manifest.media_type,
            children=children,
            subject=subject,
            artifact_type=artifact_type,
            annotations=annotations,
        )
    config = _descriptor(doc["config"]) if isinstance(doc.get("config"), dict) else None
    layers = tuple(_descriptor(item) for item in _list(doc.get("layers")))
    if artifact_type is None and config is not None and config.media_type not in IMAGE_CONFIG_TYPES:
        artifact_type = config.media_type  # the OCI 1.1 rule for artifacts without artifactType
    return ParsedManifest(
        manifest.media_type,
        config=config,
        layers=layers,
        subject=subject,
        artifact_type=artifact_type,
        annotations=annotations,
    )


def _load(raw: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UnsupportedManifest(f"manifest is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise UnsupportedManifest("manifest is not a JSON object")
    return doc


def _list(value: object) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise UnsupportedManifest("manifest has a malformed descriptor list")
    return value


def _annotations(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items()}


def _descriptor(item: dict[str, Any]) -> Descriptor:
    try:
        digest = Digest.parse(str(item["digest"]))
        size = int(item["size"])
        media_type = str(item.get("mediaType", ""))
    except (KeyError, TypeError, ValueError, InvalidDigest) as exc:
        raise UnsupportedManifest(f"manifest has a malformed descriptor: {exc}") from exc
    platform = None
    raw_platform = item.get("platform")
    if isinstance(raw_platform, dict):
        platform = Platform(
            str(raw_platform.get("os", "")),
            str(raw_platform.get("architecture", "")),
            str(raw_platform["variant"]) if raw_platform.get("variant") else None,
        )
    artifact_type = item.get("artifactType") if isinstance(item.get("artifactType"), str) else None
    return Descriptor(media_type, digest, size, platform, artifact_type, _annotations(item.get("annotations")))
