"""``hoist report [ENV...]``: deployment frequency, lead time, change failure rate, time to restore and
stage timings from the environments' ledgers (definitions in :mod:`hoist.report.metrics`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from hoist.cli.context import STATE, emit_json, note, say
from hoist.cli.options import json_option
from hoist.errors import OperationError, ReferenceNotFound
from hoist.report.fmt import duration, percent

if TYPE_CHECKING:
    from hoist.promotion.config import Environment
    from hoist.report.metrics import EnvironmentMetrics, Window


@click.command("report")
@click.argument("environments", metavar="[ENV]...", nargs=-1)
@click.option(
    "--since", type=click.IntRange(1, 3660), default=30, show_default=True, metavar="DAYS", help="Days to look back."
)
@click.option(
    "--html",
    "html_file",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    metavar="FILE",
    help="Also write a self-contained HTML page with a timeline and charts.",
)
@json_option
def command(environments: tuple[str, ...], since: int, html_file: Path | None, json_out: bool) -> None:
    """Delivery metrics per environment over the last DAYS days (default: every environment).

    Deploys and promotions per day, lead time (commit to promotion, commit times from the git
    repository in the working directory), change failure rate, time to restore, and stage timings.
    """
    from hoist.report.metrics import Report, Window

    config = STATE.load_config()
    names = list(dict.fromkeys(environments)) or list(config.environments)
    chosen = [config.environment(name) for name in names]
    now = STATE.options().now()()
    window = Window.last(since, now)
    measured = _measure(chosen, window)
    report = Report(generated=now, window=window, environments=measured)
    if html_file is not None:
        from hoist.report.html import render

        images = {env.name: str(env.image) for env in chosen}
        try:
            html_file.write_text(render(report, images), encoding="utf-8")
        except OSError as exc:
            raise OperationError(f"cannot write {html_file}: {exc.strerror}") from exc
        (note if json_out else say)(f"wrote {html_file}")
    if json_out:
        emit_json(report.to_json())
        return
    for item in measured:
        _show(item)


def _measure(chosen: list[Environment], window: Window) -> list[EnvironmentMetrics]:
    from hoist.report.metrics import measure
    from hoist.report.sources import GitCommitTimes, records_since

    ctx = STATE.project().context
    commit_time = GitCommitTimes()
    measured = []
    for env in chosen:
        try:
            ledger = ctx.ledger(env, push=False)
        except ReferenceNotFound:  # an OCI layout directory nothing was promoted to yet
            note(f"{env.name}: {env.image} does not exist yet; reporting it as empty")
            records = []
        else:
            records = records_since(ledger, window.start)
        measured.append(measure(env.name, records, commit_time, window))
    return measured


def _show(item: EnvironmentMetrics) -> None:
    doc = item.to_json()
    freq, lead, cfr, ttr = (
        doc["deployment_frequency"],
        doc["lead_time"],
        doc["change_failure_rate"],
        doc["time_to_restore"],
    )
    window = item.window
    say(f"{item.environment}: {doc['records']['in_window']} records in the last {len(window.days)} days")
    say(
        f"  deploys/day     {freq['deploys_per_day']:g} ({freq['deploys']} healthy deploys), "
        f"promotions/day {freq['promotions_per_day']:g} ({freq['promotions']})"
    )
    skipped = lead["skipped_unknown_sha"]
    unknown = f"; skipped {skipped} whose commit is not in this repository" if skipped else ""
    no_sha = f"; {lead['skipped_without_sha']} without a git sha" if lead["skipped_without_sha"] else ""
    say(
        f"  lead time       median {duration(lead['median_seconds'])}, p90 {duration(lead['p90_seconds'])} "
        f"({lead['measured']} of {lead['promotions']} promotions{unknown}{no_sha})"
    )
    say(
        f"  change failure  {percent(cfr['rate'])} ({cfr['failed_deploys']} failed deploys + "
        f"{cfr['manual_rollbacks']} manual rollbacks / {cfr['deploys']} deploys)"
    )
    say(
        f"  time to restore median {duration(ttr['median_seconds'])}, p90 {duration(ttr['p90_seconds'])} "
        f"({ttr['restored']} of {ttr['incidents']} incidents restored)"
    )
    for kind, stages in doc["stage_timings"].items():
        parts = [f"{stage} {duration(s['median_seconds'])}/{duration(s['p90_seconds'])}" for stage, s in stages.items()]
        say(f"  {kind} stages (median/p90): " + ", ".join(parts))
