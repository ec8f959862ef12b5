"""Start-up: the whole ``hoist --version`` process, beside ``skopeo --version`` and the bare interpreter,
and hoist again without cached bytecode (an install that never compiled it, with writing it turned off)."""

from __future__ import annotations

import sys

from benchmarks.common import HOIST, Bench, Stats, markdown_table, plural, timed

HOIST_VERSION = "hoist --version"
NO_BYTECODE = "hoist --version, no cached bytecode"
SKOPEO_VERSION = "skopeo --version"
PYTHON = "python -c pass"


def report(bench: Bench) -> str:
    runs = bench.runs
    empty_cache = bench.dir("no-pycache")
    commands = {
        HOIST_VERSION: ([*HOIST, "--version"], bench.env()),
        NO_BYTECODE: (
            [*HOIST, "--version"],
            bench.env(PYTHONDONTWRITEBYTECODE="1", PYTHONPYCACHEPREFIX=str(empty_cache)),
        ),
        SKOPEO_VERSION: (["skopeo", "--version"], bench.env()),
        PYTHON: ([sys.executable, "-c", "pass"], bench.env()),
    }
    for argv, env in commands.values():  # once unmeasured: every run finds the files in the page cache
        timed(argv, env=env)
    measured: dict[str, Stats] = {}
    rss: dict[str, float] = {}
    for name, (argv, env) in commands.items():
        samples = [timed(argv, env=env) for _ in range(runs)]
        measured[name] = Stats.of(s.seconds for s in samples)
        rss[name] = max(s.rss_mib for s in samples)
    if any(empty_cache.iterdir()):
        raise RuntimeError(f"bytecode was written to {empty_cache}: the no-bytecode row would not be one")
    bench.facts["startup"] = {name: stats.median for name, stats in measured.items()}
    rows = [[f"`{name}`" if "," not in name else name, stats.seconds(), f"{rss[name]:.0f} MiB"]
            for name, stats in measured.items()]  # fmt: skip
    table = markdown_table(["command", "wall time, median (min-max)", "peak RSS, max"], rows)
    hoist, cold = measured[HOIST_VERSION].median, measured[NO_BYTECODE].median
    return (
        "## Start-up\n\n"
        f"Each command run {plural(runs, 'time')} after one unmeasured run, timed from spawn to exit. The no-bytecode "
        "row runs hoist with `PYTHONDONTWRITEBYTECODE=1` and `PYTHONPYCACHEPREFIX` pointing at an empty "
        "directory, so every module is compiled from source on every start, as in an install whose bytecode "
        "was never compiled and may not be written.\n\n"
        f"{table}\n\n"
        f"`hoist --version` took {hoist:.3f} s (median), the bare interpreter alone {measured[PYTHON].median:.3f} s, "
        f"`skopeo --version` {measured[SKOPEO_VERSION].median:.3f} s; without cached bytecode hoist took "
        f"{cold:.3f} s.\n"
    )
