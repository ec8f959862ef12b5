"""Release: the whole production path — gates, promote by digest, verify, deploy, health, auto-rollback —
with the time of each stage."""

from __future__ import annotations

import os
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from hoist.deploy.deploy import Deployment, DeployResult, open_target
from hoist.deploy.target import Target
from hoist.digest import Digest
from hoist.errors import HoistError, IntegrityError
from hoist.manifest import Manifest
from hoist.ops.copy import CopyObserver
from hoist.ops.verify import verify_image
from hoist.promotion.config import Config, Environment
from hoist.promotion.promote import GateCheck, PromoteOptions, PromoteResult, Timer, promote
from hoist.store.session import Session

STAGES = ("resolve", "gates", "copy", "record", "verify", "deploy", "health")


@dataclass
class ReleaseResult:
    promotion: PromoteResult
    deployment: DeployResult | None = None
    stages: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "promotion": self.promotion.to_json(),
            "deploy": self.deployment.to_json() if self.deployment else None,
            "stages": self.stages,
        }


def release(
    config: Config,
    session: Session,
    source: str,
    target: str,
    *,
    options: PromoteOptions = PromoteOptions(),  # noqa: B008 - frozen
    gates: GateCheck | None = None,
    observer: CopyObserver | None = None,
    environ: Mapping[str, str] | None = None,
) -> ReleaseResult:
    """Promote FROM to TO, verify the promoted digest in place, deploy it and wait for health.

    The deploy target is opened, and the image pulled by the engine, in the background while the
    promotion writes its record: both wait on the network, not on each other.
    """
    timer = Timer()
    env = config.environment(target)
    environ = dict(os.environ) if environ is None else environ
    deployment: Deployment | None = None
    started: list[BaseException] = []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="hoist-release") as background:
        opening = background.submit(open_target, env, session, environ)
        prepared: list[Future[None]] = []

        def on_copied(manifest: Manifest) -> None:
            image = f"{env.image.name}@{manifest.digest}"
            prepared.append(background.submit(lambda: opening.result().prepare(image)))

        def while_confirming(manifest: Manifest) -> None:
            nonlocal deployment
            try:
                _verify(session, env, manifest.digest, timer, jobs=options.jobs)
                with timer.stage("deploy"):
                    deploy_target = opening.result()
                    for future in prepared:
                        future.result()
                deployment = Deployment(
                    config,
                    session,
                    target,
                    digest=manifest.digest,
                    environ=environ,
                    timer=timer,
                    target=deploy_target,
                )
                deployment.start()
            except HoistError as exc:  # the promotion finishes first; this is raised after it
                started.append(exc)

        try:
            promoted = promote(
                config,
                session,
                source,
                target,
                options=options,
                gates=gates,
                observer=observer,
                environ=environ,
                on_copied=on_copied,
                while_confirming=while_confirming,
            )
        except BaseException:
            _close(opening)
            raise
    result = ReleaseResult(promotion=promoted)
    try:
        if started:
            _close(opening)
            raise started[0]
        if deployment is None:  # the promotion was a no-op: deploy what TO has
            _verify(session, env, promoted.digest, timer, jobs=options.jobs)
            deployment = Deployment(
                config,
                session,
                target,
                digest=promoted.digest,
                environ=environ,
                timer=timer,
                target=opening.result(),
            )
            deployment.start()
        result.deployment = deployment.finish()
    finally:
        result.stages = _stages(promoted, timer)
    return result


def _verify(session: Session, env: Environment, digest: Digest, timer: Timer, *, jobs: int) -> None:
    with timer.stage("verify"):
        reference = env.image.with_digest(digest)
        verification = verify_image(session.open(env.image), reference, jobs=jobs)
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
    """The release's stages; the promotion's record-keeping stages add up to "record" (without the verify
    and deploy that ran inside them, while its record settled)."""
    stages = dict.fromkeys(STAGES, 0.0)
    nested = promoted.timings.get("nested", 0.0)
    for name, seconds in promoted.timings.items():
        if name in ("total", "nested"):
            continue
        key = "copy" if name == "tags" else "record" if name in ("ledger", "readback", "referrers") else name
        stages[key] = stages.get(key, 0.0) + seconds
    stages["record"] -= nested
    for name, seconds in timer.stages.items():
        stages[name] = stages.get(name, 0.0) + seconds
    stages["total"] = timer.total
    return {k: round(v, 4) for k, v in stages.items()}
