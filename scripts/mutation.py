"""Mutation testing of hoist's integrity, gate, audit, ledger and secret modules (mutmut).

    uv run --frozen python scripts/mutation.py                 # every target in scripts/mutation.toml
    uv run --frozen python scripts/mutation.py digest upload   # some targets
    uv run --frozen python scripts/mutation.py --again         # re-test what was not killed last time, too
    uv run --frozen python scripts/mutation.py --report        # only print the last results

Each target of scripts/mutation.toml (its modules, and the tests selected for them) runs as its own mutmut
run in .mutation/<target>/ (git ignores it): a pyproject.toml whose [tool.mutmut] table this script
writes, and links to src/ and tests/. mutmut copies the sources into mutants/, inserts every mutant at
once behind a switch, runs the selected tests once to learn which tests execute which function, then,
per mutant, a forked pytest session with only those tests (fastest first, stopping at the first
failure). Results stay in .mutation/<target>/mutants/ (a second run re-tests only what changed);
.mutation/results.json and .mutation/report.md hold the score per module and every mutant that was
not killed, with its diff.

Tests that a mutant breaks badly can be killed by the timeout before they stop the registries they
started; this script adopts such orphans (it is their subreaper) and ends them by process id.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "scripts" / "mutation.toml"
WORK = ROOT / ".mutation"
PR_SET_CHILD_SUBREAPER = 36
# the mutmut statuses a summary counts, in mutmut's words
STATUSES = ("killed", "survived", "timeout", "no tests", "suspicious", "segfault", "skipped", "not checked")


@dataclass(frozen=True)
class Target:
    name: str
    modules: tuple[str, ...]
    tests: tuple[str, ...]


@dataclass(frozen=True)
class Settings:
    jobs: int
    pytest_args: tuple[str, ...]
    timeout_multiplier: float
    timeout_constant: float
    do_not_mutate_patterns: tuple[str, ...]


def load_config(path: Path = CONFIG) -> tuple[Settings, dict[str, Target]]:
    doc = tomllib.loads(path.read_text())
    raw = doc.get("settings", {})
    settings = Settings(
        jobs=int(raw.get("jobs", 2)),
        pytest_args=tuple(raw.get("pytest_args", ())),
        timeout_multiplier=float(raw.get("timeout_multiplier", 15.0)),
        timeout_constant=float(raw.get("timeout_constant", 1.0)),
        do_not_mutate_patterns=tuple(raw.get("do_not_mutate_patterns", ())),
    )
    targets = {
        name: Target(name, tuple(spec["modules"]), tuple(spec["tests"])) for name, spec in doc["targets"].items()
    }
    return settings, targets


def check_target(target: Target) -> list[str]:
    """What in ``target`` names something that does not exist: a module, a test file, a test function."""
    problems = [m for m in target.modules if not (ROOT / m).is_file()]
    for arg in target.tests:
        if not arg.startswith("tests/"):
            continue
        path, _, node = arg.partition("::")
        function = node.split("[")[0].split("::")[-1]
        exists = (ROOT / path).exists()
        if not exists or (function and f"def {function}(" not in (ROOT / path).read_text()):
            problems.append(arg)
    return problems


# -- one mutmut run ----------------------------------------------------------------------------------


def _toml(value: object) -> str:
    """A TOML value for strings, numbers and lists of them (JSON's string escapes are TOML's)."""
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value))


def prepare(target: Target, settings: Settings) -> Path:
    """The target's working directory: links to the sources and tests, and mutmut's configuration."""
    work = WORK / target.name
    work.mkdir(parents=True, exist_ok=True)
    for name in ("src", "tests"):
        link = work / name
        if not link.is_symlink():
            link.symlink_to(ROOT / name, target_is_directory=True)
    table = {
        "source_paths": ["src/"],
        "only_mutate": list(target.modules),
        "pytest_add_cli_args_test_selection": list(target.tests),
        "pytest_add_cli_args": list(settings.pytest_args),
        "timeout_multiplier": settings.timeout_multiplier,
        "timeout_constant": settings.timeout_constant,
        "do_not_mutate_patterns": list(settings.do_not_mutate_patterns),
    }
    project = (ROOT / "pyproject.toml").read_text()
    generated = "\n".join(f"{key} = {_toml(value)}" for key, value in table.items())
    (work / "pyproject.toml").write_text(
        f"{project}\n# written by scripts/mutation.py for target {target.name!r}\n[tool.mutmut]\n{generated}\n"
    )
    return work


class Orphans:
    """Adopts processes whose parent died (this process is their subreaper) and ends them by id."""

    def __init__(self) -> None:
        self.enabled = ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
        self.keep: set[int] = set()
        self.ended = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="orphans", daemon=True)

    def __enter__(self) -> Orphans:
        if self.enabled:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self.enabled:
            self._thread.join()
            self.sweep()

    def _children(self) -> list[int]:
        me = os.getpid()
        found = []
        for task in Path(f"/proc/{me}/task").iterdir():
            with contextlib.suppress(OSError):
                found += [int(p) for p in (task / "children").read_text().split()]
        return found

    def sweep(self) -> None:
        for pid in self._children():
            if pid in self.keep:
                continue
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
                self.ended += 1
            for _ in range(50):
                with contextlib.suppress(ChildProcessError):
                    if os.waitpid(pid, os.WNOHANG)[0] == pid:
                        break
                    time.sleep(0.1)
                    continue
                break
            else:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, 0)

    def _loop(self) -> None:
        while not self._stop.wait(10):
            self.sweep()


def run_mutmut(target: Target, settings: Settings, *, jobs: int, again: bool, fresh: bool) -> int:
    """One target: mutants without a result (new, or in functions whose code changed since their run);
    with ``again`` first the mutants the last run did not kill."""
    work = prepare(target, settings)
    if fresh:
        shutil.rmtree(work / "mutants", ignore_errors=True)
    passes: list[list[str]] = []
    if again:
        results = read_results(target)
        names = [m.name for m in results.mutants if m.status not in ("killed", "timeout")]
        if names:
            passes.append(names)
        else:
            print(f"[{target.name}] nothing left to re-test", flush=True)
    # mutmut resets the results of functions whose code changed when it regenerates the mutants (at the start
    # of a run): a plain run after the named one tests those, and anything never tested
    passes.append([])
    for names in passes:
        code = _mutmut(target, work, jobs=jobs, names=names)
        if code != 0:
            return code
    return 0


def _mutmut(target: Target, work: Path, *, jobs: int, names: list[str]) -> int:
    mutmut = Path(sys.executable).parent / "mutmut"
    argv = [str(mutmut), "run", "--max-children", str(jobs), *names]
    log = work / ("run-again.log" if names else "run.log")
    what = f"{len(names)} mutant(s) not killed last time" if names else "mutants without a result"
    print(f"[{target.name}] mutmut run in {work.relative_to(ROOT)}: {what} (log: {log.relative_to(ROOT)})", flush=True)
    started = time.monotonic()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    with Orphans() as orphans, log.open("w") as out, _interruptible() as stop:
        process = subprocess.Popen(argv, cwd=work, stdout=out, stderr=subprocess.STDOUT, env=env)  # noqa: S603
        orphans.keep.add(process.pid)
        code = _wait(process, stop)
    minutes = (time.monotonic() - started) / 60
    extra = f", {orphans.ended} orphaned process(es) ended" if orphans.ended else ""
    print(f"[{target.name}] mutmut exited {code} after {minutes:.1f} min{extra}", flush=True)
    if code != 0:
        print(log.read_text()[-3000:], file=sys.stderr)
    return code


@contextlib.contextmanager
def _interruptible() -> Iterator[threading.Event]:
    """Ctrl-C or SIGTERM sets the event (mutmut is then asked to stop and keep what it has).

    Installing a handler also makes mutmut start with SIGINT at its default, even when this script runs
    in the background of a shell that ignores it: mutmut saves its results when interrupted."""
    stop = threading.Event()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, lambda *_: stop.set())
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _wait(process: subprocess.Popen[bytes], stop: threading.Event) -> int:
    while process.poll() is None:
        if stop.wait(1.0):
            print("stopping: mutmut keeps the results it has", flush=True)
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            raise SystemExit("interrupted: scripts/mutation.py --report summarises what was done")
    return process.returncode


# -- results -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mutant:
    name: str
    module: str
    status: str
    diff: str = ""


@dataclass
class Results:
    target: Target
    mutants: list[Mutant] = field(default_factory=list)

    def by_module(self) -> dict[str, dict[str, int]]:
        table: dict[str, dict[str, int]] = {m: dict.fromkeys(STATUSES, 0) for m in self.target.modules}
        for mutant in self.mutants:
            row = table.setdefault(mutant.module, dict.fromkeys(STATUSES, 0))
            row[mutant.status] = row.get(mutant.status, 0) + 1
        return table


def read_results(target: Target, *, diffs: bool = False) -> Results:
    """The status of every mutant of ``target`` as mutmut left it (and the diff of those not killed)."""
    from mutmut.configuration import reset_config
    from mutmut.mutation.diff_apply import get_diff_for_mutant
    from mutmut.stats import status_by_exit_code

    work = WORK / target.name
    results = Results(target)
    previous = Path.cwd()
    os.chdir(work)
    reset_config()
    try:
        for module in target.modules:
            meta = Path("mutants") / f"{module}.meta"
            if not meta.is_file():
                continue
            codes: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
            for name, code in sorted(codes.items(), key=lambda item: _order(item[0])):
                status = status_by_exit_code[code]
                diff = ""
                if diffs and status not in ("killed", "timeout"):
                    diff = get_diff_for_mutant(name, path=module)
                results.mutants.append(Mutant(name, module, status, diff))
    finally:
        os.chdir(previous)
        reset_config()
    return results


def _order(name: str) -> tuple[str, int]:
    stem, _, number = name.rpartition("__mutmut_")
    return stem, int(number) if number.isdigit() else 0


def score(row: dict[str, int]) -> tuple[int, int, float]:
    """(mutants, detected, percent): a timeout counts as detected (the mutant makes the tests hang)."""
    total = sum(row.values()) - row.get("skipped", 0)
    detected = row.get("killed", 0) + row.get("timeout", 0)
    return total, detected, (100.0 * detected / total if total else 100.0)


def report(all_results: list[Results]) -> str:
    lines = [
        "| module | mutants | killed | survived | timeouts | no tests | other | score |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    totals = dict.fromkeys(STATUSES, 0)
    for results in all_results:
        for module, row in results.by_module().items():
            for key, value in row.items():
                totals[key] = totals.get(key, 0) + value
            lines.append(_row(f"`{module.removeprefix('src/')}`", row))
    lines.append(_row("**all**", totals))
    out = ["\n".join(lines), ""]
    for results in all_results:
        for mutant in results.mutants:
            if mutant.status in ("killed", "timeout"):
                continue
            out.append(f"### {mutant.name} ({mutant.status})\n\n```diff\n{mutant.diff.strip()}\n```\n")
    return "\n".join(out)


def _row(label: str, row: dict[str, int]) -> str:
    total, _detected, percent = score(row)
    other = sum(v for k, v in row.items() if k not in ("killed", "survived", "timeout", "no tests", "skipped"))
    return (
        f"| {label} | {total} | {row.get('killed', 0)} | {row.get('survived', 0)} | {row.get('timeout', 0)} "
        f"| {row.get('no tests', 0)} | {other} | {percent:.1f} % |"
    )


def save(all_results: list[Results]) -> None:
    WORK.mkdir(exist_ok=True)
    doc: dict[str, Any] = {
        results.target.name: {
            "modules": results.by_module(),
            "not_killed": [
                {"name": m.name, "module": m.module, "status": m.status}
                for m in results.mutants
                if m.status not in ("killed", "timeout")
            ],
        }
        for results in all_results
    }
    (WORK / "results.json").write_text(json.dumps(doc, indent=2) + "\n")
    (WORK / "report.md").write_text(report(all_results))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("targets", nargs="*", help="targets of scripts/mutation.toml (default: all)")
    parser.add_argument("--jobs", type=int, help="parallel mutant runs (default: the config's, 2)")
    parser.add_argument("--again", action="store_true", help="re-test the mutants that were not killed, too")
    parser.add_argument("--fresh", action="store_true", help="forget earlier results and start over")
    parser.add_argument("--report", action="store_true", help="only summarise the last results")
    args = parser.parse_args(argv)
    settings, targets = load_config()
    unknown = [t for t in args.targets if t not in targets]
    if unknown:
        parser.error(f"unknown target(s) {', '.join(unknown)}: choose from {', '.join(targets)}")
    chosen = [targets[t] for t in args.targets] if args.targets else list(targets.values())
    for target in chosen:
        problems = check_target(target)
        if problems:
            parser.error(f"target {target.name} names missing files: {', '.join(problems)}")
    jobs = min(args.jobs or settings.jobs, 2 * (os.cpu_count() or 1))
    failed = []
    if not args.report:
        for name in [t.name for t in chosen]:
            settings, targets = load_config()  # read again: an edit made during a long run applies to what follows
            if run_mutmut(targets[name], settings, jobs=jobs, again=args.again, fresh=args.fresh) != 0:
                failed.append(name)
    everything = [read_results(t, diffs=True) for t in targets.values() if (WORK / t.name / "mutants").is_dir()]
    save(everything)
    print(report(everything).split("\n\n")[0])
    print(f"\nsurvivors and their diffs: {(WORK / 'report.md').relative_to(ROOT)}")
    if failed:
        print(f"mutmut failed for: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
