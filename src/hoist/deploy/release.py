"""Release: the whole production path — gates, promote by digest, verify, deploy, health, auto-rollback —
with the time of each stage."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hoist.deploy.deploy import DeployResult, deploy
from hoist.digest import Digest
from hoist.errors import IntegrityError
from hoist.ops.copy import CopyObserver
from hoist.ops.verify import verify_image
from hoist.promotion.config import Config
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
    """Promote FROM to TO, verify the promoted digest in place, deploy it and wait for health."""
    timer = Timer()
    promoted = promote(
        config, session, source, target, options=options, gates=gates, observer=observer, environ=environ
    )
    result = ReleaseResult(promotion=promoted)
    env = config.environment(target)
    with timer.stage("verify"):
        verification = verify_image(session.open(env.image), env.image.with_digest(promoted.digest), jobs=options.jobs)
        if not verification.ok:
            problems = "; ".join(f"{c.name}: {c.detail}" for c in verification.failures())
            raise IntegrityError(
                f"{env.image.with_digest(promoted.digest)} did not verify after the promotion: {problems}"
            )
    try:
        result.deployment = deploy(
            config, session, target, digest=Digest.parse(str(promoted.digest)), environ=environ, timer=timer
        )
    finally:
        result.stages = _stages(promoted, timer)
    return result


def _stages(promoted: PromoteResult, timer: Timer) -> dict[str, float]:
    stages = dict.fromkeys(STAGES, 0.0)
    for name, seconds in promoted.timings.items():
        if name == "total":
            continue
        key = "copy" if name == "tags" else "record" if name in ("ledger", "readback", "referrers") else name
        stages[key] = round(stages.get(key, 0.0) + seconds, 4)
    for name, seconds in timer.stages.items():
        stages[name] = round(stages.get(name, 0.0) + seconds, 4)
    stages["total"] = round(promoted.timings.get("total", 0.0) + timer.total, 4)
    return stages
