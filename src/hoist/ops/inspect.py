"""Describe an image: digest, media type, platforms, layers and total size."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from hoist.digest import Digest
from hoist.manifest import IMAGE_CONFIG_TYPES, Descriptor
from hoist.ops.resolve import Node, load_graph, resolve
from hoist.ref import Reference
from hoist.store.base import Store

_MAX_CONFIG = 8 * 1024 * 1024


@dataclass(kw_only=True)
class ImageSummary:
    digest: Digest
    media_type: str
    size: int
    platform: str | None = None
    created: str | None = None
    config: dict[str, Any] | None = None
    layers: list[dict[str, Any]] = field(default_factory=list)


@dataclass(kw_only=True)
class Inspection:
    reference: Reference
    digest: Digest
    media_type: str
    manifest_size: int
    total_size: int
    artifact_type: str | None
    subject: Digest | None
    annotations: dict[str, str]
    images: list[ImageSummary]

    @property
    def is_index(self) -> bool:
        return len(self.images) != 1 or self.images[0].digest != self.digest

    @property
    def platforms(self) -> list[str]:
        return [i.platform for i in self.images if i.platform]


def inspect_image(store: Store, ref: Reference, *, jobs: int = 8) -> Inspection:
    manifest = resolve(store, ref)
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="hoist-inspect") as pool:
        top = load_graph(store, manifest, pool)
        image_nodes = [node for node in top.walk() if not node.children and node.parsed.config is not None]
        platforms = {child.digest: child.platform for node in top.walk() for child in node.parsed.children}
        summaries = list(pool.map(lambda n: _summary(store, n, platforms.get(n.digest)), image_nodes))
    return Inspection(
        reference=ref,
        digest=manifest.digest,
        media_type=manifest.media_type,
        manifest_size=len(manifest.raw),
        total_size=top.total_size,
        artifact_type=top.parsed.artifact_type,
        subject=top.parsed.subject.digest if top.parsed.subject else None,
        annotations=top.parsed.annotations,
        images=summaries,
    )


def _summary(store: Store, node: Node, platform: object) -> ImageSummary:
    parsed = node.parsed
    assert parsed.config is not None
    layers = [{"digest": str(d.digest), "size": d.size, "media_type": d.media_type} for d in parsed.layers]
    summary = ImageSummary(
        digest=node.digest,
        media_type=node.manifest.media_type,
        size=len(node.manifest.raw) + sum(b.size for b in parsed.blobs),
        platform=str(platform) if platform is not None else None,
        layers=layers,
    )
    if parsed.config.media_type in IMAGE_CONFIG_TYPES and parsed.config.size <= _MAX_CONFIG:
        config = _read_config(store, parsed.config)
        if summary.platform is None and config.get("os"):
            variant = f"/{config['variant']}" if config.get("variant") else ""
            summary.platform = f"{config.get('os')}/{config.get('architecture')}{variant}"
        summary.created = config.get("created") if isinstance(config.get("created"), str) else None
        inner = config.get("config") if isinstance(config.get("config"), dict) else {}
        assert isinstance(inner, dict)
        summary.config = {
            k: inner[k] for k in ("Entrypoint", "Cmd", "Env", "ExposedPorts", "Labels", "Healthcheck") if inner.get(k)
        }
    return summary


def _read_config(store: Store, descriptor: Descriptor) -> dict[str, Any]:
    data = store.read_blob(descriptor, max_size=_MAX_CONFIG)
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return doc if isinstance(doc, dict) else {}
