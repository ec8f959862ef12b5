"""Where each environment stands: current digest, sequence, age, rollback readiness, drift, last deploy."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from hoist.digest import Digest
from hoist.errors import HoistError
from hoist.promotion.config import Environment
from hoist.promotion.context import Context
from hoist.promotion.frozen import Freeze, in_force
from hoist.promotion.gates import posture
from hoist.promotion.ledger import View
from hoist.promotion.record import DeployOutcome
from hoist.promotion.sync import MirrorState, mirror_states, wanted
from hoist.ref import Reference
from hoist.store.base import Store


@dataclass(kw_only=True)
class MemberStatus:
    """One image of an environment of several: its digest as the ledger says, and as its tag says."""

    name: str
    reference: Reference
    digest: Digest | None
    tag_digest: Digest | None

    @property
    def drift(self) -> bool:
        return self.digest is not None and self.tag_digest != self.digest


@dataclass(kw_only=True)
class EnvironmentStatus:
    environment: str
    reference: Reference
    tag_digest: Digest | None
    digest: Digest | None
    seq: int | None
    since: str | None
    age_seconds: float | None
    drift: bool
    rollback_ready: bool
    rollback_to: Digest | None
    rollback_detail: str
    deployed: Digest | None
    deployed_at: str | None
    deploy_result: DeployOutcome | None
    records: int
    warnings: list[str] = field(default_factory=list)
    """What the environment's gates take on trust (unsigned evidence, a ledger without ``trust``)."""
    untrusted: str | None = None
    """Why the ledger's newest record is not trusted (``trust`` in hoist.toml); None when it is, or when no
    ``trust`` is configured. The digest shown then comes from a record no trusted writer signed."""
    members: list[MemberStatus] = field(default_factory=list)
    """For an environment of several images: each of them."""
    mirrors: list[MirrorState] = field(default_factory=list)
    """Every mirror, and whether it is behind (``hoist sync`` brings it level)."""
    target_digest: Digest | None = None
    """What the deploy target says it holds, for targets that can tell cheaply (a GitOps repository)."""
    target_detail: str | None = None
    freezes: list[Freeze] = field(default_factory=list)
    """What keeps the environment from changing now: a freeze in its ledger, a window of hoist.toml."""
    error: str | None = None


def environment_status(ctx: Context, store: Store, env: Environment) -> EnvironmentStatus:
    """Three requests (the tag, the ledger head, the rollback target's history tag), at any ledger length."""
    view = ctx.ledger(env, push=False).read()
    tag = store.head_manifest(env.tag)
    tag_digest = tag.digest if tag is not None else None
    head = view.head
    current = view.current_entry
    deploy = view.last_deploy()
    promoted = view.has_promotions
    since = current.record.time if current is not None else None
    moment = current.record.moment if current is not None else None
    status = EnvironmentStatus(
        environment=env.name,
        reference=env.image,
        tag_digest=tag_digest,
        digest=view.current if promoted else tag_digest,
        seq=view.current_seq if promoted else None,
        since=since,
        age_seconds=round((ctx.now() - moment).total_seconds(), 1) if moment is not None else None,
        drift=promoted and tag_digest != view.current,
        rollback_ready=False,
        rollback_to=None,
        rollback_detail="no earlier promotion",
        deployed=deploy.record.digest if deploy else None,
        deployed_at=deploy.record.time if deploy else None,
        deploy_result=deploy.record.outcome if deploy else None,
        records=head.record.seq if head else 0,
    )
    status.untrusted = view.head_problem
    status.warnings = posture(ctx.config, env)
    status.freezes = in_force(env, view, ctx.now())
    if env.is_set:
        _members(ctx, env, view, status)
    if env.mirrors:
        status.mirrors = mirror_states(ctx, env, wanted(view, env))
    target = view.rollback_target
    if target is not None:
        status.rollback_to = target.digest
        name = target.history_tag or str(target.digest)
        found = store.head_manifest(target.history_tag or target.digest)
        if found is not None and found.digest == target.digest:
            status.rollback_ready = True
            status.rollback_detail = f"seq {target.seq} ({name})"
        else:
            status.rollback_detail = f"seq {target.seq}: {name} is gone (pruned?)"
    return status


def _members(ctx: Context, env: Environment, view: View, status: EnvironmentStatus) -> None:
    state = view.current_members or {}
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(env.members)))) as pool:
        tags = list(pool.map(lambda m: ctx.open(m.image).head_manifest(m.tag), env.members))
    for member, found in zip(env.members, tags, strict=True):
        recorded = state[member.name].digest if member.name in state else None
        tag_digest = found.digest if found is not None else None
        status.members.append(MemberStatus(name=member.name, reference=member.image, digest=recorded,
                                           tag_digest=tag_digest))  # fmt: skip
    status.drift = status.drift or any(m.drift for m in status.members)


def status(ctx: Context, names: list[str] | None = None) -> list[EnvironmentStatus]:
    out = []
    for name in names or list(ctx.config.environments):
        env = ctx.environment(name)
        try:
            out.append(environment_status(ctx, ctx.open(env.image), env))
        except HoistError as exc:
            if names:
                raise
            out.append(_failed(env, str(exc)))
    return out


def _failed(env: Environment, message: str) -> EnvironmentStatus:
    return EnvironmentStatus(
        environment=env.name,
        reference=env.image,
        tag_digest=None,
        digest=None,
        seq=None,
        since=None,
        age_seconds=None,
        drift=False,
        rollback_ready=False,
        rollback_to=None,
        rollback_detail="",
        deployed=None,
        deployed_at=None,
        deploy_result=None,
        records=0,
        error=message,
    )
