"""Promote: the digest one environment has, copied by digest to the next, tagged, verified and recorded.

A :class:`Promotion` runs in four explicit steps, each only after the one before succeeded:

1. :meth:`~Promotion.plan` — resolve FROM's tags to digests once, render the tag templates, evaluate TO's
   gates and rules for every image (a refusal raises :class:`~hoist.errors.GateRefused` and nothing has
   changed), load the signing key, and see whether TO has the digests already;
2. :meth:`~Promotion.copy` — every image by digest into TO's repositories and mirrors (no tags), its
   evidence along with it, and signed there when TO's ``sign_with`` says so;
3. :meth:`~Promotion.record` — one ledger record for the whole environment as TO's new head, and every
   image's tags (and mirrors' tags) moved while it settles;
4. :meth:`~Promotion.confirm` — the record confirmed against racing writers, the tags read back. When an
   image's tags could not be moved, the ones that moved are put back and the ledger records the undo.

An environment may hold several images (``images = {...}``): they move together, or not at all.
``release`` does its own work (verify, start the deploy) between ``record`` and ``confirm``.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hoist.digest import Digest
from hoist.errors import HoistError, InputError, OperationError, Remedy
from hoist.ops.carry import Carried, Found
from hoist.ops.copy import CopyResult
from hoist.promotion.config import Environment, Member
from hoist.promotion.context import Context
from hoist.promotion.frozen import Action, timing_rules
from hoist.promotion.history import new_record
from hoist.promotion.ledger import View
from hoist.promotion.moving import MemberMove, copy_member, plan_member, put_back, same_labels
from hoist.promotion.publish import FollowUp, Publish
from hoist.promotion.record import GateResult, Kind, OverrideInfo, Record, Source
from hoist.promotion.rules import Override, decide
from hoist.ref import Reference
from hoist.timing import Timer

if TYPE_CHECKING:
    from hoist.evidence.carried import EvidenceCheck
    from hoist.evidence.keys import PrivateKey


@dataclass(frozen=True, kw_only=True)
class MemberPlan:
    name: str
    reference: Reference
    digest: Digest
    previous: Digest | None
    tags: tuple[str, ...]
    history_tag: str
    noop: bool


@dataclass(frozen=True, kw_only=True)
class PromotionPlan:
    """What a promotion will do, decided before anything changes."""

    source: Environment
    target: Environment
    digest: Digest
    """The primary image's digest (the only one of a single-image environment)."""
    previous: Digest | None
    """TO's digest before the promotion."""
    seq: int
    """The sequence number the record will have (another writer may take it first)."""
    tags: tuple[str, ...]
    history_tag: str
    gates: tuple[GateResult, ...]
    override: OverrideInfo | None
    noop: bool
    """TO has every digest already (and ``force`` was not given): nothing to do."""
    members: tuple[MemberPlan, ...] = ()
    """Each image that moves (all of them, or those ``only`` names)."""


@dataclass(kw_only=True)
class MemberResult:
    name: str
    reference: Reference
    digest: Digest
    previous_digest: Digest | None
    tags: tuple[str, ...] = ()
    history_tag: str | None = None
    copy: CopyResult | None = None
    evidence: Carried | None = None
    signature: str | None = None


@dataclass(kw_only=True)
class MirrorResult:
    member: str
    reference: Reference
    digest: Digest
    error: str | None = None
    """Why the mirror is behind (None: it holds the digest and its tags moved)."""


@dataclass(kw_only=True)
class PromoteResult:
    source: Reference
    environment: str
    reference: Reference
    digest: Digest
    previous_digest: Digest | None
    noop: bool = False
    dry_run: bool = False
    seq: int | None = None
    tags: tuple[str, ...] = ()
    history_tag: str | None = None
    record: Digest | None = None
    copy: CopyResult | None = None
    gates: tuple[GateResult, ...] = ()
    forced: bool = False
    override: OverrideInfo | None = None
    reason: str | None = None
    evidence: Carried | None = None
    evidence_check: EvidenceCheck | None = None
    """The carried evidence, checked in FROM's repository and again in TO's (None when nothing was carried)."""
    signature: str | None = None
    members: tuple[MemberResult, ...] = ()
    """Each image moved (for an environment of several images; one entry otherwise)."""
    only: tuple[str, ...] = ()
    mirrors: tuple[MirrorResult, ...] = ()
    follow_ups_failed: tuple[FollowUp, ...] = ()
    """Steps after the tags moved that did not complete (the promotion stands; the next run repairs)."""
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def mirrors_behind(self) -> tuple[MirrorResult, ...]:
        """Mirrors that did not get the promoted digest (``hoist sync`` brings them level)."""
        return tuple(m for m in self.mirrors if m.error is not None)


_STEPS = ("plan", "copy", "record", "confirm")


class Promotion:
    """One promotion of FROM's digests to TO, step by step (see the module docstring); :meth:`run` runs all."""

    def __init__(
        self,
        ctx: Context,
        source: str,
        target: str,
        *,
        digest: Digest | None = None,
        only: Sequence[str] | None = None,
        reason: str | None = None,
        override: Override | None = None,
        force: bool = False,
        dry_run: bool = False,
        referrers: bool = True,
    ) -> None:
        self.ctx = ctx
        self.source_env, self.target_env = _route(ctx, source, target, force=force)
        self.only = _only(self.target_env, only)
        if digest is not None and len(self.moving) != 1:
            raise InputError(f"{target} holds several images: name the one the digest is for (only)")
        self.digest = digest
        self.reason = reason if reason is not None else (override.reason if override is not None else None)
        self.override = override
        self.force = force
        self.dry_run = dry_run
        self.referrers = referrers
        self.timer = Timer()
        self._done: list[str] = []
        self._plan: PromotionPlan | None = None
        self._moves: list[MemberMove] = []
        self._view: View | None = None
        self._signer: PrivateKey | None = None
        self._publish: Publish | None = None
        self.store = ctx.open(self.target_env.image, push=not dry_run, absent_ok=dry_run)
        self.ledger = ctx.ledger(self.target_env, push=not dry_run, absent_ok=dry_run)
        self.result = PromoteResult(
            source=self.source_env.image,
            environment=self.target_env.name,
            reference=self.target_env.image,
            digest=digest or Digest("sha256", "0" * 64),
            previous_digest=None,
            dry_run=dry_run,
            forced=force,
            reason=self.reason,
            only=self.only,
        )

    @property
    def moving(self) -> list[Member]:
        names = self.only or tuple(self.target_env.member_names)
        return [m for m in self.target_env.members if m.name in names]

    def _step(self, name: str) -> bool:
        """Enter step ``name``; False when the plan says there is nothing (more) to do."""
        expected = _STEPS[len(self._done)] if len(self._done) < len(_STEPS) else None
        if name != expected:
            raise InputError(f"promotion steps run in order ({', '.join(_STEPS)}); next is {expected or 'none'}")
        self._done.append(name)
        return name == "plan" or (self._plan is not None and not self._plan.noop)

    # -- 1. plan -------------------------------------------------------------------------------------

    def plan(self) -> PromotionPlan:
        self._step("plan")
        ctx, source, target = self.ctx, self.source_env, self.target_env
        with ThreadPoolExecutor(max_workers=4, thread_name_prefix="hoist-plan") as pool:
            reading = pool.submit(self.ledger.read)  # goes out with the sources' GETs
            with self.timer.stage("resolve"):
                moves = list(pool.map(lambda m: plan_member(ctx, source, target, m, self.digest, self.dry_run),
                                      self.moving))  # fmt: skip
                view = reading.result()
                state = view.current_members
                for move in moves:
                    move.previous = state[move.member.name].digest if state and move.member.name in state else (
                        view.current if not target.is_set else None)  # fmt: skip
                list(pool.map(MemberMove.read_tag, [m for m in moves if m.tag_needed]))
            for move in moves:
                move.render(ctx, view.next_seq)  # an unknown template value stops us before any change
            if target.gates.sign_with is not None and not self.dry_run:
                self._signer = ctx.private_key(target.gates.sign_with)
            with self.timer.stage("gates"):
                frozen = timing_rules(ctx, target, view, action=Action.CHANGE)  # freezes and windows first
                results = [*frozen, *self._rules(moves, pool)]
                digest = moves[0].digest if moves else view.current
                what = f"promotion of {_describe(moves)} to {target.name}"
                gates, override = decide(results, override=self.override, what=what, subject=digest)
        if not self.dry_run:
            self.ledger.check_head(view)  # before anything moves: the record would vouch for the head
        noop = not self.force and all(m.already_there for m in moves)
        self._moves, self._view = moves, view
        primary = moves[0]
        self._plan = PromotionPlan(
            source=source,
            target=target,
            digest=primary.digest,
            previous=view.current,
            seq=view.next_seq,
            tags=primary.tags,
            history_tag=primary.history_tag,
            gates=gates,
            override=override,
            noop=noop,
            members=tuple(m.plan() for m in moves),
        )
        result = self.result
        result.digest, result.previous_digest, result.gates, result.override = (
            primary.digest,
            view.current,
            gates,
            override,
        )
        result.noop = noop
        result.seq = view.current_seq if noop else view.next_seq
        if not noop:
            result.tags, result.history_tag = primary.tags, primary.history_tag
        return self._plan

    def _rules(self, moves: list[MemberMove], pool: ThreadPoolExecutor) -> list[GateResult]:
        """Every gate for every image, and the ``same`` rule across them."""
        from hoist.promotion.gates import Gates

        target = self.target_env
        results: list[GateResult] = []
        if target.gates.require:
            each = pool.map(
                lambda m: Gates(
                    self.ctx, self.source_env, target, member=m.member.name if target.is_set else None
                ).evaluate(m.digest),
                moves,
            )
            results = [r for found in each for r in found]
        if target.same and len(moves) > 1:
            results += same_labels(moves, target)
        return results

    # -- 2. copy -------------------------------------------------------------------------------------

    def copy(self) -> CopyResult | None:
        if not self._step("copy"):
            return None
        carry = self.referrers and not self.dry_run
        with self.timer.stage("copy"), ThreadPoolExecutor(max_workers=max(1, len(self._moves))) as pool:
            list(pool.map(lambda m: copy_member(self.ctx, m, dry_run=self.dry_run, carry=carry), self._moves))
        for move in self._moves:
            if move.found is not None:  # carried to another repository: read back there and checked again
                check = self._check_carried(move, move.found)
                if move is self._moves[0]:
                    self.result.evidence_check = check
        if self._signer is not None:
            from hoist.evidence.sign import sign_image

            with self.timer.stage("sign"):  # before the tags move: TO's tags never name an unsigned digest
                for move in self._moves:
                    move.signature = sign_image(move.store, move.manifest.descriptor, self._signer)[0]
        primary = self._moves[0]
        self.result.copy, self.result.evidence, self.result.signature = (
            primary.copy,
            primary.evidence,
            primary.signature,
        )
        return primary.copy

    def _check_carried(self, move: MemberMove, found: Found) -> EvidenceCheck:
        """The evidence read back in TO's repository and checked again (raises before any tag moves)."""
        if found.empty:  # nothing carried, nothing to check (and the key code stays unloaded)
            from hoist.evidence.carried import EvidenceCheck

            return EvidenceCheck(digest=move.digest, destination=str(move.store.location))
        from hoist.promotion.carried_check import check_carried

        with self.timer.stage("evidence"):
            return check_carried(
                self.ctx,
                source=move.source_store,
                destination=move.store,
                target=self.target_env,
                digest=move.digest,
                found=found,
            )

    # -- 3. record -----------------------------------------------------------------------------------

    def record(self) -> None:
        if not self._step("record") or self.dry_run:
            return
        assert self._view is not None
        tagsets = [t for move in self._moves for t in move.tagsets(self.target_env.is_set)]
        self._publish = Publish(self.ledger, tagsets, jobs=self.ctx.jobs, timer=self.timer)
        self._publish.start(self._build, self._view)

    def _build(self, view: View) -> Record:
        plan = self._plan
        assert plan is not None
        for move in self._moves:
            move.render(self.ctx, view.next_seq)
        primary = self._moves[0]
        target = self.target_env
        members = None
        if target.is_set:
            state = dict(view.current_members or {})
            for move in self._moves:
                state[move.member.name] = move.state()
            members = {m.name: state[m.name] for m in target.members if m.name in state}
        subject = primary.manifest.descriptor
        if target.is_set and target.members[0].name not in {m.member.name for m in self._moves} and members:
            first = members[target.members[0].name]  # the primary image did not move: the record is still about it
            subject = first.descriptor()
        return new_record(
            view,
            kind=Kind.PROMOTE,
            environment=target.name,
            subject=subject,
            provenance=self.ctx.provenance(),
            source=Source(environment=plan.source.name, reference=str(plan.source.image), digest=primary.digest),
            tags=primary.tags,
            history_tag=primary.history_tag if subject.digest == primary.digest else None,
            reason=self.reason,
            forced=self.force,
            override=plan.override,
            gates=plan.gates,
            timings=dict(self.timer.stages),
            members=members,
            only=self.only,
            mirrors={str(mirror.reference): mirror.outcome for move in self._moves for mirror in move.mirrors},
        )

    # -- 4. confirm ----------------------------------------------------------------------------------

    def confirm(self) -> PromoteResult:
        proceed = self._step("confirm")
        result = self.result
        if proceed and self._publish is not None:
            published = self._publish.finish()
            if published.move_errors:
                self._undo(published.appended.entry.record, published.move_errors)
            record = published.appended.entry.record
            result.seq, result.tags, result.history_tag = record.seq, record.tags, record.history_tag
            result.record = published.appended.entry.manifest
            result.follow_ups_failed = published.failed
            result.mirrors = tuple(
                mirror.result(published.mirror_errors) for move in self._moves for mirror in move.mirrors
            )
            self._announce(record)
        elif proceed and self.dry_run and self._plan is not None:
            result.seq = self._plan.seq
        result.members = tuple(m.result() for m in self._moves)
        result.timings = self.timer.summary()
        return result

    def _undo(self, record: Record, errors: dict[str, HoistError]) -> None:
        """An image's tags could not be moved: put back every tag that moved, record the undo, and fail."""
        assert self._view is not None
        restored = put_back([move.placed() for move in self._moves])
        failed = "; ".join(f"{where}: {error}" for where, error in errors.items())
        reason = f"automatic: moving the tags failed ({failed}); seq {record.seq} undone"
        view = self._view

        def build(latest: View) -> Record:
            before = view.head.record if view.head is not None else None
            digest = before.current if before is not None else record.digest
            found = [m.manifest for m in self._moves if m.manifest.digest == digest]
            subject = found[0].descriptor if found else self.store.head_manifest(digest)
            assert subject is not None
            return new_record(
                latest,
                kind=Kind.ROLLBACK,
                environment=self.target_env.name,
                subject=subject,
                provenance=self.ctx.provenance(),
                reason=reason,
                members=view.current_members,
                details={"automatic": True, "undone": record.seq, "restored": restored},
            )

        try:
            undo = self.ledger.append(build) if view.head is not None else None
        except HoistError as exc:
            raise OperationError(
                f"{failed}; the tags that moved were put back, but recording it failed: {exc}"
            ) from exc
        where = f" (seq {undo.entry.record.seq})" if undo is not None else ""
        raise OperationError(f"{failed}; every tag that moved was put back and the ledger records the undo{where}")

    def _announce(self, record: Record) -> None:
        result = self.result
        self.ctx.announce(
            "promote",
            result.environment,
            digest=str(result.digest),
            previous_digest=str(result.previous_digest) if result.previous_digest else None,
            seq=record.seq,
            reason=result.reason,
            source=self.source_env.name,
            image=f"{self.target_env.image.name}@{result.digest}",
            details={"members": {m.member.name: str(m.digest) for m in self._moves}} if self.target_env.is_set else {},
        )

    def abandon(self) -> None:
        """Release what a promotion stopped between its steps holds (a caller that failed midway)."""
        if self._publish is not None:
            self._publish.abandon()

    def run(self) -> PromoteResult:
        """All four steps."""
        self.plan()
        self.copy()
        self.record()
        return self.confirm()


def _route(ctx: Context, source: str, target: str, *, force: bool) -> tuple[Environment, Environment]:
    source_env = ctx.environment(source)
    target_env = ctx.environment(target)
    if target_env.source is not None and target_env.source != source and not force:
        raise InputError(
            f"{target} promotes from {target_env.source} (its 'from' in {ctx.config.path}), not {source}",
            remedy=Remedy.FORCE,
        )
    if source == target:
        raise InputError(f"cannot promote {source} to itself")
    if sorted(source_env.member_names) != sorted(target_env.member_names) and (source_env.is_set or target_env.is_set):
        raise InputError(f"{source} and {target} hold different images: a set promotes to a set of the same images")
    return source_env, target_env


def _only(env: Environment, only: Sequence[str] | None) -> tuple[str, ...]:
    if not only:
        return ()
    for name in only:
        env.member(name)  # a name the environment does not have is bad input
    return tuple(name for name in env.member_names if name in only)


def _describe(moves: list[MemberMove]) -> str:
    if len(moves) == 1 and moves[0].single:
        return str(moves[0].digest)
    return ", ".join(f"{m.member.name}@{m.digest.short}" for m in moves)
