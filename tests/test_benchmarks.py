"""The benchmark harness: the rollback timing it takes from outside hoist, and a run of its cheapest
section end to end (the document it writes carries the run's own facts)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from benchmarks.common import Stats, request_kind
from benchmarks.release_probe import died_at, rollback_times

ROOT = Path(__file__).resolve().parent.parent


def test_rollback_is_timed_from_the_death_to_the_previous_versions_first_answer() -> None:
    seen = [
        (10.00, "v3"),
        (10.02, "v3"),  # the last answer of the previous version
        (10.05, None),
        (10.40, None),  # the failing container died at 10.30
        (10.61, None),
        (10.70, "v3"),  # back
        (10.72, "v3"),
    ]
    recovery, downtime, resolution = rollback_times(seen, previous="v3", died=10.30)
    assert recovery == pytest.approx(0.40)
    assert downtime == pytest.approx(0.68)
    assert resolution == pytest.approx(0.09)


def test_a_rollback_the_probe_never_saw_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="did not see v3 answer"):
        rollback_times([(10.0, "v3"), (10.5, None), (11.0, "broken")], previous="v3", died=10.3)


def test_the_death_comes_from_podmans_event_for_that_image(tmp_path: Path) -> None:
    digest = "sha256:" + "b" * 64
    events = [
        {"Status": "start", "Image": f"127.0.0.1:5000/app@{digest}", "Time": "2026-11-28T10:57:29.0Z"},
        {"Status": "died", "Image": f"127.0.0.1:5000/app@{digest}", "Time": "2026-11-28T10:57:29.192514067Z"},
        {"Status": "died", "Image": "127.0.0.1:5000/app@sha256:" + "a" * 64, "Time": "2026-11-28T10:58:00.5Z"},
    ]
    log = tmp_path / "events.log"
    log.write_text("".join(json.dumps(e) + "\n" for e in events))
    expected = datetime(2026, 11, 28, 10, 57, 29, tzinfo=UTC).timestamp() + 0.192514067
    assert died_at(log, digest=digest) == pytest.approx(expected, abs=1e-6)
    with pytest.raises(RuntimeError, match="no 'died' event"):
        died_at(log, digest="sha256:" + "c" * 64)


def test_requests_are_named_by_what_they_were_for() -> None:
    assert request_kind("HEAD", "/v2/a/b/blobs/sha256:00?x=1", 302) == "HEAD blob 302"
    assert request_kind("PATCH", "/v2/a/blobs/uploads/uuid", 202) == "PATCH upload"
    assert request_kind("GET", "/v2/", 401) == "GET version check 401"
    assert request_kind("GET", "/extensions/v2/a/signatures/sha256:00", 200) == "GET signature extension"
    assert Stats.of([0.5, 0.1, 0.3]).seconds() == "0.300 s (0.100-0.500)"
    assert Stats.of([12, 12]).count() == "12"


def test_a_run_writes_the_command_machine_versions_and_its_measurements(tmp_path: Path) -> None:
    output = tmp_path / "benchmarks.md"
    argv = ["--runs", "2", "--only", "startup", "--output", str(output)]
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", *argv], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    text = output.read_text()
    assert f"`uv run --frozen python -m benchmarks.run {' '.join(argv)}`" in text
    assert re.search(r"\| load average \(1, 5, 15 min\) \| at start [\d.]+ [\d.]+ [\d.]+; at end [\d.]+", text)
    for tool in ("skopeo version 1.9", "distribution", "podman version", "commit "):
        assert tool in text, tool
    assert "Pulp | not started" in text
    row = re.search(r"\| `hoist --version` \| ([\d.]+) s \(([\d.]+)-([\d.]+)\) \|", text)
    assert row is not None, text
    median, low, high = (float(v) for v in row.groups())
    assert 0 < low <= median <= high
    sentence = re.search(r"`hoist --version` took ([\d.]+) s \(median\)", text)
    assert sentence is not None and float(sentence.group(1)) == median  # the prose quotes the table's number
