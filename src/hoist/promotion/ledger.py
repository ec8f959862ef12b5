"""The ledger of one environment, kept in its own repository: read, write then confirm (race-safe), walk.

Layout in the environment's repository:

* tag ``hoist-ledger.<env>`` → the newest record manifest (the *head*); one GET shows the last
  :data:`WINDOW` records, the older records the head keeps pinned and the digests of the :data:`EARLIER`
  records before its window (see :mod:`hoist.promotion.artifact`);
* every record names the manifest digest of the previous one (a hash chain back to the first);
* every record is also listed under the image digest's referrers (API or ``sha256-<hex>`` fallback tag).

Registries have no compare-and-swap, so an append is write-then-verify with a settle delay (Fischer's
mutual exclusion): read the head, write the new head right after, wait three times that read-to-write gap
(at least :data:`MIN_SETTLE`), read the head back. :meth:`Ledger.write` does the first half and returns a
:class:`Pending` append; the caller may do work that does not depend on the race's outcome during the
settle delay, then :meth:`Ledger.confirm`. A writer that finds its record no longer in the chain writes
it again on top of the new head, so two writers racing on one environment both end up in the chain.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hoist.digest import Digest
from hoist.errors import HoistError, IntegrityError, LedgerConflict, NotFound, UntrustedLedger
from hoist.manifest import LEDGER_RECORD_TYPE, OCI_EMPTY, OCI_EMPTY_BYTES, Descriptor, Manifest
from hoist.ops.referrers import listed_in_fallback, update_fallback_index
from hoist.promotion.artifact import (
    ANNOTATION_ENV,
    ANNOTATION_SEQ,
    Parsed,
    parse_record_manifest,
    record_descriptor,
    record_manifest,
    slim_descriptor,
)
from hoist.promotion.history import History
from hoist.promotion.record import Entry, Kind, Record
from hoist.promotion.signing import RecordSignature, Trust, sign_record
from hoist.store.base import Store

if TYPE_CHECKING:
    from hoist.evidence.keys import PrivateKey

log = logging.getLogger("hoist.ledger")

WINDOW = 20
"""The head and the records whose copies it keeps: what one GET shows (``history --limit 20``). Every
later record's manifest holds this many copies too, so the window sets what each promotion reads and
writes and what an audit fetches (a promotion's settle delay grows with the time its head takes to read
and write)."""
EARLIER = 30
"""How many records before its window a record names by digest (read in parallel when going further back):
with the window's copies, each record leads 49 records back."""
FETCH_JOBS = 8
"""Records fetched at once when reading further back than the head holds."""
MAX_ATTEMPTS = 6
MIN_SETTLE = 0.25
MAX_SETTLE = 5.0
INDEX_KEEP = 8
"""How many records per environment an image's fallback referrers index lists (the newest)."""


def head_tag(environment: str) -> str:
    return f"hoist-ledger.{environment}"


def settle_override() -> float | None:
    """``HOIST_LEDGER_SETTLE``: a fixed settle delay in seconds (tests of races and benchmarks)."""
    value = os.environ.get("HOIST_LEDGER_SETTLE")
    return float(value) if value else None


@dataclass(frozen=True)
class View(History):
    """The ledger as read at one moment: the head, its window (newest first) and its pinned records."""

    read_at: float = 0.0
    head_manifest: Manifest | None = None
    """The head record's manifest as read (None when the ledger is empty or the view was built)."""
    trust: Trust | None = None
    """Who may write the ledger; records of others are left out of every decision."""
    earlier: tuple[Digest, ...] = ()
    """The records right after the oldest of :attr:`entries`, by manifest digest, newest first."""

    def problem(self, entry: Entry) -> str | None:
        return self.trust.problem(entry.record, entry.signature) if self.trust is not None else None


BuildRecord = Callable[[View], Record]


@dataclass(frozen=True)
class Appended:
    entry: Entry
    view: View
    """The ledger right after the append: the new record, or a later one on top of it."""
    manifest: Manifest
    indexed: bool
    """The registry listed the record under its subject's referrers itself."""
    superseded: tuple[Digest, ...] = ()
    """Records this append wrote that lost a race (discarded; the record was written again on top)."""


@dataclass
class Pending:
    """A record written as the new head, not yet confirmed against racing writers."""

    build: BuildRecord
    view: View
    record: Record
    manifest: Manifest
    indexed: bool
    written: float
    settle: float
    attempts: int = 1
    superseded: list[Digest] = field(default_factory=list)
    """Records this append wrote that lost a race (and were written again on top)."""
    signature: RecordSignature | None = None

    @property
    def entry(self) -> Entry:
        return Entry(self.manifest.digest, self.record, self.signature)

    @property
    def remaining(self) -> float:
        """Seconds of the settle delay still to wait."""
        return max(0.0, self.settle - (time.monotonic() - self.written))


class Ledger:
    def __init__(
        self,
        store: Store,
        environment: str,
        *,
        settle: float | None = None,
        signer: PrivateKey | None = None,
        trust: Trust | None = None,
    ) -> None:
        self.store = store
        self.environment = environment
        self.tag = head_tag(environment)
        self._settle = settle if settle is not None else settle_override()
        self.signer = signer
        """Signs every record this ledger writes (the environment's ``key``)."""
        self.trust = trust
        """Who may write the ledger (the environment's ``trust``): other records are untrusted."""

    # -- reading -------------------------------------------------------------------------------------

    def read(self) -> View:
        """The head, its window and its pinned records: one manifest GET (none when the ledger is empty)."""
        started = time.monotonic()
        try:
            manifest = self.store.get_manifest(self.tag)
        except NotFound:
            return View((), (), started, trust=self.trust)
        parsed = parse_record_manifest(manifest)
        if parsed.record.environment != self.environment:
            where = f"{self.tag} in {self.store.location}"
            raise IntegrityError(f"{where} holds a record of {parsed.record.environment!r}")
        entries = (parsed.entry(manifest.digest), *parsed.window)
        return View(entries, tuple(parsed.pinned), started, manifest, trust=self.trust, earlier=tuple(parsed.earlier))

    def entry(self, digest: Digest) -> tuple[Entry, list[Entry]]:
        """The record held by manifest ``digest``, and its window."""
        parsed = parse_record_manifest(self.store.get_manifest(digest))
        return parsed.entry(digest), parsed.window

    def history(
        self, limit: int | None = None, view: View | None = None, *, until: Callable[[Record], bool] | None = None
    ) -> list[Entry]:
        """Newest first; reads further back only when ``limit`` reaches past what is in hand, and stops at
        the newest record ``until`` accepts (included).

        The records a manifest names as *earlier* than its window are fetched in parallel, each checked to
        be the one its successor links to; a ledger without such names is read one window at a time."""
        view = view or self.read()
        entries, named = list(view.entries), list(view.earlier)

        def accepted(start: int) -> int | None:
            """The first of ``entries[start:]`` that ``until`` accepts (each entry is asked once)."""
            if until is None:
                return None
            return next((n for n in range(start, len(entries)) if until(entries[n].record)), None)

        end = accepted(0)
        with ExitStack() as stack:
            pool: ThreadPoolExecutor | None = None  # started by the first fetch: the head often has it all
            while end is None and entries and (limit is None or len(entries) < limit):
                previous = entries[-1].record.previous_record
                if previous is None:
                    break
                if not named or named[0] != previous:
                    named = [previous]  # nothing named (an older ledger), or names that do not follow
                batch = named if limit is None else named[: limit - len(entries)]
                pool = pool or stack.enter_context(
                    ThreadPoolExecutor(max_workers=FETCH_JOBS, thread_name_prefix="hoist-ledger")
                )
                fetched = self._linked(entries[-1], batch, pool)
                checked = len(entries)
                entries += [parsed.entry(digest) for digest, parsed in zip(batch, fetched, strict=True)]
                limited = len(batch) < len(named)
                if not limited:
                    entries += fetched[-1].window
                    named = list(fetched[-1].earlier)
                end = accepted(checked)
                if limited:
                    break  # the limit is reached
        if end is not None:
            entries = entries[: end + 1]
        return entries[:limit] if limit is not None else entries

    def _linked(self, newer: Entry, digests: Sequence[Digest], pool: ThreadPoolExecutor) -> list[Parsed]:
        """The records ``digests`` names (fetched in parallel), each checked to be the one before the last."""
        fetched = list(pool.map(lambda d: parse_record_manifest(self.store.get_manifest(d)), digests))
        for digest, parsed in zip(digests, fetched, strict=True):
            if newer.record.previous_record != digest:
                raise IntegrityError(
                    f"the ledger of {self.environment} names {digest} as the record before seq "
                    f"{newer.record.seq}, which links to {newer.record.previous_record}: "
                    f"'hoist audit verify {self.environment}' shows what was altered"
                )
            newer = parsed.entry(digest)
        return fetched

    def walk(self) -> Iterator[tuple[Entry, list[Entry]]]:
        """Every record from the head back to the first, each fetched and checked (for audits)."""
        try:
            manifest = self.store.get_manifest(self.tag)
        except NotFound:
            return
        parsed = parse_record_manifest(manifest)
        record, window = parsed.record, parsed.window
        yield parsed.entry(manifest.digest), window
        while record.previous_record is not None:
            entry, window = self.entry(record.previous_record)
            record = entry.record
            yield entry, window

    # -- appending -----------------------------------------------------------------------------------

    def write(self, build: BuildRecord, *, view: View | None = None) -> Pending:
        """Write the record ``build`` makes from the current view as the new head (not yet confirmed).

        A view older than a third of the minimum settle delay is read again first: the delay grows with
        the time between reading the head and writing over it.
        """
        floor = self._settle if self._settle is not None else MIN_SETTLE
        if view is None or 3 * (time.monotonic() - view.read_at) > max(floor, 0.01):
            view = self.read()  # the check-before-write: a stale view could overwrite a newer record
        if view.head is None:
            self.store.push_bytes(OCI_EMPTY_BYTES, OCI_EMPTY)  # every record references the empty blob
            view = self.read()
        self.check_head(view)
        return self._put(build, view)

    def check_head(self, view: View) -> None:
        """Refuse to build on a head no trusted writer signed: the new record would vouch for it."""
        problem = view.head_problem
        if problem is not None and view.head is not None:
            raise UntrustedLedger(
                f"the newest record of {self.environment} (seq {view.head.record.seq}, {view.head.manifest}) is "
                f"{problem}: hoist will not build on it; 'hoist audit verify {self.environment}' shows where the "
                "trusted records end"
            )

    def _put(self, build: BuildRecord, view: View, attempts: int = 1) -> Pending:
        record = build(view)
        signature = sign_record(record, self.signer) if self.signer is not None else None
        window, pins = view.entries[: WINDOW - 1], view.pins_for(record, WINDOW - 1)
        earlier = [*(e.manifest for e in view.entries[WINDOW - 1 :]), *view.earlier][:EARLIER]
        manifest = record_manifest(record, window, pins, signature, earlier)
        indexed = self.store.put_manifest(manifest, tag=self.tag)
        written = time.monotonic()
        gap = written - view.read_at
        settle = self._settle if self._settle is not None else min(max(3 * gap, MIN_SETTLE), MAX_SETTLE)
        return Pending(build, view, record, manifest, indexed, written, settle, attempts, signature=signature)

    def confirm(self, pending: Pending) -> Appended:
        """Wait out the settle delay, then make sure the record is in the chain (writing it again on top of
        a racing writer's record when it is not)."""
        while True:
            time.sleep(pending.remaining)
            found = self.store.head_manifest(self.tag)
            if found is not None and found.digest == pending.manifest.digest:
                entries = (pending.entry, *pending.view.entries)
                view = View(
                    entries,
                    pending.view.pinned,
                    pending.written,
                    pending.manifest,
                    trust=self.trust,
                    earlier=pending.view.earlier,
                )
                return Appended(pending.entry, view, pending.manifest, pending.indexed, tuple(pending.superseded))
            after = self.read()
            log.debug("ledger %s: record seq %d met a concurrent writer", self.tag, pending.record.seq)
            if any(e.manifest == pending.manifest.digest for e in after.entries):
                # chained onto ours
                return Appended(pending.entry, after, pending.manifest, pending.indexed, tuple(pending.superseded))
            if pending.attempts >= MAX_ATTEMPTS:
                raise LedgerConflict(
                    f"the ledger of {self.environment} in {self.store.location} kept changing "
                    f"({MAX_ATTEMPTS} attempts): another process is writing to it; try again"
                )
            log.debug("ledger %s: record seq %d lost the race; writing it again", self.tag, pending.record.seq)
            self._discard(pending.manifest.digest)
            lost = [*pending.superseded, pending.manifest.digest]
            pending = self._put(pending.build, after, pending.attempts + 1)
            pending.superseded = lost

    def append(self, build: BuildRecord, *, view: View | None = None) -> Appended:
        """Write and confirm in one step (for records whose writer has nothing to do meanwhile)."""
        return self.confirm(self.write(build, view=view))

    def _discard(self, digest: Digest) -> None:
        """Remove a record that lost a race (it is in no chain); harmless if the registry refuses."""
        try:
            self.store.delete_manifest(digest)
        except HoistError:
            return  # best effort: an orphan record is only clutter

    # -- the referrers listing and repairs -----------------------------------------------------------

    def repair(self, view: View, *, indexed: bool) -> None:
        """Finish what the run that wrote ``view``'s head may have left undone (it reports such a step as
        failed): the head's history tag, and its listing under its image's referrers."""
        head = view.head
        if head is None:
            return
        record = head.record
        if not indexed and view.head_manifest is not None:
            # a run lists its record only after writing its history tag: listed means nothing was left
            if listed_in_fallback(self.store, record.digest, head.manifest):
                return
            self._restore_history_tag(record)
            self.index(record, view.head_manifest, indexed=False)
        else:
            self._restore_history_tag(record)

    def _restore_history_tag(self, record: Record) -> None:
        if record.kind is Kind.PROMOTE and record.history_tag:
            found = self.store.head_manifest(record.history_tag)
            if found is None or found.digest != record.digest:
                self.store.put_manifest(self.store.get_manifest(record.digest), tag=record.history_tag)

    def index(self, record: Record, manifest: Manifest, *, indexed: bool, replaces: Sequence[Digest] = ()) -> None:
        """List the record under its image's referrers, unless the registry did so itself; ``replaces``
        names records of this append that lost a race and were discarded (their listing goes: a registry
        refuses an index naming a manifest it no longer has).

        The fallback index stays small however many records point at one image: hoist's own entries are
        listed slim, and only the newest :data:`INDEX_KEEP` per environment stay (older records remain
        reachable through the chain). Other tools' entries are never touched.
        """
        if indexed:
            return
        gone = {str(digest) for digest in replaces}

        def retain(entries: list[dict[str, object]]) -> list[dict[str, object]]:
            return _retain([e for e in entries if e.get("digest") not in gone])

        update_fallback_index(self.store, record.digest, record_descriptor(manifest, record), retain=retain)


def _retain(entries: list[dict[str, object]]) -> list[dict[str, object]]:
    """Keep every entry of other tools; slim hoist's and keep the newest per environment."""
    ours: dict[str, list[tuple[int, int]]] = {}
    for position, entry in enumerate(entries):
        if entry.get("artifactType") != LEDGER_RECORD_TYPE:
            continue
        annotations = entry.get("annotations")
        labels = annotations if isinstance(annotations, dict) else {}
        seq_text = str(labels.get(ANNOTATION_SEQ, ""))
        seq = int(seq_text) if seq_text.isdigit() else -1
        ours.setdefault(str(labels.get(ANNOTATION_ENV, "")), []).append((seq, position))
    dropped = {p for listed in ours.values() for _seq, p in sorted(listed, reverse=True)[INDEX_KEEP:]}
    kept: list[dict[str, object]] = []
    for position, entry in enumerate(entries):
        if position in dropped:
            continue
        kept.append(slim_descriptor(dict(entry)) if entry.get("artifactType") == LEDGER_RECORD_TYPE else entry)
    return kept


def subject_of(store: Store, view: History, digest: Digest) -> Descriptor:
    """The descriptor of an image the ledger speaks of (from the records, else the store)."""
    for entry in view.known:
        if entry.record.digest == digest:
            return Descriptor(entry.record.media_type, digest, entry.record.size)
    found = store.head_manifest(digest)
    if found is None:
        raise NotFound(f"{digest} is not in {store.location}")
    return found
