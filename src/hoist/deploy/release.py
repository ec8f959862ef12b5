"""Release: the whole production path — gates, promote by digest, verify, deploy, health, auto-rollback —
with the time of each stage.

It composes a :class:`~hoist.promotion.promote.Promotion` and a :class:`~hoist.deploy.deploy.Deployment`
step by step. The deploy target is opened in the background from the start, the engine pulls the image
as soon as it is in TO's repository, and the promoted digest is verified and the deploy started while
the promotion's record settles: the three wait on the network, not on each other.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from hoist.deploy.deploy import Deployment, DeployResult, image_of, open_target
from hoist.deploy.set_deploy import SetDeployment, SetDeployResult
from hoist.deploy.target import Target
from hoist.digest import Digest
from hoist.errors import HoistError, IntegrityError
from hoist.ops.verify import verify_image
from hoist.promotion.context import Context
from hoist.promotion.promote import PromoteResult, Promotion
from hoist.ref import Reference
from hoist.timing import Timer

STAGES = ("resolve", "gates", "copy", "record", "verify", "deploy", "health")


@dataclass(kw_only=True)
class ReleaseResult:
    promotion: PromoteResult
    deployment: DeployResult | SetDeployResult | None = None
    stages: dict[str, float] = field(default_factory=dict)


def release(ctx: Context, promotion: Promotion) -> ReleaseResult:
    """Promote (the given, not yet planned, promotion), verify the promoted digests in place, deploy them
    and wait for health; a deploy that fails its health checks is rolled back (see :class:`Deployment`,
    and :class:`~hoist.deploy.set_deploy.SetDeployment` for an environment of several images)."""
    timer = Timer()
    env = promotion.target_env
    deployable = [m for m in env.members if m.deploy is not None] if env.is_set else [env.members[0]]
    with ThreadPoolExecutor(max_workers=max(1, len(deployable)), thread_name_prefix="hoist-release") as background:
        opening = {m.name: background.submit(open_target, ctx, env, m) for m in deployable}
        try:
            with timer.stage("plan"):
                plan = promotion.plan()
            with timer.stage("copy"):
                promotion.copy()
            digests = {m.name: m.digest for m in plan.members}
            preparing = [
                background.submit(_prepare, opening[m.name], image_of(env, digests[m.name], m))
                for m in deployable
                if m.name in digests
            ]
            with timer.stage("record"):
                promotion.record()
            deployment: Deployment | SetDeployment | None = None
            failure: HoistError | None = None
            try:  # while the record settles
                for member in deployable:
                    if member.name in digests:
                        _verify(ctx, member.image, digests[member.name], timer)
                with timer.stage("deploy"):
                    targets = {name: future.result() for name, future in opening.items()}
                    for future in preparing:
                        future.result()
                if env.is_set:
                    # the promotion decided the freeze rules for the whole release: no second decision here
                    deployment = SetDeployment(
                        ctx, env.name, digests=digests, timer=timer, targets=targets, freeze_rules=False
                    )
                else:
                    target = targets[env.members[0].name]
                    deployment = Deployment(
                        ctx, env.name, digest=plan.digest, timer=timer, target=target, freeze_rules=False
                    )
                deployment.start()
            except HoistError as exc:  # the promotion is confirmed first; this is raised after it
                failure = exc
            with timer.stage("record"):
                promoted = promotion.confirm()
        except BaseException:
            promotion.abandon()
            _close(opening.values())
            raise
    result = ReleaseResult(promotion=promoted)
    try:
        if failure is not None:
            _close(opening.values())
            raise failure
        assert deployment is not None
        result.deployment = deployment.finish()
    finally:
        result.stages = _stages(promoted, timer)
    return result


def _prepare(opening: Future[Target], image: str) -> None:
    opening.result().prepare(image)


def _verify(ctx: Context, image: Reference, digest: Digest, timer: Timer) -> None:
    with timer.stage("verify"):
        reference = image.with_digest(digest)
        verification = verify_image(ctx.open(image), reference, jobs=ctx.jobs)
        if not verification.ok:
            problems = "; ".join(f"{c.name}: {c.detail}" for c in verification.failures())
            raise IntegrityError(f"{reference} did not verify after the promotion: {problems}")


def _close(openings: Iterable[Future[Target]]) -> None:
    """Close targets opened in the background for a release that stopped before deploying."""
    for opening in openings:
        try:
            opening.result().close()
        except HoistError:
            continue


def _stages(promoted: PromoteResult, timer: Timer) -> dict[str, float]:
    """The release's stages: the promotion's own resolve and gates inside "plan", the rest as timed here."""
    stages = dict.fromkeys(STAGES, 0.0)
    for name in ("resolve", "gates"):
        stages[name] = promoted.timings.get(name, 0.0)
    plan = timer.stages.get("plan", 0.0)
    stages["resolve"] += max(0.0, plan - stages["resolve"] - stages["gates"])  # the ledger read, templates
    for name, seconds in timer.stages.items():
        if name != "plan":
            stages[name] = stages.get(name, 0.0) + seconds
    stages["total"] = timer.total
    return {k: round(v, 4) for k, v in stages.items()}
