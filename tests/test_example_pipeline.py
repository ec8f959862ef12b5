"""The main job, end to end on real parts: examples/pipeline.py, as `scripts/demo.sh` runs it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.engine


def test_the_whole_pipeline_runs_and_rolls_back_the_broken_version() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "examples.pipeline"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    out = done.stdout
    assert done.returncode == 0, out[-4000:] + done.stderr[-2000:]
    # built once per version; staging deployed and tested; released with the gates passing
    assert out.count("tests PASSED") == 3
    assert out.count("released sha256:") == 2
    assert "gates" in out
    # version 3 fails its production health check and is rolled back automatically
    assert "answered 500" in out and "rolled back:" in out
    assert re.search(r"rollback \(automatic\)", out)
    assert "audit ok" in out
    # the measured comparison, and the digest argument
    assert "Deployment Time Comparison" in out
    assert re.search(r"improvement: -?\d+%", out)
    tested = re.search(r"digest tested in staging: (sha256:\w+)", out)
    promoted = re.search(r"digest hoist promoted:\s+(sha256:\w+)", out)
    assert tested and promoted and tested.group(1) == promoted.group(1)
    assert "a DIFFERENT image" in out
