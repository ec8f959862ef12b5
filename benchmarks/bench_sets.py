"""Sets and mirrors at 25 ms per request: a set of ten images promoted together against one image's
promotion, and one image promoted to three mirrors (each in a registry of its own) against one
destination."""

from __future__ import annotations

import contextlib
from pathlib import Path

import hoist
from benchmarks.common import (
    HOIST,
    Bench,
    Far,
    Stats,
    far_registry,
    markdown_table,
    met,
    mix_text,
    plural,
    request_mix,
    timed,
)
from tests.infra.images import make_image

MEMBERS = 10
MIRRORS = 3
SET_TARGET = 2.0
MIRROR_TARGET = 1.5
LAYERS, LAYER_SIZE = 2, 4096


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _environments(host: str, repos: dict[str, str], mirrors: str = "") -> str:
    """staging and production of one image (``repos`` with one entry) or of a set (several)."""
    if len(repos) == 1:
        repo = next(iter(repos.values()))
        staging, production = f'image = "{host}/bench/{repo}:staging"', f'image = "{host}/bench/{repo}:main"'
    else:
        staging = "images = { " + ", ".join(f'{n} = "{host}/bench/{r}:staging"' for n, r in repos.items()) + " }"
        production = "images = { " + ", ".join(f'{n} = "{host}/bench/{r}:main"' for n, r in repos.items()) + " }"
    extra = f"mirrors = [{mirrors}]\n" if mirrors else ""
    return f'[environments.staging]\n{staging}\n\n[environments.production]\n{production}\nfrom = "staging"\n{extra}'


def _configs(work: Path, host: str, mirrors: list[str]) -> dict[str, Path]:
    listed = ", ".join(f'"{m}/bench/mirrored:main"' for m in mirrors)
    texts = {
        "set": _environments(host, {f"m{i}": f"set-m{i}" for i in range(MEMBERS)}),
        "one": _environments(host, {"one": "one"}),
        "mirrored": _environments(host, {"mirrored": "mirrored"}, listed),
    }
    return {kind: _write(work / f"{kind}.toml", text) for kind, text in texts.items()}


def report(bench: Bench) -> str:
    work = bench.dir("sets")
    layout = work / "layout"
    repos = {"set": [f"set-m{i}" for i in range(MEMBERS)], "one": ["one"], "mirrored": ["mirrored"]}
    seconds: dict[str, list[float]] = {k: [] for k in repos}
    requests: dict[str, list[float]] = {k: [] for k in repos}
    mixes: dict[str, str] = {}
    with contextlib.ExitStack() as stack:
        main = stack.enter_context(far_registry(work / "registry"))
        mirrors: list[Far] = [stack.enter_context(far_registry(work / f"mirror-{i}")) for i in range(MIRRORS)]
        configs = _configs(work, main.host, [m.host for m in mirrors])
        for n in range(-1, bench.runs):  # run -1 is not measured: the ledgers' first records
            for names in repos.values():
                for repo in names:  # a new build of every image, pushed to staging without the latency
                    tag = f"{repo}-{n + 1}"
                    make_image(layout, tag=tag, layers=LAYERS, layer_size=LAYER_SIZE, seed=f"sets-{tag}")
                    hoist.copy(f"oci:{layout}:{tag}", f"{main.direct}/bench/{repo}:staging", referrers=False)
            for kind, path in configs.items():
                endpoints = [main, *mirrors]
                for endpoint in endpoints:
                    endpoint.clear()
                run = timed([*HOIST, "--config", str(path), "promote", "staging", "production", "--json"],
                            env=bench.env())  # fmt: skip
                behind = [m for m in run.json().get("mirrors", []) if m.get("error")]
                if behind:
                    raise RuntimeError(f"mirrors left behind: {behind}")
                if n < 0:
                    continue
                seconds[kind].append(run.seconds)
                log = [r for endpoint in endpoints for r in endpoint.log()]
                requests[kind].append(len(log))
                mixes[kind] = mix_text(request_mix(log))
    walls = {k: Stats.of(v) for k, v in seconds.items()}
    counts = {k: Stats.of(v) for k, v in requests.items()}
    one = walls["one"].median
    rows = [["one image (the baseline)", walls["one"].seconds(), counts["one"].count(), "-", "-", "-"]]
    for kind, what, target in (
        ("set", f"a set of {MEMBERS} images", SET_TARGET),
        ("mirrored", f"one image and {MIRRORS} mirrors", MIRROR_TARGET),
    ):
        against = walls[kind].median / one
        rows.append([what, walls[kind].seconds(), counts[kind].count(), f"{against:.2f}x", f"<= {target:g}x",
                     met(against, target)])  # fmt: skip
    table = markdown_table(
        ["`hoist promote staging production`", "wall time, median (min-max)", "requests", "against one image",
         "target", "met"], rows,
    )  # fmt: skip
    mix = "\n".join(f"- {kind}: {text}" for kind, text in mixes.items())
    return (
        "## Sets and mirrors\n\n"
        f"{plural(bench.runs, 'run')} after one unmeasured run (which writes each ledger's first record), "
        "every registry behind its own proxy adding 25 ms to every request. Each run pushes "
        f"a new build of every image to staging (not timed; {LAYERS} layers of {LAYER_SIZE:,} bytes each), "
        "then promotes: one image from `:staging` to `:main` in its repository (the baseline); an environment "
        f"of {MEMBERS} images (`images = {{ m0 = ..., ... }}`, each in its own repository) promoted together; "
        f"and one image to `:main` plus {MIRRORS} mirrors (`mirrors = [...]`), each mirror in a registry of its "
        "own, so the image's blobs cross to each. Wall time from spawn to exit; requests counted at all the "
        "proxies together.\n\n"
        f"{table}\n\nThe requests of the last run, by kind:\n\n{mix}\n"
    )
