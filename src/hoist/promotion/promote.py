"""Promote: the digest one environment has, copied by digest to the next, tagged, verified and recorded.

A :class:`Promotion` runs in four explicit steps, each only after the one before succeeded:

1. :meth:`~Promotion.plan` — resolve FROM's tag to a digest once, render the tag templates, evaluate TO's
   gates (a refusal raises :class:`~hoist.errors.GateRefused` and nothing has changed), load the signing
   key, and see whether TO has the digest already;
2. :meth:`~Promotion.copy` — the image by digest into TO's repository (no tags), its evidence along with
   it, and signed there when TO's ``sign_with`` says so;
3. :meth:`~Promotion.record` — the ledger record as TO's new head, and TO's tags moved while it settles
   (with the history tag and the referrers listing);
4. :meth:`~Promotion.confirm` — the record confirmed against racing writers, the tags read back.

``release`` does its own work (verify, start the deploy) between ``record`` and ``confirm``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hoist.digest import Digest
from hoist.errors import InputError, NotFound, Remedy
from hoist.evidence.keys import PrivateKey
from hoist.manifest import Manifest
from hoist.ops.carry import Carried, Found, carry_evidence, find_evidence
from hoist.ops.copy import CopyOptions, CopyResult, copy_image
from hoist.ops.resolve import resolve
from hoist.promotion.config import Environment
from hoist.promotion.context import Context
from hoist.promotion.gates import Gates
from hoist.promotion.history import new_record
from hoist.promotion.ledger import Ledger, View
from hoist.promotion.publish import FollowUp, Publish
from hoist.promotion.record import GateResult, Kind, OverrideInfo, Record, Source
from hoist.promotion.rules import Override, decide
from hoist.promotion.templates import TemplateContext, render_tag
from hoist.ref import Reference
from hoist.store.base import Store
from hoist.timing import Timer

if TYPE_CHECKING:
    from hoist.evidence.reverify import EvidenceCheck


@dataclass(frozen=True, kw_only=True)
class PromotionPlan:
    """What a promotion will do, decided before anything changes."""

    source: Environment
    target: Environment
    digest: Digest
    previous: Digest | None
    """TO's digest before the promotion."""
    seq: int
    """The sequence number the record will have (another writer may take it first)."""
    tags: tuple[str, ...]
    history_tag: str
    gates: tuple[GateResult, ...]
    override: OverrideInfo | None
    noop: bool
    """TO has the digest already (and ``force`` was not given): nothing to do."""


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
    follow_ups_failed: tuple[FollowUp, ...] = ()
    """Steps after the tags moved that did not complete (the promotion stands; the next run repairs)."""
    timings: dict[str, float] = field(default_factory=dict)


_STEPS = ("plan", "copy", "record", "confirm")


class Promotion:
    """One promotion of FROM's digest to TO, step by step (see the module docstring); :meth:`run` runs all."""

    def __init__(
        self,
        ctx: Context,
        source: str,
        target: str,
        *,
        digest: Digest | None = None,
        reason: str | None = None,
        override: Override | None = None,
        force: bool = False,
        dry_run: bool = False,
        referrers: bool = True,
    ) -> None:
        self.ctx = ctx
        self.source_env, self.target_env = _route(ctx, source, target, force=force)
        self.digest = digest
        self.reason = reason if reason is not None else (override.reason if override is not None else None)
        self.override = override
        self.force = force
        self.dry_run = dry_run
        self.referrers = referrers
        self.timer = Timer()
        self._done: list[str] = []
        self._plan: PromotionPlan | None = None
        self._manifest: Manifest | None = None
        self._view: View | None = None
        self._signer: PrivateKey | None = None
        self._publish: Publish | None = None
        self.source_store = ctx.open(self.source_env.image)
        self.store = ctx.open(self.target_env.image, push=not dry_run)
        self.ledger = Ledger(self.store, self.target_env.name)
        self.result = PromoteResult(
            source=self.source_env.image,
            environment=self.target_env.name,
            reference=self.target_env.image,
            digest=digest or Digest("sha256", "0" * 64),
            previous_digest=None,
            dry_run=dry_run,
            forced=force,
            reason=self.reason,
        )

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
        source, target = self.source_env, self.target_env
        with ThreadPoolExecutor(max_workers=3, thread_name_prefix="hoist-plan") as pool:
            reading = pool.submit(self.ledger.read)  # these two go out with the source's GET
            tagged = pool.submit(self.store.head_manifest, target.tag)
            with self.timer.stage("resolve"):
                manifest = _resolve(self.source_store, source, self.digest)
            digest = manifest.digest
            _render(target, digest, 0, self.ctx)  # an unknown template value stops us before any change
            if target.gates.sign_with is not None and not self.dry_run:
                self._signer = self.ctx.private_key(target.gates.sign_with)
            with self.timer.stage("gates"):
                results = Gates(self.ctx, source, target).evaluate(digest) if target.gates.require else []
                what = f"promotion of {digest} to {target.name}"
                gates, override = decide(results, override=self.override, what=what, subject=digest)
            view = reading.result()
            at_tag = tagged.result()
        noop = not self.force and view.current == digest and at_tag is not None and at_tag.digest == digest
        tags, history = _render(target, digest, view.next_seq, self.ctx)
        self._manifest, self._view = manifest, view
        self._plan = PromotionPlan(
            source=source,
            target=target,
            digest=digest,
            previous=view.current,
            seq=view.next_seq,
            tags=tags,
            history_tag=history,
            gates=gates,
            override=override,
            noop=noop,
        )
        result = self.result
        result.digest, result.previous_digest, result.gates, result.override = digest, view.current, gates, override
        result.noop = noop
        result.seq = view.current_seq if noop else view.next_seq
        if not noop:
            result.tags, result.history_tag = tags, history
        return self._plan

    # -- 2. copy -------------------------------------------------------------------------------------

    def copy(self) -> CopyResult | None:
        if not self._step("copy"):
            return None
        assert self._manifest is not None
        manifest, source, target, result = self._manifest, self.source_env, self.target_env, self.result
        carry = self.referrers and not self.dry_run
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="hoist-evidence") as background:
            same = self.source_store.location.same_repository(self.store.location)
            lookup = (
                background.submit(find_evidence, self.source_store, manifest.digest) if carry and not same else None
            )
            with self.timer.stage("copy"):
                result.copy = copy_image(
                    source=self.source_store,
                    destination=self.store,
                    source_ref=source.image,
                    destination_ref=target.image.with_digest(manifest.digest),
                    manifest=manifest,
                    observer=self.ctx.observer,
                    options=CopyOptions(dry_run=self.dry_run, jobs=self.ctx.jobs),
                )
                if carry:
                    found = lookup.result() if lookup is not None else None
                    result.evidence = carry_evidence(
                        self.source_store, self.store, manifest.digest, jobs=self.ctx.jobs, found=found
                    )
            if lookup is not None:  # carried to another repository: read back there and checked again
                self._check_carried(manifest.digest, lookup.result())
        if self._signer is not None:
            from hoist.evidence.sign import sign_image

            with self.timer.stage("sign"):  # before the tags move: TO's tag never names an unsigned digest
                result.signature = sign_image(self.store, manifest.descriptor, self._signer)[0]
        return result.copy

    def _check_carried(self, digest: Digest, found: Found) -> None:
        """The evidence read back in TO's repository and checked again (raises before any tag moves)."""
        from hoist.promotion.carried_check import check_carried

        with self.timer.stage("evidence"):
            self.result.evidence_check = check_carried(
                self.ctx,
                source=self.source_store,
                destination=self.store,
                target=self.target_env,
                digest=digest,
                found=found,
            )

    # -- 3. record -----------------------------------------------------------------------------------

    def record(self) -> None:
        if not self._step("record") or self.dry_run:
            return
        assert self._manifest is not None and self._view is not None and self._plan is not None
        plan, manifest = self._plan, self._manifest
        self._publish = Publish(self.ledger, manifest, plan.tags, jobs=self.ctx.jobs, timer=self.timer)
        self._publish.start(self._build, self._view)

    def _build(self, view: View) -> Record:
        plan, manifest = self._plan, self._manifest
        assert plan is not None and manifest is not None
        tags, history = _render(plan.target, plan.digest, view.next_seq, self.ctx)
        return new_record(
            view,
            kind=Kind.PROMOTE,
            environment=plan.target.name,
            subject=manifest.descriptor,
            provenance=self.ctx.provenance(),
            source=Source(environment=plan.source.name, reference=str(plan.source.image), digest=plan.digest),
            tags=tags,
            history_tag=history,
            reason=self.reason,
            forced=self.force,
            override=plan.override,
            gates=plan.gates,
            timings=dict(self.timer.stages),
        )

    # -- 4. confirm ----------------------------------------------------------------------------------

    def confirm(self) -> PromoteResult:
        proceed = self._step("confirm")
        result = self.result
        if proceed and self._publish is not None:
            published = self._publish.finish()
            record = published.appended.entry.record
            result.seq, result.tags, result.history_tag = record.seq, record.tags, record.history_tag
            result.record = published.appended.entry.manifest
            result.follow_ups_failed = published.failed
            self.ctx.announce(
                "promote",
                result.environment,
                digest=str(result.digest),
                previous_digest=str(result.previous_digest) if result.previous_digest else None,
                seq=record.seq,
                reason=result.reason,
                source=self.source_env.name,
                image=f"{self.target_env.image.name}@{result.digest}",
            )
        elif proceed and self.dry_run and self._plan is not None:
            result.seq = self._plan.seq
        result.timings = self.timer.summary()
        return result

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
    return source_env, target_env


def _resolve(store: Store, env: Environment, digest: Digest | None) -> Manifest:
    if digest is None:
        return resolve(store, env.image)
    try:
        return store.get_manifest(digest)
    except NotFound as exc:
        raise InputError(f"{digest} is not in {env.name}'s repository {store.location}: check the digest") from exc


def _render(env: Environment, digest: Digest, seq: int, ctx: Context) -> tuple[tuple[str, ...], str]:
    """TO's tags (its own first, then the extra ones, without repeats) and the history tag."""
    context = TemplateContext(digest=str(digest), seq=seq, tag=env.tag, environment=env.name, now=ctx.now())
    context.environ = ctx.environ
    tags = [env.tag]
    for template in env.tags:
        tag = render_tag(template, context)
        if tag not in tags:
            tags.append(tag)
    return tuple(tags), render_tag(env.history_tag, context)
