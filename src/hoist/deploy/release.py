"""Release: the whole production path — gates, promote by digest, verify, deploy, health, auto-rollback —
with the time of each stage.

It composes a :class:`~hoist.promotion.promote.Promotion` and a :class:`~hoist.deploy.deploy.Deployment`
step by step. The deploy target is opened in the background from the start, the engine pulls the image
as soon as it is in TO's repository, and the promoted digest is verified and the deploy started while
the promotion's record settles: the three wait on the network, not on each other.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from hoist.deploy.deploy import Deployment, DeployResult, image_of, open_target
from hoist.deploy.target import Target
from hoist.digest import Digest
from hoist.errors import HoistError, IntegrityError
from hoist.ops.verify import verify_image
from hoist.promotion.config import Environment
from hoist.promotion.context import Context
from hoist.promotion.promote import PromoteResult, Promotion
from hoist.timing import Timer

STAGES = ("resolve", "gates", "copy", "record", "verify", "deploy", "health")


@dataclass(kw_only=True)
class ReleaseResult:
    promotion: PromoteResult
    deployment: DeployResult | None = None
    stages: dict[str, float] = field(default_factory=dict)


def release(ctx: Context, promotion: Promotion) -> ReleaseResult:
    """Promote (the given, not yet planned, promotion), verify the promoted digest in place, deploy it and
    wait for health; a deploy that fails its health checks is rolled back (see :class:`Deployment`)."""
    timer = Timer()
    env = promotion.target_env
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="hoist-release") as background:
        opening = background.submit(open_target, ctx, env)
        try:
            with timer.stage("plan"):
                plan = promotion.plan()
            with timer.stage("copy"):
                promotion.copy()
            image = image_of(env, plan.digest)
            preparing = background.submit(lambda: opening.result().prepare(image))
            with timer.stage("record"):
                promotion.record()
            deployment: Deployment | None = None
            failure: HoistError | None = None
            try:  # while the record settles
                _verify(ctx, env, plan.digest, timer)
                with timer.stage("deploy"):
                    target = opening.result()
                    preparing.result()
                deployment = Deployment(ctx, env.name, digest=plan.digest, timer=timer, target=target)
                deployment.start()
            except HoistError as exc:  # the promotion is confirmed first; this is raised after it
                failure = exc
            with timer.stage("record"):
                promoted = promotion.confirm()
        except BaseException:
            promotion.abandon()
            _close(opening)
            raise
    result = ReleaseResult(promotion=promoted)
    try:
        if failure is not None:
            _close(opening)
            raise failure
        assert deployment is not None
        result.deployment = deployment.finish()
    finally:
        result.stages = _stages(promoted, timer)
    return result


def _verify(ctx: Context, env: Environment, digest: Digest, timer: Timer) -> None:
    with timer.stage("verify"):
        reference = env.image.with_digest(digest)
        verification = verify_image(ctx.open(env.image), reference, jobs=ctx.jobs)
        if not verification.ok:
            problems = "; ".join(f"{c.name}: {c.detail}" for c in verification.failures())
            raise IntegrityError(f"{reference} did not verify after the promotion: {problems}")


def _close(opening: Future[Target]) -> None:
    """Close a target opened in the background for a release that stopped before deploying."""
    try:
        opening.result().close()
    except HoistError:
        return


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
