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
from hoist.manifest import Manifest
from hoist.promotion.config import Environment
from hoist.promotion.context import Context
from hoist.promotion.frozen import Action, timing_rules
from hoist.promotion.history import new_record
from hoist.promotion.ledger import Ledger, View
from hoist.promotion.moving import Placed, put_back, tag_needed
from hoist.promotion.publish import FollowUp, Publish, TagSet
from hoist.promotion.record import GateResult, Kind, MemberState, OverrideInfo, Record, Source, StackItem
from hoist.promotion.rules import Override, decide
from hoist.ref import Reference
from hoist.store.base import Store
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
    mirrors_failed: dict[str, str] = field(default_factory=dict)
    """Mirrors whose tags could not be moved back."""
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


def _choose(ledger: Ledger, view: View, env: Environment, to: int | Digest | None) -> tuple[StackItem, bool]:
    """The state to roll back to, and whether the environment had it (a record set it)."""
    if view.head is None:
        raise InputError(f"{env.name} has no ledger yet: nothing to roll back to (promote something first)")
    if to is None:
        target = view.rollback_target
        if target is None:
            raise InputError(f"{env.name} has no earlier promoted image to roll back to")
        return target, True
    if isinstance(to, Digest) and env.is_set:
        raise InputError(f"{env.name} holds several images: roll back to a sequence number, not a digest")
    found = view.promoted_at(to) if isinstance(to, int) else view.promoted(to)
    if found is None:  # look past what the head holds (for a sequence number, no further back than it)
        until = (lambda record: record.seq <= to) if isinstance(to, int) else None
        older = ledger.history(HISTORY_SCAN, view=view, until=until)
        history = View(tuple(older), view.pinned, trust=view.trust)
        found = history.promoted_at(to) if isinstance(to, int) else history.promoted(to)
    if found is not None:
        record = found.record
        members = {n: m.digest for n, m in record.members.items()} if record.members is not None else None
        return StackItem(digest=record.digest, seq=record.seq, history_tag=record.history_tag, members=members), True
    if isinstance(to, int):
        raise InputError(f"{env.name} has no promotion or rollback with sequence {to}")
    return StackItem(digest=to, seq=0), False


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
    """Roll ``name`` back (every image of a set together); ``automatic`` (a deploy that failed its health
    checks) may go to any digest the environment served, and is recorded as such."""
    timer = Timer()
    env = ctx.environment(name)
    ledger = ctx.ledger(env, push=not dry_run)
    reason = reason if reason is not None else (override.reason if override is not None else None)
    with timer.stage("resolve"):
        view = ledger.read()
        ledger.check_head(view)  # the rollback target comes from the head: only a trusted one will do
        target, known = _choose(ledger, view, env, to)
        rules: list[GateResult] = []
        if not known and not automatic:
            detail = f"{env.name} never had {target.digest}"
            rules.append(GateResult(gate="promoted", passed=False, detail=detail, environment=env.name))
        action = Action.AUTOMATIC if automatic else Action.RESTORE if known else Action.CHANGE
        rules += timing_rules(ctx, env, view, action=action)
        what = f"rollback of {env.name} to {target.digest}"
        gates, overridden = decide(rules, override=override, what=what, subject=target.digest)
        moves = _moves(ctx, env, target, view.current, dry_run=dry_run)
    primary = moves[0]
    result = RollbackResult(
        environment=env.name,
        reference=env.image,
        digest=target.digest,
        previous_digest=view.current,
        target_seq=target.seq or None,
        dry_run=dry_run,
        tags=primary.tags,
        reason=reason,
        forced=force,
        automatic=automatic,
        override=overridden,
        gates=gates,
    )
    there = all(m.before == m.manifest.digest for m in moves)
    if not force and there and (env.is_set or target.digest == view.current):
        result.noop = True
        return result
    if dry_run:
        return result
    state = {m.member: m.state() for m in moves} if env.is_set else None

    def build(latest: View) -> Record:
        return new_record(
            latest,
            kind=Kind.ROLLBACK,
            environment=env.name,
            subject=primary.manifest.descriptor,
            provenance=ctx.provenance(),
            source=Source(environment=env.name, seq=target.seq) if target.seq else None,
            tags=primary.tags,
            reason=reason,
            forced=force,
            override=overridden,
            gates=gates,
            timings=dict(timer.stages),
            members=state,
            details={**(details or {}), **({"automatic": True} if automatic else {})},
        )

    tagsets = [t for m in moves for t in m.tagsets(env.is_set)]
    publish = Publish(ledger, tagsets, jobs=ctx.jobs, timer=timer)
    publish.start(build, view)
    published = publish.finish()
    if published.move_errors:
        restored = put_back([m.placed() for m in moves])
        failed = "; ".join(f"{where}: {error}" for where, error in published.move_errors.items())
        raise OperationError(
            f"rollback of {env.name}: {failed}; the tags that moved were put back ({restored}); "
            f"the ledger's seq {published.appended.entry.record.seq} names a rollback that did not complete"
        )
    result.seq = published.appended.entry.record.seq
    result.record = published.appended.entry.manifest
    result.follow_ups_failed = published.failed
    result.mirrors_failed = published.mirror_errors
    result.timings = timer.summary()
    ctx.announce(
        "rollback",
        env.name,
        digest=str(target.digest),
        previous_digest=str(view.current) if view.current else None,
        seq=result.seq,
        reason=reason,
        automatic=automatic,
        image=f"{env.image.name}@{target.digest}",
    )
    return result


@dataclass
class _Back:
    """One image going back: where, to which manifest, which tags, and what they name now."""

    member: str
    env: Environment
    store: Store
    manifest: Manifest
    tags: tuple[str, ...]
    before: Digest | None
    """What the tag names now: read from the registry, or the ledger's digest when that differs from the
    target (the tag is moving anyway; it is what the tags are put back to if moving them fails)."""
    mirrors: list[tuple[Store, tuple[str, ...]]]

    def state(self) -> MemberState:
        image = self.env.member(self.member).image
        return MemberState(
            reference=image.name,
            digest=self.manifest.digest,
            media_type=self.manifest.media_type,
            size=len(self.manifest.raw),
        )

    def placed(self) -> Placed:
        return Placed(
            store=self.store,
            digest=self.manifest.digest,
            tags=self.tags,
            before=self.before,
        )

    def tagsets(self, is_set: bool) -> list[TagSet]:
        name = self.member if is_set else None
        own = [TagSet(store=self.store, image=self.manifest, tags=self.tags, member=name)]
        return own + [
            TagSet(store=store, image=self.manifest, tags=tags, member=name, mirror=True)
            for store, tags in self.mirrors
        ]


def _moves(ctx: Context, env: Environment, target: StackItem, current: Digest | None, *, dry_run: bool) -> list[_Back]:
    """Each image's way back: its manifest (it must still exist), its tags, what they name now. A single
    image's tag is read only when the ledger's ``current`` digest cannot say (none yet, or the target
    itself: is the rollback a no-op?), as a promotion does."""
    moves = []
    for member in env.members:
        digest = target.members.get(member.name) if target.members is not None else target.digest
        if digest is None:
            continue  # a member the target state did not have (added to the set later): left as it is
        store = ctx.open(member.image, push=not dry_run)
        try:
            manifest = store.get_manifest(digest)
        except NotFound as exc:
            raise OperationError(
                f"cannot roll {env.name} back to {digest}: it no longer exists in {store.location} "
                "(pruned or garbage-collected)"
            ) from exc
        extra = [t for t in static_tags(env) if t != member.tag]
        tags = (member.tag, *extra)
        mirrors = [
            (ctx.open(m, push=not dry_run), tuple(dict.fromkeys([m.tag, *extra] if m.tag else extra)))
            for m in member.mirrors
        ]
        if env.is_set or tag_needed(current, digest):
            at_tag = store.head_manifest(member.tag)
            before = at_tag.digest if at_tag is not None else None
        else:
            before = current
        moves.append(_Back(member.name, env, store, manifest, tags, before, mirrors))
    return moves
