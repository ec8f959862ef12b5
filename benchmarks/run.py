"""Run the benchmarks and write docs/benchmarks.md, every number and sentence from this one run.

uv run --frozen python -m benchmarks.run [--runs N] [--only startup,copy,...] [--quick] [--no-pulp]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

from benchmarks.common import HOIST, ROOT, Bench, markdown_table, require, version_of

SECTIONS = ("startup", "copy", "promote", "release", "scale", "sets")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="repetitions of every measurement (default 5)")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"sections, comma-separated: {','.join(SECTIONS)}")
    parser.add_argument(
        "--quick", action="store_true", help="smaller: copy layers a tenth the size, ledger up to 100 records"
    )
    parser.add_argument("--no-pulp", action="store_true", help="leave Pulp out of the copy section")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args(argv)
    chosen = [s for s in args.only.split(",") if s]
    unknown = sorted(set(chosen) - set(SECTIONS))
    if unknown or args.runs < 1:
        parser.error(f"unknown sections {unknown}" if unknown else "--runs must be at least 1")
    require("skopeo", "docker-registry", "podman")
    command = "uv run --frozen python -m benchmarks.run " + " ".join(sys.argv[1:] if argv is None else argv)
    began, load_before, clock = datetime.datetime.now(datetime.UTC), os.getloadavg(), time.monotonic()
    parts = []
    with tempfile.TemporaryDirectory(prefix="hoist-bench-") as tmp:
        bench = Bench(work=Path(tmp), runs=args.runs, quick=args.quick, home=Path(tmp) / "home")
        bench.home.mkdir()
        _compile_bytecode()
        for section in (s for s in SECTIONS if s in chosen):
            print(f"-- {section}", file=sys.stderr, flush=True)
            parts.append(_section(bench, section, pulp=not args.no_pulp))
            print(parts[-1], flush=True)
        header = _header(bench, command.strip(), began, load_before, time.monotonic() - clock)
    args.output.write_text(header + "\n" + "\n".join(parts))


def _compile_bytecode() -> None:
    """Compile hoist's and its dependencies' bytecode first, as ``scripts/setup.sh`` and pip installs do:
    with ``PYTHONDONTWRITEBYTECODE`` set and nothing compiled, every start would compile every module."""
    paths = [str(ROOT / "src"), sysconfig.get_paths()["purelib"]]
    subprocess.run([sys.executable, "-m", "compileall", "-q", "-j", "0", *paths], capture_output=True, check=True)


def _section(bench: Bench, name: str, *, pulp: bool) -> str:
    if name == "startup":
        from benchmarks import bench_startup

        return bench_startup.report(bench)
    if name == "copy":
        from benchmarks import bench_copy

        return bench_copy.report(bench, pulp=pulp)
    if name == "promote":
        from benchmarks import bench_promote

        return bench_promote.report(bench)
    if name == "release":
        from benchmarks import bench_release

        return bench_release.report(bench)
    if name == "scale":
        from benchmarks import bench_scale

        return bench_scale.report(bench)
    from benchmarks import bench_sets

    return bench_sets.report(bench)


def _header(
    bench: Bench, command: str, began: datetime.datetime, load_before: tuple[float, float, float], spent: float
) -> str:
    load_after = os.getloadavg()
    cpus = os.cpu_count() or 0
    rows = [
        ["command", f"`{command}`"],
        ["date", f"{began:%Y-%m-%d %H:%M} UTC, {spent / 60:.1f} minutes"],
        ["machine", _machine(cpus)],
        ["load average (1, 5, 15 min)", f"at start {_load(load_before)}; at end {_load(load_after)}"],
        ["hoist", f"{version_of([*HOIST, '--version'])}, commit {_commit()}, run as `{HOIST[0]}`"],
        ["Python", f"{platform.python_version()} ({sys.executable}), bytecode compiled before measuring{_pyc()}"],
        ["skopeo", version_of(["skopeo", "--version"])],
        ["distribution", version_of(["docker-registry", "--version"])],
        *([[name, version] for name, version in sorted(bench.versions.items())] or [["Pulp", "not started"]]),
        ["podman", f"{version_of(['podman', '--version'])}, {version_of(['runc', '--version'])}"],
    ]
    busy = max(load_before[0], load_after[0]) > cpus
    note = (
        f"The 1-minute load average exceeded the {cpus} CPUs during this run: other work competed for the "
        "CPUs, so the times carry that noise.\n"
        if busy
        else f"The 1-minute load average stayed at or below the {cpus} CPUs at the start and the end.\n"
    )
    return "# Benchmarks\n\n" + markdown_table(["", ""], rows) + "\n\n" + note


def _pyc() -> str:
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        return " (the caller's environment had PYTHONDONTWRITEBYTECODE set; measured commands inherit it)"
    return ""


def _load(values: tuple[float, float, float]) -> str:
    return " ".join(f"{v:.2f}" for v in values)


def _machine(cpus: int) -> str:
    model = "unknown CPU"
    memory = ""
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as info:
        for line in info:
            if line.startswith("MemTotal"):
                memory = f", {int(line.split()[1]) / 1024 / 1024:.1f} GiB RAM"
                break
    return f"{platform.machine()}, {model}, {cpus} CPUs{memory}, Linux {platform.release()}"


def _commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False).stdout.strip()

    sha = git("rev-parse", "--short=12", "HEAD") or "unknown"
    dirty = [line for line in git("status", "--porcelain").splitlines() if not line.endswith("docs/benchmarks.md")]
    return f"{sha}{' with uncommitted changes' if dirty else ''}"


if __name__ == "__main__":
    main()
