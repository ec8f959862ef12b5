"""``hoist status [ENV]``: current digest, sequence, age, rollback readiness, drift, last deploy."""

from __future__ import annotations

import click

from hoist.cli import render
from hoist.cli.context import STATE, emit_json, say
from hoist.cli.options import json_option


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"


@click.command("status")
@click.argument("environments", metavar="[ENV]...", nargs=-1)
@json_option
def command(environments: tuple[str, ...], json_out: bool) -> None:
    """Where each environment stands."""
    project = STATE.project()
    results = project.status(*environments)
    now = project.options.now()()
    if json_out:
        emit_json([render.status(r) for r in results])
        return
    for item in results:
        if item.error:
            say(f"{item.environment}: error: {item.error}")
            continue
        drift = f"  DRIFT: the tag points at {item.tag_digest}" if item.drift else ""
        seq = f"seq {item.seq}" if item.seq is not None else "no promotions"
        say(f"{item.environment}: {item.digest or 'nothing'} ({seq}, {_age(item.age_seconds)} ago){drift}")
        say(f"  {item.reference}")
        for warning in item.warnings:
            say(f"  note: {warning}")
        if item.untrusted:
            say(f"  UNTRUSTED: the newest record is {item.untrusted}: do not rely on this (hoist audit verify)")
        for freeze in item.freezes:
            say(f"  FROZEN: {freeze.describe(now)}")
        ready = "ready" if item.rollback_ready else "not ready"
        say(f"  rollback: {ready} ({item.rollback_detail})")
        for member in item.members:
            drift = f"  DRIFT: the tag points at {member.tag_digest}" if member.drift else ""
            say(f"  {member.name}: {member.digest or 'nothing'} ({member.reference}){drift}")
        for mirror in item.mirrors:
            state = "level" if not mirror.behind else f"BEHIND: holds {mirror.found or 'nothing'}"
            error = f" ({mirror.error})" if mirror.error else ""
            say(f"  mirror {mirror.reference}: {state}{error}")
        if item.target_digest or item.target_detail:
            same = "" if item.target_digest in (None, item.digest) else "  (differs from the promoted digest)"
            say(f"  repository: {item.target_digest or '-'} ({item.target_detail}){same}")
        if item.deployed:
            same = "" if item.deployed == item.digest else "  (differs from the promoted digest)"
            say(f"  deployed: {item.deployed} at {item.deployed_at} ({item.deploy_result}){same}")
