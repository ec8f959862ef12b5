"""``hoist deploy ENV``: put ENV's promoted digest into service, check health, roll back on failure."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from hoist.cli import github, render
from hoist.cli.context import STATE, emit_json, say
from hoist.cli.options import json_option
from hoist.cli.promote import override_for, refusals, report_follow_ups

if TYPE_CHECKING:
    from hoist.deploy.deploy import DeployResult
    from hoist.deploy.set_deploy import SetDeployResult


@click.command("deploy")
@click.argument("environment", metavar="ENV")
@click.option("--digest", metavar="DIGEST", help="Deploy this digest (default: the promoted one, or the tag's).")
@click.option("--no-rollback", is_flag=True, help="Leave a failed deploy running instead of restoring the previous.")
@click.option("--reason", metavar="TEXT", help="Why: kept in the ledger (with --force, over a freeze).")
@click.option("--force", is_flag=True, help="With --reason: deploy while ENV is frozen (the ledger keeps it).")
@json_option
def command(
    environment: str, digest: str | None, no_rollback: bool, reason: str | None, force: bool, json_out: bool
) -> None:
    """Deploy ENV's digest (by digest, never by tag), wait for health, roll back when it fails."""
    project = STATE.project()
    with refusals(force=force, reason=reason, json_out=json_out):
        result = project.deploy(
            environment, digest=digest, rollback=not no_rollback, override=override_for(force=force, reason=reason)
        )
    report(result, json_out=json_out)


def target_outputs(details: dict[str, object]) -> dict[str, str]:
    """Step outputs a target adds (a GitOps commit, and the branch to open a pull request from)."""
    if "mode" not in details:
        return {}
    from hoist.deploy.gitops_target import outputs

    return outputs(details)


def parts(result: DeployResult | SetDeployResult) -> list[DeployResult]:
    """The deploys a result holds: one, or one per image of a set."""
    from hoist.deploy.set_deploy import SetDeployResult

    return list(result.members) if isinstance(result, SetDeployResult) else [result]


def report(result: DeployResult | SetDeployResult, *, json_out: bool) -> None:
    if json_out:
        emit_json(render.deployments(result))
    for part in parts(result):
        _report(part, quiet=json_out)


def _report(result: DeployResult, *, quiet: bool) -> None:
    if quiet:
        pass  # the JSON answer said it all
    elif result.details.get("mode") == "branch":
        say(f"proposed {result.image} for review")
        say(f"  {result.target}: pushed branch {result.details.get('branch')} (open a pull request from it)")
    else:
        health = result.health.detail if result.health else "no checks"
        say(f"deployed {result.image}")
        say(f"  {result.target}; healthy: {health}")
        stages = ", ".join(f"{k} {v:.2f}s" for k, v in result.timings.items())
        say(f"  {stages}")
    github.write_outputs(
        {
            "digest": result.digest,
            "image": result.image,
            "healthy": str(result.healthy).lower(),
            **target_outputs(result.details),
        }
    )
    if result.details.get("mode") == "branch":
        github.write_summary(f"### hoist proposed `{result.image}` for {result.environment}\n")
    else:
        github.write_summary(f"### hoist deployed {result.environment}\n\n`{result.image}` is healthy")
    report_follow_ups(result.follow_ups_failed, f"the deploy of {result.digest} to {result.environment}")
