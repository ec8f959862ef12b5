"""The questions every rule asks the ledger (promotion/history.py), answered from records built by the one
constructor every writer uses, ``new_record``: what the environment runs, its deploys, its rollback stack,
and what a new head must keep pinned."""

from __future__ import annotations

from typing import Any

import pytest

from hoist.digest import Digest
from hoist.manifest import OCI_MANIFEST, Descriptor
from hoist.promotion.history import History, new_record, next_stack
from hoist.promotion.record import (
    STACK_DEPTH,
    DeployInfo,
    DeployOutcome,
    Entry,
    Kind,
    MemberState,
    Provenance,
    Record,
    StackItem,
)

WHO = Provenance(actor="ci", time="2026-11-28T08:00:00.000Z", git={"sha": "abc"}, ci={"url": "https://ci/1"})


def digest(name: str) -> Digest:
    return Digest.of(name.encode())


A, B, C, D = (digest(x) for x in "ABCD")


def subject(d: Digest, size: int = 10) -> Descriptor:
    return Descriptor(OCI_MANIFEST, d, size)


class Chain:
    """Records appended one by one as the ledger does (newest first in ``history``)."""

    def __init__(self) -> None:
        self.history = History(())

    def add(self, kind: Kind, d: Digest, **fields: Any) -> Entry:
        record = new_record(self.history, kind=kind, environment="prod", subject=subject(d), provenance=WHO, **fields)
        entry = Entry(digest(f"record-{record.seq}"), record)
        self.history = History((entry, *self.history.entries))
        return entry

    def deploy(self, d: Digest, outcome: DeployOutcome, **fields: Any) -> Entry:
        return self.add(Kind.DEPLOY, d, deploy=DeployInfo(result=outcome), **fields)


def test_an_empty_history() -> None:
    empty = History.of([])
    assert empty.head is None and empty.next_seq == 1
    assert empty.current is None and empty.current_seq is None and empty.current_entry is None
    assert empty.current_members is None and not empty.has_promotions
    assert empty.last_deploy() is None and empty.stack == () and empty.rollback_target is None


def test_new_record_links_counts_and_carries_the_provenance() -> None:
    chain = Chain()
    first = chain.add(Kind.PROMOTE, A, reason="first")
    record = first.record
    assert (record.seq, record.environment, record.kind, record.digest) == (1, "prod", Kind.PROMOTE, A)
    assert (record.media_type, record.size) == (OCI_MANIFEST, 10)
    assert (record.current, record.current_seq) == (A, 1)
    assert record.previous_record is None and record.previous_digest is None
    assert (record.actor, record.time, record.git, record.ci) == ("ci", WHO.time, WHO.git, WHO.ci)
    assert record.reason == "first"
    second = chain.add(Kind.PROMOTE, B).record
    assert second.seq == 2 and second.previous_record == first.manifest and second.previous_digest == A
    assert chain.history.next_seq == 3
    # an explicit previous digest wins over the one the history implies
    third = new_record(
        chain.history, kind=Kind.PROMOTE, environment="prod", subject=subject(C), provenance=WHO, previous_digest=D
    )
    assert third.previous_digest == D


def test_only_promotions_and_rollbacks_set_the_current_digest() -> None:
    chain = Chain()
    deployed = chain.deploy(A, DeployOutcome.HEALTHY).record
    assert (deployed.current, deployed.current_seq) == (A, 1), "a first deploy sets what the environment runs"
    assert not chain.history.has_promotions
    chain.add(Kind.PROMOTE, B)
    after_deploy = chain.deploy(C, DeployOutcome.FAILED).record
    assert (after_deploy.current, after_deploy.current_seq) == (B, 2), "a deploy reports, it does not move"
    assert after_deploy.previous_digest == B
    assert chain.history.current == B and chain.history.current_seq == 2
    assert chain.history.has_promotions
    assert chain.history.current_entry is not None and chain.history.current_entry.record.seq == 2


def test_has_promotions_without_the_current_record_in_hand() -> None:
    chain = Chain()
    chain.add(Kind.PROMOTE, A)
    chain.add(Kind.DEPLOY, A, deploy=DeployInfo(result=DeployOutcome.HEALTHY))
    only_the_deploy = History(chain.history.entries[:1])
    assert only_the_deploy.current_entry is None, "seq 1 is not in hand"
    assert not only_the_deploy.has_promotions
    both = History(chain.history.entries)
    assert both.has_promotions


def test_known_records_are_the_entries_then_the_pinned_without_repeats() -> None:
    chain = Chain()
    entries = [chain.add(Kind.PROMOTE, d) for d in (A, B, C)]
    newest_first = tuple(reversed(entries))
    view = History(newest_first[:1], pinned=(entries[0], newest_first[0]))
    assert view.known == (entries[2], entries[0])
    assert view.record_at(1) == entries[0] and view.record_at(2) is None
    assert view.promoted_at(1) == entries[0]


def test_deploy_questions() -> None:
    chain = Chain()
    chain.add(Kind.PROMOTE, A)
    healthy_a = chain.deploy(A, DeployOutcome.HEALTHY)
    chain.add(Kind.PROMOTE, B)
    failed_b = chain.deploy(B, DeployOutcome.FAILED)
    restored_a = chain.deploy(A, DeployOutcome.RESTORED)
    chain.add(Kind.PRUNE, A)
    history = chain.history
    assert history.last_deploy() == restored_a
    assert history.last_healthy_deploy() == restored_a
    assert history.last_healthy_deploy(exclude=A) is None
    assert history.deploys_of(B) == [failed_b]
    assert history.deploys_of(A) == [restored_a, healthy_a], "newest first, deploys only"
    assert history.deploys_of(C) == []


def test_deploys_of_a_member_of_a_set() -> None:
    chain = Chain()
    members = {
        "api": MemberState(reference="r/api", digest=A, media_type=OCI_MANIFEST, size=1),
        "web": MemberState(reference="r/web", digest=B, media_type=OCI_MANIFEST, size=1),
    }
    chain.add(Kind.PROMOTE, A, members=members)
    deployed = chain.deploy(A, DeployOutcome.HEALTHY, members=members)
    assert chain.history.deploys_of(B, "web") == [deployed]
    assert chain.history.deploys_of(B, "api") == []
    assert chain.history.deploys_of(B) == [], "without a member: the record's own digest"
    assert chain.history.current_members == members
    assert chain.history.current_members is not members


def test_the_last_deploy_of_an_image_is_the_newest_that_put_it_into_service() -> None:
    """What the soak clock starts from and the head keeps pinned: a promotion is no deploy, a change only
    proposed for review did not run (a failed deploy did), and in an environment of several images a
    deploy counts for the images it deployed."""
    chain = Chain()
    assert chain.history.last_deploy_of() is None
    chain.add(Kind.PROMOTE, A)
    first = chain.deploy(A, DeployOutcome.HEALTHY)
    chain.add(Kind.PROMOTE, B)
    assert chain.history.last_deploy_of() == first, "a promotion is no deploy"
    chain.deploy(B, DeployOutcome.PROPOSED)
    assert chain.history.last_deploy_of() == first, "a proposed change did not run"
    failed = chain.deploy(B, DeployOutcome.FAILED)
    assert chain.history.last_deploy_of() == failed
    assert chain.history.last_deploy_of("web") is None, "no deploy of a set yet"
    web = {"web": MemberState(reference="r/web", digest=C, media_type=OCI_MANIFEST, size=1)}
    api = {"api": MemberState(reference="r/api", digest=D, media_type=OCI_MANIFEST, size=1)}
    web_deploy = chain.deploy(C, DeployOutcome.HEALTHY, members=web)
    api_deploy = chain.deploy(D, DeployOutcome.HEALTHY, members=api)
    history = chain.history
    assert history.last_deploy_of("web") == web_deploy and history.last_deploy_of("api") == api_deploy
    assert history.last_deploy_of("db") is None
    assert history.last_deploy_of() == api_deploy, "without a member: any image's"


def test_promoted_is_the_newest_record_that_set_a_digest() -> None:
    chain = Chain()
    first = chain.add(Kind.PROMOTE, A)
    chain.add(Kind.PROMOTE, B)
    back = chain.add(Kind.ROLLBACK, A)
    chain.deploy(C, DeployOutcome.HEALTHY)
    history = chain.history
    assert history.promoted(A) == back
    assert history.promoted(C) is None, "a deploy is no promotion"
    assert history.promoted_at(1) == first
    assert history.promoted_at(4) is None and history.promoted_at(9) is None


def test_the_rollback_stack_undoes() -> None:
    """After A, B, C and a rollback to B, the next rollback goes to A."""
    chain = Chain()
    for d in (A, B, C):
        chain.add(Kind.PROMOTE, d)
    assert [item.digest for item in chain.history.stack] == [A, B, C]
    assert chain.history.rollback_target is not None and chain.history.rollback_target.digest == B
    chain.add(Kind.ROLLBACK, B)
    assert [item.digest for item in chain.history.stack] == [A, B]
    assert chain.history.stack[-1].seq == 2, "the item is the one that set B first"
    assert chain.history.rollback_target is not None and chain.history.rollback_target.digest == A
    chain.add(Kind.ROLLBACK, A)
    assert [item.digest for item in chain.history.stack] == [A] and chain.history.rollback_target is None
    chain.deploy(A, DeployOutcome.HEALTHY)
    assert [item.digest for item in chain.history.stack] == [A], "deploys leave the stack"
    chain.add(Kind.ROLLBACK, D)
    assert [item.digest for item in chain.history.stack] == [A, D], "a rollback to a new digest is pushed"


def test_the_stack_keeps_the_newest_items_and_their_history_tags() -> None:
    chain = Chain()
    digests = [digest(f"image-{n}") for n in range(STACK_DEPTH + 3)]
    for n, d in enumerate(digests):
        chain.add(Kind.PROMOTE, d, history_tag=f"main-{n:04}")
    stack = chain.history.stack
    assert len(stack) == STACK_DEPTH
    assert [item.digest for item in stack] == digests[-STACK_DEPTH:]
    assert stack[-1].history_tag == f"main-{STACK_DEPTH + 2:04}" and stack[-1].seq == STACK_DEPTH + 3


def test_records_without_a_stack_field_are_replayed() -> None:
    chain = Chain()
    for d in (A, B, C):
        chain.add(Kind.PROMOTE, d)
    old = History(tuple(Entry(e.manifest, e.record.evolve(stack=None)) for e in chain.history.entries))
    assert [item.digest for item in old.stack] == [A, B, C]
    assert old.rollback_target is not None and old.rollback_target.digest == B


def test_sets_roll_back_by_the_state_of_every_member() -> None:
    def state(api: Digest, web: Digest) -> dict[str, MemberState]:
        return {
            "api": MemberState(reference="r/api", digest=api, media_type=OCI_MANIFEST, size=1),
            "web": MemberState(reference="r/web", digest=web, media_type=OCI_MANIFEST, size=1),
        }

    record = Record(
        seq=1, environment="prod", kind=Kind.PROMOTE, digest=A, media_type="m", size=1, current=A, current_seq=1
    )
    first = next_stack((), record.evolve(members=state(A, B)))
    assert first == (StackItem(digest=A, seq=1, members={"api": A, "web": B}),)
    second = next_stack(first, record.evolve(seq=2, members=state(A, C)))
    assert len(second) == 2, "same primary digest, another member changed: a new state"
    back = next_stack(second, record.evolve(seq=3, kind=Kind.ROLLBACK, members=state(A, B)))
    assert back == first


def pinned_kinds(history: History, record: Record, window: int) -> list[int]:
    return [e.record.seq for e in history.pins_for(record, window)]


def test_a_new_head_pins_what_its_window_does_not_hold() -> None:
    chain = Chain()
    chain.add(Kind.PROMOTE, A)  # 1: sets the current digest
    chain.deploy(A, DeployOutcome.HEALTHY)  # 2: the last healthy deploy
    chain.deploy(B, DeployOutcome.FAILED)  # 3: the last deploy
    history = chain.history
    deploy = new_record(history, kind=Kind.DEPLOY, environment="prod", subject=subject(A), provenance=WHO, deploy=None)
    promote = new_record(history, kind=Kind.PROMOTE, environment="prod", subject=subject(C), provenance=WHO)
    healthy = deploy.evolve(deploy=DeployInfo(result=DeployOutcome.HEALTHY))
    # a window holding everything pins nothing
    assert pinned_kinds(history, deploy, 3) == []
    # a window of none: each question the record does not answer itself is pinned once
    assert pinned_kinds(history, deploy, 0) == [1, 2], "a deploy: the current digest and the last healthy deploy"
    assert pinned_kinds(history, promote, 0) == [3, 2], "a promotion: the last deploy and the last healthy one"
    assert pinned_kinds(history, healthy, 0) == [1], "a healthy deploy answers the deploy questions itself"
    assert pinned_kinds(history, deploy, 1) == [1, 2], "the window holds only seq 3"
    assert pinned_kinds(history, deploy, 2) == [1], "seq 2 and 3 are in the window"


def test_pins_are_not_repeated() -> None:
    chain = Chain()
    chain.add(Kind.PROMOTE, A)
    chain.deploy(A, DeployOutcome.HEALTHY)  # the last deploy and the last healthy deploy at once
    promote = new_record(chain.history, kind=Kind.PROMOTE, environment="prod", subject=subject(B), provenance=WHO)
    assert pinned_kinds(chain.history, promote, 0) == [2]


def test_a_new_head_pins_the_freeze_in_force_the_last_rollback_and_the_last_deploy_that_ran() -> None:
    """What freezes and soak time read stays in reach of a head that holds none of it (a window of none):
    the freeze in force (not for a freeze or unfreeze, which settle it themselves), the last rollback (not
    for a rollback), and the newest deploy that ran, failed or not (a proposed change did not run)."""
    chain = Chain()
    chain.add(Kind.PROMOTE, A)  # 1
    healthy = chain.deploy(A, DeployOutcome.HEALTHY)  # 2
    failed = chain.deploy(A, DeployOutcome.FAILED)  # 3
    proposed = chain.deploy(A, DeployOutcome.PROPOSED)  # 4
    freeze = chain.add(Kind.FREEZE, A)  # 5
    chain.add(Kind.PROMOTE, B)  # 6
    rollback = chain.add(Kind.ROLLBACK, A)  # 7
    history = chain.history

    def pins(kind: Kind) -> list[int]:
        record = new_record(history, kind=kind, environment="prod", subject=subject(C), provenance=WHO)
        return pinned_kinds(history, record, 0)

    seqs = [e.record.seq for e in (proposed, healthy, freeze, rollback, failed)]
    assert pins(Kind.PROMOTE) == seqs, "the last deploy, the last healthy one, the freeze, the rollback, the last run"
    assert pins(Kind.UNFREEZE) == [rollback.record.seq, proposed.record.seq, healthy.record.seq, failed.record.seq]
    assert pins(Kind.ROLLBACK) == [proposed.record.seq, healthy.record.seq, freeze.record.seq, failed.record.seq]
    chain.add(Kind.UNFREEZE, A)  # 8: no freeze in force any more
    assert freeze.record.seq not in pinned_kinds(chain.history, chain.add(Kind.PROMOTE, C).record, 0)


def test_a_deploy_of_one_image_of_a_set_pins_the_last_deploy_of_each_other_image() -> None:
    """A healthy deploy of web: web's soak clock starts in the new record itself, api's in api's last deploy,
    which the head keeps in reach (web's older deploy is not needed)."""

    def member(name: str, d: Digest) -> dict[str, MemberState]:
        return {name: MemberState(reference=f"r/{name}", digest=d, media_type=OCI_MANIFEST, size=1)}

    chain = Chain()
    promoted = chain.add(Kind.PROMOTE, A, members={**member("web", A), **member("api", B)})  # 1
    chain.deploy(A, DeployOutcome.HEALTHY, members=member("web", A))  # 2
    api = chain.deploy(B, DeployOutcome.HEALTHY, members=member("api", B))  # 3
    chain.deploy(C, DeployOutcome.HEALTHY, members=member("web", C))  # 4
    history = chain.history
    record = new_record(history, kind=Kind.DEPLOY, environment="prod", subject=subject(A), provenance=WHO,
                        members=member("web", A), deploy=DeployInfo(result=DeployOutcome.HEALTHY))  # fmt: skip
    assert pinned_kinds(history, record, 0) == [promoted.record.seq, api.record.seq]


def test_each_record_carries_the_rollback_stack() -> None:
    """The stack is written into every record: a history holding only the head still knows every state it
    can roll back to."""
    chain = Chain()
    for d in (A, B, C):
        chain.add(Kind.PROMOTE, d)
    head = chain.history.head
    assert head is not None and head.record.stack is not None
    assert [item.digest for item in History((head,)).stack] == [A, B, C]


@pytest.mark.parametrize("kind", [Kind.PRUNE, Kind.SYNC])
def test_reports_keep_the_current_digest(kind: Kind) -> None:
    chain = Chain()
    chain.add(Kind.PROMOTE, A)
    record = chain.add(kind, B).record
    assert (record.current, record.current_seq) == (A, 1)
    assert [item.digest for item in chain.history.stack] == [A]


def test_records_no_trusted_writer_signed_decide_nothing() -> None:
    """With ``trust`` set, a record signed by the trusted key counts; an unsigned one is in hand but decides
    nothing, and is listed as untrusted with the reason."""
    from hoist.evidence.keys import PrivateKey
    from hoist.promotion.ledger import View
    from hoist.promotion.signing import Trust, sign_record

    key = PrivateKey.generate()
    chain = Chain()
    first = chain.add(Kind.PROMOTE, A)
    forged = chain.deploy(B, DeployOutcome.HEALTHY)
    signed = Entry(first.manifest, first.record, sign_record(first.record, key))
    view = View((forged, signed), trust=Trust(keys=(key.public_key(),)))
    assert view.known == (signed,)
    assert view.head_problem == "not signed"
    assert view.last_deploy() is None and view.deploys_of(B) == [] and view.last_healthy_deploy() is None
    assert view.untrusted() == [(forged, "not signed")]
    assert History(chain.history.entries).known == (forged, first), "without trust every record counts"
    assert History(chain.history.entries).untrusted() == []
