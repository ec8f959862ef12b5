"""The copy planner: the fewest requests that put a digest into a destination.

Given the source graph and the destination, it chooses one of four modes:

* ``retag`` — same repository: the manifest is there already; only tags are written.
* ``present`` — the destination repository already has the digest: only tags are written.
* ``mount`` — same registry, other repository: every blob is cross-repository mounted.
* ``stream`` — elsewhere: blobs the destination lacks are streamed, the rest skipped.

Writing happens children first: blobs, child manifests, the top manifest, then its tags.
"""

from __future__ import annotations

import enum
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

from hoist.digest import Digest
from hoist.manifest import Descriptor, Manifest, parse_manifest
from hoist.ops.resolve import Node, load_graph
from hoist.ref import Reference
from hoist.store.base import Mountable, Store


class Mode(enum.StrEnum):
    RETAG = "retag"
    PRESENT = "present"
    MOUNT = "mount"
    STREAM = "stream"


class BlobAction(enum.StrEnum):
    MOUNT = "mount"
    STREAM = "stream"
    SKIP = "skip"


@dataclass(frozen=True)
class BlobStep:
    descriptor: Descriptor
    action: BlobAction


@dataclass(frozen=True)
class CopyPlan:
    source: Reference
    destination: Reference
    top: Node
    mode: Mode
    tags: tuple[str, ...]
    blobs: tuple[BlobStep, ...] = ()
    manifests: tuple[Manifest, ...] = ()
    """Child manifests to write, children before parents (the top manifest is not in here)."""
    notes: list[str] = field(default_factory=list)

    @property
    def digest(self) -> Digest:
        return self.top.digest

    def count(self, action: BlobAction) -> int:
        return sum(1 for step in self.blobs if step.action is action)

    def bytes_for(self, action: BlobAction) -> int:
        return sum(step.descriptor.size for step in self.blobs if step.action is action)

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": str(self.mode),
            "blobs": [
                {"digest": str(s.descriptor.digest), "size": s.descriptor.size, "action": str(s.action)}
                for s in self.blobs
            ],
            "manifests": [str(m.digest) for m in self.manifests],
            "top": str(self.digest),
            "tags": list(self.tags),
        }


def plan_copy(
    *,
    source: Store,
    destination: Store,
    source_ref: Reference,
    destination_ref: Reference,
    manifest: Manifest,
    tags: tuple[str, ...],
    pool: Executor,
) -> CopyPlan:
    """Decide what to write; reads the destination but changes nothing.

    The graph below ``manifest`` is only fetched when blobs must move (not for a retag, nor when the
    destination already has the digest).
    """

    def make(mode: Mode, top: Node, blobs: tuple[BlobStep, ...] = (), manifests: tuple[Manifest, ...] = ()) -> CopyPlan:
        return CopyPlan(
            source=source_ref,
            destination=destination_ref,
            top=top,
            mode=mode,
            tags=tags,
            blobs=blobs,
            manifests=manifests,
        )

    if source.location.same_repository(destination.location):
        return make(Mode.RETAG, Node(manifest, parse_manifest(manifest)))
    present = pool.submit(destination.head_manifest, manifest.digest)  # overlaps the graph's GETs
    top = load_graph(source, manifest, pool) if parse_manifest(manifest).children else None
    if present.result() is not None:
        return make(Mode.PRESENT, Node(manifest, parse_manifest(manifest)))
    top = top or load_graph(source, manifest, pool)
    children = tuple(node.manifest for node in top.walk() if node is not top)
    blobs = top.blobs()
    if isinstance(destination, Mountable) and destination.can_mount_from(source):
        return make(Mode.MOUNT, top, tuple(BlobStep(b, BlobAction.MOUNT) for b in blobs), children)
    sizes = list(pool.map(lambda b: destination.blob_size(b.digest), blobs))
    steps = tuple(
        BlobStep(b, BlobAction.SKIP if size is not None else BlobAction.STREAM)
        for b, size in zip(blobs, sizes, strict=True)
    )
    return make(Mode.STREAM, top, steps, children)
