"""``hoist audit verify ENV``: the ledger's chain is whole, untampered, and what it records exists."""

from __future__ import annotations

import click

from hoist.cli import render
from hoist.cli.context import STATE, emit_json, say
from hoist.cli.options import json_option


@click.group("audit")
def command() -> None:
    """Check the ledger kept in the registry."""


@command.command("verify")
@click.argument("environment", metavar="ENV")
@click.option(
    "--since",
    type=click.IntRange(1),
    metavar="SEQ",
    help="Check only back to this sequence number (one an earlier audit passed).",
)
@json_option
def verify(environment: str, since: int | None, json_out: bool) -> None:
    """Walk ENV's ledger: chain, copies, recorded digests and history tags."""
    result = STATE.project().audit(environment, since=since)
    if json_out:
        emit_json(render.audit(result))
    else:
        for finding in result.findings:
            where = f"seq {finding.seq}: " if finding.seq is not None else ""
            say(f"{finding.severity.upper():7} {where}{finding.message}")
        verdict = "ok" if result.ok else "FAILED"
        back = f" back to seq {result.since}" if result.since else ""
        say(
            f"audit {verdict}: {result.records} record(s){back}, {result.digests_checked} digest(s) checked, "
            f"head {result.head}"
        )
    if not result.ok:
        raise click.exceptions.Exit(1)
