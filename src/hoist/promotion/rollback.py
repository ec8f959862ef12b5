"""Roll an environment back to an earlier promoted digest: a same-repository retag, recorded.

Without ``to`` the target is the digest promoted before the current one, with "undo" semantics: after
A, B, C and a rollback to B, the next rollback goes to A. ``to`` may name a sequence number or a digest
the environment has had; a digest it never had is refused by the ``promoted`` rule unless overridden.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hoist.digest import Digest
from hoist.errors import InputError, InvalidDigest, NotFound, OperationError
from hoist.promotion.config import Environment
from hoist.promotion.context import Context
from hoist.promotion.history import new_record
from hoist.promotion.ledger import Ledger, View
from hoist.promotion.publish import FollowUp, Publish
from hoist.promotion.record import GateResult, Kind, OverrideInfo, Record, Source
from hoist.promotion.rules import Override, decide
from hoist.ref import Reference
from hoist.timing import Timer

HISTORY_SCAN = 500
"""How many records a rollback to a named sequence or digest reads back when the head does not hold it."""


@dataclass(kw_only=True)
class RollbackResult:
    environment: str
    reference: Reference
    digest: Digest
    previous_digest: Digest | None
    seq: int | None = None
    target_seq: int | None = None
    noop: bool = False
    dry_run: bool = False
    tags: tuple[str, ...] = ()
    record: Digest | None = None
    reason: str | None = None
    forced: bool = False
    automatic: bool = False
    override: OverrideInfo | None = None
    gates: tuple[GateResult, ...] = ()
    follow_ups_failed: tuple[FollowUp, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)


def static_tags(env: Environment) -> list[str]:
    """Extra tags that name no per-image field (such as ``latest``): they move back on a rollback."""
    return [t for t in env.tags if "{" not in t]


def parse_target(text: str) -> int | Digest:
    """A rollback target as given on a command line: a sequence number or a digest."""
    if text.isdigit():
        return int(text)
    try:
        return Digest.parse(text)
    except InvalidDigest as exc:
        raise InputError(f"rollback target {text!r}: expected a sequence number or a digest (sha256:…)") from exc


def _choose(ledger: Ledger, view: View, env: Environment, to: int | Digest | None) -> tuple[Digest, int | None]:
    """The digest to roll back to and the sequence number of the record that set it (None: never set)."""
    if view.head is None:
        raise InputError(f"{env.name} has no ledger yet: nothing to roll back to (promote something first)")
    if to is None:
        target = view.rollback_target
        if target is None:
            raise InputError(f"{env.name} has no earlier promoted image to roll back to")
        return target.digest, target.seq
    found = view.promoted_at(to) if isinstance(to, int) else view.promoted(to)
    if found is None:  # look past what the head holds
        older = ledger.history(HISTORY_SCAN, view=view)
        history = View(tuple(older), view.pinned)
        found = history.promoted_at(to) if isinstance(to, int) else history.promoted(to)
    if found is not None:
        return found.record.digest, found.record.seq
    if isinstance(to, int):
        raise InputError(f"{env.name} has no promotion or rollback with sequence {to}")
    return to, None


def rollback(
    ctx: Context,
    name: str,
    *,
    to: int | Digest | None = None,
    reason: str | None = None,
    override: Override | None = None,
    force: bool = False,
    dry_run: bool = False,
    automatic: bool = False,
    details: Mapping[str, Any] | None = None,
) -> RollbackResult:
    """Roll ``name`` back; ``automatic`` (a deploy that failed its health checks) may go to any digest the
    environment served, and is recorded as such."""
    timer = Timer()
    env = ctx.environment(name)
    store = ctx.open(env.image, push=not dry_run)
    ledger = Ledger(store, env.name)
    reason = reason if reason is not None else (override.reason if override is not None else None)
    with timer.stage("resolve"):
        view = ledger.read()
        digest, target_seq = _choose(ledger, view, env, to)
        rules: list[GateResult] = []
        if target_seq is None and not automatic:
            detail = f"{env.name} never had {digest}"
            rules.append(GateResult(gate="promoted", passed=False, detail=detail, environment=env.name))
        what = f"rollback of {env.name} to {digest}"
        gates, overridden = decide(rules, override=override, what=what, subject=digest)
        try:
            manifest = store.get_manifest(digest)
        except NotFound as exc:
            raise OperationError(
                f"cannot roll {env.name} back to {digest}: it no longer exists in {store.location} "
                "(pruned or garbage-collected)"
            ) from exc
    tags = (env.tag, *[t for t in static_tags(env) if t != env.tag])
    result = RollbackResult(
        environment=env.name,
        reference=env.image,
        digest=digest,
        previous_digest=view.current,
        target_seq=target_seq,
        dry_run=dry_run,
        tags=tags,
        reason=reason,
        forced=force,
        automatic=automatic,
        override=overridden,
        gates=gates,
    )
    if digest == view.current and not force:
        current = store.head_manifest(env.tag)
        if current is not None and current.digest == digest:
            result.noop = True
            return result
    if dry_run:
        return result

    def build(latest: View) -> Record:
        return new_record(
            latest,
            kind=Kind.ROLLBACK,
            environment=env.name,
            subject=manifest.descriptor,
            provenance=ctx.provenance(),
            source=Source(environment=env.name, seq=target_seq) if target_seq else None,
            tags=tags,
            reason=reason,
            forced=force,
            override=overridden,
            gates=gates,
            timings=dict(timer.stages),
            details={**(details or {}), **({"automatic": True} if automatic else {})},
        )

    publish = Publish(ledger, manifest, tags, jobs=ctx.jobs, timer=timer)
    publish.start(build, view)
    published = publish.finish()
    result.seq = published.appended.entry.record.seq
    result.record = published.appended.entry.manifest
    result.follow_ups_failed = published.failed
    result.timings = timer.summary()
    ctx.announce(
        "rollback",
        env.name,
        digest=str(digest),
        previous_digest=str(view.current) if view.current else None,
        seq=result.seq,
        reason=reason,
        automatic=automatic,
        image=f"{env.image.name}@{digest}",
    )
    return result
