"""Run the benchmarks and write docs/benchmarks.md.

uv run python -m benchmarks.run [--runs N] [--only copy,promote,release]
"""

from __future__ import annotations

import argparse
import datetime
import platform
import subprocess
import tempfile
from pathlib import Path

from benchmarks.common import ROOT, require

SECTIONS = ("copy", "promote", "release")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", default=",".join(SECTIONS))
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args()
    require("skopeo", "docker-registry")
    chosen = [s for s in args.only.split(",") if s]
    parts = []
    with tempfile.TemporaryDirectory(prefix="hoist-bench-") as tmp:
        work = Path(tmp)
        for section in chosen:
            if section == "copy":
                from benchmarks import bench_copy

                parts.append(bench_copy.report(work / "copy", args.runs))
            elif section == "promote":
                from benchmarks import bench_promote

                parts.append(bench_promote.report(work / "promote", args.runs))
            elif section == "release":
                from benchmarks import bench_release

                parts.append(bench_release.report(work / "release", args.runs))
            print(parts[-1], flush=True)
    skopeo = subprocess.run(["skopeo", "--version"], capture_output=True, text=True, check=False).stdout.strip()
    header = (
        "# Benchmarks\n\n"
        f"Produced by `uv run python -m benchmarks.run --runs {args.runs}` on "
        f"{datetime.date.today().isoformat()}, {platform.machine()}, {_cpus()} CPUs, Python "
        f"{platform.python_version()}, {skopeo}, distribution 2.8 (Debian's docker-registry) on loopback.\n\n"
    )
    args.output.write_text(header + "\n".join(parts))


def _cpus() -> int:
    import os

    return os.cpu_count() or 0


if __name__ == "__main__":
    main()
