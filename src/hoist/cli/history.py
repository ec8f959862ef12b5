"""``hoist history ENV``: what happened to an environment, newest first."""

from __future__ import annotations

import click

from hoist.cli.context import STATE, emit_json, say
from hoist.cli.options import json_option


@click.command("history")
@click.argument("environment", metavar="ENV")
@click.option("-n", "--limit", type=click.IntRange(1), default=20, show_default=True, help="How many records.")
@json_option
def command(environment: str, limit: int, json_out: bool) -> None:
    """List ENV's promotions, rollbacks and deploys, newest first."""
    from hoist.promotion.ledger import Ledger

    config = STATE.load_config()
    env = config.environment(environment)
    store = STATE.session().open(env.image)
    entries = Ledger(store, env.name).history(limit)
    if json_out:
        emit_json([{**e.record.to_json(), "record": str(e.manifest)} for e in entries])
        return
    if not entries:
        say(f"{env.name} has no history yet in {store.location}")
        return
    rows = []
    for entry in entries:
        record = entry.record
        source = (record.source or {}).get("environment") or ""
        if record.kind == "deploy":
            source = (record.deploy or {}).get("result", "")
        flags = " (automatic)" if record.details.get("automatic") else " (forced)" if record.forced else ""
        rows.append(
            [
                str(record.seq),
                record.time[:19].replace("T", " "),
                record.kind + flags,
                record.digest[7:19],
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
