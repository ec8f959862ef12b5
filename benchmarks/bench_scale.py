"""The ledger at scale: promote with 10, 100 and 1,000 records already in it, ``hoist audit verify`` of
the whole ledger, and the largest manifests hoist writes — all at 25 ms per request."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import httpx

import hoist
from benchmarks.bench_promote import config
from benchmarks.common import (
    HOIST,
    LATENCY,
    Bench,
    Far,
    Stats,
    far_registry,
    markdown_table,
    met,
    mix_text,
    plural,
    ratio,
    request_mix,
    timed,
)
from tests.infra.images import ImageInfo, make_image

ACCEPT = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json"
AUDIT_TARGET = 10.0
AUDIT_RUNS = 3
"""At most this many audits: each reads the whole ledger."""
FLAT = 0.10


@contextlib.contextmanager
def _settle(seconds: str) -> Iterator[None]:
    """A short settle delay while the history is written (nothing races it); the measured commands run
    in child processes that never see it."""
    before = os.environ.get("HOIST_LEDGER_SETTLE")
    os.environ["HOIST_LEDGER_SETTLE"] = seconds
    try:
        yield
    finally:
        if before is None:
            del os.environ["HOIST_LEDGER_SETTLE"]
        else:
            os.environ["HOIST_LEDGER_SETTLE"] = before


class _Builds:
    """A new image for every promotion, as a pipeline builds one per commit (1 layer of 256 bytes)."""

    def __init__(self, layout: Path, staging: str) -> None:
        self.layout, self.staging, self.count = layout, staging, 0
        self.last: ImageInfo | None = None

    def push(self) -> None:
        """Build the next image and push it to staging (in-process, no latency: not measured)."""
        tag = f"b{self.count}"
        self.last = make_image(self.layout, tag=tag, layers=1, layer_size=256, seed=f"scale-{tag}")
        hoist.copy(f"oci:{self.layout}:{tag}", self.staging, referrers=False)
        self.count += 1


def _grow(project: hoist.Project, builds: _Builds, seq: int, until: int) -> int:
    """Promote a new build each time until the ledger holds ``until`` records."""
    while seq < until:
        builds.push()
        promoted = project.promote("staging", "production")
        seq = promoted.seq or seq + 1
    return seq


def _manifest_sizes(far: Far, repo: str, image: ImageInfo) -> dict[str, int]:
    """Bytes of the ledger head and of the newest image's referrers index, as the registry serves them."""
    with httpx.Client(base_url=f"http://{far.direct}", headers={"Accept": ACCEPT}) as client:
        head = client.get(f"/v2/{repo}/manifests/hoist-ledger.production")
        index = client.get(f"/v2/{repo}/manifests/{image.digest.replace(':', '-')}")
    head.raise_for_status()
    index.raise_for_status()
    return {
        "ledger head (the newest record, with its window and pinned records)": len(head.content),
        "referrers index of the promoted image (fallback tag)": len(index.content),
    }


def levels(bench: Bench) -> tuple[int, ...]:
    return (10, 100) if bench.quick else (10, 100, 1000)


def report(bench: Bench) -> str:
    """One ledger per size, in its own repository of one registry, each grown to its size first; then the
    timed promotions go round the sizes in turn, so a change in the machine's load reaches every size
    alike instead of the last one measured."""
    work = bench.dir("scale")
    env = bench.env()
    promote: dict[int, tuple[Stats, Stats]] = {}
    mixes: dict[int, str] = {}
    sizes: dict[int, dict[str, int]] = {}
    with far_registry(work / "registry") as far:
        ledgers: dict[int, tuple[list[str], _Builds, str]] = {}
        far.proxy.latency = 0.0
        for level in levels(bench):
            repo = f"bench/scale-{level}"
            path = config(work / f"hoist-{level}.toml", far.host, repo)
            builds = _Builds(work / f"layout-{level}", f"{far.direct}/{repo}:staging")
            with _settle("0.01"), hoist.Project.load(path) as project:
                _grow(project, builds, 0, level)
            ledgers[level] = ([*HOIST, "--config", str(path)], builds, repo)
        walls: dict[int, list[float]] = {level: [] for level in ledgers}
        counts: dict[int, list[int]] = {level: [] for level in ledgers}
        for _ in range(bench.runs):
            for level, (base, builds, _repo) in ledgers.items():
                builds.push()
                far.proxy.latency = LATENCY
                far.clear()
                run = timed([*base, "promote", "staging", "production", "--json"], env=env)
                far.proxy.latency = 0.0
                walls[level].append(run.seconds)
                counts[level].append(far.requests())
                mixes[level] = mix_text(request_mix(far.log()))
        for level, (_base, builds, repo) in ledgers.items():
            promote[level] = (Stats.of(walls[level]), Stats.of(counts[level]))
            assert builds.last is not None
            sizes[level] = _manifest_sizes(far, repo, builds.last)
        largest = max(ledgers)
        base = ledgers[largest][0]
        records = largest + bench.runs
        far.proxy.latency = LATENCY
        audits = []
        for _ in range(min(bench.runs, AUDIT_RUNS)):
            far.clear()
            run = timed([*base, "audit", "verify", "production", "--json"], env=env)
            doc = run.json()
            if not doc.get("ok"):
                raise RuntimeError(f"audit verify failed on the benchmark's own ledger: {run.stdout[-2000:]}")
            audits.append((run.seconds, far.requests(), int(doc.get("records", 0))))
    return _render(bench, promote, mixes, sizes, audits, records)


def _render(
    bench: Bench,
    promote: dict[int, tuple[Stats, Stats]],
    mixes: dict[int, str],
    sizes: dict[int, dict[str, int]],
    audits: list[tuple[float, int, int]],
    records: int,
) -> str:
    low = min(promote)
    base_wall, base_count = promote[low][0].median, promote[low][1].median
    rows = []
    for level, (wall, count) in promote.items():
        within = wall.median <= base_wall * (1 + FLAT)
        rows.append([
            f"{level:,}",
            wall.seconds(),
            count.count(),
            "-" if level == low else ratio(wall.median, base_wall).replace("x", "x of the first row"),
            "-" if level == low else ("yes" if within and count.median == base_count else "**no**"),
            mixes[level],
        ])  # fmt: skip
    promote_table = markdown_table(
        ["records already in the ledger", "promote wall time, median (min-max)", "requests", "time against the "
         "first row", f"met (within {FLAT:.0%} of the first row, same requests)",
         "requests of the last run, by kind"],
        rows,
    )  # fmt: skip
    wall = Stats.of(a[0] for a in audits)
    count = Stats.of(a[1] for a in audits)
    audit_table = markdown_table(
        ["`hoist audit verify production`", "wall time, median (min-max)", "requests", "target", "met"],
        [[f"{audits[-1][2]:,} records", wall.seconds(), count.count(), f"< {AUDIT_TARGET:g} s",
          met(wall.median, AUDIT_TARGET)]],
    )  # fmt: skip
    kinds = sorted({k for found in sizes.values() for k in found})
    size_table = markdown_table(
        ["manifest, read from the registry", *(f"at {level:,} records" for level in sizes)],
        [[kind, *(f"{found.get(kind, 0):,} bytes" for found in sizes.values())] for kind in kinds],
    )
    largest = max(v for found in sizes.values() for v in found.values())
    return (
        "## Ledger at scale\n\n"
        f"One environment's ledger for each size, {', '.join(f'{lv:,}' for lv in promote)} records, each in "
        "its own repository of one registry, written first through the library (`hoist.Project.promote`), "
        "each record the promotion of a new image pushed to staging just before, with no latency and a "
        f"0.01 s settle delay. Then {plural(bench.runs, 'round')}: in each, one promotion of a new image "
        "into every ledger in turn (so a change in the machine's load reaches every size alike), timed "
        f"through the proxy adding {LATENCY * 1000:.0f} ms to every request (wall time from spawn to exit, "
        "requests counted at the proxy) with hoist's own settle delay; each timed run adds a record, so the "
        "first round finds exactly the number of records shown.\n\n"
        f"{promote_table}\n\n"
        f"The audit reads the largest ledger whole ({records:,} records when it ran) through the same proxy "
        f"({len(audits)} run{'s' if len(audits) != 1 else ''}):\n\n{audit_table}\n\n"
        "The largest manifests hoist writes, as the registry serves them after the timed promotions at each "
        "size:\n\n"
        f"{size_table}\n\nThe largest of these: {largest:,} bytes.\n"
    )
