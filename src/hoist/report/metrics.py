"""Delivery metrics over one environment's ledger records: DORA's four keys, and stage timings.

Pure functions: records and a commit-time lookup in, numbers out; no I/O. The definitions:

**Window.** ``since`` whole UTC calendar days ending with today: from 00:00Z of the first day up to
00:00Z after today. A record is in the window when its ``time`` falls inside it. Records without a
readable time are counted (``records.untimed``) and left out. Everything below looks only at the records
in the window, in ledger order (``seq``).

**Deployment frequency.** Per UTC day: ``deploys`` = deploy records with result ``healthy``,
``promotions`` = promote records, and also ``rollbacks`` and ``failed_deploys``. ``deploys_per_day`` and
``promotions_per_day`` = the window's totals / its number of days (today counts as a whole day).

**Lead time for changes.** For each promote record whose ``git.sha`` the lookup knows: the record's time
minus the commit's committer time (``git show -s --format=%cI SHA``). Promote records with no sha
(``skipped_without_sha``) or a sha the lookup does not know (``skipped_unknown_sha``: not in the local
clone) are skipped and counted.

**Change failure rate.** ``failures / deploys``. ``deploys`` = deploy records with result ``healthy`` or
``failed`` (a ``restored`` record is hoist putting the previous image back after a failed deploy, not a
change). ``failures`` = failed deploys + manual rollbacks. An automatic rollback (reason
``automatic: …``, made by ``hoist deploy`` after failed health checks) is not counted again: its failed
deploy already is. ``null`` when there were no deploys.

**Time to restore.** An incident starts at a failed deploy or a manual rollback and ends at the next
record that shows a healthy service: a deploy record with result ``healthy`` or ``restored``. For an
automatic rollback that is the ``restored`` record ``hoist deploy`` writes once the rollback is complete
and the previous image is healthy again. A failure while an incident is open joins that incident (one
outage, one restore). Duration = end time - start time. An incident with no such record yet is
``unrestored`` (still failing, or an environment that ``hoist deploy`` does not deploy) and has no
duration.

**Stage timings.** Every key of ``timings`` of the promote, rollback and deploy records, per kind and
stage, stages in pipeline order (:data:`STAGE_ORDER`, then any others by name). ``restored`` deploy
records are skipped: their timings repeat the failed deploy's stages.

**Statistics.** ``median`` = p50. pN is the linear interpolation between closest ranks (numpy's default,
Excel's PERCENTILE.INC): with the values sorted as v[0..n-1] and p = (n - 1)·N/100,
pN = v[⌊p⌋] + (v[⌊p⌋+1] - v[⌊p⌋])·(p - ⌊p⌋); ``null`` when there are no values. Durations are seconds
rounded to 0.1 ms (negative only when clocks disagree), rates are rounded to 4 decimals.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from hoist.promotion.record import Kind, Record

CommitTime = Callable[[str], datetime | None]
"""The committer time of a commit from its sha; ``None`` when the sha is unknown."""

AUTOMATIC_REASON = "automatic:"
TIMED_KINDS = ("promote", "rollback", "deploy")
STAGE_ORDER = (
    "resolve",
    "verify",
    "gates",
    "copy",
    "ledger",
    "tags",
    "readback",
    "referrers",
    "nested",
    "deploy",
    "target.pull",
    "target.start",
    "health",
    "record",
    "restore",
)
"""The order stages happen in (records store ``timings`` with sorted keys)."""
_DIGITS = 4


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Linear interpolation between closest ranks; ``fraction`` in [0, 1]; ``None`` for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, _DIGITS)


@dataclass(frozen=True)
class Summary:
    count: int
    median: float | None
    p90: float | None

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        return cls(len(values), _round(percentile(values, 0.5)), _round(percentile(values, 0.9)))

    def to_json(self) -> dict[str, Any]:
        return {"count": self.count, "median_seconds": self.median, "p90_seconds": self.p90}


@dataclass(frozen=True)
class Window:
    """Whole UTC days, oldest first."""

    days: tuple[date, ...]

    @classmethod
    def last(cls, days: int, now: datetime) -> Window:
        if days < 1:
            raise ValueError("a window is at least one day")
        today = now.astimezone(UTC).date()
        return cls(tuple(today - timedelta(days=n) for n in range(days - 1, -1, -1)))

    @property
    def start(self) -> datetime:
        return datetime.combine(self.days[0], time(), tzinfo=UTC)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.days[-1] + timedelta(days=1), time(), tzinfo=UTC)

    def __contains__(self, moment: object) -> bool:
        return isinstance(moment, datetime) and self.start <= moment < self.end

    def to_json(self) -> dict[str, Any]:
        return {"days": len(self.days), "start": _stamp(self.start), "end": _stamp(self.end)}


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Event:
    """A record with its parsed time."""

    record: Record
    time: datetime

    @property
    def kind(self) -> str:
        return self.record.kind

    @property
    def result(self) -> str | None:
        """A deploy record's result: ``healthy``, ``failed`` or ``restored``."""
        outcome = self.record.outcome
        return str(outcome) if outcome is not None else None

    @property
    def automatic(self) -> bool:
        """A rollback ``hoist deploy`` made itself (marked in its details; older records by their reason)."""
        if self.kind != "rollback":
            return False
        return self.record.automatic or (self.record.reason or "").startswith(AUTOMATIC_REASON)

    @property
    def failure(self) -> bool:
        """A failed deploy or a manual rollback: a change that failed in the environment."""
        return (self.kind == "deploy" and self.result == "failed") or (self.kind == "rollback" and not self.automatic)

    @property
    def healthy_service(self) -> bool:
        return self.kind == "deploy" and self.result in ("healthy", "restored")


def events(records: Iterable[Record], window: Window) -> tuple[list[Event], int]:
    """The records inside ``window`` in ledger order, and how many records had no readable time."""
    inside: list[Event] = []
    untimed = 0
    for record in records:
        moment = record.moment
        if moment is None:
            untimed += 1
        elif moment in window:
            inside.append(Event(record, moment))
    inside.sort(key=lambda e: e.record.seq)
    return inside, untimed


@dataclass(frozen=True)
class Day:
    day: date
    deploys: int
    promotions: int
    rollbacks: int
    failed_deploys: int

    def to_json(self) -> dict[str, Any]:
        return {
            "date": self.day.isoformat(),
            "deploys": self.deploys,
            "promotions": self.promotions,
            "rollbacks": self.rollbacks,
            "failed_deploys": self.failed_deploys,
        }


@dataclass(frozen=True)
class Frequency:
    days: list[Day]

    @property
    def deploys(self) -> int:
        return sum(d.deploys for d in self.days)

    @property
    def promotions(self) -> int:
        return sum(d.promotions for d in self.days)

    def to_json(self) -> dict[str, Any]:
        count = len(self.days)
        return {
            "deploys": self.deploys,
            "promotions": self.promotions,
            "deploys_per_day": round(self.deploys / count, _DIGITS),
            "promotions_per_day": round(self.promotions / count, _DIGITS),
            "days": [d.to_json() for d in self.days],
        }


def frequency(inside: Sequence[Event], window: Window) -> Frequency:
    def count(day: date, match: Callable[[Event], bool]) -> int:
        return sum(1 for e in inside if e.time.date() == day and match(e))

    return Frequency(
        [
            Day(
                day,
                deploys=count(day, lambda e: e.kind == "deploy" and e.result == "healthy"),
                promotions=count(day, lambda e: e.kind == "promote"),
                rollbacks=count(day, lambda e: e.kind == "rollback"),
                failed_deploys=count(day, lambda e: e.kind == "deploy" and e.result == "failed"),
            )
            for day in window.days
        ]
    )


@dataclass(frozen=True)
class LeadTime:
    promotions: int
    without_sha: int
    unknown_sha: int
    seconds: Summary

    def to_json(self) -> dict[str, Any]:
        return {
            "promotions": self.promotions,
            "measured": self.seconds.count,
            "skipped_without_sha": self.without_sha,
            "skipped_unknown_sha": self.unknown_sha,
            "median_seconds": self.seconds.median,
            "p90_seconds": self.seconds.p90,
        }


def lead_time(inside: Sequence[Event], commit_time: CommitTime) -> LeadTime:
    promotions = [e for e in inside if e.kind == "promote"]
    measured: list[float] = []
    without_sha = unknown_sha = 0
    for event in promotions:
        sha = (event.record.git or {}).get("sha")
        if not sha:
            without_sha += 1
            continue
        committed = commit_time(sha)
        if committed is None:
            unknown_sha += 1
            continue
        measured.append((event.time - committed).total_seconds())
    return LeadTime(len(promotions), without_sha, unknown_sha, Summary.of(measured))


@dataclass(frozen=True)
class ChangeFailure:
    deploys: int
    failed_deploys: int
    rollbacks: int
    automatic_rollbacks: int

    @property
    def failures(self) -> int:
        return self.failed_deploys + self.rollbacks - self.automatic_rollbacks

    @property
    def rate(self) -> float | None:
        return round(self.failures / self.deploys, _DIGITS) if self.deploys else None

    def to_json(self) -> dict[str, Any]:
        return {
            "rate": self.rate,
            "failures": self.failures,
            "deploys": self.deploys,
            "failed_deploys": self.failed_deploys,
            "rollbacks": self.rollbacks,
            "manual_rollbacks": self.rollbacks - self.automatic_rollbacks,
            "automatic_rollbacks": self.automatic_rollbacks,
        }


def change_failure(inside: Sequence[Event]) -> ChangeFailure:
    deploys = [e for e in inside if e.kind == "deploy" and e.result in ("healthy", "failed")]
    rollbacks = [e for e in inside if e.kind == "rollback"]
    return ChangeFailure(
        deploys=len(deploys),
        failed_deploys=sum(1 for e in deploys if e.result == "failed"),
        rollbacks=len(rollbacks),
        automatic_rollbacks=sum(1 for e in rollbacks if e.automatic),
    )


@dataclass(frozen=True)
class Incident:
    start: Event
    end: Event | None
    failures: int
    """Failures during the incident, the first included."""

    @property
    def seconds(self) -> float | None:
        return None if self.end is None else round((self.end.time - self.start.time).total_seconds(), _DIGITS)


@dataclass(frozen=True)
class Restore:
    incidents: list[Incident]

    def to_json(self) -> dict[str, Any]:
        durations = [i.seconds for i in self.incidents if i.seconds is not None]
        summary = Summary.of(durations)
        return {
            "incidents": len(self.incidents),
            "restored": len(durations),
            "unrestored": len(self.incidents) - len(durations),
            "median_seconds": summary.median,
            "p90_seconds": summary.p90,
        }


def time_to_restore(inside: Sequence[Event]) -> Restore:
    incidents: list[Incident] = []
    opened: list[Event] = []
    for event in inside:
        if event.failure:
            opened.append(event)
        elif event.healthy_service and opened:
            incidents.append(Incident(opened[0], event, len(opened)))
            opened = []
    if opened:
        incidents.append(Incident(opened[0], None, len(opened)))
    return Restore(incidents)


Stages = dict[str, dict[str, Summary]]
"""kind → stage → seconds."""


def stage_timings(inside: Sequence[Event]) -> Stages:
    samples: dict[str, dict[str, list[float]]] = {kind: {} for kind in TIMED_KINDS}
    for event in inside:
        if event.kind not in samples or event.result == "restored":
            continue
        for stage, seconds in event.record.timings.items():
            if isinstance(seconds, int | float) and not isinstance(seconds, bool):
                samples[event.kind].setdefault(stage, []).append(float(seconds))
    return {
        kind: {stage: Summary.of(stages[stage]) for stage in sorted(stages, key=_stage_rank)}
        for kind, stages in samples.items()
        if stages
    }


def _stage_rank(stage: str) -> tuple[int, str]:
    return (STAGE_ORDER.index(stage) if stage in STAGE_ORDER else len(STAGE_ORDER), stage)


@dataclass(frozen=True)
class EnvironmentMetrics:
    environment: str
    window: Window
    read: int
    """Records read from the ledger (back to the first one older than the window)."""
    untimed: int
    events: list[Event]
    frequency: Frequency
    lead_time: LeadTime
    change_failure: ChangeFailure
    restore: Restore
    stages: Stages

    def to_json(self) -> dict[str, Any]:
        return {
            "records": {
                "read": self.read,
                "untimed": self.untimed,
                "in_window": len(self.events),
                **{kind: sum(1 for e in self.events if e.kind == kind) for kind in Kind},
            },
            "deployment_frequency": self.frequency.to_json(),
            "lead_time": self.lead_time.to_json(),
            "change_failure_rate": self.change_failure.to_json(),
            "time_to_restore": self.restore.to_json(),
            "stage_timings": {
                kind: {stage: summary.to_json() for stage, summary in stages.items()}
                for kind, stages in self.stages.items()
            },
        }


def measure(environment: str, records: Sequence[Record], commit_time: CommitTime, window: Window) -> EnvironmentMetrics:
    """Every metric of one environment from its records (any order, any time; the window picks)."""
    inside, untimed = events(records, window)
    return EnvironmentMetrics(
        environment=environment,
        window=window,
        read=len(records),
        untimed=untimed,
        events=inside,
        frequency=frequency(inside, window),
        lead_time=lead_time(inside, commit_time),
        change_failure=change_failure(inside),
        restore=time_to_restore(inside),
        stages=stage_timings(inside),
    )


@dataclass(frozen=True)
class Report:
    generated: datetime
    window: Window
    environments: list[EnvironmentMetrics]

    def to_json(self) -> dict[str, Any]:
        return {
            "generated": _stamp(self.generated),
            "window": self.window.to_json(),
            "environments": {m.environment: m.to_json() for m in self.environments},
        }
