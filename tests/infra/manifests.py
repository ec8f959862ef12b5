"""Image configs, manifests and indexes (OCI or Docker schema2 media types) written as layout blobs."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from tests.infra.layers import LayerBlob
from tests.infra.layout import canonical_json, set_ref, write_blob

Media = Literal["oci", "docker"]
Platform = tuple[str, ...]  # (os, architecture) or (os, architecture, variant)

EPOCH = "1970-01-01T00:00:00Z"


@dataclass(frozen=True)
class MediaTypes:
    manifest: str
    index: str
    config: str
    layer_gzip: str
    layer_tar: str


MEDIA_TYPES: dict[Media, MediaTypes] = {
    "oci": MediaTypes(
        manifest="application/vnd.oci.image.manifest.v1+json",
        index="application/vnd.oci.image.index.v1+json",
        config="application/vnd.oci.image.config.v1+json",
        layer_gzip="application/vnd.oci.image.layer.v1.tar+gzip",
        layer_tar="application/vnd.oci.image.layer.v1.tar",
    ),
    "docker": MediaTypes(
        manifest="application/vnd.docker.distribution.manifest.v2+json",
        index="application/vnd.docker.distribution.manifest.list.v2+json",
        config="application/vnd.docker.container.image.v1+json",
        layer_gzip="application/vnd.docker.image.rootfs.diff.tar.gzip",
        layer_tar="application/vnd.docker.image.rootfs.diff.tar",
    ),
}


@dataclass(frozen=True)
class ImageInfo:
    """What was written: an image manifest (``children`` empty) or an index (``children`` set).

    ``digest`` is sha256 of ``manifest_bytes``. ``blobs`` are the digests served by a registry's
    ``/blobs/`` endpoint (layers then config; for an index, every child's, in order) and ``size``
    is the sum of their sizes. Manifests are not counted in either.
    """

    digest: str
    media_type: str
    manifest_bytes: bytes
    size: int
    blobs: tuple[str, ...]
    children: tuple[ImageInfo, ...] = ()
    config_digest: str | None = None
    layers: tuple[str, ...] = ()
    platform: Platform | None = None
    tag: str | None = field(default=None, compare=False)

    @property
    def is_index(self) -> bool:
        return self.config_digest is None

    def descriptor(self) -> dict[str, Any]:
        """The OCI descriptor pointing at this manifest (with ``platform`` for index children)."""
        entry: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": len(self.manifest_bytes),
        }
        if self.platform is not None:
            entry["platform"] = platform_dict(self.platform)
        return entry


def platform_dict(platform: Platform) -> dict[str, str]:
    result = {"architecture": platform[1], "os": platform[0]}
    if len(platform) > 2:
        result["variant"] = platform[2]
    return result


def assemble_image(
    layout: Path,
    *,
    layers: list[LayerBlob],
    container_config: dict[str, Any],
    platform: Platform,
    media: Media,
    compressed: bool,
) -> ImageInfo:
    """Write the config and the manifest for ``layers`` (already in the layout); index.json untouched."""
    types = MEDIA_TYPES[media]
    config = {
        "created": EPOCH,
        **platform_dict(platform),
        "config": container_config,
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
        "history": [{"created": EPOCH, "created_by": "tests.infra.images"} for _ in layers],
    }
    config_blob = write_blob(layout, canonical_json(config))
    layer_type = types.layer_gzip if compressed else types.layer_tar
    manifest = {
        "schemaVersion": 2,
        "mediaType": types.manifest,
        "config": {"mediaType": types.config, "digest": config_blob.digest, "size": config_blob.size},
        "layers": [{"mediaType": layer_type, "digest": lay.digest, "size": lay.size} for lay in layers],
    }
    manifest_bytes = canonical_json(manifest)
    manifest_blob = write_blob(layout, manifest_bytes)
    return ImageInfo(
        digest=manifest_blob.digest,
        media_type=types.manifest,
        manifest_bytes=manifest_bytes,
        size=config_blob.size + sum(layer.size for layer in layers),
        blobs=(*(layer.digest for layer in layers), config_blob.digest),
        config_digest=config_blob.digest,
        layers=tuple(layer.digest for layer in layers),
        platform=platform,
    )


def assemble_index(layout: Path, *, children: list[ImageInfo], media: Media) -> ImageInfo:
    """Write an OCI index / Docker manifest list over ``children`` (already in the layout)."""
    types = MEDIA_TYPES[media]
    index = {
        "schemaVersion": 2,
        "mediaType": types.index,
        "manifests": [child.descriptor() for child in children],
    }
    index_bytes = canonical_json(index)
    blob = write_blob(layout, index_bytes)
    return ImageInfo(
        digest=blob.digest,
        media_type=types.index,
        manifest_bytes=index_bytes,
        size=sum(child.size for child in children),
        blobs=tuple(digest for child in children for digest in child.blobs),
        children=tuple(children),
    )


def tag_in_layout(layout: Path, info: ImageInfo, tag: str | None) -> ImageInfo:
    """Point index.json's entry ``tag`` at ``info`` (``None``: an unnamed entry); returns it tagged."""
    descriptor = {"mediaType": info.media_type, "digest": info.digest, "size": len(info.manifest_bytes)}
    set_ref(layout, descriptor, tag)
    return replace(info, tag=tag)
