"""The ledger's mechanics on an OCI image layout (a real store: files, index.json, tags), with the clock the
settle delay reads under the test's control: reading, paging, write-then-confirm against racing writers,
repairs, and the referrers listing it keeps small."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from hoist.digest import Digest
from hoist.errors import IntegrityError, LedgerConflict, NotFound, UntrustedLedger
from hoist.manifest import LEDGER_RECORD_TYPE, OCI_INDEX, OCI_MANIFEST, Descriptor, Manifest
from hoist.ops.referrers import list_referrers
from hoist.promotion import ledger as ledger_module
from hoist.promotion.artifact import (
    ANNOTATION_EARLIER,
    ANNOTATION_ENV,
    ANNOTATION_SEQ,
    ANNOTATION_WINDOW,
    record_manifest,
)
from hoist.promotion.history import new_record
from hoist.promotion.ledger import (
    EARLIER,
    INDEX_KEEP,
    MAX_ATTEMPTS,
    MAX_SETTLE,
    MIN_SETTLE,
    WINDOW,
    Ledger,
    View,
    head_tag,
    settle_override,
    subject_of,
)
from hoist.promotion.record import DeployInfo, DeployOutcome, Entry, Kind, Provenance, Record
from hoist.store.ocidir import OCILayoutStore
from tests.infra.images import make_image

WHO = Provenance(actor="tester", time="2026-11-28T08:00:00.000Z")


class FakeTime:
    """Stands in for the ``time`` module the ledger reads: monotonic() and sleep() under the test's control."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []
        self.step = 0.0
        """Seconds each monotonic() call advances (how long each store call seems to take)."""

    def monotonic(self) -> float:
        self.now += self.step
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    fake = FakeTime()
    monkeypatch.setattr(ledger_module, "time", fake)
    monkeypatch.delenv("HOIST_LEDGER_SETTLE", raising=False)
    return fake


@pytest.fixture
def store(tmp_path: Path) -> OCILayoutStore:
    """A layout holding two images, A and B (tags ``a`` and ``b``), that records can be about."""
    layout = tmp_path / "layout"
    make_image(layout, tag="a", layers=1, layer_size=256, seed="ledger-a")
    make_image(layout, tag="b", layers=1, layer_size=256, seed="ledger-b")
    return OCILayoutStore(layout, create=False)


def image(store: OCILayoutStore, tag: str) -> Descriptor:
    found = store.head_manifest(tag)
    assert found is not None
    return found


def builder(subject: Descriptor, kind: Kind = Kind.PROMOTE, environment: str = "prod", **fields: object):  # type: ignore[no-untyped-def]
    def build(view: View) -> Record:
        return new_record(view, kind=kind, environment=environment, subject=subject, provenance=WHO, **fields)

    return build


def append(ledger: Ledger, subject: Descriptor, count: int = 1, kind: Kind = Kind.PROMOTE) -> None:
    for _ in range(count):
        ledger.append(builder(subject, kind))


def test_names_and_the_settle_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    assert head_tag("production") == "hoist-ledger.production"
    monkeypatch.delenv("HOIST_LEDGER_SETTLE", raising=False)
    assert settle_override() is None
    monkeypatch.setenv("HOIST_LEDGER_SETTLE", "")
    assert settle_override() is None
    monkeypatch.setenv("HOIST_LEDGER_SETTLE", "0.5")
    assert settle_override() == 0.5


def test_the_settle_variable_sets_the_delay_of_a_ledger_given_none(
    store: OCILayoutStore, clock: FakeTime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOIST_LEDGER_SETTLE", "0.5")
    a = image(store, "a")
    assert Ledger(store, "prod").write(builder(a)).settle == 0.5
    assert Ledger(store, "prod", settle=0.7).write(builder(a)).settle == 0.7, "a delay given wins"


def test_an_empty_ledger_reads_as_nothing(store: OCILayoutStore, clock: FakeTime) -> None:
    ledger = Ledger(store, "prod")
    view = ledger.read()
    assert view.entries == () and view.pinned == () and view.head_manifest is None
    assert view.read_at == clock.now
    assert ledger.history() == [] and list(ledger.walk()) == []


def test_the_first_record_brings_the_empty_blob_and_reads_back(store: OCILayoutStore, clock: FakeTime) -> None:
    ledger = Ledger(store, "prod", settle=0.0)
    assert store.blob_size(Digest.of(b"{}")) is None
    appended = ledger.append(builder(image(store, "a")))
    assert store.blob_size(Digest.of(b"{}")) == 2, "every record references the empty blob"
    view = ledger.read()
    assert view.head is not None and view.head.manifest == appended.manifest.digest
    assert view.head_manifest is not None and view.head_manifest.raw == appended.manifest.raw
    assert appended.entry == view.head and appended.view.entries == view.entries
    assert not appended.indexed, "a layout does not index referrers itself"


def test_a_record_of_another_environment_under_the_tag_is_an_integrity_error(store: OCILayoutStore) -> None:
    Ledger(store, "staging", settle=0.0).append(builder(image(store, "a"), environment="staging"))
    planted = store.get_manifest(head_tag("staging"))
    store.put_manifest(planted, tag=head_tag("prod"))
    with pytest.raises(IntegrityError) as caught:
        Ledger(store, "prod").read()
    assert str(caught.value) == f"hoist-ledger.prod in {store.location} holds a record of 'staging'"


def _seqs(entries: list[Entry]) -> list[int]:
    return [e.record.seq for e in entries]


def test_history_reaches_past_the_window_through_the_records_named_earlier(
    store: OCILayoutStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = Ledger(store, "prod", settle=0.0)
    a, b = image(store, "a"), image(store, "b")
    total = WINDOW + EARLIER + 25
    for n in range(total):
        ledger.append(builder(a if n % 2 else b))
    view = ledger.read()
    assert len(view.entries) == WINDOW and len(view.earlier) == EARLIER
    read: list[str | Digest] = []
    get_manifest = store.get_manifest

    def counted(reference: str | Digest) -> Manifest:
        read.append(reference)
        return get_manifest(reference)

    monkeypatch.setattr(store, "get_manifest", counted)
    assert _seqs(ledger.history(5, view)) == list(range(total, total - 5, -1)) and read == []
    assert _seqs(ledger.history(None, view, until=lambda r: r.seq <= total - 3)) == list(range(total, total - 4, -1))
    assert _seqs(ledger.history(None, view, until=lambda r: True)) == [total], "the head itself may be the stop"
    assert read == [], "a stop the head's window holds reads nothing further"
    assert _seqs(ledger.history(WINDOW + 3, view)) == list(range(total, total - WINDOW - 3, -1))
    assert len(read) == 3, "only the three records past the window"
    read.clear()
    back_to = total - WINDOW - 4  # the fifth record named earlier: the batch stops there
    assert _seqs(ledger.history(None, view, until=lambda r: r.seq <= back_to)) == list(range(total, back_to - 1, -1))
    assert len(read) == EARLIER, "the names the head holds, in one batch"
    read.clear()
    entries = ledger.history(None, view)
    assert _seqs(entries) == list(range(total, 0, -1))
    assert all(newer.record.previous_record == older.manifest for newer, older in itertools.pairwise(entries)), (
        "each entry carries the manifest digest its successor links to"
    )
    # the head names EARLIER records; the oldest of them keeps copies of WINDOW - 1 and names the rest
    assert len(read) == total - WINDOW - (WINDOW - 1) and all(isinstance(r, Digest) for r in read)
    walked = list(ledger.walk())
    assert [entry.record.seq for entry, _window in walked] == list(range(total, 0, -1))
    assert walked[0][0].manifest == view.head.manifest if view.head else False
    assert [e.record.seq for e in walked[0][1]] == list(range(total - 1, total - WINDOW, -1))
    entry, window = ledger.entry(walked[-1][0].manifest)
    assert entry.record.seq == 1 and window == []


def test_history_reads_a_ledger_without_earlier_names_one_window_at_a_time(
    store: OCILayoutStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Records an older hoist wrote name no earlier records: they are read by each window's oldest link."""
    ledger = Ledger(store, "prod", settle=0.0)
    total = 3 * WINDOW + 2
    with monkeypatch.context() as older:
        older.setattr(ledger_module, "EARLIER", 0)
        append(ledger, image(store, "a"), total)
    head = json.loads(store.get_manifest(head_tag("prod")).raw)
    assert ANNOTATION_EARLIER not in head["annotations"] and ledger.read().earlier == ()
    read: list[str | Digest] = []
    get_manifest = store.get_manifest
    monkeypatch.setattr(store, "get_manifest", lambda ref: read.append(ref) or get_manifest(ref))
    assert _seqs(ledger.history()) == list(range(total, 0, -1))
    assert len(read) == 1 + 3, "the head, then one read per window"


def test_a_ledger_an_older_hoist_wrote_goes_on_with_smaller_records(
    store: OCILayoutStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Records of 50 copies and no names, then records of today's window: the first new head keeps the
    newest copies and names the next records, and history reads across both."""
    ledger = Ledger(store, "prod", settle=0.0)
    with monkeypatch.context() as older:
        older.setattr(ledger_module, "WINDOW", 50)
        older.setattr(ledger_module, "EARLIER", 0)
        append(ledger, image(store, "a"), 60)
    append(ledger, image(store, "a"))
    view = ledger.read()
    assert len(view.entries) == WINDOW and len(view.earlier) == EARLIER
    assert _seqs(ledger.history(None, view)) == list(range(61, 0, -1))
    head = json.loads(store.get_manifest(head_tag("prod")).raw)
    assert len(json.loads(head["annotations"][ANNOTATION_WINDOW])) == WINDOW - 1


def test_history_refuses_earlier_names_that_are_not_the_chain(store: OCILayoutStore) -> None:
    ledger = Ledger(store, "prod", settle=0.0)
    append(ledger, image(store, "a"), WINDOW + 5)
    head = json.loads(store.get_manifest(head_tag("prod")).raw)
    named = json.loads(head["annotations"][ANNOTATION_EARLIER])
    assert len(named) == 5
    named[1], named[2] = named[2], named[1]
    head["annotations"][ANNOTATION_EARLIER] = json.dumps(named)
    raw = json.dumps(head).encode()
    store.put_manifest(Manifest(raw, OCI_MANIFEST, Digest.of(raw)), tag=head_tag("prod"))
    assert len(ledger.history(WINDOW + 1)) == WINDOW + 1, "the first name is right"
    with pytest.raises(IntegrityError) as caught:
        ledger.history()
    seq = 5
    assert str(caught.value) == (
        f"the ledger of prod names {named[1]} as the record before seq {seq}, which links to {named[2]}: "
        "'hoist audit verify prod' shows what was altered"
    )


def test_a_head_keeps_a_window_of_the_records_before_it(store: OCILayoutStore) -> None:
    ledger = Ledger(store, "prod", settle=0.0)
    append(ledger, image(store, "a"), WINDOW + 2)
    head = json.loads(store.get_manifest(head_tag("prod")).raw)
    window = json.loads(head["annotations"][ANNOTATION_WINDOW])
    assert len(window) == WINDOW - 1
    assert [item["record"]["seq"] for item in window] == list(range(WINDOW + 1, 2, -1))


def test_a_head_pins_a_record_it_needs_once_its_copies_no_longer_hold_it(store: OCILayoutStore) -> None:
    """A head keeps copies of the WINDOW - 1 records before it. The last deploy, seq 1, is among the copies
    seq WINDOW keeps (and is not pinned twice); seq WINDOW + 1's copies end at seq 2, so it pins seq 1."""
    ledger = Ledger(store, "prod", settle=0.0)
    a, b = image(store, "a"), image(store, "b")
    first = ledger.append(builder(a, Kind.DEPLOY, deploy=DeployInfo(result=DeployOutcome.HEALTHY))).entry
    for n in range(WINDOW - 1):
        ledger.append(builder(b if n % 2 == 0 else a))
    view = ledger.read()
    assert _seqs(list(view.entries)) == list(range(WINDOW, 0, -1)) and view.pinned == ()
    ledger.append(builder(b))
    view = ledger.read()
    assert _seqs(list(view.entries)) == list(range(WINDOW + 1, 1, -1))
    assert [e.manifest for e in view.pinned] == [first.manifest]
    deploy = view.last_deploy()
    assert deploy is not None and deploy.manifest == first.manifest and view.last_healthy_deploy() == deploy


def test_a_head_no_trusted_writer_signed_is_never_built_on(store: OCILayoutStore, clock: FakeTime) -> None:
    """With trust set, a ledger whose newest record is unsigned is refused before anything is written; a
    ledger whose writer signs each record builds on its own records, and the view it returns knows them
    as signed."""
    from hoist.evidence.keys import PrivateKey
    from hoist.promotion.signing import Trust

    key = PrivateKey.generate()
    trust = Trust(keys=(key.public_key(),))
    a = image(store, "a")
    Ledger(store, "prod", settle=0.0).append(builder(a))
    trusted = Ledger(store, "prod", settle=0.0, signer=key, trust=trust)
    head = trusted.read().head
    assert head is not None
    with pytest.raises(UntrustedLedger) as caught:
        trusted.write(builder(a))
    assert str(caught.value) == (
        f"the newest record of prod (seq 1, {head.manifest}) is not signed: hoist will not build on it; "
        "'hoist audit verify prod' shows where the trusted records end"
    )
    assert trusted.read().head == head, "nothing was written"

    signed = Ledger(store, "staging", settle=0.0, signer=key, trust=trust)
    appended = signed.append(builder(a, environment="staging"))
    signature = appended.entry.signature
    assert signature is not None and trust.problem(appended.entry.record, signature) is None
    assert appended.view.head_problem is None
    again = signed.append(builder(a, environment="staging"), view=appended.view)
    assert again.entry.record.seq == 2 and again.entry.record.previous_record == appended.manifest.digest


class IndexingStore(OCILayoutStore):
    """A layout standing in for a registry with the OCI 1.1 referrers API (Debian's distribution 2.8 has
    none): it answers each manifest write as such a registry does, saying it listed the subject's referrer
    itself (distribution-spec, "Pushing Manifests with Subject": the ``OCI-Subject`` header)."""

    def put_manifest(self, manifest: Manifest, *, tag: str | None = None) -> bool:
        super().put_manifest(manifest, tag=tag)
        return True


def test_a_record_the_registry_listed_itself_is_not_listed_again(store: OCILayoutStore, clock: FakeTime) -> None:
    indexing = IndexingStore(store.path, create=False)
    a = image(store, "a")
    ledger = Ledger(indexing, "prod", settle=0.0)
    appended = ledger.append(builder(a))
    assert appended.indexed is True
    ledger.index(appended.entry.record, appended.manifest, indexed=appended.indexed)
    assert store.head_manifest(a.digest.fallback_tag) is None, "no fallback index written"
    # the same when another writer chained onto the record before it was confirmed
    theirs = Ledger(indexing, "prod", settle=0.0)
    pending = ledger.write(builder(a, reason="mine"))
    theirs.append(builder(a, reason="theirs"))
    chained = ledger.confirm(pending)
    assert [e.record.reason for e in chained.view.entries][:2] == ["theirs", "mine"]
    assert chained.indexed is True


def test_the_view_an_append_returns_decides_with_the_ledgers_trust(store: OCILayoutStore, clock: FakeTime) -> None:
    """An unsigned deploy (seq 1) under a record the trusted writer signed (seq 2): the writer builds on the
    signed head, and the view its append returns leaves the unsigned deploy out of every decision (which
    record set the digest the tags point at, the last deploy)."""
    from hoist.evidence.keys import PrivateKey
    from hoist.promotion.signing import Trust

    key = PrivateKey.generate()
    a = image(store, "a")
    Ledger(store, "prod", settle=0.0).append(builder(a, Kind.DEPLOY, deploy=DeployInfo(result=DeployOutcome.HEALTHY)))
    Ledger(store, "prod", settle=0.0, signer=key).append(builder(a))
    trusted = Ledger(store, "prod", settle=0.0, signer=key, trust=Trust(keys=(key.public_key(),)))
    appended = trusted.append(builder(a))
    assert _seqs(list(appended.view.entries)) == [3, 2, 1]
    assert [(e.record.seq, why) for e, why in appended.view.untrusted()] == [(1, "not signed")]
    assert appended.view.last_deploy() is None and appended.view.deploys_of(a.digest) == []


def test_a_record_written_on_the_view_an_append_returned_names_every_earlier_record(
    store: OCILayoutStore, clock: FakeTime
) -> None:
    """The view an append returns knows the records its head names as earlier: a record built on it (the
    view is fresh) names all of them too, not only those that left the window."""
    ledger = Ledger(store, "prod", settle=0.0)
    a = image(store, "a")
    append(ledger, a, WINDOW + 5)
    appended = ledger.append(builder(a))
    ledger.append(builder(a), view=appended.view)
    expected = [e.manifest for e in ledger.history()[WINDOW:]]
    assert len(expected) == 7 and list(ledger.read().earlier) == expected


def test_with_a_settle_override_a_view_stays_fresh_for_a_third_of_it(store: OCILayoutStore, clock: FakeTime) -> None:
    """The floor is the fixed settle delay when one is set (0.75 s here), not the minimum of 0.25 s: a view
    read exactly 0.25 s ago is used as given, one read a little earlier is read again."""
    mine, theirs = Ledger(store, "prod", settle=0.75), Ledger(store, "prod", settle=0.0)
    a = image(store, "a")
    theirs.append(builder(a))
    old = mine.read()
    theirs.append(builder(a))  # seq 2, written after ``old`` was read
    clock.now += 0.25
    assert mine.write(builder(a), view=old).record.seq == 2, "a view young enough is used as given"
    clock.now += 0.01
    assert mine.write(builder(a), view=old).record.seq == 3, "an old view is read again"


def test_the_settle_delay_grows_with_the_gap_between_reading_and_writing(
    store: OCILayoutStore, clock: FakeTime
) -> None:
    ledger = Ledger(store, "prod")
    a = image(store, "a")
    quick = ledger.write(builder(a))
    assert quick.settle == MIN_SETTLE, "a fast writer still waits the minimum"
    assert quick.remaining == MIN_SETTLE
    clock.now += 0.1
    assert quick.remaining == pytest.approx(MIN_SETTLE - 0.1)
    clock.now += 5
    assert quick.remaining == 0.0
    ledger.confirm(quick)

    clock.step = 0.5  # every clock read in between is half a second later: a slow registry
    slow = ledger.write(builder(a))
    gap = slow.written - slow.view.read_at
    assert gap > MIN_SETTLE / 3
    assert slow.settle == pytest.approx(min(3 * gap, MAX_SETTLE))
    clock.step = 3.0
    slower = ledger.write(builder(a), view=ledger.read())
    assert slower.settle == MAX_SETTLE, "capped"


def test_confirm_waits_out_the_settle_delay(store: OCILayoutStore, clock: FakeTime) -> None:
    ledger = Ledger(store, "prod", settle=0.7)
    pending = ledger.write(builder(image(store, "a")))
    assert pending.settle == 0.7
    clock.now += 0.2
    appended = ledger.confirm(pending)
    assert clock.slept == [pytest.approx(0.5)]
    assert appended.view.read_at == pending.written and appended.view.head_manifest == pending.manifest


def test_a_stale_view_is_read_again_before_writing(store: OCILayoutStore, clock: FakeTime) -> None:
    mine, theirs = Ledger(store, "prod", settle=0.0), Ledger(store, "prod", settle=0.0)
    a = image(store, "a")
    mine.append(builder(a))
    old = mine.read()
    theirs.append(builder(a))  # seq 2, written after ``old`` was read
    clock.now += 0.003  # 3 x 0.003 s is within the floor of 0.01 s: the view is taken as fresh
    fresh = mine.write(builder(a), view=old)
    assert fresh.record.seq == 2, "a view young enough is used as given"
    clock.now += 1.0
    reread = mine.write(builder(a), view=old)
    assert reread.record.seq == 3, "an old view is read again: seq 2 is on top of what it knew"


def test_the_staleness_floor_is_the_minimum_settle_without_an_override(store: OCILayoutStore, clock: FakeTime) -> None:
    ledger = Ledger(store, "prod")
    a = image(store, "a")
    ledger.confirm(ledger.write(builder(a)))
    old = ledger.read()
    Ledger(store, "prod", settle=0.0).append(builder(a))
    clock.now += MIN_SETTLE / 3 - 0.01
    assert ledger.write(builder(a), view=old).record.seq == 2
    clock.now += 0.02
    assert ledger.write(builder(a), view=old).record.seq == 3


def test_a_writer_that_lost_the_race_writes_its_record_again_on_top(store: OCILayoutStore, clock: FakeTime) -> None:
    mine, theirs = Ledger(store, "prod", settle=0.0), Ledger(store, "prod", settle=0.0)
    a, b = image(store, "a"), image(store, "b")
    mine.append(builder(a))
    view = mine.read()
    pending = mine.write(builder(b, reason="mine"), view=view)
    rival = theirs.write(builder(a, reason="theirs"), view=view)  # both built on seq 1: theirs replaced mine
    assert pending.record.seq == rival.record.seq == 2
    appended = mine.confirm(pending)
    assert pending.attempts == 1
    history = mine.history()
    assert [(e.record.seq, e.record.reason) for e in history] == [(3, "mine"), (2, "theirs"), (1, None)]
    assert appended.entry.record.seq == 3 and appended.entry.record.previous_record == rival.manifest.digest
    with pytest.raises(NotFound):
        store.get_manifest(pending.manifest.digest)  # the orphan was removed
    theirs.confirm(rival)
    assert [e.record.seq for e in theirs.history()] == [3, 2, 1]


def test_a_record_someone_chained_onto_is_confirmed_as_it_stands(store: OCILayoutStore, clock: FakeTime) -> None:
    mine, theirs = Ledger(store, "prod", settle=0.0), Ledger(store, "prod", settle=0.0)
    a = image(store, "a")
    pending = mine.write(builder(a, reason="mine"))
    theirs.append(builder(a, reason="theirs"))  # reads mine as the head and writes on top of it
    appended = mine.confirm(pending)
    assert appended.entry == pending.entry
    assert [e.record.reason for e in appended.view.entries] == ["theirs", "mine"]
    assert appended.manifest == pending.manifest and not pending.superseded


class RivalStore(OCILayoutStore):
    """A layout where another writer always wins: right after each write of the ledger tag, a record that
    does not chain the one just written takes the tag."""

    rival: Manifest

    def put_manifest(self, manifest: Manifest, *, tag: str | None = None) -> bool:
        indexed = super().put_manifest(manifest, tag=tag)
        if tag == head_tag("prod") and manifest.digest != self.rival.digest:
            super().put_manifest(self.rival, tag=tag)
        return indexed


def test_a_ledger_that_keeps_changing_is_a_conflict_after_the_last_attempt(
    store: OCILayoutStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    rivalled = RivalStore(store.path, create=False)
    a = image(store, "a")
    record = new_record(View(()), kind=Kind.PROMOTE, environment="prod", subject=a, provenance=WHO, reason="rival")
    rivalled.rival = record_manifest(record, [])
    rivalled.push_bytes(b"{}", "application/vnd.oci.empty.v1+json")
    ours: list[Digest] = []
    put_manifest = rivalled.put_manifest

    def counted(manifest: Manifest, *, tag: str | None = None) -> bool:
        if tag == head_tag("prod"):
            ours.append(manifest.digest)
        return put_manifest(manifest, tag=tag)

    monkeypatch.setattr(rivalled, "put_manifest", counted)
    ledger = Ledger(rivalled, "prod", settle=0.0)
    pending = ledger.write(builder(a))
    with pytest.raises(LedgerConflict) as caught:
        ledger.confirm(pending)
    assert len(ours) == MAX_ATTEMPTS, "as many writes as the message says"
    assert str(caught.value) == (
        f"the ledger of prod in {rivalled.location} kept changing ({MAX_ATTEMPTS} attempts): "
        "another process is writing to it; try again"
    )
    head = rivalled.head_manifest(head_tag("prod"))
    assert head is not None and head.digest == rivalled.rival.digest, "the winner's record stands"
    assert rivalled.blob_size(pending.manifest.digest) is None, "a record that lost was removed"


def test_losing_records_are_kept_track_of(store: OCILayoutStore, clock: FakeTime) -> None:
    mine, theirs = Ledger(store, "prod", settle=0.0), Ledger(store, "prod", settle=0.0)
    a = image(store, "a")
    mine.append(builder(a))
    view = mine.read()
    pending = mine.write(builder(a), view=view)
    first = pending.manifest.digest
    theirs.write(builder(a, reason="theirs"), view=view)
    appended = mine.confirm(pending)
    assert pending.superseded == [] and pending.attempts == 1, "confirm works on its own copy"
    assert appended.superseded == (first,) and appended.manifest.digest != first, "the caller learns what lost"
    appended_head = mine.read().head
    assert appended_head is not None and appended_head.manifest != first


def test_a_record_written_again_then_built_on_still_names_what_lost(
    store: OCILayoutStore, clock: FakeTime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ours is overwritten, written again, and a third writer builds on the record written again before we
    look: ours is in the chain, and the append still names the record that lost (its listing must go)."""
    mine, theirs, third = (Ledger(store, "prod", settle=0.0) for _ in range(3))
    a = image(store, "a")
    mine.append(builder(a))
    view = mine.read()
    pending = mine.write(builder(a), view=view)
    theirs.write(builder(a, reason="theirs"), view=view)
    sleep, before = clock.sleep, len(clock.slept)

    def racing(seconds: float) -> None:
        sleep(seconds)
        if len(clock.slept) == before + 2:  # the settle of the record written again
            third.append(builder(a, reason="third"))

    monkeypatch.setattr(clock, "sleep", racing)
    appended = mine.confirm(pending)
    head = mine.read().head
    assert head is not None and head.record.reason == "third" and appended.entry.record.seq == 3
    assert appended.superseded == (pending.manifest.digest,)


def test_a_discard_the_registry_refuses_is_harmless(store: OCILayoutStore, clock: FakeTime) -> None:
    class Undeletable(OCILayoutStore):
        def delete_manifest(self, digest: Digest) -> None:
            raise NotFound("deletes are not allowed here")

    undeletable = Undeletable(store.path, create=False)
    mine, theirs = Ledger(undeletable, "prod", settle=0.0), Ledger(undeletable, "prod", settle=0.0)
    a = image(store, "a")
    mine.append(builder(a))
    view = mine.read()
    pending = mine.write(builder(a), view=view)
    theirs.write(builder(a, reason="theirs"), view=view)
    assert mine.confirm(pending).entry.record.seq == 3
    assert undeletable.get_manifest(pending.manifest.digest).digest == pending.manifest.digest, "left as clutter"


def test_repair_puts_back_the_history_tag_and_the_listing(store: OCILayoutStore) -> None:
    ledger = Ledger(store, "prod", settle=0.0)
    a, b = image(store, "a"), image(store, "b")
    appended = ledger.append(builder(a, history_tag="main-0001"))
    view = ledger.read()
    assert store.head_manifest("main-0001") is None
    assert list_referrers(store, a.digest, LEDGER_RECORD_TYPE) == []
    ledger.repair(view, indexed=False)
    tagged = store.head_manifest("main-0001")
    assert tagged is not None and tagged.digest == a.digest
    listed = list_referrers(store, a.digest, LEDGER_RECORD_TYPE)
    assert [d.digest for d in listed] == [appended.manifest.digest]
    # a history tag moved elsewhere is put back; a record the registry indexed itself is not listed again
    store.put_manifest(store.get_manifest(b.digest), tag="main-0001")
    store.delete_tag(a.digest.fallback_tag)
    ledger.repair(view, indexed=True)
    tagged = store.head_manifest("main-0001")
    assert tagged is not None and tagged.digest == a.digest
    assert list_referrers(store, a.digest, LEDGER_RECORD_TYPE) == []
    ledger.repair(View(()), indexed=False)  # an empty ledger: nothing to repair


def test_repair_leaves_history_tags_of_records_that_do_not_move_tags(store: OCILayoutStore) -> None:
    ledger = Ledger(store, "prod", settle=0.0)
    a = image(store, "a")
    deploy = DeployInfo(result=DeployOutcome.HEALTHY)
    ledger.append(builder(a, kind=Kind.DEPLOY, history_tag="not-for-deploys", deploy=deploy))
    ledger.repair(ledger.read(), indexed=False)
    assert store.head_manifest("not-for-deploys") is None
    built = View((ledger.read().entries[0],))
    ledger.repair(built, indexed=False)  # a view without the head's manifest does not touch the listing


def test_the_referrers_listing_keeps_the_newest_records_per_environment(store: OCILayoutStore) -> None:
    a = image(store, "a")
    foreign = Descriptor(
        OCI_MANIFEST,
        Digest.of(b"a signature"),
        10,
        artifact_type="application/x-sig",
        annotations={"dev.sigstore.cosign/bundle": "{}", "org.opencontainers.image.created": "2026-11-28T08:00:00Z"},
    )
    from hoist.ops.referrers import attach_referrer

    attach_referrer(store, a.digest, foreign)
    for environment in ("prod", "staging"):
        ledger = Ledger(store, environment, settle=0.0)
        for _ in range(INDEX_KEEP + 3):
            appended = ledger.append(builder(a, environment=environment))
            ledger.index(appended.entry.record, appended.manifest, indexed=False)
    listed = list_referrers(store, a.digest)
    assert listed[0].digest == foreign.digest
    fallback = json.loads(store.get_manifest(a.digest.fallback_tag).raw)["manifests"]
    assert fallback[0] == foreign.to_json(), "another tool's entry is never touched (its annotations included)"

    def seqs(environment: str) -> list[int]:
        listing = list_referrers(store, a.digest)
        ours = [d for d in listing if d.annotations.get(ANNOTATION_ENV) == environment]
        assert all(ANNOTATION_WINDOW not in d.annotations for d in ours), "listed slim"
        return sorted(int(d.annotations[ANNOTATION_SEQ]) for d in ours)

    # a write keeps the newest INDEX_KEEP of each environment's records already listed, then lists its own
    assert seqs("prod") == list(range(4, INDEX_KEEP + 4))
    assert seqs("staging") == list(range(3, INDEX_KEEP + 4))
    index = json.loads(store.get_manifest(a.digest.fallback_tag).raw)
    assert len(index["manifests"]) == 1 + INDEX_KEEP + INDEX_KEEP + 1


def test_a_record_written_again_replaces_the_listing_of_the_one_that_lost(
    store: OCILayoutStore, clock: FakeTime
) -> None:
    """A record that lost a race is discarded; listing the record written again in its place removes the
    discarded one's entry (and only it), so the index never names a manifest the registry no longer has."""
    a = image(store, "a")
    mine, theirs = Ledger(store, "prod", settle=0.0), Ledger(store, "prod", settle=0.0)
    older = mine.append(builder(a))
    mine.index(older.entry.record, older.manifest, indexed=False)
    view = mine.read()
    pending = mine.write(builder(a), view=view)
    mine.index(pending.record, pending.manifest, indexed=False)  # listed while it settles
    theirs.write(builder(a, reason="theirs"), view=view)
    appended = mine.confirm(pending)
    assert appended.superseded == (pending.manifest.digest,)
    mine.index(appended.entry.record, appended.manifest, indexed=False, replaces=appended.superseded)
    listed = [d.digest for d in list_referrers(store, a.digest, LEDGER_RECORD_TYPE)]
    assert listed == [older.manifest.digest, appended.manifest.digest]


def test_slimming_an_old_listing_and_entries_without_a_sequence(store: OCILayoutStore) -> None:
    a = image(store, "a")
    ledger = Ledger(store, "prod", settle=0.0)
    appended = ledger.append(builder(a))
    fat = {
        "mediaType": OCI_MANIFEST,
        "digest": str(Digest.of(b"old record")),
        "size": 5,
        "artifactType": LEDGER_RECORD_TYPE,
        "annotations": {ANNOTATION_ENV: "prod", ANNOTATION_SEQ: "x", ANNOTATION_WINDOW: "[...]"},
    }
    odd = {"mediaType": OCI_MANIFEST, "digest": str(Digest.of(b"odd")), "size": 5, "artifactType": LEDGER_RECORD_TYPE}
    raw = json.dumps(
        {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [fat, odd]}
    )
    store.put_manifest(
        Manifest(raw.encode(), "application/vnd.oci.image.index.v1+json", Digest.of(raw.encode())),
        tag=a.digest.fallback_tag,
    )
    ledger.index(appended.entry.record, appended.manifest, indexed=False)
    entries = json.loads(store.get_manifest(a.digest.fallback_tag).raw)["manifests"]
    assert entries[0]["annotations"] == {ANNOTATION_ENV: "prod", ANNOTATION_SEQ: "x"}
    assert entries[1] == odd and entries[2]["digest"] == str(appended.manifest.digest)


def test_the_listing_keeps_the_newest_by_sequence_whatever_order_they_are_listed_in(store: OCILayoutStore) -> None:
    """Writers that raced list their records out of order: the oldest by sequence leave first, and an entry
    whose sequence cannot be read leaves before any of them."""
    assert INDEX_KEEP == 8
    a = image(store, "a")
    ledger = Ledger(store, "prod", settle=0.0)
    appended = ledger.append(builder(a))

    def listed(seq: str) -> dict[str, object]:
        return {
            "mediaType": OCI_MANIFEST,
            "digest": str(Digest.of(f"record {seq}".encode())),
            "size": 5,
            "artifactType": LEDGER_RECORD_TYPE,
            "annotations": {ANNOTATION_ENV: "prod", ANNOTATION_SEQ: seq},
        }

    order = ["8", "1", "torn", "5", "2", "7", "3", "6", "4"]
    raw = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [listed(s) for s in order]}).encode()
    store.put_manifest(Manifest(raw, OCI_INDEX, Digest.of(raw)), tag=a.digest.fallback_tag)
    ledger.index(appended.entry.record, appended.manifest, indexed=False)
    entries = json.loads(store.get_manifest(a.digest.fallback_tag).raw)["manifests"]
    kept = [listed(s)["digest"] for s in order if s != "torn"]
    assert [e["digest"] for e in entries] == [*kept, str(appended.manifest.digest)]


def test_subject_of_reads_the_records_then_the_store(store: OCILayoutStore) -> None:
    a, b = image(store, "a"), image(store, "b")
    ledger = Ledger(store, "prod", settle=0.0)
    ledger.append(builder(a))
    view = ledger.read()
    assert subject_of(store, view, a.digest) == Descriptor(a.media_type, a.digest, a.size)
    assert subject_of(store, view, b.digest) == b
    missing = Digest.of(b"never pushed")
    with pytest.raises(NotFound) as caught:
        subject_of(store, view, missing)
    assert str(caught.value) == f"{missing} is not in {store.location}"
