"""Promotion through a far registry (25 ms per request): wall time and requests of promote, rollback,
history and status, with a ledger already holding a few dozen records."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from benchmarks.common import (
    HOIST,
    LATENCY,
    Bench,
    Stats,
    far_registry,
    markdown_table,
    met,
    mix_text,
    plural,
    quiet,
    request_mix,
    timed,
)
from tests.infra.images import make_image
from tests.infra.skopeo import layout_ref, skopeo_copy

HISTORY = 30
OPERATIONS = {
    "promote": (
        "promote, image already in the repository (retag + ledger write)",
        ["promote", "staging", "production"],
    ),
    "rollback": ("rollback to the previous digest", ["rollback", "production"]),
    "history": ("history --limit 20", ["history", "production", "--limit", "20"]),
    "status": ("status of one environment", ["status", "production"]),
}
TARGETS: dict[str, tuple[float | None, int]] = {
    "promote": (0.5, 10),
    "rollback": (None, 10),
    "history": (None, 4),
    "status": (None, 4),
}


def config(path: Path, host: str, repo: str = "bench/app") -> Path:
    path.write_text(
        f'[environments.staging]\nimage = "{host}/{repo}:staging"\n\n'
        f'[environments.production]\nimage = "{host}/{repo}:main"\nfrom = "staging"\n'
    )
    return path


def report(bench: Bench) -> str:
    work = bench.dir("promote")
    layout = work / "layout"
    names = [f"v{i}" for i in range(HISTORY + bench.runs)]
    for name in names:
        make_image(layout, tag=name, layers=2, layer_size=4096, seed=f"bench-promote-{name}")
    seconds: dict[str, list[float]] = {k: [] for k in OPERATIONS}
    requests: dict[str, list[float]] = {k: [] for k in OPERATIONS}
    mixes: dict[str, Counter[str]] = {}
    timings: list[dict[str, float]] = []
    with far_registry(work / "registry") as far:
        base = [*HOIST, "--config", str(config(work / "hoist.toml", far.host))]

        def stage(name: str) -> None:
            skopeo_copy(layout_ref(layout, name), f"docker://{far.direct}/bench/app:staging", dest_tls_verify=False)

        far.proxy.latency = 0.0  # the history is written quickly; only the measured commands are far
        for name in names[:HISTORY]:
            stage(name)
            quiet([*base, "promote", "staging", "production"], env=bench.env(HOIST_LEDGER_SETTLE="0.01"))
        far.proxy.latency = LATENCY
        for name in names[HISTORY:]:
            stage(name)
            for key, (_, args) in OPERATIONS.items():
                far.clear()
                run = timed([*base, *args, "--json"], env=bench.env())
                seconds[key].append(run.seconds)
                requests[key].append(far.requests())
                mixes[key] = request_mix(far.log())
                if key in ("promote", "rollback"):
                    own = run.json()
                    own = own.get("promotion", own)
                    if key == "promote":
                        timings.append(own.get("timings", {}))
    rows = []
    for key, (what, _) in OPERATIONS.items():
        wall, count = Stats.of(seconds[key]), Stats.of(requests[key])
        time_target, request_target = TARGETS[key]
        rows.append([
            what,
            wall.seconds(),
            f"<= {time_target} s" if time_target else "-",
            met(wall.median, time_target) if time_target else "-",
            count.count(),
            f"<= {request_target}",
            met(count.high, request_target),
        ])  # fmt: skip
    table = markdown_table(
        ["operation", "wall time, median (min-max)", "target", "met", "requests", "target", "met"], rows
    )
    bench.facts["promote"] = Stats.of(seconds["promote"]).median
    stages = {k: Stats.of(t.get(k, 0.0) for t in timings).median for k in timings[0]} if timings else {}
    own = ", ".join(f"{k} {v:.3f} s" for k, v in stages.items() if k != "total")
    mix = "\n".join(f"- {key}: {mix_text(m)}" for key, m in mixes.items())
    return (
        "## Promotion\n\n"
        f"{plural(bench.runs, 'run')} of each command through the proxy adding {LATENCY * 1000:.0f} ms to "
        "every request, "
        f"on a ledger that held {HISTORY} records before the first run (written beforehand without the "
        "latency). Each run stages a new image, then promotes it, rolls back, reads the history and the "
        "status. Wall time from spawn to exit; requests counted at the proxy (the registry needs no auth). "
        "The environments have no extra tags. The settle delay is hoist's own (no `HOIST_LEDGER_SETTLE`).\n\n"
        f"{table}\n\n"
        "The requests of the last run, by kind, as the proxy saw them:\n\n"
        f"{mix}\n\n"
        f"The promote's own stage times (its JSON `timings`, medians): {own or 'none reported'}.\n"
    )
