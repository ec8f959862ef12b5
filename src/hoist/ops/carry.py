"""Carry a digest's evidence along with it: its referrers (signatures, attestations, SBOMs, ledger
records excluded) and cosign's legacy ``sha256-<hex>.sig``/``.att``/``.sbom`` tags."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from hoist.digest import Digest
from hoist.errors import NotFound
from hoist.manifest import Descriptor, Manifest, parse_manifest
from hoist.ops.copy import CopyOptions, copy_image
from hoist.ops.referrers import attach_referrer, list_referrers
from hoist.store.base import Store

LEGACY_SUFFIXES = ("sig", "att", "sbom")
SKIP_TYPES = frozenset({"application/vnd.hoist.ledger.record.v1+json"})


@dataclass
class Carried:
    referrers: list[str] = field(default_factory=list)
    legacy: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"referrers": self.referrers, "legacy_tags": self.legacy}


@dataclass
class Found:
    """What refers to a digest in its source store, before anything is copied."""

    digest: Digest
    referrers: list[Descriptor]
    legacy: dict[str, Manifest]

    @property
    def empty(self) -> bool:
        return not self.referrers and not self.legacy


def find_evidence(source: Store, digest: Digest) -> Found:
    """The four lookups (referrers, and the three legacy tags) together: one round trip."""
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="hoist-carry") as pool:
        referrers = pool.submit(list_referrers, source, digest)
        legacy = {s: pool.submit(_legacy, source, f"{digest.fallback_tag}.{s}") for s in LEGACY_SUFFIXES}
        wanted = [d for d in referrers.result() if d.artifact_type not in SKIP_TYPES]
        found = {s: m for s, f in legacy.items() if (m := f.result()) is not None}
    return Found(digest, wanted, found)


def carry_evidence(
    source: Store, destination: Store, digest: Digest, *, jobs: int = 8, found: Found | None = None
) -> Carried:
    """Copy what refers to ``digest`` in ``source`` to ``destination`` (which has the image already)."""
    carried = Carried()
    if source.location.same_repository(destination.location):
        return carried
    found = found or find_evidence(source, digest)
    if found.referrers:
        there = {d.digest for d in list_referrers(destination, digest)}
        for descriptor in found.referrers:
            if descriptor.digest in there:
                continue
            _copy_by_digest(source, destination, descriptor.digest, jobs)
            if destination.referrers(digest) is None:
                attach_referrer(destination, digest, descriptor)
            carried.referrers.append(str(descriptor.digest))
    for suffix, manifest in found.legacy.items():
        tag = f"{digest.fallback_tag}.{suffix}"
        _copy_by_digest(source, destination, manifest.digest, jobs)
        destination.put_manifest(_merge(destination, tag, manifest), tag=tag)
        carried.legacy.append(tag)
    return carried


def _legacy(store: Store, tag: str) -> Manifest | None:
    try:
        return store.get_manifest(tag)
    except NotFound:
        return None


def _copy_by_digest(source: Store, destination: Store, digest: Digest, jobs: int) -> None:
    copy_image(
        source=source,
        destination=destination,
        source_ref=source.location.with_digest(digest),
        destination_ref=destination.location.with_digest(digest),
        options=CopyOptions(jobs=jobs),
    )


def _merge(destination: Store, tag: str, incoming: Manifest) -> Manifest:
    """The destination's own ``.sig``/``.att`` layers plus the incoming ones (as cosign appends)."""
    try:
        existing = destination.get_manifest(tag)
    except NotFound:
        return incoming
    if existing.digest == incoming.digest:
        return incoming
    ours = json.loads(existing.raw)
    theirs = json.loads(incoming.raw)
    known = {layer["digest"] for layer in ours.get("layers", [])}
    added = [layer for layer in theirs.get("layers", []) if layer["digest"] not in known]
    if not added:
        return existing
    ours["layers"] = ours.get("layers", []) + added
    raw = json.dumps(ours, separators=(",", ":")).encode()
    parse_manifest(Manifest(raw, existing.media_type, Digest.of(raw)))
    return Manifest(raw, existing.media_type, Digest.of(raw))
