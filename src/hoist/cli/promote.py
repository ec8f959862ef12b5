"""``hoist promote FROM TO``: the digest FROM has, copied by digest to TO, tagged, verified, recorded."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

from hoist.cli import github, render
from hoist.cli.context import STATE, emit_json, note, say
from hoist.cli.copy import progress
from hoist.cli.options import F, dry_run_option, json_option
from hoist.errors import EvidenceLost, GateRefused, InputError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from hoist.promotion.promote import MirrorResult, PromoteResult
    from hoist.promotion.publish import FollowUp
    from hoist.promotion.rules import Override

EXIT_FOLLOW_UP = 5
"""The promotion (or rollback, or deploy) happened, but a follow-up step after it did not."""


def promotion_options(function: F) -> F:
    """FROM, TO and the options promote and release share."""
    for decorator in reversed(
        (
            click.argument("source", metavar="FROM"),
            click.argument("target", metavar="TO"),
            click.option("--digest", metavar="DIGEST", help="This digest of FROM's repository instead of FROM's tag."),
            click.option("--reason", metavar="TEXT", help="Why: kept in the ledger and shown by 'hoist history'."),
            click.option(
                "--force",
                is_flag=True,
                help="Promote even when TO has the digest already, when FROM is not "
                "TO's 'from', or (with --reason) over refused gates.",
            ),
            click.option(
                "--only",
                multiple=True,
                metavar="NAME",
                help="For an environment of several images: move only this one (repeatable), on purpose.",
            ),
            click.option("--no-referrers", is_flag=True, help="Do not carry signatures, attestations and SBOMs along."),
            json_option,
        )
    ):
        function = decorator(function)
    return function


def override_for(*, force: bool, reason: str | None) -> Override | None:
    """``--force --reason TEXT`` sets refusing rules aside (the ledger keeps the reason)."""
    if not (force and reason):
        return None
    from hoist.promotion.rules import Override

    return Override(reason)


@contextmanager
def refusals(*, force: bool, reason: str | None, json_out: bool) -> Iterator[None]:
    """A refusal prints every rule as JSON with ``--json``; ``--force`` without a reason is bad input."""
    try:
        yield
    except GateRefused as refused:
        if json_out:
            gates = [g.to_json() for g in refused.results]
            emit_json({"refused": True, "digest": refused.subject, "gates": gates})
        if force and not reason:
            raise InputError(
                "--force overrides refused rules only with --reason TEXT, which the ledger keeps"
            ) from refused
        raise
    except EvidenceLost as lost:  # every piece with its outcome at both ends, then the one-line error
        if json_out:
            emit_json({"evidence_lost": True, "evidence_check": lost.check.to_json()})
        raise


def report_mirrors(behind: Sequence[MirrorResult], environment: str) -> None:
    """Mirrors that did not get the digest: the environment moved; say which mirror, exit 1."""
    if not behind:
        return
    for mirror in behind:
        note(f"hoist: error: mirror {mirror.reference} did not get {mirror.digest}: {mirror.error}")
    raise click.exceptions.Exit(1)


def report_follow_ups(failed: tuple[FollowUp, ...], what: str) -> None:
    """A step after the change that did not complete: say so, and exit with its own status."""
    if not failed:
        return
    for item in failed:
        note(f"hoist: warning: {what} done, but its {item.step} step failed: {item.error}")
    note(f"hoist: the next run repairs it (exit {EXIT_FOLLOW_UP}: done, with a follow-up step left)")
    raise click.exceptions.Exit(EXIT_FOLLOW_UP)


@click.command("promote")
@promotion_options
@dry_run_option
def command(
    source: str,
    target: str,
    digest: str | None,
    reason: str | None,
    force: bool,
    dry_run: bool,
    only: tuple[str, ...],
    no_referrers: bool,
    json_out: bool,
) -> None:
    """Promote the image environment FROM has to environment TO, by digest, and record it."""
    with progress(enabled=not json_out and not dry_run) as observer:
        project = STATE.project(observer=observer)
        with refusals(force=force, reason=reason, json_out=json_out):
            result = project.promote(
                source,
                target,
                digest=digest,
                only=only,
                reason=reason,
                override=override_for(force=force, reason=reason),
                force=force,
                dry_run=dry_run,
                referrers=not no_referrers,
            )
    requests, auth = project.stats.snapshot()
    if json_out:
        emit_json({**render.promotion(result), "requests": requests, "auth_requests": auth})
    else:
        _print(result, requests)
    if not dry_run:
        _github(result)
    report_mirrors(result.mirrors_behind, result.environment)
    report_follow_ups(result.follow_ups_failed, f"the promotion of {result.digest} to {result.environment}")


def _print(result: PromoteResult, requests: int) -> None:
    if result.noop:
        say(
            f"{result.environment} already has {result.digest} (seq {result.seq}): nothing to do "
            "(--force records it again)"
        )
        return
    verb = "would promote" if result.dry_run else "promoted"
    say(f"{verb} {result.digest}")
    say(f"  {result.source} -> {result.reference}  (seq {result.seq})")
    say(f"  tags: {', '.join(result.tags)}; history tag: {result.history_tag}")
    if result.previous_digest:
        say(f"  previous: {result.previous_digest}")
    if len(result.members) > 1 or result.only:
        for member in result.members:
            say(f"  {member.name}: {member.digest} -> {member.reference}")
        if result.only:
            say(f"  only: {', '.join(result.only)} (on purpose)")
    for mirror in result.mirrors:
        state = "ok" if mirror.error is None else f"BEHIND ({mirror.error}); 'hoist sync {result.environment}'"
        say(f"  mirror {mirror.reference}: {state}")
    if result.copy is not None:
        copy = result.copy
        say(
            f"  copy: {copy.mode}; {copy.blobs_mounted} mounted, {copy.blobs_streamed} streamed, "
            f"{copy.blobs_skipped} skipped"
        )
    for gate in result.gates:
        mark = "pass" if gate.passed else ("OVERRIDDEN" if gate.overridden else "FAIL")
        say(f"  gate {gate.gate}: {mark}: {gate.detail}")
    say_evidence_check(result)
    if result.signature:
        say(f"  signed: {result.signature}")
    if result.dry_run:
        say("dry run: nothing was changed")
        return
    stages = ", ".join(f"{k} {v:.2f}s" for k, v in result.timings.items() if k != "total")
    say(f"  record: {result.record}; {requests} requests; {result.timings.get('total', 0):.2f}s ({stages})")


def say_evidence_check(result: PromoteResult) -> None:
    """One line about the evidence checked again where it was carried."""
    checked = result.evidence_check
    if checked is None or not checked.pieces:
        return
    again = sum(1 for p in checked.pieces if str(p.destination) in ("verified", "intact"))
    say(f"  evidence: {again} of {len(checked.pieces)} piece(s) verified again in {result.reference.name}")


def _github(result: PromoteResult) -> None:
    github.write_outputs(
        {
            "digest": result.digest,
            "seq": result.seq,
            "tags": list(result.tags),
            "previous-digest": result.previous_digest or "",
            "history-tag": result.history_tag or "",
            "noop": str(result.noop).lower(),
        }
    )
    if result.noop:
        github.write_summary(f"### hoist: {result.environment} already has `{result.digest}`\n")
        return
    rows: list[list[object]] = [
        ["environment", result.environment],
        ["digest", f"`{result.digest}`"],
        ["from", result.source],
        ["to", result.reference],
        ["sequence", result.seq],
        ["tags", ", ".join(result.tags)],
        ["history tag", result.history_tag],
        ["previous", f"`{result.previous_digest}`" if result.previous_digest else "-"],
        ["reason", result.reason or "-"],
        ["time", f"{result.timings.get('total', 0):.2f} s"],
    ]
    github.write_summary(f"### hoist promoted {result.environment}\n\n" + github.table(["", ""], rows))
