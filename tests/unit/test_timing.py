"""Windows, freezes and soak time as pure logic: rules parsed, instants across daylight-saving changes,
and the ledger questions answered from the records a head holds (window and pinned)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from hoist.digest import Digest
from hoist.manifest import OCI_MANIFEST, Descriptor
from hoist.promotion.history import History, new_record
from hoist.promotion.record import DeployInfo, DeployOutcome, Entry, Kind, Provenance
from hoist.promotion.soak import serving_details, soak, span
from hoist.promotion.windows import Windows, WindowSyntaxError, parse_rule
from hoist.report.charts import timeline
from hoist.report.metrics import Window, measure


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# -- windows ---------------------------------------------------------------------------------------


def test_a_weekly_window_wraps_the_weekend_in_local_time() -> None:
    windows = Windows(deny=(parse_rule("Fri 16:00-Mon 08:00 Europe/Berlin"),))
    assert not windows.is_closed(at("2026-01-09T14:59:59Z"))  # Friday 15:59:59 CET
    assert windows.is_closed(at("2026-01-09T15:00:00Z"))
    assert windows.is_closed(at("2026-01-11T12:00:00Z"))  # Sunday
    assert windows.is_closed(at("2026-01-12T06:59:59Z"))
    assert not windows.is_closed(at("2026-01-12T07:00:00Z"))  # Monday 08:00 CET
    closed = windows.closed(at("2026-01-10T00:00:00Z"))
    assert closed is not None and closed.until == at("2026-01-12T07:00:00Z")


@pytest.mark.parametrize(
    ("friday", "monday", "hours"),
    [
        ("2026-03-27T15:00:00Z", "2026-03-30T06:00:00Z", 63),  # the clocks go forward on Sunday 29 March
        ("2026-10-23T14:00:00Z", "2026-10-26T07:00:00Z", 65),  # and back on Sunday 25 October
        ("2026-01-09T15:00:00Z", "2026-01-12T07:00:00Z", 64),
    ],
)
def test_a_window_keeps_its_local_hours_across_daylight_saving_changes(friday: str, monday: str, hours: int) -> None:
    rule = parse_rule("Fri 16:00-Mon 08:00 Europe/Berlin")
    start, end = rule.containing(at(friday)) or (None, None)
    assert (start, end) == (at(friday), at(monday))
    assert end - start == timedelta(hours=hours)


def test_times_the_clocks_skip_or_repeat() -> None:
    """02:30 does not exist in Berlin on 29 March 2026 (read as before the change: 01:30 UTC), and
    happens twice on 25 October 2026 (read as its first occurrence: 00:30 UTC)."""
    spring = parse_rule("Sun 02:30-Sun 04:00 Europe/Berlin").containing(at("2026-03-29T01:45:00Z"))
    assert spring == (at("2026-03-29T01:30:00Z"), at("2026-03-29T02:00:00Z"))
    autumn = parse_rule("Sun 02:30-Sun 04:00 Europe/Berlin").containing(at("2026-10-25T00:45:00Z"))
    assert autumn == (at("2026-10-25T00:30:00Z"), at("2026-10-25T03:00:00Z"))


def test_daily_and_dated_windows_and_allow_lists() -> None:
    nights = parse_rule("Mon-Fri 18:00-08:00 UTC")
    assert nights.containing(at("2026-01-06T03:00:00Z")) == (at("2026-01-05T18:00:00Z"), at("2026-01-06T08:00:00Z"))
    assert nights.containing(at("2026-01-10T07:59:00Z"))  # Friday night into Saturday morning
    assert nights.containing(at("2026-01-10T08:00:00Z")) is None
    assert nights.containing(at("2026-01-11T03:00:00Z")) is None  # Saturday night is not a weekday's
    assert parse_rule("Fri-Mon 00:00-24:00 UTC").containing(at("2026-01-11T23:59:00Z"))  # Sunday, wrapping days
    holidays = parse_rule("2026-12-24 00:00-2027-01-02 09:00 Europe/Berlin")
    assert holidays.containing(at("2026-12-31T12:00:00Z")) == (at("2026-12-23T23:00:00Z"), at("2027-01-02T08:00:00Z"))
    assert holidays.next_start(at("2027-01-03T00:00:00Z")) is None

    office = Windows(allow=(parse_rule("Mon-Thu 09:00-17:00 America/New_York"),), deny=(holidays,))
    assert office.closed(at("2026-01-07T15:00:00Z")) is None  # Wednesday 10:00 EST
    friday = office.closed(at("2026-01-09T15:00:00Z"))
    assert friday is not None and friday.rule is None and friday.until == at("2026-01-12T14:00:00Z")
    christmas = office.closed(at("2026-12-28T15:00:00Z"))  # a Monday inside the deny window
    assert christmas is not None and christmas.rule is holidays
    assert christmas.until == at("2027-01-04T14:00:00Z")  # Saturday 2 January ends it; Monday opens
    assert office.next_closing(at("2026-01-07T15:00:00Z")) == at("2026-01-07T22:00:00Z")
    assert Windows(allow=(holidays,)).reopens(at("2027-02-01T00:00:00Z")) is None  # no allow window ahead


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Fri 16:00-Mon 08:00", "name a time zone"),
        ("Fri 16:00-Mon 08:00 Nowhere/Land", "unknown time zone"),
        ("Fri 16:60-Mon 08:00 UTC", "not a time of day"),
        ("Fr 16:00-Mon 08:00 UTC", "not a day of the week"),
        ("Mon 08:00-Mon 08:00 UTC", "ends where it begins"),
        ("daily 08:00-08:00 UTC", "00:00-24:00"),
        ("2026-12-24 00:00-2026-12-23 00:00 UTC", "ends before it begins"),
        ("2026-02-30 00:00-2026-03-02 00:00 UTC", "day is out of range"),
        ("sometimes UTC", "expected"),
    ],
)
def test_bad_rules_say_what_is_expected(text: str, message: str) -> None:
    with pytest.raises(WindowSyntaxError, match=message):
        parse_rule(text)


# -- soak and pins, from records -------------------------------------------------------------------

DIGESTS = {name: Digest("sha256", name * 64) for name in "abcd"}


class Ledger:
    """Records built the way hoist writes them, kept as a History (newest first) with pins recomputed
    on every write and only ``window`` records in hand, like a ledger head."""

    def __init__(self, window: int = 50) -> None:
        self.window = window
        self.view = History(())
        self.count = 0

    def write(
        self, kind: Kind, digest: str, minute: int, outcome: DeployOutcome | None = None, **fields: object
    ) -> None:
        moment = at("2026-05-04T10:00:00Z") + timedelta(minutes=minute)
        provenance = Provenance(actor="t", time=moment.strftime("%Y-%m-%dT%H:%M:%S.000Z"))
        subject = Descriptor(OCI_MANIFEST, DIGESTS[digest], 100)
        if outcome is not None:
            fields["deploy"] = DeployInfo(result=outcome)
            fields["details"] = serving_details(self.view, member=None, digest=subject.digest, outcome=outcome)
        record = new_record(self.view, kind=kind, environment="staging", subject=subject, provenance=provenance,
                            **fields)  # fmt: skip
        self.count += 1
        entry = Entry(Digest("sha256", f"{self.count:064x}"), record)
        pinned = self.view.pins_for(record, self.window - 1)
        self.view = History((entry, *self.view.entries[: self.window - 1]), pinned)

    def soak(self, digest: str, minute: int, minimum: float = 1800) -> tuple[bool, str]:
        now = at("2026-05-04T10:00:00Z") + timedelta(minutes=minute)
        found = soak(self.view, environment="staging", digest=DIGESTS[digest], minimum=minimum, now=now)
        return found.passed, found.detail


def test_a_rollback_or_a_failed_deploy_starts_the_clock_again() -> None:
    ledger = Ledger()
    ledger.write(Kind.DEPLOY, "a", 0, DeployOutcome.HEALTHY)
    ledger.write(Kind.DEPLOY, "a", 10, DeployOutcome.HEALTHY)
    assert ledger.soak("a", 30) == (True, "served healthy in staging for 30m since seq 1 (the minimum is 30m)")
    ledger.write(Kind.ROLLBACK, "a", 31)
    passed, detail = ledger.soak("a", 40)
    assert not passed and detail == "staging was rolled back (seq 3) while it served there"
    ledger.write(Kind.DEPLOY, "a", 45, DeployOutcome.HEALTHY)  # deployed again after the rollback: a new run
    assert ledger.soak("a", 80) == (True, "served healthy in staging for 35m since seq 4 (the minimum is 30m)")
    ledger.write(Kind.DEPLOY, "b", 90, DeployOutcome.FAILED)
    assert ledger.soak("b", 200) == (False, "its deploy to staging failed its health checks (seq 5)")
    passed, detail = ledger.soak("a", 200)
    assert not passed and "not serving in staging: it runs sha256:bbbbbbbbbbbb" in detail
    ledger.write(Kind.DEPLOY, "a", 91, DeployOutcome.RESTORED)
    assert ledger.soak("a", 111) == (False, "served healthy in staging for 20m since seq 6: 10m to go "
                                             "(the minimum is 30m; ready at 2026-05-04T12:01:00.000Z)")  # fmt: skip
    assert span(3 * 86400 + 7200) == "3d 2h" and span(59) == "59s" and span(3600) == "1h"


def test_the_head_keeps_what_freezes_and_soak_read_however_long_the_ledger() -> None:
    ledger = Ledger(window=4)
    ledger.write(Kind.PROMOTE, "c", 0)
    ledger.write(Kind.DEPLOY, "a", 1, DeployOutcome.HEALTHY)
    ledger.write(Kind.ROLLBACK, "c", 2)
    ledger.write(Kind.PROMOTE, "d", 3)  # the rollback no longer sets the current digest
    ledger.write(Kind.DEPLOY, "a", 4, DeployOutcome.HEALTHY)  # after a rollback: a new run
    ledger.write(Kind.FREEZE, "c", 5, details={"until": "2026-05-05T00:00:00.000Z"})
    for minute in range(6, 30):
        ledger.write(Kind.SYNC, "c", minute)
    view = ledger.view
    assert len(view.entries) == 4 and all(e.record.kind is Kind.SYNC for e in view.entries)
    freeze, rollback, deploy = view.last_freeze(), view.last_rollback(), view.last_deploy_of(None)
    assert freeze is not None and freeze.record.seq == 6
    assert rollback is not None and rollback.record.seq == 3
    assert deploy is not None and deploy.record.seq == 5
    assert ledger.soak("a", 60) == (True, "served healthy in staging for 56m since seq 5 (the minimum is 30m)")
    ledger.write(Kind.UNFREEZE, "c", 30, details={"lifted": 6})
    for minute in range(31, 40):
        ledger.write(Kind.SYNC, "c", minute)
    assert ledger.view.last_freeze() is None  # lifted, then out of the window: nothing left to keep


def test_the_report_counts_freezes_and_draws_the_records_it_has_lanes_for() -> None:
    ledger = Ledger()
    ledger.write(Kind.PROMOTE, "a", 0)
    ledger.write(Kind.FREEZE, "a", 1, details={"until": "2026-05-05T00:00:00.000Z"})
    ledger.write(Kind.SYNC, "a", 2)
    ledger.write(Kind.UNFREEZE, "a", 3, details={"lifted": 2})
    records = [e.record for e in ledger.view.entries]
    metrics = measure("staging", records, lambda sha: None, Window.last(2, at("2026-05-04T12:00:00Z")))
    counts = metrics.to_json()["records"]
    assert (counts["promote"], counts["freeze"], counts["unfreeze"], counts["sync"]) == (1, 1, 1, 1)
    svg = timeline(metrics)
    assert svg.count('data-kind="promote"') == 1 and 'data-kind="freeze"' not in svg
