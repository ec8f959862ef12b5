"""Publishing a record that moves an environment's tags (a promotion or a rollback).

:meth:`Publish.start` writes the record as the ledger's new head and, while it settles, moves the tags of
every image the record moves (one, or each member of a set, and their mirrors) and runs the follow-ups:
each image's history tag, the record's listing under its image's referrers, and the repair of whatever
the previous run left undone. :meth:`Publish.finish` waits out the settle delay, confirms the record
against racing writers, and reads the tags back (the newest record wins the tags).

Moving the tags is the promotion: when it fails the caller puts back what moved (see
:attr:`Published.move_errors`). A follow-up that fails afterwards does not undo it; it is reported as what
it is (:class:`FollowUp`), and the next write to the ledger repairs it. A mirror that cannot be moved is
reported and never undoes the environment itself.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from hoist.digest import Digest
from hoist.errors import HoistError, OperationError
from hoist.manifest import Manifest
from hoist.ops.copy import put_tags, read_back, write_tags
from hoist.promotion.ledger import Appended, BuildRecord, Ledger, Pending, View
from hoist.promotion.record import Record
from hoist.store.base import Store
from hoist.timing import Timer

log = logging.getLogger("hoist.ledger")


@dataclass(frozen=True)
class FollowUp:
    """A step after the tags moved that did not complete; the next run repairs it."""

    step: str
    error: str


@dataclass(frozen=True)
class TagSet:
    """The tags of one image in one repository: an environment's image (``member``) or one of its mirrors."""

    store: Store
    image: Manifest
    tags: tuple[str, ...]
    member: str | None = None
    """The set member it belongs to (None for a single-image environment)."""
    mirror: bool = False

    @property
    def label(self) -> str:
        return str(self.store.location)


@dataclass(frozen=True)
class Published:
    appended: Appended
    failed: tuple[FollowUp, ...]
    move_errors: dict[str, HoistError] = field(default_factory=dict)
    """The repositories whose tags could not be moved (the environment's own: the caller puts back)."""
    mirror_errors: dict[str, str] = field(default_factory=dict)
    """Mirrors whose tags could not be moved or did not read back."""


def history_tag_of(record: Record, member: str | None) -> str | None:
    if member is not None and record.members is not None and member in record.members:
        return record.members[member].history_tag
    return record.history_tag


class Publish:
    def __init__(self, ledger: Ledger, tagsets: list[TagSet], *, jobs: int, timer: Timer) -> None:
        self.ledger = ledger
        self.tagsets = tagsets
        self.timer = timer
        workers = max(jobs, 4) + 2 * len(tagsets)  # each tag set's move waits on its own PUTs in the pool
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hoist-publish")
        self._pending: Pending | None = None
        self._moves: dict[int, Future[None]] = {}
        self._follow_ups: dict[str, Future[None]] = {}

    def start(self, build: BuildRecord, view: View) -> Pending:
        """Write the record, then start moving the tags and the follow-ups (they run during the settle)."""
        with self.timer.stage("ledger"):
            pending = self.ledger.write(build, view=view)
        self._pending = pending
        with self.timer.stage("tags"):
            for index, tagset in enumerate(self.tagsets):
                self._moves[index] = self._pool.submit(self._put, tagset, tagset.tags)
        histories: list[Future[None]] = []
        for tagset in self._own():
            history = history_tag_of(pending.record, tagset.member)
            if history:
                histories.append(self._pool.submit(self._put, tagset, (history,)))
                self._follow_ups[f"history tag {history}"] = histories[-1]
        # The record is listed under its image only once its history tags are written: the next run finds
        # the listing and knows this run's follow-ups are done (one read instead of one per step).
        indexing = self._pool.submit(self._index_after, histories, pending)
        self._follow_ups["referrers"] = indexing
        previous = pending.view.head
        same_index = previous is not None and previous.record.digest == pending.record.digest
        self._follow_ups["repair"] = self._pool.submit(
            self._repair_after, indexing if same_index else None, pending
        )  # one fallback index is read and written by one step at a time
        return pending

    def _index_after(self, histories: list[Future[None]], pending: Pending) -> None:
        for history in histories:
            if history.exception() is not None:
                raise OperationError("not listed under the image's referrers: a history tag was not written")
        self.ledger.index(pending.record, pending.manifest, indexed=pending.indexed)

    def _repair_after(self, before: Future[None] | None, pending: Pending) -> None:
        if before is not None:
            before.exception()  # wait; its failure is reported as its own step
        self.ledger.repair(pending.view, indexed=pending.indexed)

    def _own(self) -> list[TagSet]:
        return [t for t in self.tagsets if not t.mirror]

    def _put(self, tagset: TagSet, tags: tuple[str, ...]) -> None:
        put_tags(tagset.store, tagset.image, tags, self._pool)

    def finish(self) -> Published:
        """Confirm the record and settle the tags; raises when a tag could not be read back."""
        pending = self._pending
        assert pending is not None, "start() first"
        try:
            move_errors, mirror_errors = self._moved()
            with self.timer.stage("ledger"):
                time.sleep(pending.remaining)
                # the read-backs go out with the confirming read: both come after the settle delay
                early = {
                    index: self._pool.submit(read_back, t.store, t.image.digest, t.tags, self._pool)
                    for index, t in enumerate(self.tagsets)
                    if t.label not in move_errors and t.label not in mirror_errors
                }
                appended = self.ledger.confirm(pending)
            if move_errors:
                return Published(appended, (), move_errors, mirror_errors)
            with self.timer.stage("readback"):
                ours = appended.entry.record is pending.record
                for index, tagset in enumerate(self.tagsets):
                    if index not in early:
                        continue
                    if tagset.mirror:
                        self._check_mirror(tagset, early[index].result(), mirror_errors)
                    else:
                        self._settle_tags(tagset, appended, early[index].result() if ours else None)
            failed = self._failed_follow_ups(appended)
        finally:
            self._pool.shutdown(wait=True)
        return Published(appended, failed, {}, mirror_errors)

    def _moved(self) -> tuple[dict[str, HoistError], dict[str, str]]:
        move_errors: dict[str, HoistError] = {}
        mirror_errors: dict[str, str] = {}
        for index, future in self._moves.items():
            tagset = self.tagsets[index]
            error = future.exception()
            if error is None:
                continue
            if not isinstance(error, HoistError):
                raise error
            if tagset.mirror:
                mirror_errors[tagset.label] = str(error)
            else:
                move_errors[tagset.label] = error
        return move_errors, mirror_errors

    def _check_mirror(self, tagset: TagSet, moved: list[tuple[str, Digest | None]], errors: dict[str, str]) -> None:
        if moved:
            tag, now = moved[0]
            errors[tagset.label] = f"tag {tag} points at {now or 'nothing'} after hoist wrote {tagset.image.digest}"

    def _settle_tags(
        self, tagset: TagSet, appended: Appended, moved_early: list[tuple[str, Digest | None]] | None
    ) -> None:
        """The newest record wins the tags: when this record is the newest, tags found elsewhere are written
        again (a second miss is an error); when a later record exists, the tags both wrote point at what
        it says."""
        store, pool = tagset.store, self._pool
        head = appended.view.head
        record = appended.entry.record
        if head is None or head.manifest == appended.entry.manifest:
            found = moved_early if moved_early is not None else read_back(store, tagset.image.digest, tagset.tags, pool)
            moved = [tag for tag, _ in found]
            if moved:
                write_tags(store, tagset.image, moved, pool, write_manifest=False)
        else:
            winner = appended.view.record_at(head.record.current_seq)
            wanted = winner.record.digest_of(tagset.member) if winner is not None else head.record.current
            if wanted != tagset.image.digest:
                shared = [t for t in tagset.tags if winner is None or t in winner.record.tags] or list(tagset.tags[:1])
                put_tags(store, store.get_manifest(wanted), shared, pool)
        first = self._pending.record if self._pending is not None else record
        first_history, history = history_tag_of(first, tagset.member), history_tag_of(record, tagset.member)
        if first_history and first_history != history:
            # this record lost a race and was written again with another sequence number: its first
            # history tag belongs to the record that won that number
            self._repoint(tagset, first_history, appended.view, first.seq)

    def _repoint(self, tagset: TagSet, tag: str, view: View, seq: int) -> None:
        owner = view.record_at(seq)
        if owner is not None and history_tag_of(owner.record, tagset.member) == tag:
            digest = owner.record.digest_of(tagset.member)
            put_tags(tagset.store, tagset.store.get_manifest(digest), (tag,), self._pool)

    def _failed_follow_ups(self, appended: Appended) -> tuple[FollowUp, ...]:
        record = appended.entry.record
        rewritten = bool(appended.superseded)  # written again, with another sequence number, after a lost race
        failed: list[FollowUp] = []
        for step, future in self._follow_ups.items():
            error = future.exception()
            if error is None:
                continue
            if not isinstance(error, HoistError):
                raise error
            if step == "repair":  # the previous run's debt: the next run tries again
                log.debug("ledger %s: repair of the previous record failed: %s", self.ledger.tag, error)
                continue
            failed.append(FollowUp(step, str(error)))
        if rewritten:  # the follow-ups above served the record that lost; do them for the one that stands
            try:
                for tagset in self._own():
                    history = history_tag_of(record, tagset.member)
                    if history:
                        put_tags(tagset.store, tagset.image, (history,), self._pool)
                self.ledger.index(record, appended.manifest, indexed=appended.indexed, replaces=appended.superseded)
            except HoistError as exc:
                failed.append(FollowUp("referrers", str(exc)))
        return tuple(failed)

    def abandon(self) -> None:
        """Stop without finishing (the caller failed before confirming): wait for what runs, then return."""
        self._pool.shutdown(wait=True)
