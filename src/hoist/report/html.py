"""The report as ONE self-contained HTML page: inline CSS and inline SVG, no script, nothing fetched.

Per environment: headline numbers, a timeline of its records, healthy deploys and promotions per day,
stage timings, and every number of ``hoist report --json`` in tables. Each of those table cells carries
``data-path``, its place in the JSON document (a JSON array of keys), and shows the value as JSON does
(``—`` for null), so the page can be checked against ``--json``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from html import escape
from typing import Any

from hoist.report.charts import per_day, stage_chart, timeline
from hoist.report.fmt import duration, percent, plural, short_date
from hoist.report.metrics import EnvironmentMetrics, Report

Path = tuple[str | int, ...]

SECTIONS = (
    ("records", "Records"),
    ("deployment_frequency", "Deployment frequency"),
    ("lead_time", "Lead time (commit → promotion)"),
    ("change_failure_rate", "Change failure rate"),
    ("time_to_restore", "Time to restore"),
)


def shown(value: Any) -> str:
    """How the page shows a JSON value: as JSON, except null as ``—`` and strings as themselves."""
    if value is None:
        return "—"
    return value if isinstance(value, str) else json.dumps(value)


def _cell(path: Path, value: Any) -> str:
    return f"<span class=\"num\" data-path='{escape(json.dumps(list(path)), quote=True)}'>{escape(shown(value))}</span>"


def _human(key: str, value: Any) -> str:
    if key.endswith("_seconds") and isinstance(value, int | float):
        return duration(value)
    if key == "rate" and isinstance(value, int | float):
        return percent(value)
    return ""


def _section_table(base: Path, title: str, doc: Mapping[str, Any]) -> str:
    rows = []
    for key, value in doc.items():
        if isinstance(value, dict | list):
            continue
        rows.append(
            f'<tr><th scope="row">{escape(key.replace("_", " "))}</th><td>{_cell((*base, key), value)}</td>'
            f'<td class="human">{escape(_human(key, value))}</td></tr>'
        )
    return f'<table class="numbers"><caption>{escape(title)}</caption>{"".join(rows)}</table>'


def _stage_table(base: Path, stages: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> str:
    if not stages:
        return '<p class="muted">No stage timings in this window.</p>'
    rows = []
    for kind, by_stage in stages.items():
        for stage, summary in by_stage.items():
            path = (*base, kind, stage)
            cells = "".join(
                f"<td>{_cell((*path, key), summary[key])}"
                + (f" <small>{escape(duration(summary[key]))}</small>" if key != "count" else "")
                + "</td>"
                for key in ("count", "median_seconds", "p90_seconds")
            )
            rows.append(f"<tr><td>{escape(kind)}</td><td>{escape(stage)}</td>{cells}</tr>")
    head = "<tr><th>kind</th><th>stage</th><th>count</th><th>median (s)</th><th>p90 (s)</th></tr>"
    return f'<table class="numbers wide"><caption>Stage timings</caption>{head}{"".join(rows)}</table>'


def _days_table(base: Path, days: list[dict[str, Any]]) -> str:
    keys = ("deploys", "promotions", "rollbacks", "failed_deploys")
    head = "<tr><th>date</th>" + "".join(f"<th>{k.replace('_', ' ')}</th>" for k in keys) + "</tr>"
    rows = [
        f"<tr><td>{_cell((*base, i, 'date'), day['date'])}</td>"
        + "".join(f"<td>{_cell((*base, i, k), day[k])}</td>" for k in keys)
        + "</tr>"
        for i, day in enumerate(days)
    ]
    return (
        f'<details class="days"><summary>Counts per day ({len(days)} days)</summary>'
        f'<table class="numbers wide">{head}{"".join(rows)}</table></details>'
    )


def _kpis(doc: Mapping[str, Any]) -> str:
    freq, lead = doc["deployment_frequency"], doc["lead_time"]
    cfr, ttr = doc["change_failure_rate"], doc["time_to_restore"]
    skipped = lead["skipped_unknown_sha"]
    lead_note = f"{lead['measured']} of {plural(lead['promotions'], 'promotion')}"
    if lead["measured"]:
        lead_note = f"p90 {duration(lead['p90_seconds'])} · {lead_note}"
    if skipped:
        lead_note += f" · {skipped} skipped (commit not in this repository)"
    if lead["skipped_without_sha"]:
        lead_note += f" · {lead['skipped_without_sha']} without a git sha"
    cards = [
        (
            "Deploys per day",
            f"{freq['deploys_per_day']:g}",
            f"{plural(freq['deploys'], 'healthy deploy')} · {freq['promotions_per_day']:g} promotions/day",
        ),
        ("Lead time (median)", duration(lead["median_seconds"]), lead_note),
        (
            "Change failure rate",
            percent(cfr["rate"]),
            f"{plural(cfr['failures'], 'failure')} / {plural(cfr['deploys'], 'deploy')}",
        ),
        (
            "Time to restore (median)",
            duration(ttr["median_seconds"]),
            (f"p90 {duration(ttr['p90_seconds'])} · " if ttr["restored"] else "")
            + f"{ttr['restored']} of {plural(ttr['incidents'], 'incident')} restored",
        ),
    ]
    return (
        '<div class="kpis">'
        + "".join(
            f'<div class="kpi"><div class="label">{escape(label)}</div><div class="value">{escape(value)}</div>'
            f'<div class="sub">{escape(sub)}</div></div>'
            for label, value, sub in cards
        )
        + "</div>"
    )


LEGEND = (
    ("dot promote", "promotion"),
    ("dot healthy", "deploy: healthy"),
    ("dot failed", "deploy: failed"),
    ("dot restored", "deploy: restored (automatic rollback)"),
    ("diamond", "rollback"),
    ("band", "incident: failure → restore"),
)


def _environment(metrics: EnvironmentMetrics, image: str) -> str:
    doc = metrics.to_json()
    base: Path = ("environments", metrics.environment)
    legend = "".join(f'<span class="key"><i class="{c}"></i>{escape(t)}</span>' for c, t in LEGEND)
    sections = "".join(_section_table((*base, key), title, doc[key]) for key, title in SECTIONS)
    name = escape(metrics.environment, quote=True)
    count = plural(doc["records"]["in_window"], "record")
    return f"""
<section class="env" id="env-{name}" data-environment="{name}">
  <h2>{name} <code>{escape(image)}</code><span class="count">{count} in the window</span></h2>
  {_kpis(doc)}
  <div class="card"><h3>Timeline</h3><div class="legend">{legend}</div>{timeline(metrics)}</div>
  <div class="grid2">
    <div class="card"><h3>Per day</h3><div class="legend">
      <span class="key"><i class="sq healthy"></i>healthy deploys</span>
      <span class="key"><i class="sq promote"></i>promotions</span></div>{per_day(metrics)}</div>
    <div class="card"><h3>Stage timings</h3>{stage_chart(metrics)}</div>
  </div>
  <div class="card"><h3>Numbers</h3><div class="tables">{sections}</div>
    {_stage_table((*base, "stage_timings"), doc["stage_timings"])}
    {_days_table((*base, "deployment_frequency", "days"), doc["deployment_frequency"]["days"])}
  </div>
</section>"""


def _header(report: Report) -> str:
    days = report.window.days
    names = ", ".join(m.environment for m in report.environments) or "no environments"
    span = f"{short_date(days[0])} to {short_date(days[-1])}, {days[-1].year} (UTC)"
    generated = report.generated.strftime("%Y-%m-%d %H:%M UTC")
    return f"""
<header>
  <h1>hoist report</h1>
  <p class="muted">{escape(names)} · last {plural(len(days), "day")}: {span} · generated {generated}</p>
</header>"""


def _definitions(report: Report) -> str:
    doc = report.to_json()
    window = doc["window"]
    return f"""
<footer class="card definitions"><h3>Definitions</h3><ul>
<li><b>Window</b>: whole UTC days ending today, here {_cell(("window", "days"), window["days"])} days from
{_cell(("window", "start"), window["start"])} up to {_cell(("window", "end"), window["end"])}; only records
inside it count. This page was generated at {_cell(("generated",), doc["generated"])}.</li>
<li><b>Deploys per day</b>: deploy records with result <i>healthy</i> per UTC day; promotions per day likewise.</li>
<li><b>Lead time</b>: promote record time - committer time of its <code>git.sha</code> (from the local git
repository; shas it does not know are skipped and counted). Median and p90.</li>
<li><b>Change failure rate</b>: (failed deploys + manual rollbacks) / deploys (healthy + failed). An automatic
rollback is part of the failed deploy it undoes and is not counted twice.</li>
<li><b>Time to restore</b>: from a failed deploy or manual rollback to the next healthy or restored deploy
(for an automatic rollback, the <i>restored</i> record written when it completed). Failures during an open
incident join it.</li>
<li><b>Percentiles</b>: linear interpolation between closest ranks; durations in seconds.</li>
</ul></footer>"""


def render(report: Report, images: Mapping[str, str]) -> str:
    """The page; ``images`` names each environment's image reference."""
    body = "".join(_environment(m, images.get(m.environment, "")) for m in report.environments)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="hoist report">
<title>hoist report</title>
<style>{CSS}</style>
</head>
<body>
<main>
{_header(report)}
{body}
{_definitions(report)}
</main>
</body>
</html>
"""


CSS = """
:root {
  --bg: #f5f6f8; --card: #ffffff; --text: #1d2430; --muted: #667085; --line: #e4e7ec;
  --lane0: #fbfbfc; --lane1: #f3f5f7; --grid: #e9ecf0;
  --promote: #2563eb; --healthy: #12a150; --failed: #dc2626; --restored: #9333ea; --rollback: #ea7a0c;
  --prune: #7b8794; --incident: rgba(220, 38, 38, 0.16); --incident-open: rgba(220, 38, 38, 0.24);
  --p90: #c7d7fe; --median: #3b63e0;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0f141b; --card: #171d26; --text: #e6e9ee; --muted: #98a2b3; --line: #27303c;
    --lane0: #1a212b; --lane1: #1d2530; --grid: #27303c; --p90: #2c3e73; --median: #7c9cff;
    --incident: rgba(248, 81, 73, 0.16); --incident-open: rgba(248, 81, 73, 0.26);
  }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--text);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Liberation Sans", "DejaVu Sans", sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 28px 20px 40px; }
header h1 { margin: 0; font-size: 26px; letter-spacing: -0.01em; }
header p { margin: 4px 0 0; }
.muted, .human, small { color: var(--muted); }
code { font: 12.5px ui-monospace, "DejaVu Sans Mono", monospace; }
.env { margin-top: 30px; }
.env h2 { display: flex; align-items: baseline; gap: 12px; margin: 0 0 12px; font-size: 20px; }
.env h2 code { font-weight: 400; color: var(--muted); }
.env h2 .count { margin-left: auto; font-size: 13px; font-weight: 400; color: var(--muted); }
.kpis { display: grid; grid-template-columns: repeat(4, 1fr); gap: 12px; }
.kpi, .card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; }
.kpi { padding: 14px 16px; }
.kpi .label, .card h3 { font-size: 12px; font-weight: 600; text-transform: uppercase; letter-spacing: 0.05em;
  color: var(--muted); }
.kpi .value { font-size: 28px; font-weight: 650; margin: 2px 0; font-variant-numeric: tabular-nums; }
.kpi .sub { font-size: 12.5px; color: var(--muted); }
.card { padding: 14px 16px 16px; margin-top: 12px; }
.card h3 { margin: 0 0 8px; }
.grid2 { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }
.grid2 .card { margin-top: 12px; }
.legend { display: flex; flex-wrap: wrap; gap: 6px 16px; margin: -2px 0 8px; font-size: 12px; color: var(--muted); }
.key { display: inline-flex; align-items: center; gap: 6px; }
.key i { display: inline-block; width: 10px; height: 10px; }
.key .dot { border-radius: 50%; }
.key .promote { background: var(--promote); } .key .healthy { background: var(--healthy); }
.key .failed { background: var(--failed); } .key .restored { background: var(--restored); }
.key .diamond { background: var(--rollback); transform: rotate(45deg) scale(0.85); }
.key .band { width: 16px; background: var(--incident-open); }
svg.chart { display: block; width: 100%; height: auto; overflow: visible; }
svg text { font: 11px system-ui, "Liberation Sans", "DejaVu Sans", sans-serif; fill: var(--muted); }
svg .lane-label { text-anchor: end; font-size: 12px; fill: var(--text); }
svg .lane-0 { fill: var(--lane0); } svg .lane-1 { fill: var(--lane1); }
svg .grid { stroke: var(--grid); stroke-width: 1; }
svg .axis-label.x, svg .bar-value { text-anchor: middle; }
svg .axis-label.y, svg .stage-label, svg .legend-note { text-anchor: end; }
svg .stage-label { fill: var(--text); }
svg .group-label { font-size: 12px; font-weight: 600; fill: var(--text); }
svg .bar-value { font-size: 10px; }
svg .stage-value { font-variant-numeric: tabular-nums; }
svg .empty { text-anchor: middle; font-size: 13px; }
svg .event { stroke: var(--card); stroke-width: 1.5; }
svg .event-promote, svg .bar-promotions { fill: var(--promote); }
svg .result-healthy, svg .bar-deploys { fill: var(--healthy); }
svg .result-failed { fill: var(--failed); }
svg .result-restored { fill: var(--restored); }
svg .event-rollback { fill: var(--rollback); }
svg .event-rollback.automatic { fill: var(--card); stroke: var(--rollback); stroke-width: 2; }
svg .event-prune { fill: var(--prune); }
svg .incident { fill: var(--incident); }
svg .incident.open { fill: var(--incident-open); }
svg .bar { rx: 1.5; }
svg .stage-p90 { fill: var(--p90); rx: 3; }
svg .stage-median { fill: var(--median); rx: 3; }
.tables { display: grid; grid-template-columns: repeat(auto-fill, minmax(250px, 1fr)); gap: 8px 24px;
  align-items: start; }
table.numbers { border-collapse: collapse; width: 100%; font-size: 13px; font-variant-numeric: tabular-nums; }
table.numbers caption { text-align: left; font-weight: 600; padding: 6px 0 4px; }
table.numbers th, table.numbers td { text-align: left; padding: 3px 8px 3px 0; border-bottom: 1px solid var(--line); }
table.numbers th { font-weight: 500; color: var(--muted); }
table.numbers th[scope=row] { width: 58%; }
table.numbers td, .human { white-space: nowrap; }
table.numbers td .num { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12.5px; }
table.wide { margin-top: 14px; }
details.days { margin-top: 12px; }
details.days summary { cursor: pointer; color: var(--muted); }
.definitions ul { margin: 0; padding-left: 18px; color: var(--muted); font-size: 13px; }
.definitions li { margin: 2px 0; }
footer.definitions { margin-top: 30px; }
@media (max-width: 900px) {
  .kpis { grid-template-columns: repeat(2, 1fr); }
  .grid2 { grid-template-columns: 1fr; }
}
"""
