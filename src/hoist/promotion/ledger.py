"""The ledger of one environment, kept in its own repository: read, append (race-safe), walk.

Layout in the environment's repository:

* tag ``hoist-ledger.<env>`` → the newest record manifest (the *head*); one GET shows the last
  :data:`WINDOW` records, because each record carries copies of the ones before it;
* every record names the manifest digest of the previous one (a hash chain back to the first);
* every record is also listed under the image digest's referrers (API or ``sha256-<hex>`` fallback tag).

Registries have no compare-and-swap, so appends use write-then-verify with a settle delay (Fischer's
mutual exclusion): read the head, write the new head right after, wait three times that read-to-write gap
(at least 0.25 s), read the head back. A writer that finds its record no longer in the chain writes it
again on top of the new head, so two promotions racing on one environment both end up in the chain, in
a consistent order.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from hoist.digest import Digest
from hoist.errors import HoistError, IntegrityError, LedgerConflict, NotFound
from hoist.manifest import OCI_EMPTY, Manifest
from hoist.ops.referrers import attach_referrer, subject_descriptor
from hoist.promotion.record import Entry, Record, parse_record_manifest, record_manifest
from hoist.store.base import Store

log = logging.getLogger("hoist.ledger")

WINDOW = 50
MAX_ATTEMPTS = 6
_MIN_SETTLE = 0.25
_MAX_SETTLE = 5.0
_FRESH = 1.0  # seconds a view may be old when a record is written on top of it


def head_tag(environment: str) -> str:
    return f"hoist-ledger.{environment}"


@dataclass(frozen=True)
class View:
    """The ledger as read at one moment: the head and the records its window holds (newest first)."""

    entries: list[Entry]
    read_at: float

    @property
    def head(self) -> Entry | None:
        return self.entries[0] if self.entries else None

    @property
    def next_seq(self) -> int:
        return self.entries[0].record.seq + 1 if self.entries else 1

    @property
    def current(self) -> str | None:
        return self.entries[0].record.current if self.entries else None


BuildRecord = Callable[[View], Record]


def subject_of(store: Store, view: View, digest: str) -> tuple[str, int]:
    """The media type and size of an image the ledger speaks of (from the records, else the store)."""
    for entry in view.entries:
        if entry.record.digest == digest:
            return entry.record.media_type, entry.record.size
    found = store.head_manifest(Digest.parse(digest))
    if found is None:
        raise NotFound(f"{digest} is not in {store.location}")
    return found.media_type, found.size


@dataclass(frozen=True)
class Appended:
    entry: Entry
    view: View
    """The ledger right after the append: the new record, or a later one on top of it."""
    manifest: Manifest
    indexed: bool
    """The registry listed the record under its subject's referrers itself."""


class Ledger:
    def __init__(self, store: Store, environment: str, *, settle: float | None = None) -> None:
        self.store = store
        self.environment = environment
        self.tag = head_tag(environment)
        env_settle = os.environ.get("HOIST_LEDGER_SETTLE")
        self._settle = settle if settle is not None else (float(env_settle) if env_settle else None)

    # -- reading -------------------------------------------------------------------------------------

    def read(self) -> View:
        """The head and its window: one manifest GET (none when the ledger is empty)."""
        started = time.monotonic()
        try:
            manifest = self.store.get_manifest(self.tag)
        except NotFound:
            return View([], started)
        record, window = parse_record_manifest(manifest)
        if record.environment != self.environment:
            raise IntegrityError(f"{self.tag} in {self.store.location} holds a record of {record.environment!r}")
        return View([Entry(manifest.digest, record), *window], started)

    def entry(self, digest: Digest) -> tuple[Entry, list[Entry]]:
        manifest = self.store.get_manifest(digest)
        record, window = parse_record_manifest(manifest)
        return Entry(digest, record), window

    def history(self, limit: int | None = None, view: View | None = None) -> list[Entry]:
        """Newest first; walks older windows only when ``limit`` reaches past the head's window."""
        view = view or self.read()
        entries = list(view.entries)
        while entries and (limit is None or len(entries) < limit):
            oldest = entries[-1].record
            if oldest.previous_record is None:
                break
            entry, window = self.entry(Digest.parse(oldest.previous_record))
            entries += [entry, *window]
        return entries[:limit] if limit is not None else entries

    def walk(self) -> Iterator[tuple[Entry, list[Entry]]]:
        """Every record from the head back to the first, each fetched and checked (for audits)."""
        try:
            manifest = self.store.get_manifest(self.tag)
        except NotFound:
            return
        record, window = parse_record_manifest(manifest)
        yield Entry(manifest.digest, record), window
        while record.previous_record is not None:
            entry, window = self.entry(Digest.parse(record.previous_record))
            record = entry.record
            yield entry, window

    # -- appending -----------------------------------------------------------------------------------

    def append(
        self, build: BuildRecord, *, view: View | None = None, between: Callable[[], None] | None = None
    ) -> Appended:
        """Append the record ``build`` makes from the current view; returns it and the head after.

        ``between`` runs once, after the record is written and before it is confirmed (the promotion's
        tag moves go there, so the settle delay overlaps useful work). ``build`` may be called again with
        a newer view when another writer got in first.
        """
        if view is None or time.monotonic() - view.read_at > _FRESH:
            view = self.read()  # the check-before-write: a stale view could overwrite a newer record
        if view.head is None:
            self.store.push_bytes(b"{}", OCI_EMPTY)  # every record references the empty blob
            view = self.read()
        for _attempt in range(MAX_ATTEMPTS):
            record = build(view)
            manifest = record_manifest(record, view.entries[: WINDOW - 1])
            indexed = self.store.put_manifest(manifest, tag=self.tag)
            written = time.monotonic()
            gap = written - view.read_at
            settle = self._settle if self._settle is not None else min(max(3 * gap, _MIN_SETTLE), _MAX_SETTLE)
            if between is not None:
                between()
                between = None
            remaining = settle - (time.monotonic() - written)
            if remaining > 0:
                time.sleep(remaining)
            found = self.store.head_manifest(self.tag)
            entry = Entry(manifest.digest, record)
            if found is not None and found.digest == manifest.digest:
                return Appended(entry, View([entry, *view.entries], written), manifest, indexed)
            after = self.read()
            log.debug("ledger %s: record seq %d met a concurrent writer", self.tag, record.seq)
            if any(e.manifest == manifest.digest for e in after.entries):
                return Appended(entry, after, manifest, indexed)  # a later writer chained onto ours
            log.debug(
                "ledger %s: record seq %d lost the race; writing it on top of seq %d",
                self.tag,
                record.seq,
                after.next_seq - 1,
            )
            self._discard(manifest.digest)
            view = after
        raise LedgerConflict(
            f"the ledger of {self.environment} in {self.store.location} kept changing under hoist "
            f"({MAX_ATTEMPTS} attempts): another process is writing to it; try again"
        )

    def _discard(self, digest: Digest) -> None:
        """Remove a record that lost a race (it is in no chain); harmless if the registry refuses."""
        try:
            self.store.delete_manifest(digest)
        except HoistError:
            return  # best effort: an orphan record is only clutter

    def index(self, appended: Appended) -> None:
        """List the record under its image's referrers, unless the registry did so itself."""
        if not appended.indexed:
            attach_referrer(
                self.store, Digest.parse(appended.entry.record.digest), subject_descriptor(appended.manifest)
            )
