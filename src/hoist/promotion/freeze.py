"""``freeze`` and ``unfreeze``: record in an environment's ledger that changes stop until a time (who,
when, why), or that they may go on again, and tell the webhooks. What a freeze stops, and what it lets
through, is :mod:`hoist.promotion.frozen`'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from hoist.clock import format_time
from hoist.digest import Digest
from hoist.errors import InputError
from hoist.manifest import Descriptor
from hoist.promotion.config import Environment
from hoist.promotion.context import Context
from hoist.promotion.frozen import Freeze, recorded, scheduled, utc
from hoist.promotion.history import new_record
from hoist.promotion.ledger import Ledger, View, subject_of
from hoist.promotion.record import Kind, Record
from hoist.store.base import Store


@dataclass(kw_only=True)
class FreezeResult:
    environment: str
    kind: Kind
    """``freeze`` or ``unfreeze``."""
    seq: int
    record: Digest
    reason: str
    actor: str
    time: datetime
    until: datetime | None = None
    replaced: Freeze | None = None
    """The freeze in force before: a new freeze replaces it, an unfreeze lifts it."""
    windows: Freeze | None = None
    """A window of hoist.toml that keeps the environment closed anyway."""


def _subject(store: Store, env: Environment, view: View) -> Descriptor:
    """What a freeze record is about: the image the environment has."""
    if view.current is not None:
        return subject_of(store, view, view.current)
    found = store.head_manifest(env.tag)
    if found is None:
        raise InputError(
            f"{env.name} has no image yet ({env.image} does not exist): a freeze is recorded in the ledger "
            "beside the image an environment has; promote or push one first"
        )
    return found


def _write(
    ctx: Context, env: Environment, ledger: Ledger, view: View, *, kind: Kind, reason: str, details: dict[str, object]
) -> tuple[Record, Digest]:
    subject = _subject(ledger.store, env, view)

    def build(latest: View) -> Record:
        return new_record(
            latest,
            kind=kind,
            environment=env.name,
            subject=subject,
            provenance=ctx.provenance(),
            reason=reason,
            details=details,
        )

    appended = ledger.append(build, view=view)
    return appended.entry.record, appended.entry.manifest


def _reason(reason: str | None, what: str) -> str:
    if reason is None or not reason.strip():
        raise InputError(f"{what} needs a reason: the ledger keeps it")
    return reason.strip()


def freeze(ctx: Context, name: str, *, until: datetime, reason: str | None) -> FreezeResult:
    """Freeze ``name`` until ``until`` (replacing a freeze in force), record it and announce it."""
    env = ctx.environment(name)
    text = _reason(reason, "a freeze")
    now = ctx.now()
    end = until.replace(tzinfo=UTC) if until.tzinfo is None else until.astimezone(UTC)
    if end <= now:
        raise InputError(f"a freeze until {utc(end)} would be over already (it is {utc(now)})")
    ledger = ctx.ledger(env)
    view = ledger.read()
    before = recorded(view, env.name, now)
    until_text = format_time(end)
    record, manifest = _write(ctx, env, ledger, view, kind=Kind.FREEZE, reason=text, details={"until": until_text})
    ctx.announce("freeze", env.name, seq=record.seq, reason=text, until=until_text)
    return FreezeResult(environment=env.name, kind=Kind.FREEZE, seq=record.seq, record=manifest, reason=text,
                        actor=record.actor, time=now, until=end, replaced=before)  # fmt: skip


def unfreeze(ctx: Context, name: str, *, reason: str | None) -> FreezeResult:
    """Lift the freeze in force on ``name`` before its end, record it and announce it."""
    env = ctx.environment(name)
    text = _reason(reason, "an unfreeze")
    now = ctx.now()
    ledger = ctx.ledger(env)
    view = ledger.read()
    active = recorded(view, env.name, now)
    window = scheduled(env, now)
    if active is None:
        also = ""
        if window is not None:
            also = f"; {window.describe(now)}, which is hoist.toml's to change (or override the window rule)"
        raise InputError(f"{env.name} has no freeze in force to lift{also}")
    record, manifest = _write(ctx, env, ledger, view, kind=Kind.UNFREEZE, reason=text, details={"lifted": active.seq})
    ctx.announce("unfreeze", env.name, seq=record.seq, reason=text)
    return FreezeResult(environment=env.name, kind=Kind.UNFREEZE, seq=record.seq, record=manifest, reason=text,
                        actor=record.actor, time=now, replaced=active, windows=window)  # fmt: skip
