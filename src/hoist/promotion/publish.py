"""Publishing a record that moves an environment's tags (a promotion or a rollback).

:meth:`Publish.start` writes the record as the ledger's new head and, while it settles, moves the
environment's tags and runs the follow-ups: the record's history tag, its listing under the image's
referrers, and the repair of whatever the previous run left undone. :meth:`Publish.finish` waits out
the settle delay, confirms the record against racing writers, and reads the tags back (the newest record
wins the tags).

Moving the tags is the promotion: when it fails, the operation fails. A follow-up that fails afterwards
does not undo it; it is reported as what it is (:class:`FollowUp`), and the next write to the ledger
repairs it.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from hoist.digest import Digest
from hoist.errors import HoistError
from hoist.manifest import Manifest
from hoist.ops.copy import put_tags, read_back, write_tags
from hoist.promotion.ledger import Appended, BuildRecord, Ledger, Pending, View
from hoist.store.base import Store
from hoist.timing import Timer

log = logging.getLogger("hoist.ledger")


@dataclass(frozen=True)
class FollowUp:
    """A step after the tags moved that did not complete; the next run repairs it."""

    step: str
    error: str


@dataclass(frozen=True)
class Published:
    appended: Appended
    failed: tuple[FollowUp, ...]


class Publish:
    def __init__(self, ledger: Ledger, image: Manifest, tags: tuple[str, ...], *, jobs: int, timer: Timer) -> None:
        self.ledger = ledger
        self.store: Store = ledger.store
        self.image = image
        self.tags = tags
        self.timer = timer
        self._pool = ThreadPoolExecutor(max_workers=max(jobs, 4), thread_name_prefix="hoist-publish")
        self._pending: Pending | None = None
        self._moving: Future[None] | None = None
        self._follow_ups: dict[str, Future[None]] = {}

    @property
    def digest(self) -> Digest:
        return self.image.digest

    def start(self, build: BuildRecord, view: View) -> Pending:
        """Write the record, then start moving the tags and the follow-ups (they run during the settle)."""
        with self.timer.stage("ledger"):
            pending = self.ledger.write(build, view=view)
        self._pending = pending
        self._moving = self._pool.submit(self._move)
        history = pending.record.history_tag
        if history:
            self._follow_ups["history tag"] = self._pool.submit(self._put, (history,))
        self._follow_ups["referrers"] = self._pool.submit(
            self.ledger.index, pending.record, pending.manifest, indexed=pending.indexed
        )
        self._follow_ups["repair"] = self._pool.submit(self.ledger.repair, pending.view, indexed=pending.indexed)
        return pending

    def _move(self) -> None:
        with self.timer.stage("tags"):
            put_tags(self.store, self.image, self.tags, self._pool)

    def _put(self, tags: tuple[str, ...]) -> None:
        put_tags(self.store, self.image, tags, self._pool)

    def finish(self) -> Published:
        """Confirm the record and settle the tags; raises when the tags could not be moved or read back."""
        pending = self._pending
        assert pending is not None and self._moving is not None, "start() first"
        try:
            self._moving.result()  # moving the tags is the operation itself: its failure is the operation's
            with self.timer.stage("ledger"):
                time.sleep(pending.remaining)
                # the read-back goes out with the confirming read: both come after the settle delay
                early = self._pool.submit(read_back, self.store, self.digest, self.tags, self._pool)
                appended = self.ledger.confirm(pending)
            with self.timer.stage("readback"):
                self._settle_tags(appended, early.result() if appended.entry.record is pending.record else None)
            failed = self._failed_follow_ups(appended)
        finally:
            self._pool.shutdown(wait=True)
        return Published(appended, failed)

    def _settle_tags(self, appended: Appended, moved_early: list[tuple[str, Digest | None]] | None) -> None:
        """The newest record wins the tags: when this record is the newest, tags found elsewhere are written
        again (a second miss is an error); when a later record exists, the tags both wrote point at its
        digest."""
        store, pool = self.store, self._pool
        head = appended.view.head
        record = appended.entry.record
        if head is None or head.manifest == appended.entry.manifest:
            found = moved_early if moved_early is not None else read_back(store, self.digest, self.tags, pool)
            moved = [tag for tag, _ in found]
            if moved:
                write_tags(store, self.image, moved, pool, write_manifest=False)
        elif head.record.current != self.digest:
            winner = appended.view.record_at(head.record.current_seq)
            shared = [t for t in self.tags if winner is None or t in winner.record.tags] or list(self.tags[:1])
            put_tags(store, store.get_manifest(head.record.current), shared, pool)
        first = self._pending.record if self._pending is not None else record
        if first.history_tag and first.history_tag != record.history_tag:
            # this record lost a race and was written again with another sequence number: its first
            # history tag belongs to the record that won that number
            self._repoint(first.history_tag, appended.view, first.seq)

    def _repoint(self, tag: str, view: View, seq: int) -> None:
        owner = view.record_at(seq)
        if owner is not None and owner.record.history_tag == tag:
            put_tags(self.store, self.store.get_manifest(owner.record.digest), (tag,), self._pool)

    def _failed_follow_ups(self, appended: Appended) -> tuple[FollowUp, ...]:
        record = appended.entry.record
        rewritten = self._pending is not None and self._pending.attempts > 1
        failed: list[FollowUp] = []
        for step, future in self._follow_ups.items():
            error = future.exception()
            if error is not None:
                if not isinstance(error, HoistError):
                    raise error
                if step == "repair":  # the previous run's debt: the next run tries again
                    log.debug("ledger %s: repair of the previous record failed: %s", self.ledger.tag, error)
                    continue
                failed.append(FollowUp(step, str(error)))
        if rewritten:  # the follow-ups above served the record that lost; do them for the one that stands
            try:
                if record.history_tag:
                    self._put((record.history_tag,))
                self.ledger.index(record, appended.manifest, indexed=appended.indexed)
            except HoistError as exc:
                failed.append(FollowUp("referrers", str(exc)))
        return tuple(failed)

    def abandon(self) -> None:
        """Stop without finishing (the caller failed before confirming): wait for what runs, then return."""
        self._pool.shutdown(wait=True)
