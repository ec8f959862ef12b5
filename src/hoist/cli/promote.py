"""``hoist promote FROM TO``: the digest FROM has, copied by digest to TO, tagged, verified, recorded."""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any

import click

from hoist.cli import github
from hoist.cli.context import STATE, emit_json, is_terminal, say
from hoist.cli.options import F, dry_run_option, json_option
from hoist.digest import Digest
from hoist.errors import GateRefused

if TYPE_CHECKING:
    from hoist.evidence.keys import PrivateKey
    from hoist.manifest import Manifest
    from hoist.ops.copy import CopyObserver
    from hoist.promotion.config import Config
    from hoist.promotion.promote import PromoteOptions, PromoteResult
    from hoist.store.session import Session


def progress(*, enabled: bool) -> AbstractContextManager[CopyObserver | None]:
    if enabled and is_terminal(sys.stderr):
        from hoist.cli.progress import BarProgress

        return BarProgress()
    return nullcontext(None)


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
            click.option("--no-referrers", is_flag=True, help="Do not carry signatures, attestations and SBOMs along."),
            json_option,
        )
    ):
        function = decorator(function)
    return function


def options_for(
    config: Config,
    target: str,
    *,
    digest: str | None,
    reason: str | None,
    force: bool,
    no_referrers: bool,
    dry_run: bool = False,
) -> PromoteOptions:
    from hoist.promotion.promote import PromoteOptions

    return PromoteOptions(
        digest=Digest.parse(digest) if digest else None,
        reason=reason,
        force=force,
        dry_run=dry_run,
        jobs=STATE.jobs,
        referrers=not no_referrers,
        signer=signer(config, target),
    )


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
    no_referrers: bool,
    json_out: bool,
) -> None:
    """Promote the image environment FROM has to environment TO, by digest, and record it."""
    from hoist.promotion.promote import promote

    config = STATE.load_config()
    options = options_for(
        config, target, digest=digest, reason=reason, force=force, no_referrers=no_referrers, dry_run=dry_run
    )
    session = STATE.session()
    with progress(enabled=not json_out and not dry_run) as observer:
        result = promote(
            config,
            session,
            source,
            target,
            options=options,
            observer=observer,
            gates=gates_for(config, session, source, target, force=force, reason=reason, json_out=json_out),
        )
    requests, auth = session.stats.snapshot()
    if json_out:
        emit_json({**result.to_json(), "requests": requests, "auth_requests": auth})
    else:
        _print(result, requests)
    if not dry_run:
        _github(result)


def signer(config: Config, target: str) -> PrivateKey | None:
    """The key that signs promoted digests (``gates.sign_with``), read before anything changes."""
    path = config.environment(target).gates.sign_with
    if path is None:
        return None
    from hoist.cli.keys import private_key

    return private_key(path)


def gates_for(
    config: Config, session: Session, source: str, target: str, *, force: bool, reason: str | None, json_out: bool
) -> Callable[[Manifest], list[dict[str, Any]]] | None:
    """The gate check for TO's ``require`` list; a refusal also prints the gates as JSON with ``--json``."""
    if not config.environment(target).gates.require:
        return None
    from hoist.promotion.gates import gate_check

    check = gate_check(config, session, source, target, force=force, reason=reason)

    def run(manifest: Manifest) -> list[dict[str, Any]]:
        try:
            return check(manifest)
        except GateRefused as refused:
            if json_out:
                emit_json({"refused": True, "digest": str(manifest.digest), "gates": refused.details})
            raise

    return run


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
    if result.copy is not None:
        copy = result.copy
        say(
            f"  copy: {copy.mode}; {copy.blobs_mounted} mounted, {copy.blobs_streamed} streamed, "
            f"{copy.blobs_skipped} skipped"
        )
    for gate in result.gates:
        mark = "pass" if gate["passed"] else ("OVERRIDDEN" if gate.get("overridden") else "FAIL")
        say(f"  gate {gate['gate']}: {mark}: {gate['detail']}")
    if result.signature:
        say(f"  signed: {result.signature}")
    if result.dry_run:
        say("dry run: nothing was changed")
        return
    stages = ", ".join(f"{k} {v:.2f}s" for k, v in result.timings.items() if k != "total")
    say(f"  record: {result.record}; {requests} requests; {result.timings.get('total', 0):.2f}s ({stages})")


def _github(result: PromoteResult) -> None:
    github.write_outputs(
        {
            "digest": result.digest,
            "seq": result.seq,
            "tags": result.tags,
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
