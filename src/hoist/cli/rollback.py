"""``hoist rollback ENV``: back to the previous promoted digest (or ``--to SEQ|DIGEST``), recorded."""

from __future__ import annotations

import click

from hoist.cli import github, render
from hoist.cli.context import STATE, emit_json, say
from hoist.cli.options import dry_run_option, json_option
from hoist.cli.promote import override_for, refusals, report_follow_ups


@click.command("rollback")
@click.argument("environment", metavar="ENV")
@click.option("--to", "to", metavar="SEQ|DIGEST", help="A sequence number or digest this environment has had.")
@click.option("--reason", metavar="TEXT", help="Why: kept in the ledger.")
@click.option(
    "--force",
    is_flag=True,
    help="Record it even when ENV runs it already; with --reason, allow a digest ENV never had.",
)
@dry_run_option
@json_option
def command(environment: str, to: str | None, reason: str | None, force: bool, dry_run: bool, json_out: bool) -> None:
    """Move ENV's tag back to an earlier promoted digest (a same-repository retag) and record it."""
    project = STATE.project()
    with refusals(force=force, reason=reason, json_out=json_out):
        result = project.rollback(
            environment,
            to=to,
            reason=reason,
            override=override_for(force=force, reason=reason),
            force=force,
            dry_run=dry_run,
        )
    requests, auth = project.stats.snapshot()
    if json_out:
        emit_json({**render.rollback(result), "requests": requests, "auth_requests": auth})
    elif result.noop:
        say(f"{result.environment} already runs {result.digest}: nothing to roll back")
    else:
        verb = "would roll back" if dry_run else "rolled back"
        target = f" (seq {result.target_seq})" if result.target_seq else ""
        say(f"{verb} {result.environment} to {result.digest}{target}")
        say(f"  from {result.previous_digest}; tags: {', '.join(result.tags)}")
        if not dry_run:
            say(
                f"  record seq {result.seq}: {result.record}; {requests} requests; "
                f"{result.timings.get('total', 0):.2f}s"
            )
    if not dry_run:
        github.write_outputs(
            {
                "digest": result.digest,
                "seq": result.seq,
                "previous-digest": result.previous_digest or "",
                "tags": list(result.tags),
                "noop": str(result.noop).lower(),
            }
        )
        if not result.noop:
            github.write_summary(
                f"### hoist rolled back {result.environment}\n\n`{result.previous_digest}` → `{result.digest}`"
                + (f"\n\nreason: {result.reason}" if result.reason else "")
            )
    report_follow_ups(result.follow_ups_failed, f"the rollback of {result.environment}")
