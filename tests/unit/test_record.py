"""Ledger records as stored: the JSON a record is written as, read back field by field, and the questions
a single record answers.

The stored form is a contract between hoist versions (records written years apart share one chain) and
the audit compares canonical forms byte for byte, so the exact JSON is pinned here.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from hoist.digest import Digest
from hoist.errors import IntegrityError
from hoist.manifest import OCI_MANIFEST, Descriptor
from hoist.promotion.record import (
    DeployInfo,
    DeployOutcome,
    GateResult,
    Kind,
    MemberState,
    OverrideInfo,
    Record,
    Source,
    StackItem,
)


def digest(name: str) -> Digest:
    return Digest.of(name.encode())


A, B, C, R1, R2 = digest("A"), digest("B"), digest("C"), digest("record-1"), digest("record-2")


def full_record() -> Record:
    """A record with every field set to a value that is not its default."""
    return Record(
        seq=7,
        environment="production",
        kind=Kind.ROLLBACK,
        digest=A,
        media_type=OCI_MANIFEST,
        size=1234,
        current=A,
        current_seq=7,
        previous_digest=B,
        previous_record=R2,
        source=Source(environment="staging", reference="r.example/app:staging", digest=A, seq=3),
        tags=("main", "latest"),
        history_tag="main-0007",
        actor="alice",
        time="2026-11-28T08:53:04.123Z",
        reason="bad release",
        forced=True,
        override=OverrideInfo(reason="hotfix", rules=("signature", "tests")),
        git={"sha": "abc123", "ref": "refs/heads/main"},
        ci={"url": "https://ci.example/run/1"},
        timings={"copy": 1.5, "gates": 0.25},
        gates=(
            GateResult(gate="tests", passed=True, detail="PASSED", environment="staging", evidence=("sha256:e",)),
            GateResult(
                gate="signature",
                passed=False,
                detail="not signed",
                environment="staging",
                overridden=True,
                member="api",
            ),
        ),
        deploy=DeployInfo(
            result=DeployOutcome.RESTORED,
            target="docker",
            image="r.example/app@" + str(A),
            health={"ok": True, "checks": 3},
            details={"container": "c0ffee"},
        ),
        details={"automatic": True},
        stack=(
            StackItem(digest=B, seq=5, history_tag="main-0005"),
            StackItem(digest=A, seq=7, members={"api": A, "web": C}),
        ),
        members={
            "api": MemberState(
                reference="r.example/api", digest=A, media_type=OCI_MANIFEST, size=1234, history_tag="h1"
            ),
            "web": MemberState(reference="r.example/web", digest=C, media_type=OCI_MANIFEST, size=99),
        },
        only=("api",),
        mirrors={"mirror.example/app": "copied"},
        hoist="9.9.9",
    )


FULL_JSON: dict[str, Any] = {
    "seq": 7,
    "environment": "production",
    "kind": "rollback",
    "digest": str(A),
    "media_type": OCI_MANIFEST,
    "size": 1234,
    "current": str(A),
    "current_seq": 7,
    "previous_digest": str(B),
    "previous_record": str(R2),
    "source": {"environment": "staging", "reference": "r.example/app:staging", "digest": str(A), "seq": 3},
    "tags": ["main", "latest"],
    "history_tag": "main-0007",
    "actor": "alice",
    "time": "2026-11-28T08:53:04.123Z",
    "reason": "bad release",
    "forced": True,
    "override": {"reason": "hotfix", "rules": ["signature", "tests"]},
    "git": {"sha": "abc123", "ref": "refs/heads/main"},
    "ci": {"url": "https://ci.example/run/1"},
    "timings": {"copy": 1.5, "gates": 0.25},
    "gates": [
        {
            "gate": "tests",
            "passed": True,
            "detail": "PASSED",
            "environment": "staging",
            "evidence": ["sha256:e"],
            "overridden": False,
        },
        {
            "gate": "signature",
            "passed": False,
            "detail": "not signed",
            "environment": "staging",
            "evidence": [],
            "overridden": True,
            "member": "api",
        },
    ],
    "deploy": {
        "result": "restored",
        "target": "docker",
        "image": "r.example/app@" + str(A),
        "health": {"ok": True, "checks": 3},
        "container": "c0ffee",
    },
    "details": {"automatic": True},
    "stack": [
        {"digest": str(B), "seq": 5, "history_tag": "main-0005"},
        {"digest": str(A), "seq": 7, "members": {"api": str(A), "web": str(C)}},
    ],
    "members": {
        "api": {
            "reference": "r.example/api",
            "digest": str(A),
            "media_type": OCI_MANIFEST,
            "size": 1234,
            "history_tag": "h1",
        },
        "web": {"reference": "r.example/web", "digest": str(C), "media_type": OCI_MANIFEST, "size": 99},
    },
    "only": ["api"],
    "mirrors": {"mirror.example/app": "copied"},
    "hoist": "9.9.9",
}


def test_every_field_is_written_as_the_stored_format_says() -> None:
    assert full_record().to_json() == FULL_JSON


def test_every_field_reads_back() -> None:
    record = full_record()
    assert Record.from_json(json.loads(json.dumps(record.to_json()))) == record


def test_canonical_form_is_sorted_compact_and_keeps_unicode() -> None:
    record = full_record().evolve(reason="déploiement à 5 h")
    text = record.canonical()
    assert text == json.dumps(record.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert "déploiement à 5 h" in text and ", " not in text and ": " not in text
    keys = list(json.loads(text))
    assert keys == sorted(keys)


def minimal() -> dict[str, Any]:
    return {"seq": 3, "environment": "production", "kind": "promote", "digest": str(A), "media_type": "m", "size": 5}


def test_a_minimal_record_leaves_out_empty_values_but_keeps_the_chain_link() -> None:
    record = Record.from_json(minimal())
    assert record.current == A and record.current_seq == 3, "an old record's current is its own digest"
    assert record.previous_record is None and record.source is None and record.deploy is None
    assert record.stack is None and record.members is None and record.hoist == ""
    out = record.to_json()
    assert out == {
        **minimal(),
        "current": str(A),
        "current_seq": 3,
        "previous_record": None,
        "forced": False,
        "actor": "",
        "time": "",
        "hoist": "",
    }
    assert Record.from_json(out) == record


def test_a_record_reads_back_the_current_digest_it_names_not_its_own() -> None:
    """A deploy of B while the environment runs A, promoted at seq 2: the record's current digest and the
    record that set it are read as stored, not taken from its own digest and sequence."""
    record = Record.from_json({**minimal(), "kind": "deploy", "digest": str(B), "current": str(A), "current_seq": 2})
    assert (record.digest, record.seq) == (B, 3)
    assert (record.current, record.current_seq) == (A, 2)


def test_fields_of_another_version_round_trip_unchanged() -> None:
    doc = {**minimal(), "signature": {"key": "k1", "sig": "c2ln"}, "future": [1, 2]}
    record = Record.from_json(doc)
    assert record.extra == {"signature": {"key": "k1", "sig": "c2ln"}, "future": [1, 2]}
    assert record.to_json()["signature"] == {"key": "k1", "sig": "c2ln"}
    assert Record.from_json(record.to_json()).canonical() == record.canonical()
    # a known field is never taken from extra
    assert Record.from_json({**minimal(), "extra": {"x": 1}}).extra == {"extra": {"x": 1}}


@pytest.mark.parametrize(
    "damage",
    [
        {"seq": None},
        {"digest": "sha256:nothex"},
        {"kind": "teleport"},
        {"size": "big"},
        {"deploy": {"result": "sideways"}},
        {"members": {"api": {"reference": "r/api"}}},
        {"stack": [{"seq": 1}]},
        {"gates": [{"passed": True}]},
    ],
)
def test_a_malformed_record_is_an_integrity_error(damage: dict[str, Any]) -> None:
    with pytest.raises(IntegrityError) as caught:
        Record.from_json({**minimal(), **damage})
    assert str(caught.value).startswith("ledger record is malformed: ")


def test_missing_required_fields_are_integrity_errors() -> None:
    for key in ("seq", "environment", "kind", "digest", "media_type", "size"):
        doc = minimal()
        del doc[key]
        with pytest.raises(IntegrityError):
            Record.from_json(doc)


def test_optional_parts_of_nested_values_have_their_defaults() -> None:
    doc = {
        **minimal(),
        "source": {},
        "deploy": {"result": "healthy"},
        "override": {"reason": "why"},
        "gates": [{"gate": "scan", "passed": 0}],
        "stack": [{"digest": str(A), "seq": "2"}],
        "members": {"api": {"reference": "r/api", "digest": str(A), "media_type": "m", "size": "7"}},
        "tags": None,
        "mirrors": {"m": 1},
    }
    record = Record.from_json(doc)
    assert record.source == Source()
    assert record.source.to_json() == {}
    assert record.deploy == DeployInfo(result=DeployOutcome.HEALTHY)
    assert record.deploy.to_json() == {"result": "healthy", "target": "", "image": "", "health": None}
    assert record.override == OverrideInfo(reason="why")
    assert record.gates == (GateResult(gate="scan", passed=False, detail="", environment=""),)
    assert record.stack == (StackItem(digest=A, seq=2),)
    assert record.members == {"api": MemberState(reference="r/api", digest=A, media_type="m", size=7)}
    assert record.tags == ()
    assert record.mirrors == {"m": "1"}
    # values that are not tables are ignored rather than misread
    odd = Record.from_json({**minimal(), "source": "x", "deploy": [], "override": 3, "members": [], "stack": {}})
    assert (odd.source, odd.deploy, odd.override, odd.members, odd.stack) == (None, None, None, None, None)


def test_what_one_record_says() -> None:
    deploy = Record.from_json({**minimal(), "kind": "deploy", "deploy": {"result": "healthy"}})
    assert deploy.healthy_deploy and deploy.outcome is DeployOutcome.HEALTHY
    restored = deploy.evolve(deploy=DeployInfo(result=DeployOutcome.RESTORED))
    assert restored.healthy_deploy, "the previous image restored and healthy counts"
    for outcome in (DeployOutcome.FAILED, DeployOutcome.PROPOSED):
        assert not deploy.evolve(deploy=DeployInfo(result=outcome)).healthy_deploy
    promote = Record.from_json(minimal())
    assert not promote.healthy_deploy and promote.outcome is None
    assert not promote.evolve(deploy=DeployInfo(result=DeployOutcome.HEALTHY)).healthy_deploy, "only deploys"

    assert [k for k in Kind if k.moves_tags] == [Kind.PROMOTE, Kind.ROLLBACK]

    rollback = promote.evolve(kind=Kind.ROLLBACK, details={"automatic": True})
    assert rollback.automatic
    assert not promote.evolve(details={"automatic": True}).automatic, "only rollbacks are automatic"
    assert not rollback.evolve(details={}).automatic

    assert promote.evolve(time="2026-11-28T08:53:04.123Z").moment is not None
    assert promote.evolve(time="yesterday").moment is None


def test_digest_of_and_names_for_sets_and_single_images() -> None:
    single = Record.from_json(minimal())
    assert single.digest_of(None) == A and single.digest_of("api") == A
    assert single.names(A) and single.names(A, "api") and not single.names(B)
    members = {
        "api": MemberState(reference="r/api", digest=B, media_type="m", size=1),
        "web": MemberState(reference="r/web", digest=C, media_type="m", size=1),
    }
    group = single.evolve(members=members)
    assert group.digest_of("api") == B and group.digest_of("web") == C
    assert group.digest_of("db") == A and group.digest_of(None) == A, "unknown members: the record's digest"
    assert group.names(B, "api") and not group.names(C, "api") and not group.names(B, "db")
    assert group.names(A) and not group.names(B), "without a member: the record's own digest"
    assert members["web"].descriptor() == Descriptor("m", C, 1), "a member deployed is the subject of its record"


def test_stack_item_state_is_its_digest_or_its_members() -> None:
    assert StackItem(digest=A, seq=1).state == A
    assert StackItem(digest=A, seq=1, members={"web": C, "api": B}).state == (("api", B), ("web", C))
    assert StackItem(digest=A, seq=1).to_json() == {"digest": str(A), "seq": 1}


def test_record_json_is_stable_for_hashing() -> None:
    """Two equal records give the same canonical bytes (what the window copies are compared by)."""
    first, second = full_record(), Record.from_json(full_record().to_json())
    assert hashlib.sha256(first.canonical().encode()).digest() == hashlib.sha256(second.canonical().encode()).digest()
