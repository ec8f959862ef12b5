"""Verify an image in place: digests, every child and blob present, optionally every byte re-hashed."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from hoist.digest import Digest, Hasher
from hoist.errors import HoistError
from hoist.manifest import Descriptor
from hoist.ops.resolve import load_graph, resolve
from hoist.ref import Reference
from hoist.store.base import Store


@dataclass
class Check:
    name: str
    ok: bool
    detail: str = ""


@dataclass(kw_only=True)
class Verification:
    reference: Reference
    digest: Digest
    deep: bool
    checks: list[Check] = field(default_factory=list)
    blobs: int = 0
    manifests: int = 0
    bytes_hashed: int = 0

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]


def verify_image(
    store: Store,
    ref: Reference,
    *,
    against: tuple[Store, Reference] | None = None,
    deep: bool = False,
    jobs: int = 8,
) -> Verification:
    """Check ``ref``: manifest digests, every blob present with its size; ``deep`` re-hashes every byte."""
    manifest = resolve(store, ref)
    result = Verification(reference=ref, digest=manifest.digest, deep=deep)
    if ref.digest is None:
        result.checks.append(Check("resolve", True, f"{ref.tag} -> {manifest.digest}"))
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="hoist-verify") as pool:
        top = load_graph(store, manifest, pool)
        nodes = list(top.walk())
        result.manifests = len(nodes)
        result.checks.append(Check("manifests", True, f"{len(nodes)} manifest(s) match their digests"))
        blobs = top.blobs()
        result.blobs = len(blobs)
        outcomes = list(pool.map(lambda b: _check_blob(store, b, deep), blobs))
    missing = [c for c in outcomes if not c.ok]
    result.checks.extend(missing)
    if not missing:
        verb = "re-hashed and match" if deep else "present with the right sizes"
        result.checks.append(Check("blobs", True, f"{len(blobs)} blob(s) {verb}"))
    if deep:
        result.bytes_hashed = sum(b.size for b in blobs)
    if against is not None:
        other_store, other_ref = against
        other = resolve(other_store, other_ref)
        same = other.digest == manifest.digest
        detail = f"{other_ref} is {other.digest}" + ("" if same else f", not {manifest.digest}")
        result.checks.append(Check("against", same, detail))
    return result


def _check_blob(store: Store, blob: Descriptor, deep: bool) -> Check:
    name = f"blob {blob.digest}"
    try:
        if not deep:
            size = store.blob_size(blob.digest)
            if size is None:
                return Check(name, False, "missing")
            if size != blob.size:
                return Check(name, False, f"{size} bytes, manifest says {blob.size}")
            return Check(name, True)
        hasher = Hasher(blob.digest)
        with store.open_blob(blob) as chunks:
            for chunk in chunks:
                hasher.update(chunk)
        hasher.check(name, size=blob.size)
    except HoistError as exc:
        return Check(name, False, str(exc))
    return Check(name, True)
