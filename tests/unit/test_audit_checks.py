"""``audit verify`` check by check, on ledgers kept in OCI layouts and rewritten the way anyone with write
access could (tests/test_audit.py does the same against a real registry through the command line).

Every finding is compared whole — severity, sequence, message — because the message is what the person
running the audit reads to know what was done to the ledger.
"""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from hoist.digest import Digest
from hoist.manifest import OCI_MANIFEST, Descriptor, Manifest
from hoist.promotion import audit as audit_module
from hoist.promotion.artifact import ANNOTATION_EARLIER, ANNOTATION_WINDOW, Shallow, record_manifest
from hoist.promotion.audit import Audit, Finding, audit
from hoist.promotion.config import Environment
from hoist.promotion.history import new_record
from hoist.promotion.ledger import WINDOW, Ledger, View
from hoist.promotion.record import DeployInfo, DeployOutcome, Entry, Kind, MemberState, Provenance, Record
from hoist.ref import Reference, parse_reference
from hoist.store.base import Store
from hoist.store.ocidir import OCILayoutStore
from tests.infra.images import ImageInfo, make_image

WHO = Provenance(actor="tester", time="2026-03-01T12:00:00.000Z")


class Ledgered:
    def __init__(self, tmp: Path) -> None:
        self.path = tmp / "prod"
        self.images: dict[str, ImageInfo] = {
            name: make_image(self.path, tag=f"image-{name}", layers=1, layer_size=128, seed=f"audit-{name}")
            for name in "ABC"
        }
        self.store = OCILayoutStore(self.path, create=False)
        self.env = Environment(name="production", image=parse_reference(f"oci:{self.path}:main"))
        self.ledger = Ledger(self.store, "production", settle=0.0)

    def subject(self, name: str) -> Descriptor:
        found = self.store.head_manifest(f"image-{name}")
        assert found is not None
        return found

    def digest(self, name: str) -> Digest:
        return Digest.parse(self.images[name].digest)

    def append(self, kind: Kind, name: str, *, tag: bool = True, **fields: object) -> Entry:
        subject = self.subject(name)

        def build(view: View) -> Record:
            seq = view.next_seq
            history_tag = f"main-{seq:04}" if kind is Kind.PROMOTE and tag else None
            return new_record(view, kind=kind, environment="production", subject=subject, provenance=WHO,
                              history_tag=history_tag, **fields)  # fmt: skip

        appended = self.ledger.append(build)
        record = appended.entry.record
        if record.kind.moves_tags:
            image = self.store.get_manifest(record.digest)
            self.store.put_manifest(image, tag="main")
            if record.history_tag:
                self.store.put_manifest(image, tag=record.history_tag)
        return appended.entry

    def entries(self) -> list[Entry]:
        return self.ledger.history()

    def run(self, *, since: int | None = None, opener=None) -> Audit:  # type: ignore[no-untyped-def]
        return audit(self.store, self.env, since=since, opener=opener, jobs=2)

    def rewrite_head(self, record: Record, window: list[Entry]) -> None:
        self.store.put_manifest(record_manifest(record, window), tag="hoist-ledger.production")


@pytest.fixture
def ledgered(tmp_path: Path) -> Ledgered:
    return Ledgered(tmp_path)


def promoted_four_times(ledgered: Ledgered) -> list[Entry]:
    for name in "ABAB":
        ledgered.append(Kind.PROMOTE, name)
    return ledgered.entries()


def errors(result: Audit) -> list[tuple[int | None, str]]:
    return [(f.seq, f.message) for f in result.findings if f.severity == "error"]


def warnings(result: Audit) -> list[tuple[int | None, str]]:
    return [(f.seq, f.message) for f in result.findings if f.severity == "warning"]


def test_an_environment_without_a_ledger_is_a_warning(ledgered: Ledgered) -> None:
    result = ledgered.run()
    assert result.ok and result.records == 0 and result.head is None and result.digests_checked == 0
    assert result.findings == [Finding("warning", None, f"production has no ledger in {ledgered.store.location}")]
    assert result.to_json() == {
        "environment": "production",
        "reference": f"oci:{ledgered.path}:main",
        "since": None,
        "ok": True,
        "records": 0,
        "untrusted": 0,
        "head": None,
        "digests_checked": 0,
        "findings": [{"severity": "warning", "seq": None, "message": result.findings[0].message}],
    }


def test_an_untouched_ledger_passes_and_says_what_it_checked(ledgered: Ledgered) -> None:
    entries = promoted_four_times(ledgered)
    result = ledgered.run()
    assert result.ok and result.findings == []
    assert result.records == 4 and result.head == str(entries[0].manifest)
    assert result.digests_checked == 2, "A and B, each once"
    assert result.to_json()["ok"] is True and result.to_json()["records"] == 4


def test_ok_means_no_errors_whatever_the_warnings() -> None:
    result = Audit(environment="e", reference="r")
    result.warn(3, "drifted")
    assert result.ok
    result.error(None, "broken")
    assert not result.ok
    assert [f.to_json() for f in result.findings] == [
        {"severity": "warning", "seq": 3, "message": "drifted"},
        {"severity": "error", "seq": None, "message": "broken"},
    ]


def test_since_stops_at_a_record_already_audited(ledgered: Ledgered) -> None:
    entries = promoted_four_times(ledgered)
    ledgered.store.delete_manifest(entries[3].manifest)  # seq 1, before the checkpoint
    recent = ledgered.run(since=2)
    assert recent.ok and recent.records == 3 and recent.since == 2 and recent.to_json()["since"] == 2
    assert recent.digests_checked == 2
    whole = ledgered.run()
    assert errors(whole)[0][0] == 2 and errors(whole)[0][1].startswith(
        "the chain is broken after seq 2: a record was deleted ("
    )
    assert ledgered.run(since=0).records == 3, "back to the first, which is gone"


def test_a_record_of_another_environment_in_the_chain(ledgered: Ledgered) -> None:
    entries = promoted_four_times(ledgered)
    head, older = entries[0], entries[1:]
    ledgered.rewrite_head(replace(head.record, environment="staging"), older)
    result = ledgered.run()
    forged = ledgered.store.head_manifest("hoist-ledger.production")
    assert forged is not None
    assert errors(result) == [(4, f"record {forged.digest} belongs to 'staging'")]


def test_a_sequence_gap_and_a_first_record_that_is_not_seq_1(ledgered: Ledgered) -> None:
    entries = promoted_four_times(ledgered)
    head, older = entries[0], entries[1:]
    ledgered.rewrite_head(replace(head.record, seq=7), older)
    assert errors(ledgered.run()) == [(3, "sequence jumps to 3, expected 6: a record is missing")]
    # a chain whose first record claims seq 2
    lone = Ledgered(ledgered.path.parent / "lone")
    first = lone.append(Kind.PROMOTE, "A")
    lone.rewrite_head(replace(first.record, seq=2, current_seq=2), [])
    assert errors(lone.run()) == [(2, "the first record has seq 2, expected 1")]
    assert errors(lone.run(since=2)) == [], "audited back to seq 2: what came before is not in question"


def test_a_window_that_disagrees_with_the_link(ledgered: Ledgered) -> None:
    entries = promoted_four_times(ledgered)
    head, older = entries[0], entries[1:]
    ledgered.rewrite_head(head.record, [older[1], older[0], older[2]])  # the window out of order
    result = ledgered.run()
    assert (4, f"record seq 4 links to {older[0].manifest}, its window to {older[1].manifest}: one of them was "
            "altered") in errors(result)  # fmt: skip


def test_an_edited_copy_in_a_window(ledgered: Ledgered) -> None:
    entries = promoted_four_times(ledgered)
    head, older = entries[0], entries[1:]
    edited = [Entry(e.manifest, replace(e.record, reason="approved")) if e.record.seq == 2 else e for e in older]
    ledgered.rewrite_head(head.record, edited)
    assert errors(ledgered.run()) == [(2, "record seq 2 differs from the copy kept in seq 4: altered")]


def test_an_edited_copy_kept_by_an_older_record_behind_a_true_one(ledgered: Ledgered) -> None:
    """Seq 3 rewritten with an edited copy of seq 2, and the head rewritten to link to it: the head's copy of
    seq 2 is true, seq 3's is not, and the audit compares both."""
    entries = promoted_four_times(ledgered)  # seq 4, 3, 2, 1
    head, three, two, one = entries
    edited = Entry(two.manifest, replace(two.record, reason="approved"))
    forged = record_manifest(three.record, [edited, one])
    ledgered.store.put_manifest(forged)
    relinked = replace(head.record, previous_record=forged.digest)
    ledgered.rewrite_head(relinked, [Entry(forged.digest, three.record), two, one])
    assert errors(ledgered.run()) == [(2, "record seq 2 differs from the copy kept in seq 3: altered")]


@pytest.mark.parametrize(
    ("respell", "altered"),
    [
        ({"reason": None}, False),  # a field written out that the record leaves out: the same record
        ({"forced": 0}, False),  # the same value, spelled as a number
        ({"reason": "approved"}, True),
        ({"seq": "two"}, True),  # a copy that is no record at all
    ],
)
def test_a_copy_spelled_differently_is_compared_as_a_record(
    ledgered: Ledgered, respell: dict[str, object], altered: bool
) -> None:
    """Copies are compared as JSON first; one whose JSON differs from its record's is still the same
    record when it parses to the same canonical form, and altered otherwise."""
    entries = promoted_four_times(ledgered)
    head, older = entries[0], entries[1:]
    doc = json.loads(record_manifest(head.record, older).raw)
    window = json.loads(doc["annotations"][ANNOTATION_WINDOW])
    (copy,) = [item for item in window if item["record"]["seq"] == 2]
    copy["record"].update(respell)
    doc["annotations"][ANNOTATION_WINDOW] = json.dumps(window)
    raw = json.dumps(doc).encode()
    ledgered.store.put_manifest(Manifest(raw, OCI_MANIFEST, Digest.of(raw)), tag="hoist-ledger.production")
    expected = [(2, "record seq 2 differs from the copy kept in seq 4: altered")] if altered else []
    assert errors(ledgered.run()) == expected


def test_records_named_earlier_out_of_the_chains_order(ledgered: Ledgered) -> None:
    """A head naming the records before its window in another order (or naming others) is altered: a
    reader going back through those names would be refused, and the audit says where."""
    for n in range(WINDOW + 5):
        ledgered.append(Kind.PROMOTE, "AB"[n % 2], tag=False)
    assert ledgered.run().ok
    head = json.loads(ledgered.store.get_manifest("hoist-ledger.production").raw)
    named = json.loads(head["annotations"][ANNOTATION_EARLIER])
    named[1], named[2] = named[2], named[1]
    head["annotations"][ANNOTATION_EARLIER] = json.dumps(named)
    raw = json.dumps(head).encode()
    ledgered.store.put_manifest(Manifest(raw, OCI_MANIFEST, Digest.of(raw)), tag="hoist-ledger.production")
    seq = WINDOW + 5
    assert errors(ledgered.run()) == [(seq, f"record seq {seq} names {named[1]} where the chain has seq 4: altered")]


def test_every_record_naming_earlier_records_out_of_order_is_reported(ledgered: Ledgered) -> None:
    """The record below the head rewritten with two of the records it names as earlier swapped, and the
    head rewritten to link to it, its own list swapped too: both records are named, not only the first."""
    for n in range(WINDOW + 6):
        ledgered.append(Kind.PROMOTE, "AB"[n % 2], tag=False)
    view = ledgered.ledger.read()
    head, below = view.entries[0], view.entries[1]
    chain = ledgered.entries()
    doc = json.loads(ledgered.store.get_manifest(below.manifest).raw)
    named = json.loads(doc["annotations"][ANNOTATION_EARLIER])
    named[1], named[2] = named[2], named[1]
    doc["annotations"][ANNOTATION_EARLIER] = json.dumps(named)
    raw = json.dumps(doc).encode()
    forged = Manifest(raw, OCI_MANIFEST, Digest.of(raw))
    ledgered.store.put_manifest(forged)
    earlier = list(view.earlier)
    earlier[1], earlier[2] = earlier[2], earlier[1]
    window = [Entry(forged.digest, below.record), *view.entries[2:]]
    new_head = record_manifest(replace(head.record, previous_record=forged.digest), window, view.pinned, None, earlier)
    ledgered.store.put_manifest(new_head, tag="hoist-ledger.production")
    seq = {e.manifest: e.record.seq for e in chain}
    top = WINDOW + 6
    assert errors(ledgered.run()) == [
        (top, f"record seq {top} names {earlier[1]} where the chain has seq {seq[earlier[2]]}: altered"),
        (top - 1, f"record seq {top - 1} names {named[1]} where the chain has seq {seq[Digest.parse(named[2])]}: "
                  "altered"),
    ]  # fmt: skip


def test_a_record_that_is_not_a_record(ledgered: Ledgered) -> None:
    entries = promoted_four_times(ledgered)
    middle = entries[2]  # seq 2
    path = ledgered.path / "blobs" / "sha256" / middle.manifest.hex
    path.write_bytes(path.read_bytes().replace(b"tester", b"mallor", 1))
    result = ledgered.run()
    (seq, message), *_ = errors(result)
    assert seq == 3 and message.startswith("the record before seq 3 was altered: ")
    assert "content has digest" in message


def test_a_deleted_image_and_a_pruned_one(ledgered: Ledgered) -> None:
    for name in "ABC":
        ledgered.append(Kind.PROMOTE, name)
    ledgered.append(Kind.PRUNE, "C", details={"digests": [str(ledgered.digest("A"))]})
    ledgered.store.delete_manifest(ledgered.digest("A"))
    ledgered.store.delete_manifest(ledgered.digest("B"))
    result = ledgered.run()
    a, b = ledgered.digest("A"), ledgered.digest("B")
    assert warnings(result) == [(None, f"{a} (seq 1) was pruned and is gone")]
    assert errors(result)[0] == (None, f"{b} recorded in seq 2 no longer exists in {ledgered.store.location}")
    assert result.digests_checked == 3


def test_seqs_naming_a_lost_digest_are_listed_oldest_first(ledgered: Ledgered) -> None:
    for name in "ABA":
        ledgered.append(Kind.PROMOTE, name, tag=False)
    ledgered.store.delete_manifest(ledgered.digest("A"))
    ledgered.store.put_manifest(ledgered.store.get_manifest(ledgered.digest("B")), tag="main")
    result = ledgered.run()
    a = ledgered.digest("A")
    assert (None, f"{a} recorded in seq 1, 3 no longer exists in {ledgered.store.location}") in errors(result)


def test_history_tags_must_name_their_digest(ledgered: Ledgered) -> None:
    promoted_four_times(ledgered)
    ledgered.store.put_manifest(ledgered.store.get_manifest(ledgered.digest("A")), tag="main-0002")
    result = ledgered.run()
    assert errors(result) == [
        (2, f"history tag main-0002 points at {ledgered.digest('A')}, not {ledgered.digest('B')}")
    ]
    ledgered.store.delete_tag("main-0003")
    assert len(errors(ledgered.run())) == 1, "a history tag that is gone (pruned) is not an error here"


def test_drift_is_a_warning_and_only_after_a_promotion(ledgered: Ledgered) -> None:
    promoted_four_times(ledgered)
    ledgered.store.put_manifest(ledgered.store.get_manifest(ledgered.digest("C")), tag="main")
    result = ledgered.run()
    assert result.ok
    b, c = ledgered.digest("B"), ledgered.digest("C")
    assert warnings(result) == [(4, f"drift: main points at {c}, the ledger says {b}")]
    ledgered.store.delete_tag("main")
    assert warnings(ledgered.run()) == [(4, f"drift: main points at nothing, the ledger says {b}")]
    deployed_only = Ledgered(ledgered.path.parent / "deployed-only")
    deployed_only.append(Kind.DEPLOY, "A", deploy=DeployInfo(result=DeployOutcome.HEALTHY))
    assert deployed_only.run().findings == [], "an environment only deployed has no tag to drift from"


def test_a_set_is_checked_in_each_member_repository(ledgered: Ledgered, tmp_path: Path) -> None:
    web_path = tmp_path / "web"
    web = make_image(web_path, tag="w", layers=1, layer_size=128, seed="audit-web")
    web_store = OCILayoutStore(web_path, create=False)
    members = {
        "api": MemberState(
            reference=f"oci:{ledgered.path}",
            digest=ledgered.digest("A"),
            media_type="m",
            size=1,
            history_tag="main-0001",
        ),
        "web": MemberState(
            reference=f"oci:{web_path}",
            digest=Digest.parse(web.digest),
            media_type="m",
            size=1,
            history_tag="main-0001",
        ),
    }
    ledgered.append(Kind.PROMOTE, "A", members=members)
    web_store.put_manifest(web_store.get_manifest("w"), tag="main-0001")
    opened: list[str] = []

    def opener(reference: Reference) -> Store:
        opened.append(str(reference))
        return OCILayoutStore(Path(str(reference).removeprefix("oci:")), create=False)

    result = ledgered.run(opener=opener)
    assert result.ok, result.findings
    assert result.digests_checked == 2 and opened == [f"oci:{web_path}"], "each other repository opened once"
    other = make_image(web_path, tag="w2", layers=1, layer_size=128, seed="audit-web-2")
    web_store.put_manifest(web_store.get_manifest("w2"), tag="main-0001")
    moved = ledgered.run(opener=opener)
    assert errors(moved) == [(1, f"history tag main-0001 points at {other.digest}, not {web.digest}")]
    web_store.delete_manifest(Digest.parse(web.digest))
    gone = ledgered.run(opener=opener)
    assert errors(gone)[:1] == [(None, f"{web.digest} recorded in seq 1 no longer exists in oci:{web_path}")]


def test_without_an_opener_every_digest_is_looked_for_in_the_ledger_repository(ledgered: Ledgered) -> None:
    members = {
        "api": MemberState(reference="oci:/elsewhere", digest=ledgered.digest("B"), media_type="m", size=1),
    }
    ledgered.append(Kind.PROMOTE, "A", members=members)
    result = ledgered.run()
    assert result.ok and result.digests_checked == 1


def test_a_repository_that_cannot_be_read_counts_as_missing(ledgered: Ledgered, tmp_path: Path) -> None:
    members = {
        "api": MemberState(reference=f"oci:{tmp_path / 'gone'}", digest=ledgered.digest("B"), media_type="m", size=1),
    }
    ledgered.append(Kind.PROMOTE, "A", members=members)

    class Broken(OCILayoutStore):
        def head_manifest(self, reference: str | Digest) -> Descriptor | None:
            from hoist.errors import TransportError

            raise TransportError("the disk is gone")

    def opener(reference: Reference) -> Store:
        broken = Broken.__new__(Broken)
        broken.path = tmp_path / "gone"
        return broken

    result = ledgered.run(opener=opener)
    assert errors(result) == [
        (None, f"{ledgered.digest('B')} recorded in seq 1 no longer exists in oci:{tmp_path / 'gone'}")
    ]


def test_a_prune_record_without_a_list_of_digests(ledgered: Ledgered) -> None:
    ledgered.append(Kind.PROMOTE, "A")
    ledgered.append(Kind.PRUNE, "A")
    assert ledgered.run().ok


def test_a_link_to_something_that_is_not_a_record(ledgered: Ledgered) -> None:
    entries = promoted_four_times(ledgered)
    head = entries[0]
    image = ledgered.digest("C")
    ledgered.rewrite_head(replace(head.record, previous_record=image), [])
    result = ledgered.run()
    (seq, message), *_ = errors(result)
    assert seq == 4 and message.startswith(f"the record before seq 4 was altered: ledger record {image} is not a hoist")


def test_every_copy_is_checked_even_after_one_of_a_record_not_walked(ledgered: Ledgered) -> None:
    """A window listing a record older than ``since`` first, then an edited copy of one the audit walked."""
    entries = promoted_four_times(ledgered)  # seq 4, 3, 2, 1
    head, three, two, one = entries
    edited = Entry(two.manifest, replace(two.record, reason="approved"))
    ledgered.rewrite_head(head.record, [one, three, edited])
    found = errors(ledgered.run(since=2))
    assert (2, "record seq 2 differs from the copy kept in seq 4: altered") in found


def test_lost_digests_are_reported_by_repository_then_digest(ledgered: Ledgered, tmp_path: Path) -> None:
    repos = {}
    for name in ("zeta", "alpha"):
        path = tmp_path / name
        info = make_image(path, tag="x", layers=1, layer_size=64, seed=f"order-{name}")
        repos[name] = (path, info)
    members = {
        name: MemberState(reference=f"oci:{path}", digest=Digest.parse(info.digest), media_type="m", size=1)
        for name, (path, info) in repos.items()
    }
    ledgered.append(Kind.PROMOTE, "A", members=members)
    for path, info in repos.values():
        OCILayoutStore(path, create=False).delete_manifest(Digest.parse(info.digest))

    def opener(reference: Reference) -> Store:
        return OCILayoutStore(Path(str(reference).removeprefix("oci:")), create=False)

    messages = [m for _, m in errors(ledgered.run(opener=opener))]
    assert [m.rsplit(" ", 1)[-1] for m in messages] == [f"oci:{tmp_path / 'alpha'}", f"oci:{tmp_path / 'zeta'}"]


def test_lost_digests_of_one_repository_are_reported_in_digest_order(ledgered: Ledgered, tmp_path: Path) -> None:
    path = tmp_path / "one"
    images = [make_image(path, tag=f"t{n}", layers=1, layer_size=64, seed=f"one-{n}") for n in range(5)]
    members = {
        f"m{n}": MemberState(reference=f"oci:{path}", digest=Digest.parse(info.digest), media_type="m", size=1)
        for n, info in enumerate(images)
    }
    ledgered.append(Kind.PROMOTE, "A", members=members)
    store = OCILayoutStore(path, create=False)
    for info in images:
        store.delete_manifest(Digest.parse(info.digest))

    def opener(reference: Reference) -> Store:
        return OCILayoutStore(Path(str(reference).removeprefix("oci:")), create=False)

    messages = [m for _, m in errors(ledgered.run(opener=opener))]
    assert [m.split(" ", 1)[0] for m in messages] == sorted(info.digest for info in images)


class Counting(OCILayoutStore):
    """Counts record reads made by the calling thread and by the audit's worker threads."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, create=False)
        self.main = threading.get_ident()
        self.reads = {"main": 0, "workers": 0}
        self.lock = threading.Lock()

        self.heads = threading.local()

    def get_manifest(self, reference: str | Digest) -> Manifest:
        if not getattr(self.heads, "inside", False):  # existence checks of images are not record reads
            with self.lock:
                self.reads["main" if threading.get_ident() == self.main else "workers"] += 1
        return super().get_manifest(reference)

    def head_manifest(self, reference: str | Digest) -> Descriptor | None:
        self.heads.inside = True
        try:
            return super().head_manifest(reference)
        finally:
            self.heads.inside = False


def _watch_reads(monkeypatch: pytest.MonkeyPatch) -> tuple[list[int], list[int]]:
    """The sequence numbers of the records the audit asks for, in order, and of those it had to wait for
    (a fetch not finished yet: which of the hops wait depends on timing)."""
    asked: list[int] = []
    waited: list[int] = []
    get = audit_module._Records.get

    def counted(records: audit_module._Records, digest: Digest) -> Shallow:
        missing = digest not in records.found
        found = get(records, digest)
        asked.append(found.record.seq)
        if missing:
            waited.append(found.record.seq)
        return found

    monkeypatch.setattr(audit_module._Records, "get", counted)
    return asked, waited


def test_records_are_read_in_parallel_after_one_read_per_window(
    ledgered: Ledgered, monkeypatch: pytest.MonkeyPatch
) -> None:
    """120 records: the head keeps 19 copies and names 30 earlier records (seq 119 to 71); the oldest of
    those leads to the next 49, and so on. Before walking the chain the audit reads only one record per
    window and list (seq 71, 22 and 1), the rest being fetched meanwhile; the workers fetch every record
    but the head, each once."""
    for n in range(120):
        ledgered.append(Kind.PROMOTE, "AB"[n % 2], tag=False)
    asked, waited = _watch_reads(monkeypatch)
    counting = Counting(ledgered.path)
    result = audit(counting, ledgered.env, jobs=4)
    assert result.ok and result.records == 120
    assert counting.reads == {"main": 1, "workers": 119}
    assert asked[:4] == [120, 71, 22, 1] and set(waited) <= {71, 22, 1}
    since, asked[:], waited[:] = Counting(ledgered.path), [], []
    recent = audit(since, ledgered.env, jobs=4, since=71)
    assert recent.ok and recent.records == 50
    assert since.reads == {"main": 1, "workers": 49}, "the head names seq 71: nothing older"
    assert asked[:2] == [120, 71] and set(waited) <= {71}
    nearer, waited[:] = Counting(ledgered.path), []
    assert audit(nearer, ledgered.env, jobs=4, since=90).records == 31
    assert nearer.reads == {"main": 1, "workers": 30}, "of what the head names, only the records down to seq 90"


def test_a_ledger_without_earlier_names_is_read_one_window_at_a_time(
    ledgered: Ledgered, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Records an older hoist wrote name no earlier records: before walking the chain, the audit hops from
    each window's oldest copy to the record before it (with a window of 20: seq 42, 22 and 2 of 62),
    fetching every window's copies in parallel meanwhile; only those hops can wait."""
    from hoist.promotion import ledger as ledger_module

    with monkeypatch.context() as older:
        older.setattr(ledger_module, "EARLIER", 0)
        for n in range(3 * WINDOW + 2):
            ledgered.append(Kind.PROMOTE, "AB"[n % 2], tag=False)
    asked, waited = _watch_reads(monkeypatch)
    counting = Counting(ledgered.path)
    result = audit(counting, ledgered.env, jobs=4)
    total, hops = 3 * WINDOW + 2, [2 * WINDOW + 2, WINDOW + 2, 2]
    assert result.ok and result.records == total
    assert asked[:4] == [total, *hops] and set(waited) <= set(hops)
    assert counting.reads == {"main": 1, "workers": total - 1}
    since = Counting(ledgered.path)
    assert audit(since, ledgered.env, jobs=4, since=WINDOW + 3).records == 2 * WINDOW
    assert since.reads == {"main": 1, "workers": 2 * WINDOW - 1}, "the second window's oldest copy is the one at since"


def test_a_ledger_an_older_hoist_wrote_is_audited_across_both_kinds_of_record(
    ledgered: Ledgered, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hoist.promotion import ledger as ledger_module

    with monkeypatch.context() as older:
        older.setattr(ledger_module, "WINDOW", 50)
        older.setattr(ledger_module, "EARLIER", 0)
        for n in range(70):
            ledgered.append(Kind.PROMOTE, "AB"[n % 2], tag=False)
    for n in range(25):
        ledgered.append(Kind.PROMOTE, "AB"[n % 2], tag=False)
    counting = Counting(ledgered.path)
    result = audit(counting, ledgered.env, jobs=4)
    assert result.ok and result.records == 95, result.findings
    assert counting.reads == {"main": 1, "workers": 94}


def test_records_no_trusted_writer_signed_are_one_error_from_the_oldest(ledgered: Ledgered) -> None:
    """Trust names the writers' keys (from seq 1): two records signed by the trusted key, then one by a
    stranger's key and one unsigned. The audit counts the two untrusted ones and names where they begin."""
    from hoist.evidence.keys import PrivateKey
    from hoist.promotion.signing import Trust

    trusted, stranger = PrivateKey.generate(), PrivateKey.generate()
    for name, signer in (("A", trusted), ("B", trusted), ("A", stranger), ("B", None)):
        ledgered.ledger.signer = signer
        ledgered.append(Kind.PROMOTE, name)
    trust = Trust(keys=(trusted.public_key(),))
    result = audit(ledgered.store, ledgered.env, jobs=2, trust=trust)
    assert result.untrusted == 2 and result.records == 4
    assert errors(result) == [
        (3, "2 record(s) not written by a trusted writer (seq 3 to 4); the first, seq 3, is signed by a key not "
         f"trusted here ({stranger.public_key().keyid[:12]})")
    ]  # fmt: skip
    ledgered.append(Kind.PROMOTE, "A")
    newest = audit(ledgered.store, ledgered.env, jobs=2, trust=trust, since=5)
    assert newest.untrusted == 1
    assert errors(newest) == [
        (5, "1 record(s) not written by a trusted writer (seq 5); the first, seq 5, is not signed")
    ]
    ledgered.ledger.signer = trusted
    ledgered.append(Kind.PROMOTE, "B")
    assert audit(ledgered.store, ledgered.env, jobs=2, trust=trust, since=6).findings == []
