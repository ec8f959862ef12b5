"""Copy an image by digest between two stores: resolve once, plan, write children first, tag, read back."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hoist.digest import Digest
from hoist.errors import InputError, TagRaced
from hoist.manifest import Descriptor, Manifest, Platform
from hoist.ops.plan import BlobAction, BlobStep, CopyPlan, Mode, plan_copy
from hoist.ops.resolve import Node, resolve, select_platform
from hoist.ref import Reference, check_tag
from hoist.store.base import Mountable, Store, StoreBlobSource

if TYPE_CHECKING:
    from hoist.evidence.carried import EvidenceCheck
    from hoist.ops.carry import Carried


class CopyObserver:
    """Hooks for progress display; every method is optional to override. Called from worker threads."""

    def planned(self, plan: CopyPlan) -> None:
        """The plan is known; nothing is written yet."""

    def blob_started(self, descriptor: Descriptor, action: BlobAction) -> None:
        """A blob starts moving."""

    def blob_progress(self, descriptor: Descriptor, count: int) -> None:
        """``count`` more bytes of a streamed blob arrived at the destination."""

    def blob_done(self, descriptor: Descriptor, action: BlobAction) -> None:
        """A blob is in the destination (``action`` is what it took)."""

    def waiting(self, message: str) -> None:
        """hoist waits because a registry asked it to (rate limits) or failed for a moment."""


@dataclass(frozen=True, kw_only=True)
class CopyOptions:
    tags: tuple[str, ...] = ()
    platform: Platform | None = None
    dry_run: bool = False
    jobs: int = 8


@dataclass(kw_only=True)
class CopyResult:
    source: Reference
    digest: Digest
    media_type: str
    destination: Reference
    tags: tuple[str, ...]
    mode: Mode
    dry_run: bool
    blobs_mounted: int = 0
    blobs_streamed: int = 0
    blobs_skipped: int = 0
    bytes_moved: int = 0
    manifests_written: int = 0
    seconds: float = 0.0
    plan: CopyPlan | None = field(default=None, repr=False)
    evidence: Carried | None = None
    """The digest's signatures, attestations and SBOMs carried along (None when not asked)."""
    evidence_check: EvidenceCheck | None = None
    """The carried evidence checked at the source and again at the destination (``evidence_check.lost``:
    pieces that no longer verify there)."""
    requests: int = 0
    """Registry requests the call made (token requests included)."""
    auth_requests: int = 0

    @property
    def destinations(self) -> tuple[Reference, ...]:
        """Every reference the image now answers to at the destination (by tag, else by digest)."""
        if not self.tags:
            return (self.destination,)
        return tuple(self.destination.with_tag(tag) for tag in self.tags)


def destination_tags(destination: Reference, extra: Iterable[str]) -> tuple[str, ...]:
    """The tags to write: the destination's own tag, then the extra ones, without repeats."""
    tags: list[str] = []
    for tag in ([destination.tag] if destination.tag and destination.digest is None else []) + list(extra):
        check_tag(tag)
        if tag not in tags:
            tags.append(tag)
    return tuple(tags)


def copy_image(
    *,
    source: Store,
    destination: Store,
    source_ref: Reference,
    destination_ref: Reference,
    options: CopyOptions = CopyOptions(),
    observer: CopyObserver | None = None,
    manifest: Manifest | None = None,
) -> CopyResult:
    """Copy ``source_ref`` to ``destination_ref`` by digest; ``manifest`` skips resolving when known."""
    started = time.monotonic()
    observer = observer or CopyObserver()
    tags = destination_tags(destination_ref, options.tags)
    # Small requests (HEADs, mounts, manifest PUTs) run up to 4 x jobs at once; streams are limited to
    # ``jobs`` by a semaphore in _execute.
    with ThreadPoolExecutor(max_workers=max(4 * options.jobs, 8), thread_name_prefix="hoist-copy") as pool:
        top_manifest = manifest or resolve(source, source_ref)
        if options.platform is not None and top_manifest.is_index:
            chosen = select_platform(top_manifest, options.platform, source_ref)
            top_manifest = source.get_manifest(chosen.digest)
        if destination_ref.digest is not None and destination_ref.digest != top_manifest.digest:
            raise InputError(
                f"destination {destination_ref} names digest {destination_ref.digest}, but the source is "
                f"{top_manifest.digest}: a copy never changes the digest"
            )
        plan = plan_copy(
            source=source,
            destination=destination,
            source_ref=source_ref,
            destination_ref=destination_ref,
            manifest=top_manifest,
            tags=tags,
            pool=pool,
        )
        top = plan.top
        observer.planned(plan)
        result = CopyResult(
            source=source_ref,
            digest=top.digest,
            media_type=top.manifest.media_type,
            destination=destination_ref,
            tags=tuple(tags),
            mode=plan.mode,
            dry_run=options.dry_run,
            plan=plan,
            blobs_skipped=plan.count(BlobAction.SKIP),
        )
        if not options.dry_run:
            _execute(plan, source, destination, pool, observer, result, jobs=options.jobs)
    result.seconds = time.monotonic() - started
    return result


def _execute(
    plan: CopyPlan,
    source: Store,
    destination: Store,
    pool: ThreadPoolExecutor,
    observer: CopyObserver,
    result: CopyResult,
    *,
    jobs: int,
) -> None:
    streams = threading.Semaphore(jobs)
    lock = threading.Lock()

    def move(step: BlobStep) -> None:
        descriptor = step.descriptor
        action = step.action
        observer.blob_started(descriptor, action)
        if action is BlobAction.MOUNT:
            assert isinstance(destination, Mountable)
            if destination.mount_blob(descriptor, source):
                with lock:
                    result.blobs_mounted += 1
                observer.blob_done(descriptor, action)
                return
            action = BlobAction.STREAM
        with streams:
            destination.push_blob(
                StoreBlobSource(source, descriptor),
                progress=lambda count: observer.blob_progress(descriptor, count),
            )
        with lock:
            result.blobs_streamed += 1
            result.bytes_moved += descriptor.size
        observer.blob_done(descriptor, action)

    _wait(pool.submit(move, step) for step in plan.blobs if step.action is not BlobAction.SKIP)
    _write_children(plan.top, destination, pool, result)
    result.manifests_written += write_tags(
        destination,
        plan.top.manifest,
        plan.tags,
        pool,
        write_manifest=plan.mode not in (Mode.RETAG, Mode.PRESENT),
    )


def _write_children(top: Node, destination: Store, pool: ThreadPoolExecutor, result: CopyResult) -> None:
    """Child manifests level by level, deepest first, each level in parallel."""
    levels: list[list[Manifest]] = []

    def collect(node: Node, depth: int) -> None:
        for child in node.children:
            collect(child, depth + 1)
            while len(levels) < depth + 1:
                levels.append([])
            levels[depth].append(child.manifest)

    collect(top, 0)
    written: set[Digest] = set()
    for level in reversed(levels):
        fresh = []
        for manifest in level:
            if manifest.digest not in written:
                written.add(manifest.digest)
                fresh.append(manifest)
        _wait(pool.submit(destination.put_manifest, m) for m in fresh)
        result.manifests_written += len(fresh)


def write_tags(
    destination: Store,
    manifest: Manifest,
    tags: Sequence[str],
    pool: ThreadPoolExecutor,
    *,
    write_manifest: bool = True,
) -> int:
    """Point ``tags`` at ``manifest``, then read each back; a tag that moved meanwhile is an error.

    With no tags the manifest is written by digest only (when ``write_manifest``). Returns the number
    of manifest writes.
    """
    if not tags:
        if write_manifest:
            destination.put_manifest(manifest)
            return 1
        return 0
    put_tags(destination, manifest, tags, pool)
    moved = read_back(destination, manifest.digest, tags, pool)
    if moved:
        tag, now = moved[0]
        raise TagRaced(
            f"tag {tag} in {destination.location} points at {now or 'nothing'} right after hoist wrote "
            f"{manifest.digest}: something else moved it; check who pushes to this tag"
        )
    return len(tags)


def put_tags(destination: Store, manifest: Manifest, tags: Sequence[str], pool: ThreadPoolExecutor) -> None:
    """PUT ``manifest`` under each tag: the first alone (it may store the manifest), the rest in parallel."""
    if not tags:
        return
    destination.put_manifest(manifest, tag=tags[0])
    _wait(pool.submit(destination.put_manifest, manifest, tag=t) for t in tags[1:])


def read_back(
    destination: Store, digest: Digest, tags: Sequence[str], pool: ThreadPoolExecutor
) -> list[tuple[str, Digest | None]]:
    """The tags that do not point at ``digest`` (with what they point at), read in parallel."""
    found = list(pool.map(destination.head_manifest, tags))
    return [
        (tag, desc.digest if desc is not None else None)
        for tag, desc in zip(tags, found, strict=True)
        if desc is None or desc.digest != digest
    ]


def _wait(futures: Iterable[Future[Any]]) -> None:
    """Wait for the futures; on the first error cancel what has not started, let the rest finish, raise."""
    pending = list(futures)
    _done, not_done = wait(pending, return_when=FIRST_EXCEPTION)
    failed = [f for f in pending if f.done() and not f.cancelled() and f.exception() is not None]
    if failed:
        for future in not_done:
            future.cancel()
        wait(not_done)
        error = failed[0].exception()
        assert error is not None
        raise error
