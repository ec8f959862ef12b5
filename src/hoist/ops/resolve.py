"""Resolving a reference to its manifest, once, and walking the manifest graph below it."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Executor
from dataclasses import dataclass, field

from hoist.digest import Digest
from hoist.errors import InputError, NotFound, ReferenceNotFound
from hoist.manifest import Descriptor, Manifest, ParsedManifest, Platform, check_supported, parse_manifest
from hoist.ref import LayoutRef, Reference
from hoist.store.base import Store

MAX_DEPTH = 4


def resolve(store: Store, ref: Reference) -> Manifest:
    """The manifest ``ref`` names, fetched once; a missing tag or digest is the user's input error."""
    try:
        if ref.digest is not None:
            manifest = store.get_manifest(ref.digest)
        elif ref.tag is not None:
            manifest = store.get_manifest(ref.tag)
        else:
            manifest = _sole_manifest(store, ref)
    except NotFound as exc:
        what = f"@{ref.digest}" if ref.digest else f":{ref.tag}"
        raise ReferenceNotFound(
            f"{ref} not found: {store.location} has no manifest {what} (check the tag or digest)"
        ) from exc
    check_supported(manifest.media_type, str(ref))
    return manifest


def _sole_manifest(store: Store, ref: Reference) -> Manifest:
    from hoist.store.ocidir import OCILayoutStore

    assert isinstance(ref, LayoutRef) and isinstance(store, OCILayoutStore)
    roots = store.root_descriptors()
    if len(roots) != 1:
        tags = ", ".join(store.tags()) or "none"
        raise InputError(
            f"{ref} holds {len(roots)} images: name one with oci:PATH:TAG or oci:PATH@DIGEST (tags: {tags})"
        )
    return store.get_manifest(roots[0].digest)


@dataclass
class Node:
    """A manifest with its parsed content and, for an index, its children."""

    manifest: Manifest
    parsed: ParsedManifest
    children: list[Node] = field(default_factory=list)

    @property
    def digest(self) -> Digest:
        return self.manifest.digest

    def walk(self) -> Iterator[Node]:
        """Every node below and including this one, children before parents."""
        for child in self.children:
            yield from child.walk()
        yield self

    def blobs(self) -> list[Descriptor]:
        """Every distinct blob of the graph, in first-seen order."""
        seen: dict[Digest, Descriptor] = {}
        for node in self.walk():
            for blob in node.parsed.blobs:
                seen.setdefault(blob.digest, blob)
        return list(seen.values())

    @property
    def total_size(self) -> int:
        return sum(len(n.manifest.raw) for n in self.walk()) + sum(b.size for b in self.blobs())


def load_graph(store: Store, manifest: Manifest, pool: Executor, *, depth: int = 0) -> Node:
    """Fetch every child manifest below ``manifest`` (in parallel, each checked against its digest)."""
    parsed = parse_manifest(manifest)
    node = Node(manifest, parsed)
    if not parsed.children:
        return node
    if depth >= MAX_DEPTH:
        raise InputError(f"{manifest.digest}: indexes nested more than {MAX_DEPTH} deep are not supported")
    futures = [pool.submit(store.get_manifest, child.digest) for child in parsed.children]
    children = []
    for child, future in zip(parsed.children, futures, strict=True):
        fetched = future.result()
        if child.media_type and fetched.media_type != child.media_type:
            fetched = Manifest(fetched.raw, child.media_type, fetched.digest)
        children.append(fetched)
    node.children = [load_graph(store, child, pool, depth=depth + 1) for child in children]
    return node


def select_platform(manifest: Manifest, platform: Platform, ref: Reference) -> Descriptor:
    """The child of an index that runs on ``platform`` (an exact variant match wins)."""
    parsed = parse_manifest(manifest)
    candidates = [c for c in parsed.children if c.platform is not None and platform.matches(c.platform)]
    exact = [c for c in candidates if c.platform is not None and c.platform.variant == platform.variant]
    chosen = (exact or candidates)[:1]
    if not chosen:
        available = ", ".join(str(c.platform) for c in parsed.children if c.platform is not None) or "none"
        raise InputError(f"{ref} has no image for platform {platform} (it has: {available})")
    return chosen[0]
