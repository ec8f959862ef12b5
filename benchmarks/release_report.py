"""The release section of docs/benchmarks.md, written from what :mod:`bench_release` measured."""

from __future__ import annotations

from typing import TYPE_CHECKING

from benchmarks.common import Bench, Stats, markdown_table, met, plural
from benchmarks.release_probe import POLL

if TYPE_CHECKING:
    from benchmarks.bench_release import Series

STAGES = ("resolve", "gates", "copy", "record", "verify", "deploy", "health")
HOIST_PART_TARGET = 1.0


def _where(series: Series) -> str:
    return f"{series.latency * 1000:.0f} ms per request" if series.latency else "loopback"


def _stage_table(found: list[Series]) -> str:
    def row(name: str, key: str) -> list[str]:
        return [name, *(Stats.of(s.get(key, 0.0) for s in f.stages).seconds() for f in found)]

    rows = [row(f"{name} (hoist's stage time)", name) for name in STAGES]
    rows.append(row("of deploy: the engine's container start (`target.start`)", "target.start"))
    rows.append(row("hoist's own total (its timer, inside the process)", "total"))
    rows.append(["**total wall time** (spawn to exit)", *(Stats.of(f.walls).seconds() for f in found)])
    rows.append(["**hoist's part**: per run, wall time - container start - health wait",
                 *(f.hoist_part().seconds() for f in found)])  # fmt: skip
    counts = [Stats.of(f.requests).count() if f.requests else "- (no proxy)" for f in found]
    rows.append(["requests at the proxy (hoist's, and the engine's pull)", *counts])
    return markdown_table(["`hoist release staging production`", *(_where(f) for f in found)], rows)


def _target_table(found: list[Series]) -> str:
    rows = []
    for series in found:
        part = series.hoist_part()
        rows.append([_where(series), part.seconds(), f"< {HOIST_PART_TARGET:g} s", met(part.median, HOIST_PART_TARGET)])
    return markdown_table(["hoist's part", "median (min-max) of per-run values", "target", "met"], rows)


def _rollback_table(found: list[Series]) -> str:
    rows = []
    for series in found:
        rows.append([
            _where(series),
            str(len(series.recovery)),
            Stats.of(series.recovery).seconds(),
            Stats.of(series.downtime).seconds(),
            Stats.of(series.resolution).seconds(),
            Stats.of(series.own_restore).seconds(),
            Stats.of(series.failed_walls).seconds(),
        ])  # fmt: skip
    headers = ["automatic rollback", "failing releases", "container died -> previous version answering (probe)",
               "downtime seen by the probe", "probe resolution at the first answer",
               "hoist's own `restore` stage (ledger)", "failing release wall time (exit 4)"]  # fmt: skip
    return markdown_table(headers, rows)


def render(bench: Bench, found: list[Series], *, interval: float) -> str:
    findings = []
    for series in found:
        part, total = series.hoist_part().median, Stats.of(series.walls).median
        start = Stats.of(s.get("target.start", 0.0) for s in series.stages).median
        health = Stats.of(s.get("health", 0.0) for s in series.stages).median
        own = Stats.of(s.get("total", 0.0) for s in series.stages).median
        added = Stats.of(sum(s.get(name, 0.0) for name in STAGES) for s in series.stages).median
        findings.append(
            f"- {_where(series)}: {total:.3f} s in all (median), of which the container start took {start:.3f} s "
            f"and the health wait {health:.3f} s; hoist's part {part:.3f} s. hoist's own timer covered "
            f"{own:.3f} s of the {total:.3f} s; the other {total - own:.3f} s passed in the process before "
            "its timer started or after it stopped."
            + (
                f" The stage times add up to {added:.3f} s, more than that timer's {own:.3f} s: stages overlap."
                if added > own
                else f" The stage times add up to {added:.3f} s."
            )
        )
    return (
        "## Release\n\n"
        f"`hoist release staging production`, {plural(bench.runs, 'run')} at each latency: a distribution 2.8 registry "
        "(through the latency proxy at 25 ms, which the engine also pulls through), podman's Docker-compatible "
        "API service (runc) on a private socket, and the busybox test image (one layer). Gates are on: "
        "production requires a `tests` gate whose evidence must be signed by staging's key, so before each "
        "release the new image is pushed to `:staging` and `hoist test staging -- true` records signed "
        "evidence for it (neither is timed). Each release replaces the running container; health is "
        f"`GET /health` every {interval:g} s.\n\n"
        "The total is the wall time of the whole command, taken from outside. The container start and the "
        'health wait are hoist\'s recorded timings of that same run (`deploy.timings["target.start"]`: '
        "creating, starting and renaming the container, and stopping the old one; `stages.health`). hoist's "
        "part is computed for each run and then the median taken.\n\n"
        f"{_stage_table(found)}\n\n{_target_table(found)}\n\n" + "\n".join(findings) + "\n\n"
        "The automatic rollback: the same number of releases of images whose process exits at once (each a "
        "new digest, each with passing signed test evidence), so the health check fails and hoist restores "
        f"the previous version. A probe outside hoist asks the service's `/version` every {POLL * 1000:.0f} ms "
        "during the release; podman's event log gives the moment the failing container died. Recovery is "
        "from that death to the previous version's first answer; downtime from the previous version's last "
        "answer before the switch to the same answer; the resolution is the time between that first answer "
        "and the unanswered attempt before it.\n\n"
        f"{_rollback_table(found)}\n" + _failures(found)
    )


def _failures(found: list[Series]) -> str:
    failed = [(series, failure) for series in found for failure in series.failures]
    if not failed:
        return "\nEvery release ended as expected (exit 0, and exit 4 for the failing ones).\n"
    lines = "\n".join(f"- {_where(series)}: {failure}" for series, failure in failed)
    return f"\nReleases that did not end as expected (left out of the tables above):\n\n{lines}\n"
