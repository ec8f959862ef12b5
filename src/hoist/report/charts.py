"""Inline SVG charts for the report page: a timeline of the records, counts per day, stage timings.

Plain SVG drawn here (no script, nothing fetched); colours come from the page's CSS classes, each mark
carries its numbers in ``data-*`` attributes and a ``<title>`` tooltip.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime
from html import escape

from hoist.report.fmt import duration, plural, short_date
from hoist.report.metrics import EnvironmentMetrics, Event, Summary, Window

LANES = ("promote", "deploy", "rollback", "prune")
LANE_TITLES = {"promote": "promotions", "deploy": "deploys", "rollback": "rollbacks", "prune": "prunes"}
TIMELINE_WIDTH = 1140
HALF_WIDTH = 560
_MARK = 5.5


def _a(value: object) -> str:
    return escape(str(value), quote=True)


def _n(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def _label_step(count: int, most: int) -> int:
    return max(1, math.ceil(count / most))


def _svg(kind: str, width: int, height: float, label: str, body: list[str]) -> str:
    head = (
        f'<svg class="chart {kind}" viewBox="0 0 {width} {_n(height)}" width="{width}" height="{_n(height)}" '
        f'role="img" aria-label="{_a(label)}" xmlns="http://www.w3.org/2000/svg">'
    )
    return "\n".join([head, *body, "</svg>"])


# -- timeline ------------------------------------------------------------------------------------------


class _TimeAxis:
    def __init__(self, window: Window, left: float, width: float) -> None:
        self.window, self.left, self.width = window, left, width
        self.span = (window.end - window.start).total_seconds()

    def x(self, moment: datetime) -> float:
        offset = (moment - self.window.start).total_seconds() / self.span
        return self.left + self.width * min(max(offset, 0.0), 1.0)


def _tooltip(event: Event) -> str:
    record = event.record
    what = str(record.kind)
    if event.result:
        what += f" ({event.result})"
    if event.automatic:
        what += " (automatic)"
    lines = [f"#{record.seq} {what}", event.time.strftime("%Y-%m-%d %H:%M:%S UTC"), str(record.digest)[:19] + "…"]
    if record.actor:
        lines.append(f"by {record.actor}")
    if record.reason:
        lines.append(record.reason)
    return "\n".join(lines)


def _mark(event: Event, x: float, y: float) -> str:
    classes = f"event event-{event.kind}"
    if event.result:
        classes += f" result-{event.result}"
    if event.automatic:
        classes += " automatic"
    data = f'data-seq="{event.record.seq}" data-kind="{_a(event.kind)}" data-result="{_a(event.result or "")}"'
    title = f"<title>{escape(_tooltip(event))}</title>"
    cx, cy, r = _n(x), _n(y), _MARK
    if event.kind == "rollback":
        d = f"M{_n(x)} {_n(y - r - 1)} L{_n(x + r + 1)} {cy} L{cx} {_n(y + r + 1)} L{_n(x - r - 1)} {cy} Z"
        return f'<path class="{classes}" {data} d="{d}">{title}</path>'
    if event.kind == "prune":
        return (
            f'<rect class="{classes}" {data} x="{_n(x - r + 1)}" y="{_n(y - r + 1)}" '
            f'width="{_n(2 * r - 2)}" height="{_n(2 * r - 2)}">{title}</rect>'
        )
    return f'<circle class="{classes}" {data} cx="{cx}" cy="{cy}" r="{r}">{title}</circle>'


def timeline(metrics: EnvironmentMetrics) -> str:
    """One lane per kind of record across the window; incidents as bands from failure to restore."""
    window, events = metrics.window, metrics.events
    lanes = [k for k in LANES if k != "prune" or any(e.kind == "prune" for e in events)]
    left, right, top, lane, axis = 96.0, 14.0, 6.0, 30.0, 24.0
    height = top + lane * len(lanes) + axis
    scale = _TimeAxis(window, left, TIMELINE_WIDTH - left - right)
    bottom = top + lane * len(lanes)
    body: list[str] = []
    for index, kind in enumerate(lanes):
        y = top + lane * index
        body.append(
            f'<rect class="lane lane-{index % 2}" x="{_n(left)}" y="{_n(y)}" '
            f'width="{_n(scale.width)}" height="{_n(lane)}"/>'
        )
        body.append(
            f'<text class="lane-label" x="{_n(left - 10)}" y="{_n(y + lane / 2 + 4)}">{LANE_TITLES[kind]}</text>'
        )
    step = _label_step(len(window.days), 12)
    for index, day in enumerate(window.days):
        x = scale.x(datetime.combine(day, datetime.min.time(), tzinfo=window.start.tzinfo))
        body.append(f'<line class="grid" x1="{_n(x)}" x2="{_n(x)}" y1="{_n(top)}" y2="{_n(bottom + 4)}"/>')
        if index % step == 0:
            body.append(f'<text class="axis-label" x="{_n(x + 3)}" y="{_n(bottom + 17)}">{short_date(day)}</text>')
    for incident in metrics.restore.incidents:
        x1 = scale.x(incident.start.time)
        x2 = scale.x(incident.end.time) if incident.end else left + scale.width
        state = "restored" if incident.end else "open"
        seconds = incident.seconds
        title = f"incident from #{incident.start.record.seq}: " + (
            f"restored after {duration(seconds)}" if seconds is not None else "not restored"
        )
        body.append(
            f'<rect class="incident {state}" x="{_n(x1)}" y="{_n(top)}" width="{_n(max(x2 - x1, 4.0))}" '
            f'height="{_n(bottom - top)}"><title>{escape(title)}</title></rect>'
        )
    for event in sorted(events, key=lambda e: e.result == "failed"):  # failures drawn on top
        if event.kind not in lanes:
            continue  # records with no lane of their own (syncs, freezes)
        y = top + lane * lanes.index(event.kind) + lane / 2
        body.append(_mark(event, scale.x(event.time), y))
    if not events:
        body.append(
            f'<text class="empty" x="{_n(left + scale.width / 2)}" y="{_n(top + lane * len(lanes) / 2 + 4)}">'
            "no records in this window</text>"
        )
    label = f"{metrics.environment}: timeline of {plural(len(events), 'record')}"
    return _svg("timeline", TIMELINE_WIDTH, height, label, body)


# -- per day -------------------------------------------------------------------------------------------


def _ticks(largest: int) -> tuple[int, list[int]]:
    """A round top for a count axis and its ticks."""
    step = max(1, math.ceil(max(largest, 1) / 4))
    top = step * max(1, math.ceil(max(largest, 1) / step))
    return top, list(range(0, top + 1, step))


def per_day(metrics: EnvironmentMetrics) -> str:
    """Healthy deploys and promotions per day, side by side."""
    days = metrics.frequency.days
    left, right, top, bottom, height = 30.0, 8.0, 16.0, 24.0, 250.0
    plot_w, plot_h = HALF_WIDTH - left - right, height - top - bottom
    ceiling, ticks = _ticks(max([d.deploys for d in days] + [d.promotions for d in days]))
    group = plot_w / len(days)
    bar = max(group * 0.36, 1.0)
    body: list[str] = []
    for tick in ticks:
        y = top + plot_h - plot_h * tick / ceiling
        body.append(f'<line class="grid" x1="{_n(left)}" x2="{_n(left + plot_w)}" y1="{_n(y)}" y2="{_n(y)}"/>')
        body.append(f'<text class="axis-label y" x="{_n(left - 6)}" y="{_n(y + 4)}">{tick}</text>')
    step = _label_step(len(days), 8)
    for index, day in enumerate(days):
        x0 = left + group * index + (group - 2 * bar) / 2
        for offset, series, value in ((0, "deploys", day.deploys), (1, "promotions", day.promotions)):
            h = plot_h * value / ceiling
            x, y = x0 + offset * bar, top + plot_h - h
            title = f"{day.day.isoformat()}: {plural(value, 'healthy deploy' if series == 'deploys' else 'promotion')}"
            body.append(
                f'<rect class="bar bar-{series}" data-date="{day.day.isoformat()}" data-value="{value}" '
                f'x="{_n(x)}" y="{_n(y)}" width="{_n(bar)}" height="{_n(h)}"><title>{title}</title></rect>'
            )
            if value and group >= 26:
                body.append(f'<text class="bar-value" x="{_n(x + bar / 2)}" y="{_n(y - 3)}">{value}</text>')
        if index % step == 0:
            x = left + group * (index + 0.5)
            body.append(
                f'<text class="axis-label x" x="{_n(x)}" y="{_n(top + plot_h + 17)}">{short_date(day.day)}</text>'
            )
    label = f"{metrics.environment}: healthy deploys and promotions per day"
    return _svg("per-day", HALF_WIDTH, height, label, body)


# -- stage timings -------------------------------------------------------------------------------------


def _stage_rows(stages: dict[str, Summary]) -> Iterator[tuple[str, float, float]]:
    for stage, summary in stages.items():
        if summary.median is not None and summary.p90 is not None:
            yield stage, summary.median, summary.p90


def stage_chart(metrics: EnvironmentMetrics) -> str:
    """Per kind of record, one row per stage: a bar to the p90 with the median drawn inside it."""
    left, right, row, heading, pad = 118.0, 132.0, 22.0, 26.0, 6.0
    plot_w = HALF_WIDTH - left - right
    body: list[str] = []
    y = pad
    for kind, stages in metrics.stages.items():
        rows = list(_stage_rows(stages))
        largest = max((p90 for _, _, p90 in rows), default=0.0) or 1.0
        body.append(f'<text class="group-label" x="0" y="{_n(y + 15)}">{LANE_TITLES[kind]}</text>')
        body.append(
            f'<text class="axis-label legend-note" x="{_n(HALF_WIDTH - 4)}" y="{_n(y + 15)}">median · p90</text>'
        )
        y += heading
        for stage, median, p90 in rows:
            data = f'data-kind="{_a(kind)}" data-stage="{_a(stage)}"'
            w90, w50 = plot_w * p90 / largest, plot_w * median / largest
            count = stages[stage].count
            title = f"{kind} {stage}: median {duration(median)}, p90 {duration(p90)} ({plural(count, 'record')})"
            body.append(f'<text class="stage-label" x="{_n(left - 8)}" y="{_n(y + 15)}">{escape(stage)}</text>')
            body.append(
                f'<rect class="stage-p90 stage-{kind}" {data} data-value="{p90}" x="{_n(left)}" y="{_n(y + 4)}" '
                f'width="{_n(max(w90, 1.0))}" height="{_n(row - 8)}"><title>{escape(title)}</title></rect>'
            )
            body.append(
                f'<rect class="stage-median stage-{kind}" {data} data-value="{median}" x="{_n(left)}" '
                f'y="{_n(y + 4)}" width="{_n(max(w50, 1.0))}" height="{_n(row - 8)}">'
                f"<title>{escape(title)}</title></rect>"
            )
            body.append(
                f'<text class="stage-value" x="{_n(left + plot_w + 8)}" y="{_n(y + 15)}">'
                f"{duration(median)} · {duration(p90)}</text>"
            )
            y += row
        y += pad
    if not metrics.stages:
        body.append(f'<text class="empty" x="{_n(HALF_WIDTH / 2)}" y="40">no stage timings in this window</text>')
        y = 70.0
    label = f"{metrics.environment}: median and p90 time of each stage"
    return _svg("stages", HALF_WIDTH, y, label, body)
