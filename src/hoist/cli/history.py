"""``hoist history ENV``: what happened to an environment, newest first."""

from __future__ import annotations

import click

from hoist.cli import render
from hoist.cli.context import STATE, emit_json, say
from hoist.cli.options import json_option


@click.command("history")
@click.argument("environment", metavar="ENV")
@click.option("-n", "--limit", type=click.IntRange(1), default=20, show_default=True, help="How many records.")
@json_option
def command(environment: str, limit: int, json_out: bool) -> None:
    """List ENV's promotions, rollbacks and deploys, newest first."""
    project = STATE.project()
    entries = project.history(environment, limit=limit)
    problems = [project.untrusted(environment, e) for e in entries]
    if json_out:
        emit_json([{**render.entry(e), "untrusted": p} for e, p in zip(entries, problems, strict=True)])
        return
    if not entries:
        say(f"{environment} has no history yet in {project.config.environment(environment).image.name}")
        return
    rows = []
    for entry, problem in zip(entries, problems, strict=True):
        record = entry.record
        source = (record.source.environment if record.source else None) or ""
        if record.deploy is not None:
            source = str(record.deploy.result)
        if record.kind == "freeze":
            source = f"until {str(record.details.get('until', '?'))[:16].replace('T', ' ')}"
        flags = " (automatic)" if record.automatic else " (forced)" if record.forced else ""
        if problem is not None:
            flags += f" UNTRUSTED: {problem}"
        rows.append(
            [
                str(record.seq),
                record.time[:19].replace("T", " "),
                record.kind + flags,
                record.digest.short,
                ",".join(record.tags[:3]) + ("…" if len(record.tags) > 3 else ""),
                record.actor,
                source,
                record.reason or "",
            ]
        )
    _table(["SEQ", "TIME (UTC)", "KIND", "DIGEST", "TAGS", "ACTOR", "SOURCE", "REASON"], rows)


def _table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    say("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for row in rows:
        say("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
