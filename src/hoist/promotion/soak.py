"""Soak time: how long a digest has served healthy in an environment, read from that environment's ledger.

The ``soak`` gate (``soak = { environment = "staging", min = "30m" }``) passes when the digest is what
the environment serves now — its newest deploy, healthy — and has served there without a failed
deploy or a rollback for at least ``min``.

The clock starts at the healthy deploy that began the current run of the digest: redeploying the same
digest keeps it running, while a failed deploy, a restore after one, a rollback or a deploy of another
image start it again. Each healthy deploy record keeps where its run began (``details.serving_since``,
written by :func:`serving_details`), and the ledger head keeps the newest deploy of every image and the
newest rollback pinned, so the gate reads one ledger head at any history length.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hoist.clock import format_time, parse_time_or_none
from hoist.digest import Digest
from hoist.promotion.history import History
from hoist.promotion.record import DeployOutcome, Entry, GateResult, Record

SERVING_SINCE = "serving_since"


def span(seconds: float) -> str:
    """``2d 3h``, ``4h 10m``, ``12m``, ``40s``: a duration for people."""
    seconds = max(0, round(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    if minutes:
        return f"{minutes}m"
    return f"{secs}s"


@dataclass(frozen=True)
class RunStart:
    """Where the current run of a digest began: the deploy record's sequence and time."""

    seq: int
    time: str

    @property
    def moment(self) -> datetime | None:
        return parse_time_or_none(self.time)


def run_start(record: Record) -> RunStart:
    """The start of the run a healthy deploy record belongs to (itself, when it began one)."""
    found = record.details.get(SERVING_SINCE)
    if isinstance(found, dict) and isinstance(found.get("seq"), int) and isinstance(found.get("time"), str):
        return RunStart(found["seq"], found["time"])
    return RunStart(record.seq, record.time)


def serving_details(view: History, *, member: str | None, digest: Digest, outcome: DeployOutcome) -> dict[str, Any]:
    """What a new deploy record of ``digest`` keeps about its run: where it began, when earlier than
    the record itself (a healthy redeploy of what already served, with no rollback since)."""
    if outcome is not DeployOutcome.HEALTHY:
        return {}
    previous = view.last_deploy_of(member)
    if previous is None or not previous.record.healthy_deploy or previous.record.digest_of(member) != digest:
        return {}
    rollback = view.last_rollback()
    if rollback is not None and rollback.record.seq > previous.record.seq:
        return {}
    start = run_start(previous.record)
    return {SERVING_SINCE: {"seq": start.seq, "time": start.time}}


def soak(
    view: History,
    *,
    environment: str,
    digest: Digest,
    minimum: float,
    now: datetime,
    member: str | None = None,
) -> GateResult:
    """The ``soak`` gate for ``digest`` (``member``'s, in an environment of several images) in the
    environment whose ledger ``view`` is."""
    limit = span(minimum)

    def result(passed: bool, detail: str, evidence: Entry | None = None) -> GateResult:
        used = (str(evidence.manifest),) if evidence is not None else ()
        return GateResult(gate="soak", passed=passed, detail=detail, environment=environment, evidence=used,
                          member=member)  # fmt: skip

    last = view.last_deploy_of(member)
    if last is None:
        return result(False, f"never deployed to {environment} (it must serve there for {limit})")
    record = last.record
    if record.digest_of(member) != digest:
        other = str(record.digest_of(member))[:19]
        return result(False, f"not serving in {environment}: it runs {other} (deployed seq {record.seq})", last)
    if not record.healthy_deploy:
        return result(False, f"its deploy to {environment} failed its health checks (seq {record.seq})", last)
    rollback = view.last_rollback()
    if rollback is not None and rollback.record.seq > record.seq:
        detail = f"{environment} was rolled back (seq {rollback.record.seq}) while it served there"
        return result(False, detail, rollback)
    start = run_start(record)
    began = start.moment or now  # a record without a readable time: its run counts from now
    served = (now - began).total_seconds()
    if served >= minimum:
        detail = f"served healthy in {environment} for {span(served)} since seq {start.seq} (the minimum is {limit})"
        return result(True, detail, last)
    ready = format_time(began + timedelta(seconds=minimum))
    detail = (
        f"served healthy in {environment} for {span(served)} since seq {start.seq}: {span(minimum - served)} "
        f"to go (the minimum is {limit}; ready at {ready})"
    )
    return result(False, detail, last)
