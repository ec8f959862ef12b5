"""``hoist freeze ENV --until TIME --reason TEXT`` and ``hoist unfreeze ENV --reason TEXT``."""

from __future__ import annotations

from datetime import datetime, timedelta

import click

from hoist.cli import render
from hoist.cli.context import STATE, emit_json, say
from hoist.cli.options import json_option
from hoist.errors import InputError


def _until(until: str | None, duration: str | None, now: datetime) -> datetime:
    if (until is None) == (duration is None):
        raise InputError("say when the freeze ends: --until TIME (RFC 3339, such as 2026-12-27T09:00Z) or --for 2d")
    if duration is not None:
        from hoist.promotion.schema import parse_duration

        try:
            return now + timedelta(seconds=parse_duration(duration))
        except (TypeError, ValueError) as exc:
            raise InputError(f"--for {duration!r}: expected a duration such as 90m, 12h or 3d") from exc
    assert until is not None
    from hoist.clock import parse_time

    try:
        return parse_time(until)
    except ValueError as exc:
        raise InputError(f"--until {until!r}: expected an RFC 3339 time such as 2026-12-27T09:00Z") from exc


@click.command("freeze")
@click.argument("environments", metavar="ENV...", nargs=-1, required=True)
@click.option("--until", metavar="TIME", help="When the freeze ends (RFC 3339; UTC unless it has an offset).")
@click.option("--for", "duration", metavar="DURATION", help="How long the freeze lasts (90m, 12h, 3d).")
@click.option("--reason", metavar="TEXT", help="Why (required): kept in the ledger, sent to the webhooks.")
@json_option
def freeze_command(
    environments: tuple[str, ...], until: str | None, duration: str | None, reason: str | None, json_out: bool
) -> None:
    """Stop promotions, releases and deploys to ENV until a time, for every pipeline at once.

    The freeze is a record in ENV's ledger in the registry; rollbacks to what ENV ran stay allowed.
    """
    project = STATE.project()
    end = _until(until, duration, project.options.now()())
    if reason is None:
        raise InputError("a freeze needs --reason TEXT: the ledger keeps it")
    for name in environments:  # every name checked before the first freeze is written
        project.config.environment(name)
    results = [project.freeze(name, until=end, reason=reason) for name in environments]
    if json_out:
        emit_json([render.freeze(r) for r in results])
        return
    for result in results:
        assert result.until is not None
        replaced = (
            f" (replaces the freeze until {render.utc(result.replaced.until)})"
            if result.replaced and result.replaced.until
            else ""
        )
        say(f"froze {result.environment} until {render.utc(result.until)}{replaced}")
        say(f"  record seq {result.seq}: {result.record}; by {result.actor}: {result.reason}")


@click.command("unfreeze")
@click.argument("environments", metavar="ENV...", nargs=-1, required=True)
@click.option("--reason", metavar="TEXT", help="Why (required): kept in the ledger, sent to the webhooks.")
@json_option
def unfreeze_command(environments: tuple[str, ...], reason: str | None, json_out: bool) -> None:
    """Lift the freeze in force on ENV before its end."""
    if reason is None:
        raise InputError("an unfreeze needs --reason TEXT: the ledger keeps it")
    project = STATE.project()
    for name in environments:
        project.config.environment(name)
    results = [project.unfreeze(name, reason=reason) for name in environments]
    if json_out:
        emit_json([render.freeze(r) for r in results])
        return
    now = project.options.now()()
    for result in results:
        say(f"unfroze {result.environment} (the freeze of seq {result.replaced.seq if result.replaced else '?'})")
        say(f"  record seq {result.seq}: {result.record}; by {result.actor}: {result.reason}")
        if result.windows is not None:
            say(f"  still closed: {result.windows.describe(now)}")
