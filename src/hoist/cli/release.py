"""``hoist release FROM TO``: gates, promote by digest, verify, deploy, health, auto-rollback; stage times."""

from __future__ import annotations

import click

from hoist.cli import github, render
from hoist.cli.context import STATE, emit_json, say
from hoist.cli.copy import progress
from hoist.cli.deploy import parts, target_outputs
from hoist.cli.promote import (
    override_for,
    promotion_options,
    refusals,
    report_follow_ups,
    report_mirrors,
    say_evidence_check,
)
from hoist.promotion.gates import posture


@click.command("release")
@promotion_options
def command(
    source: str,
    target: str,
    digest: str | None,
    reason: str | None,
    force: bool,
    only: tuple[str, ...],
    no_referrers: bool,
    json_out: bool,
) -> None:
    """The production path: promote FROM to TO by digest, verify, deploy, check health, roll back on failure."""
    from hoist.deploy.release import STAGES

    with progress(enabled=not json_out) as observer:
        project = STATE.project(observer=observer)
        with refusals(force=force, reason=reason, json_out=json_out):
            result = project.release(
                source,
                target,
                digest=digest,
                only=only,
                reason=reason,
                override=override_for(force=force, reason=reason),
                force=force,
                referrers=not no_referrers,
            )
    if json_out:
        emit_json(render.release(result))
    else:
        promoted = result.promotion
        deployed = result.deployment
        say(f"released {promoted.digest} to {promoted.environment} (seq {promoted.seq})")
        for gate in promoted.gates:
            say(f"  gate {gate.gate}: {'pass' if gate.passed else 'OVERRIDDEN'}: {gate.detail}")
        say_evidence_check(promoted)
        for warning in posture(project.config, project.config.environment(promoted.environment)):
            say(f"  note: {warning}")
        for part in parts(deployed) if deployed is not None else []:
            if part.health is not None:
                say(f"  {part.target}: {part.health.detail}")
        say("")
        say("  stage      seconds")
        for name in (*STAGES, "total"):
            say(f"  {name:<9} {result.stages.get(name, 0.0):8.3f}")
    rows = [[name, f"{result.stages.get(name, 0.0):.3f} s"] for name in (*STAGES, "total")]
    deployed_parts = parts(result.deployment) if result.deployment is not None else []
    details = deployed_parts[0].details if len(deployed_parts) == 1 else {}
    github.write_outputs({"digest": result.promotion.digest, "seq": result.promotion.seq, **target_outputs(details)})
    github.write_summary(
        f"### hoist released `{result.promotion.digest}` to {result.promotion.environment}\n\n"
        + github.table(["stage", "time"], rows)
    )
    report_mirrors(result.promotion.mirrors_behind, result.promotion.environment)
    failed = result.promotion.follow_ups_failed + tuple(f for p in deployed_parts for f in p.follow_ups_failed)
    report_follow_ups(failed, f"the release of {result.promotion.digest} to {result.promotion.environment}")
