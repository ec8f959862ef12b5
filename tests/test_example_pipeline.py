"""The main job, end to end on real parts: examples/pipeline.py, as `scripts/demo.sh` runs it.

The pipeline reads every digest it reports back from the registry (skopeo, `hoist status --json`) and
times every step of the comparison as a whole command; this test checks its claims against those
readings and its table against those timings.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DIGEST = r"sha256:[0-9a-f]{64}"

pytestmark = pytest.mark.engine


def run_pipeline() -> str:
    done = subprocess.run(
        [sys.executable, "-m", "examples.pipeline"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    return done.stdout


def section(out: str, title: str) -> str:
    """The output after the banner starting with ``title``, up to the next banner."""
    start = out.index(f"=== {title}")
    end = out.find("\n=== ", start + 1)
    return out[start : end if end != -1 else len(out)]


def timings(text: str) -> list[tuple[str, float]]:
    return [(m[1].strip(), float(m[2])) for m in re.finditer(r"^timed: (.+?)\s+(\d+\.\d+) s {3}\$ ", text, re.M)]


def test_the_whole_pipeline_runs_and_rolls_back_the_broken_version() -> None:
    out = run_pipeline()

    # built once per version, deployed to staging and tested there: what `hoist test` says it tested
    tested_by_hoist = re.findall(rf"^tests PASSED for ({DIGEST}) in staging", out, re.M)
    assert len(tested_by_hoist) == 3
    # ... and what the registry says staging held right after (skopeo), and staging's last deploy
    read_back = re.findall(rf"^tested in staging: ({DIGEST}) \(skopeo: ", out, re.M)
    assert read_back == tested_by_hoist
    tested = tested_by_hoist[1]  # version 2: the release the comparison measures

    # two releases went through, each with every gate passing on the exact digest
    released = re.findall(rf"^released ({DIGEST}) to production", out, re.M)
    assert released == tested_by_hoist[:2]
    for gate in ("deployed", "tests", "signature"):
        assert len(re.findall(rf"^  gate {gate}: pass: ", out, re.M)) == 2, gate
    assert "OVERRIDDEN" not in out

    # production runs the tested digest: its tag as skopeo reads it, and hoist status (ledger, tag, deploy)
    production = re.search(rf"^production, read back: skopeo \S+:main = ({DIGEST})$", out, re.M)
    status = re.search(rf"hoist status production --json: digest ({DIGEST}), tag ({DIGEST}), deployed ({DIGEST})", out)
    assert production and status
    assert production[1] == status[1] == status[2] == status[3] == tested

    # version 3 fails its production health check and is rolled back automatically
    assert "answered 500" in out and "rolled back:" in out
    assert re.search(r"rollback \(automatic\)", out)
    assert "audit ok" in out

    # the comparison: each step a whole command, timed; the table holds those timings and nothing else
    cached = timings(section(out, "the old way, measured: rebuild with the build cache"))
    fresh = timings(section(out, "the old way, measured: rebuild without the build cache"))
    assert [name for name, _ in cached] == [name for name, _ in fresh] == ["build", "push", "deploy + health"]
    new = [t for t in timings(out) if t[0] == "release"]
    assert len(new) == 1
    table = section(out, "Deployment Time Comparison")
    totals = re.search(r"^total\s+(\d+\.\d+) s\s+(\d+\.\d+) s\s+(\d+\.\d+) s$", table, re.M)
    assert totals, table
    measured = [sum(s for _, s in cached), sum(s for _, s in fresh), new[0][1]]
    assert [float(t) for t in totals.groups()] == pytest.approx(measured, abs=0.011)
    for (name, seconds), column in ((cached[0], 1), (fresh[0], 2)):
        row = re.search(rf"^{re.escape(name)}\s+(\S+) s\s+(\S+) s\s+-$", table, re.M)
        assert row and float(row[column]) == pytest.approx(seconds, abs=0.006)
    for old, total in zip(("cached", "no cache"), measured[:2], strict=True):
        change = 100 * (total - measured[2]) / total
        word = "less" if change >= 0 else "more"
        assert f"took {abs(change):.0f}% {word} time than old: rebuild, {old}" in table

    # the digests each way left, read back from the registry; a rebuild is compared, not assumed
    digests = dict(re.findall(rf"^  (.+?)\s+({DIGEST})", table, re.M))
    assert digests["tested in staging"] == tested
    assert digests["new: hoist release"] == tested
    assert digests["old: rebuild, no cache"] != tested, "a rebuild from scratch stamps new times: another image"
    for way in ("old: rebuild, cached", "old: rebuild, no cache", "new: hoist release"):
        verdict = re.search(rf"^  {re.escape(way)}\s+{DIGEST}  \((.+)\)$", table, re.M)
        assert verdict, way
        same = digests[way] == tested
        assert verdict[1] == ("the tested image" if same else "a DIFFERENT image: nobody tested it"), way
