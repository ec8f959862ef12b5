"""``audit verify``: the ledger's chain is whole and untampered, and what it records still exists."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from hoist.digest import Digest
from hoist.errors import HoistError, NotFound
from hoist.manifest import Manifest
from hoist.promotion.artifact import Kept, Shallow, read_record_manifest
from hoist.promotion.config import Environment
from hoist.promotion.ledger import Ledger
from hoist.promotion.record import Entry, Kind, Record
from hoist.promotion.signing import Trust
from hoist.ref import Reference, parse_reference
from hoist.store.base import Store


@dataclass
class Finding:
    severity: str  # "error" or "warning"
    seq: int | None
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"severity": self.severity, "seq": self.seq, "message": self.message}


@dataclass
class Audit:
    environment: str
    reference: str
    since: int | None = None
    """The oldest sequence number checked (None: the whole ledger)."""
    records: int = 0
    untrusted: int = 0
    """Records no trusted writer signed (with ``trust`` configured)."""
    head: str | None = None
    digests_checked: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(f.severity == "error" for f in self.findings)

    def error(self, seq: int | None, message: str) -> None:
        self.findings.append(Finding("error", seq, message))

    def warn(self, seq: int | None, message: str) -> None:
        self.findings.append(Finding("warning", seq, message))

    def to_json(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "reference": self.reference,
            "since": self.since,
            "ok": self.ok,
            "records": self.records,
            "untrusted": self.untrusted,
            "head": self.head,
            "digests_checked": self.digests_checked,
            "findings": [f.to_json() for f in self.findings],
        }


Opener = Callable[[Reference], Store]


def audit(
    store: Store,
    env: Environment,
    *,
    jobs: int = 8,
    since: int | None = None,
    opener: Opener | None = None,
    trust: Trust | None = None,
) -> Audit:
    """Check every record from the head back to the first (or to sequence ``since``): each link, each
    copy later records keep, and each recorded digest and history tag.

    The records' windows and earlier-record lists name the records before them, so all are fetched in
    parallel while a few sequential reads (one per window and list) find the rest; the chain itself is then
    walked by each record's own link.
    """
    result = Audit(environment=env.name, reference=str(env.image), since=since)
    ledger = Ledger(store, env.name)
    try:
        head = store.get_manifest(ledger.tag)
    except NotFound:
        result.warn(None, f"{env.name} has no ledger in {store.location}")
        return result
    result.head = str(head.digest)
    with ThreadPoolExecutor(max_workers=max(2 * jobs, 8), thread_name_prefix="hoist-audit") as pool:
        records = _Records(store, pool)
        records.add(head)
        _claim(records, head.digest, since)
        seen, copies = _walk_chain(records, head.digest, env, result, since, trust)
    result.records = len(seen)
    if not seen:
        return result
    _check_copies(records, seen, copies, result)
    _check_earlier(records, seen, result)
    _check_digests(store, env, seen, result, jobs, opener)
    return result


class _Records:
    """Record manifests by digest, each fetched once (and checked against its digest by the store) and
    read without parsing its window's copies (the copies are compared as JSON, see :func:`_check_copies`)."""

    def __init__(self, store: Store, pool: ThreadPoolExecutor) -> None:
        self.store = store
        self.pool = pool
        self.found: dict[Digest, Shallow | HoistError] = {}
        self.fetching: dict[Digest, Future[None]] = {}

    def add(self, manifest: Manifest) -> None:
        try:
            self.found[manifest.digest] = read_record_manifest(manifest)
        except HoistError as exc:
            self.found[manifest.digest] = exc

    def _fetch(self, digest: Digest) -> None:
        try:
            self.add(self.store.get_manifest(digest))
        except HoistError as exc:
            self.found[digest] = exc

    def get(self, digest: Digest) -> Shallow:
        if digest not in self.found:
            self.prefetch([digest])
            self.fetching[digest].result()
        found = self.found[digest]
        if isinstance(found, HoistError):
            raise found
        return found

    def prefetch(self, digests: Iterable[Digest]) -> None:
        """Start fetching ``digests`` (those not fetched or being fetched already)."""
        for digest in digests:
            if digest not in self.found and digest not in self.fetching:
                self.fetching[digest] = self.pool.submit(self._fetch, digest)

    def settle(self) -> None:
        for future in list(self.fetching.values()):
            future.result()


def _claim(records: _Records, head: Digest, since: int | None) -> None:
    """Fetch every record before the head, as the manifests name them: the copies of each window and the
    records named as earlier are fetched in parallel while the oldest of them is read for the next names
    (one sequential read per window and list)."""
    digest: Digest | None = head
    while digest is not None:
        try:
            parsed = records.get(digest)
        except HoistError:
            break  # the walk reports it
        record, named = parsed.record, [k.manifest for k in parsed.kept] + parsed.earlier
        if since is not None:
            if record.seq <= since:
                break
            named = named[: max(0, record.seq - since)]  # down to the record at ``since``, no further
        if not named:
            digest = record.previous_record
            continue
        records.prefetch(named)
        try:
            # the oldest copy says how far back the window reaches; only a list of earlier records leads on
            oldest = parsed.kept[-1].entry().record if parsed.kept and not parsed.earlier else None
        except HoistError:
            break  # the copies check reports it
        if oldest is not None:
            if since is not None and oldest.seq <= since:
                break
            digest = oldest.previous_record
            if digest is not None:
                records.prefetch([digest])
        else:
            digest = named[-1]
    records.settle()


def _walk_chain(
    records: _Records, head: Digest, env: Environment, result: Audit, since: int | None, trust: Trust | None
) -> tuple[list[Entry], dict[Digest, list[tuple[int, Kept]]]]:
    """Every record reachable from the head by each record's own link, newest first, and the copies
    each window keeps."""
    copies: dict[Digest, list[tuple[int, Kept]]] = {}
    seen: list[Entry] = []
    untrusted: list[tuple[int, str]] = []
    expected_seq: int | None = None
    digest: Digest | None = head
    while digest is not None:
        after = seen[-1].record.seq if seen else None
        try:
            parsed = records.get(digest)
        except NotFound as exc:
            result.error(after, f"the chain is broken after seq {after}: a record was deleted ({exc})")
            break
        except HoistError as exc:
            result.error(after, f"the record before seq {after} was altered: {exc}")
            break
        record, kept = parsed.record, parsed.kept
        if trust is not None and (problem := trust.problem(record, parsed.signature)) is not None:
            untrusted.append((record.seq, problem))
        if record.environment != env.name:
            result.error(record.seq, f"record {digest} belongs to {record.environment!r}")
        if expected_seq is not None and record.seq != expected_seq:
            result.error(record.seq, f"sequence jumps to {record.seq}, expected {expected_seq}: a record is missing")
        expected_seq = record.seq - 1
        for copy in kept:
            copies.setdefault(copy.manifest, []).append((record.seq, copy))
        if kept and record.previous_record != kept[0].manifest:
            result.error(record.seq, f"record seq {record.seq} links to {record.previous_record}, its window "
                         f"to {kept[0].manifest}: one of them was altered")  # fmt: skip
        seen.append(parsed.entry(digest))
        if since is not None and record.seq <= since:
            break
        digest = record.previous_record
    _report_untrusted(untrusted, result)
    if since is not None and seen and seen[-1].record.seq <= since:
        return seen, copies
    if seen and seen[-1].record.previous_record is None and seen[-1].record.seq != 1:
        result.error(seen[-1].record.seq, f"the first record has seq {seen[-1].record.seq}, expected 1")
    return seen, copies


def _report_untrusted(untrusted: list[tuple[int, str]], result: Audit) -> None:
    """Records no trusted writer signed: one error naming the oldest (where the untrusted part begins)."""
    if not untrusted:
        return
    first_seq, why = min(untrusted)
    newest = max(seq for seq, _ in untrusted)
    span = f"seq {first_seq}" if first_seq == newest else f"seq {first_seq} to {newest}"
    result.untrusted = len(untrusted)
    result.error(
        first_seq,
        f"{len(untrusted)} record(s) not written by a trusted writer ({span}); the first, seq {first_seq}, is {why}",
    )


def _check_copies(
    records: _Records, seen: list[Entry], copies: dict[Digest, list[tuple[int, Kept]]], result: Audit
) -> None:
    """Each record must equal the copies later records keep of it (an edit shows as a difference).

    A copy whose JSON equals the record's own (as Python values: ``1``, ``1.0`` and ``true`` compare equal,
    as they do for every hoist decision that reads them) is the same record; only a copy that differs is
    parsed and compared in canonical form (an older hoist may have spelled the same record differently).
    Comparing as JSON first keeps a thousand-record audit from parsing fifty thousand copies."""
    for entry in seen:
        holders = copies.get(entry.manifest)
        if not holders:
            continue
        own = records.get(entry.manifest).doc
        seq, canonical = entry.record.seq, None
        for holder_seq, kept in holders:
            if kept.doc == own:
                continue
            canonical = canonical if canonical is not None else entry.record.canonical()
            try:
                same = Record.from_json(kept.doc).canonical() == canonical
            except HoistError:
                same = False
            if not same:
                result.error(seq, f"record seq {seq} differs from the copy kept in seq {holder_seq}: altered")


def _check_earlier(records: _Records, seen: list[Entry], result: Audit) -> None:
    """The records a manifest names as earlier than its window must be the chain's, in its order."""
    for position, entry in enumerate(seen):
        parsed = records.get(entry.manifest)
        start = position + 1 + len(parsed.kept)
        for offset, digest in enumerate(parsed.earlier):
            if start + offset >= len(seen):
                break
            if seen[start + offset].manifest != digest:
                actual = seen[start + offset].record.seq
                result.error(
                    entry.record.seq,
                    f"record seq {entry.record.seq} names {digest} where the chain has seq {actual}: altered",
                )
                break


def _recorded(entries: list[Entry], home: str) -> tuple[set[tuple[str, Digest]], list[tuple[Entry, str, str, Digest]]]:
    """The (repository, digest) pairs the records name, and their history tags (record, repository, tag,
    digest); a single image lives in the ledger's own repository ``home``."""
    wanted: set[tuple[str, Digest]] = set()
    history: list[tuple[Entry, str, str, Digest]] = []
    for entry in entries:
        record = entry.record
        images = (
            [(state.reference, state.digest, state.history_tag) for state in record.members.values()]
            if record.members is not None
            else [(home, record.digest, record.history_tag)]
        )
        for reference, digest, tag in images:
            wanted.add((reference, digest))
            if record.kind is Kind.PROMOTE and tag:
                history.append((entry, reference, tag, digest))
    return wanted, history


def _check_digests(
    store: Store, env: Environment, entries: list[Entry], result: Audit, jobs: int, opener: Opener | None
) -> None:
    """Every recorded digest still exists in its repository, and every history tag names it."""
    pruned: set[Digest] = set()
    for entry in entries:
        if entry.record.kind is Kind.PRUNE:
            pruned.update(Digest.parse(str(d)) for d in entry.record.details.get("digests", []))
    stores: dict[str, Store] = {str(store.location): store}

    def store_for(reference: str) -> Store:
        if reference not in stores:
            stores[reference] = opener(parse_reference(reference)) if opener is not None else store
        return stores[reference]

    wanted, history = _recorded(entries, str(store.location))
    items = sorted(wanted, key=lambda item: (item[0], str(item[1])))
    result.digests_checked = len(items)

    def exists(item: tuple[str, Digest]) -> bool:
        try:
            return store_for(item[0]).head_manifest(item[1]) is not None
        except HoistError:
            return False

    for reference, _digest in items:
        store_for(reference)  # open each repository once, before the threads
    with ThreadPoolExecutor(max_workers=max(2 * jobs, 8), thread_name_prefix="hoist-audit") as pool:
        tags = list(pool.map(lambda item: store_for(item[1]).head_manifest(item[2]), history))
        # a history tag that names its digest shows the digest exists: only the others are asked about
        shown = {(ref, digest) for (_e, ref, _n, digest), found in zip(history, tags, strict=True) if found and
                 found.digest == digest}  # fmt: skip
        rest = [item for item in items if item not in shown]
        asked = dict(zip(rest, pool.map(exists, rest), strict=True))
    present = {item: item in shown or asked[item] for item in items}
    for (reference, digest), ok in present.items():
        if ok:
            continue
        seqs = ", ".join(str(e.record.seq) for e in reversed(entries) if e.record.names(digest) or (
            e.record.members and any(m.digest == digest for m in e.record.members.values())))  # fmt: skip
        if digest in pruned:
            result.warn(None, f"{digest} (seq {seqs}) was pruned and is gone")
        else:
            result.error(None, f"{digest} recorded in seq {seqs} no longer exists in {reference}")
    for (entry, _reference, name, digest), found in zip(history, tags, strict=True):
        if found is not None and found.digest != digest:
            result.error(entry.record.seq, f"history tag {name} points at {found.digest}, not {digest}")
    current = entries[0].record.current
    at_tag = store.head_manifest(env.tag)
    promoted = any(e.record.kind.moves_tags for e in entries)
    if promoted and (at_tag is None or at_tag.digest != current):
        where = at_tag.digest if at_tag else "nothing"
        result.warn(entries[0].record.seq, f"drift: {env.tag} points at {where}, the ledger says {current}")
