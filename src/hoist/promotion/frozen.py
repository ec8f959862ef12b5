"""Whether an environment is frozen now — a freeze recorded in its ledger, or a window of ``hoist.toml``
closing it — and the rules every promotion, release, rollback and deploy asks.

A freeze is a ``freeze`` record in the environment's ledger (who, when, why, until when; see
:mod:`hoist.promotion.freeze`), so it takes effect for every pipeline that reads the ledger at once; an
``unfreeze`` record lifts it before its end, and a newer freeze replaces it. The ledger head keeps the
newest freeze pinned, so asking costs nothing beyond the head every operation reads anyway. Windows
(:mod:`hoist.promotion.windows`) need no records.

While an environment is frozen (an unexpired freeze, or a window closing it):

* a promotion, a release and a deploy of anything new are refused (rules ``freeze`` and ``window``),
  unless an :class:`~hoist.promotion.rules.Override` covers them; the ledger records the override;
* a rollback to a state the environment had goes ahead, and so does a deploy of what it ran last or
  was rolled back to: at 3 a.m. the on-call engineer restores service without a second approval, and
  the record notes the freeze it went through. A rollback to a digest it never had is a change and is
  refused like a promotion;
* the automatic rollback after a failed deploy is never stopped: it restores what ran.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from hoist.clock import parse_time_or_none
from hoist.digest import Digest
from hoist.promotion.config import Environment
from hoist.promotion.context import Context
from hoist.promotion.history import History
from hoist.promotion.record import GateResult, Kind, OverrideInfo
from hoist.promotion.rules import Override, decide
from hoist.promotion.soak import span

if TYPE_CHECKING:  # an environment's windows are parsed, and their code loaded, only when it has some
    from hoist.promotion.windows import Windows

FREEZE_RULE = "freeze"
WINDOW_RULE = "window"


class Action(enum.Enum):
    """What an operation does to an environment, as the freeze rules see it."""

    CHANGE = "change"
    """Something new reaches the environment: a promotion, a release, a deploy of a new digest."""
    RESTORE = "restore"
    """Back to what the environment ran: a rollback to a state it had, a deploy of what it ran last."""
    AUTOMATIC = "automatic"
    """The rollback hoist makes itself after a failed deploy."""


_ALLOWED = {
    Action.RESTORE: "going back to what {env} ran goes ahead during a freeze",
    Action.AUTOMATIC: "an automatic rollback after a failed deploy restores what ran",
}


def utc(moment: datetime) -> str:
    """``2026-12-27 09:00 UTC``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


@dataclass(frozen=True, kw_only=True)
class Freeze:
    """What keeps an environment from changing now: a recorded freeze, or a window of ``hoist.toml``."""

    environment: str
    kind: str
    """``freeze`` (a ledger record) or ``window`` (a scheduled window)."""
    until: datetime | None
    """When it ends (None: no end ahead — a freeze record without one, or no window that opens)."""
    reason: str | None = None
    actor: str | None = None
    since: datetime | None = None
    seq: int | None = None
    """The freeze record's sequence number in the ledger."""
    record: Digest | None = None
    """The freeze record's manifest digest."""
    window: str | None = None
    """The deny window (its rule as written), or for an environment outside every allow window, those."""
    local_until: str | None = None
    """``until`` on the window's own wall clock (``Mon 28 Dec 2026 08:00 CET``)."""

    @property
    def rule(self) -> str:
        return FREEZE_RULE if self.kind == "freeze" else WINDOW_RULE

    def describe(self, now: datetime) -> str:
        """``production is frozen until 2026-12-27 09:00 UTC (in 3d 4h) by alice since …: holidays (seq 12)``."""
        if self.until is None:
            until = "with no end ahead" if self.kind == "window" else "until lifted"
        else:
            local = f"{self.local_until} = " if self.local_until else ""
            until = f"until {local}{utc(self.until)} (in {span((self.until - now).total_seconds())})"
        if self.kind == "window":
            where = f"inside its deny window {self.window}" if self.reason is None else self.reason
            return f"{self.environment} is {where} {until}"
        since = f" since {utc(self.since)}" if self.since else ""
        who = f"by {self.actor or 'someone'}{since}"
        return f"{self.environment} is frozen {until} {who}: {self.reason} (seq {self.seq})"


def recorded(view: History, environment: str, now: datetime) -> Freeze | None:
    """The freeze in force in the ledger: the newest freeze record, not lifted and not yet over."""
    entry = view.last_freeze()
    if entry is None or entry.record.kind is not Kind.FREEZE:
        return None
    record = entry.record
    until = parse_time_or_none(str(record.details.get("until") or ""))
    if until is not None and until <= now:
        return None
    return Freeze(
        environment=environment,
        kind="freeze",
        until=until,
        reason=record.reason,
        actor=record.actor,
        since=record.moment,
        seq=record.seq,
        record=entry.manifest,
    )


def scheduled(env: Environment, now: datetime) -> Freeze | None:
    """The window closing ``env`` now, if any."""
    windows: Windows | None = env.windows
    closed = windows.closed(now) if windows else None
    if closed is None:
        return None
    rule = closed.rule
    zone_rule = rule or closed.allow[0]
    outside = None
    if rule is None:
        outside = f"outside its allowed windows ({', '.join(str(r) for r in closed.allow)})"
    return Freeze(
        environment=env.name,
        kind="window",
        until=closed.until,
        window=str(rule) if rule else ", ".join(str(r) for r in closed.allow),
        reason=outside,
        local_until=zone_rule.local(closed.until) if closed.until is not None else None,
    )


def in_force(env: Environment, view: History, now: datetime) -> list[Freeze]:
    """Every freeze keeping ``env`` from changing at ``now`` (a recorded one first)."""
    return [f for f in (recorded(view, env.name, now), scheduled(env, now)) if f is not None]


def timing_rules(ctx: Context, env: Environment, view: History, *, action: Action) -> list[GateResult]:
    """The ``freeze`` and ``window`` rules for ``action`` on ``env`` now (nothing when neither applies)."""
    now = ctx.now()
    results = []
    for found in in_force(env, view, now):
        detail = found.describe(now)
        allowed = action in _ALLOWED
        if allowed:
            detail += "; " + _ALLOWED[action].format(env=env.name)
        evidence = (str(found.record),) if found.record is not None else ()
        results.append(
            GateResult(gate=found.rule, passed=allowed, detail=detail, environment=env.name, evidence=evidence)
        )
    windows = env.windows
    if windows and not any(r.gate == WINDOW_RULE for r in results):
        closing = windows.next_closing(now)
        detail = "outside its deny windows" if not windows.allow else "inside an allowed window"
        detail += f" until {utc(closing)}" if closing is not None else ""
        results.append(GateResult(gate=WINDOW_RULE, passed=True, detail=detail, environment=env.name))
    return results


def restores(view: History, member: str | None, digest: Digest) -> bool:
    """A deploy of ``digest`` puts back what the environment ran: what it deployed last and served
    healthy, or what it was rolled back to."""
    last = view.last_deploy_of(member)
    if last is not None and last.record.healthy_deploy and last.record.digest_of(member) == digest:
        return True
    current = view.current_entry
    return current is not None and current.record.kind is Kind.ROLLBACK and current.record.digest_of(member) == digest


def deploy_decision(
    ctx: Context,
    env: Environment,
    view: History,
    digests: Mapping[str | None, Digest],
    *,
    override: Override | None,
) -> tuple[tuple[GateResult, ...], OverrideInfo | None]:
    """The freeze rules for a deploy of ``digests`` (per image; ``None`` for a single image); raises
    :class:`~hoist.errors.GateRefused` when they refuse and ``override`` does not cover them."""
    action = Action.RESTORE if all(restores(view, m, d) for m, d in digests.items()) else Action.CHANGE
    results = timing_rules(ctx, env, view, action=action)
    listing = ", ".join(f"{m}@{d.short}" if m else str(d) for m, d in digests.items())
    return decide(
        results,
        override=override,
        what=f"deploy of {listing} to {env.name}",
        subject=next(iter(digests.values()), None),
    )
