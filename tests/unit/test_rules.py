"""Deciding on rules (promotion/rules.py): every refusal is named, and only an override with a reason, for
the rules it covers, sets one aside."""

from __future__ import annotations

import pytest

from hoist.errors import GateRefused, InputError
from hoist.promotion.record import GateResult, OverrideInfo
from hoist.promotion.rules import Override, decide


def result(gate: str, passed: bool, detail: str = "") -> GateResult:
    return GateResult(gate=gate, passed=passed, detail=detail or f"{gate} detail", environment="staging")


def test_an_override_needs_a_reason_and_keeps_it_trimmed() -> None:
    for reason in ("", "   "):
        with pytest.raises(InputError) as caught:
            Override(reason)
        assert str(caught.value) == "an override needs a reason: the ledger keeps it"
    override = Override("  hotfix for the outage \n")
    assert override.reason == "hotfix for the outage"
    assert override.rules is None
    assert override.covers("signature") and override.covers("anything")


def test_an_override_for_named_rules_covers_only_those() -> None:
    override = Override("known scanner bug", rules=["scan", "scan", "tests"])
    assert override.rules == frozenset({"scan", "tests"})
    assert override.covers("scan") and override.covers("tests")
    assert not override.covers("signature")
    assert Override("none at all", rules=[]).rules == frozenset()
    assert not Override("none at all", rules=[]).covers("scan")


def test_all_rules_passing_needs_no_override() -> None:
    results = [result("tests", True), result("signature", True)]
    decided, info = decide(results, override=None, what="promotion of x")
    assert decided == tuple(results) and info is None
    decided, info = decide(results, override=Override("just in case"), what="promotion of x")
    assert decided == tuple(results)
    assert info == OverrideInfo(reason="just in case", rules=()), "an override is recorded even when unneeded"


def test_a_refusal_names_each_refusing_rule() -> None:
    results = [result("tests", False, "the newest test run FAILED"), result("deployed", True), result("scan", False)]
    with pytest.raises(GateRefused) as caught:
        decide(results, override=None, what="promotion of sha256:abc to production", subject="sha256:abc")
    refused = caught.value
    assert str(refused) == (
        "promotion of sha256:abc to production refused by 2 of 3 rule(s): "
        "tests: the newest test run FAILED; scan: scan detail"
    )
    assert refused.results == tuple(results)
    assert refused.subject == "sha256:abc"
    with pytest.raises(GateRefused) as unnamed:
        decide(results, override=None, what="x")
    assert unnamed.value.subject is None


def test_an_override_marks_what_it_set_aside_and_records_it() -> None:
    results = [result("tests", True), result("signature", False), result("scan", False)]
    decided, info = decide(results, override=Override("signed later"), what="promotion")
    assert [(r.gate, r.passed, r.overridden) for r in decided] == [
        ("tests", True, False),
        ("signature", False, True),
        ("scan", False, True),
    ]
    assert info == OverrideInfo(reason="signed later", rules=("signature", "scan"))


def test_an_override_that_does_not_cover_a_refusal_refuses_naming_only_the_uncovered() -> None:
    results = [result("signature", False, "not signed"), result("scan", False, "1 CRITICAL")]
    with pytest.raises(GateRefused) as caught:
        decide(results, override=Override("scanner bug", rules=["scan"]), what="release")
    assert str(caught.value) == "release refused by 1 of 2 rule(s): signature: not signed"
