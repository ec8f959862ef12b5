"""``plan``: what a release would do, found out without changing anything.

For each environment (and each image of a set) it reads what the environment has and what the release
would bring (resolving FROM's tags once), the commits between the two, every gate and rule with its
evidence, the freezes in force, the mirrors behind, and the writes the release would make — copies,
tags, ledger records, the deploy — and makes none of them: only GET and HEAD requests reach a registry.

It runs the promotion's own planning steps (a dry run of :class:`~hoist.promotion.promote.Promotion`), so
it decides what ``release`` would decide; refusing rules are reported here instead of raised.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from hoist.digest import Digest
from hoist.errors import GateRefused, InputError
from hoist.ops.carry import find_evidence
from hoist.ops.plan import BlobAction, CopyPlan, Mode
from hoist.promotion.commits import Commits, between, revision
from hoist.promotion.config import DeployConfig, Environment, Member
from hoist.promotion.context import Context
from hoist.promotion.frozen import Freeze, in_force
from hoist.promotion.ledger import head_tag
from hoist.promotion.promote import MemberResult, PromoteResult, Promotion
from hoist.promotion.record import GateResult
from hoist.promotion.rules import Override
from hoist.promotion.sync import MirrorState, mirror_states, wanted
from hoist.ref import Reference


@dataclass(frozen=True, kw_only=True)
class PlannedRequest:
    """One write a release would make."""

    action: str
    """``mount blob``, ``upload blob``, ``put manifest``, ``put tag``, ``copy evidence``, ``sign``,
    ``copy to mirror``, ``put ledger record``, ``deploy``, ``check health``."""
    where: str
    what: str


@dataclass(frozen=True, kw_only=True)
class ImagePlan:
    """One image of a release: where it goes, what is there now, and what moves."""

    name: str
    reference: Reference
    """The environment's image (its tag)."""
    source: Reference
    current: Digest | None
    candidate: Digest
    commits: Commits
    tags: tuple[str, ...] = ()
    history_tag: str | None = None
    copy: str | None = None
    """How the image would be copied (``retag``, ``present``, ``mount``, ``stream``; None: nothing moves)."""
    bytes: int = 0
    """Bytes the copy would upload."""

    @property
    def changes(self) -> bool:
        return self.current != self.candidate


@dataclass(frozen=True, kw_only=True)
class ReleasePlan:
    """What ``release SOURCE ENVIRONMENT`` would do now."""

    source: str
    environment: str
    seq: int
    """The sequence number the release's record would have."""
    images: tuple[ImagePlan, ...]
    gates: tuple[GateResult, ...]
    """Every gate and rule: freezes and windows, the required gates (per image), ``same``."""
    freezes: tuple[Freeze, ...]
    mirrors: tuple[MirrorState, ...]
    """The environment's mirrors now: what each holds, and whether it is behind the environment."""
    requests: tuple[PlannedRequest, ...]
    deploy: str | None
    """How the release would deploy (None: the environment has no deploy settings)."""
    noop: bool
    """The environment has every candidate digest already: the promotion has nothing to do."""

    @property
    def refusals(self) -> tuple[GateResult, ...]:
        return tuple(g for g in self.gates if not g.passed)

    @property
    def would_release(self) -> bool:
        return not self.refusals

    @property
    def mirrors_behind(self) -> tuple[MirrorState, ...]:
        return tuple(m for m in self.mirrors if m.behind)


def plan_releases(ctx: Context, pairs: list[tuple[str, str]] | None = None) -> list[ReleasePlan]:
    """A plan for each (source, target) pair, or for every environment that promotes from another."""
    if pairs is None:
        pairs = [(env.source, env.name) for env in ctx.config.environments.values() if env.source is not None]
        if not pairs:
            raise InputError(f"no environment in {ctx.config.path} has a 'from': name the release (FROM TO)")
    return [plan_release(ctx, source, target) for source, target in pairs]


_EVALUATE_ALL = Override("plan: every rule is evaluated and reported, none is set aside")
"""Lets the dry run go past refusing rules so they can be reported; results are unmarked afterwards."""


def plan_release(ctx: Context, source: str, target: str) -> ReleasePlan:
    promotion = Promotion(ctx, source, target, dry_run=True, override=_EVALUATE_ALL, referrers=False)
    env = promotion.target_env
    view = promotion.ledger.read()
    try:
        planned = promotion.plan()
    except GateRefused as exc:  # pragma: no cover - the override covers every rule
        raise InputError(str(exc)) from exc
    promotion.copy()
    promotion.record()  # a dry run records nothing: the steps only run in order
    result = promotion.confirm()
    gates = tuple(replace(g, overridden=False) for g in planned.gates)
    now = ctx.now()
    members = {m.name: m for m in result.members}
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="hoist-plan") as pool:
        images = list(pool.map(lambda m: _image(ctx, promotion, m), [members[p.name] for p in planned.members]))
        mirrors = mirror_states(ctx, env, wanted(view, env)) if env.mirrors else []
    requests = [] if planned.noop else _requests(ctx, promotion, result, images)
    return ReleasePlan(
        source=promotion.source_env.name,
        environment=env.name,
        seq=planned.seq,
        images=tuple(images),
        gates=gates,
        freezes=tuple(in_force(env, view, now)),
        mirrors=tuple(mirrors),
        requests=tuple(requests),
        deploy=_deploy(env),
        noop=planned.noop,
    )


def _image(ctx: Context, promotion: Promotion, member: MemberResult) -> ImagePlan:
    env = promotion.target_env
    source = promotion.source_env.member(member.name) if env.is_set else promotion.source_env.members[0]
    source_store = ctx.open(source.image)
    candidate = revision(source_store, source_store.get_manifest(member.digest))
    current = None
    if member.previous_digest is not None:
        store = ctx.open(env.member(member.name).image)
        current = revision(store, store.get_manifest(member.previous_digest))
    plan = member.copy.plan if member.copy is not None else None
    return ImagePlan(
        name=member.name,
        reference=member.reference,
        source=source.image,
        current=member.previous_digest,
        candidate=member.digest,
        commits=between(current, candidate, cwd=Path.cwd()),
        tags=member.tags,
        history_tag=member.history_tag,
        copy=str(plan.mode) if plan is not None else None,
        bytes=plan.bytes_for(BlobAction.STREAM) if plan is not None else 0,
    )


def _copy_requests(plan: CopyPlan, where: str) -> list[PlannedRequest]:
    out = [
        PlannedRequest(
            action=f"{step.action} blob", where=where, what=f"{step.descriptor.digest} ({step.descriptor.size} bytes)"
        )
        for step in plan.blobs
        if step.action is not BlobAction.SKIP
    ]
    out += [PlannedRequest(action="put manifest", where=where, what=str(m.digest)) for m in plan.manifests]
    if plan.mode not in (Mode.RETAG, Mode.PRESENT):
        out.append(PlannedRequest(action="put manifest", where=where, what=str(plan.digest)))
    return out


def _requests(
    ctx: Context, promotion: Promotion, result: PromoteResult, images: list[ImagePlan]
) -> list[PlannedRequest]:
    env = promotion.target_env
    out: list[PlannedRequest] = []
    for member, image in zip(result.members, images, strict=True):
        where = member.reference.name
        if member.copy is not None and member.copy.plan is not None:
            out += _copy_requests(member.copy.plan, where)
        source_store = ctx.open(image.source)
        if not source_store.location.same_repository(ctx.open(member.reference).location):
            found = find_evidence(source_store, member.digest)
            pieces = len(found.referrers) + len(found.legacy)
            if pieces:
                out.append(
                    PlannedRequest(
                        action="copy evidence", where=where, what=f"{pieces} piece(s) (signatures, attestations, SBOMs)"
                    )
                )
        if env.gates.sign_with is not None:
            out.append(PlannedRequest(action="sign", where=where, what=f"{member.digest} with {env.gates.sign_with}"))
        out += [PlannedRequest(action="put tag", where=where, what=tag) for tag in member.tags]
        if member.history_tag:
            out.append(PlannedRequest(action="put tag", where=where, what=f"{member.history_tag} (history tag)"))
        for mirror in env.member(member.name).mirrors:
            out.append(
                PlannedRequest(action="copy to mirror", where=mirror.name, what=f"{member.digest}, tag {mirror.tag}")
            )
    ledger = f"{env.image.name}:{head_tag(env.name)}"
    out.append(PlannedRequest(action="put ledger record", where=ledger, what=f"promote, seq {result.seq}"))
    deploy = _deploy(env)
    if deploy is not None:
        for member in result.members:
            config = env.member(member.name)
            if config.deploy is None:
                continue
            out.append(
                PlannedRequest(
                    action="deploy", where=_describe(config.deploy), what=f"{member.reference.name}@{member.digest}"
                )
            )
            out += _health(config)
        out.append(
            PlannedRequest(action="put ledger record", where=ledger, what="deploy (healthy, or failed and rolled back)")
        )
    return out


def _health(member: Member) -> list[PlannedRequest]:
    health = member.health
    if health is None:
        return [PlannedRequest(action="check health", where=member.name, what="the target's own checks")]
    checks = [
        health.url,
        f"tcp {health.tcp}" if health.tcp else None,
        "the image's HEALTHCHECK" if health.container else None,
    ]
    return [PlannedRequest(action="check health", where=member.name, what=c) for c in checks if c]


def _describe(deploy: DeployConfig) -> str:
    if deploy.target == "docker":
        return f"docker container {deploy.container}" + (f" on {deploy.host}" if deploy.host else "")
    if deploy.target == "command":
        return f"command {deploy.run!r}"
    if deploy.gitops is not None:
        return f"gitops {deploy.gitops.repository} {deploy.gitops.file}"
    return deploy.target


def _deploy(env: Environment) -> str | None:
    targets = [
        f"{m.name}: {_describe(m.deploy)}" if env.is_set else _describe(m.deploy) for m in env.members if m.deploy
    ]
    return "; ".join(targets) or None
