"""Copy benchmarks, hoist beside skopeo on the same far registries (25 ms added to every request).

(a) same-repository retag of a 3-layer image;
(b) cross-repository copy of a 4-platform x 5-layer index;
(c) cross-registry copy of a 200 MB image (4 x 50 MB layers) into an empty registry.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from benchmarks.common import (
    HOIST,
    LATENCY,
    Run,
    Sample,
    clear_skopeo_cache,
    far_registry,
    hoist_json,
    markdown_table,
    skopeo_copy_argv,
    timed,
)
from tests.infra.images import make_image, make_index
from tests.infra.skopeo import layout_ref, skopeo_copy


def _seed(layout: Path, tag: str, host: str, repo: str) -> None:
    skopeo_copy(layout_ref(layout, tag), f"docker://{host}/{repo}:v1", dest_tls_verify=False)


def _pair(far_requests, clear, hoist_argv: list[str], skopeo_argv: list[str], samples: tuple[Sample, Sample]) -> None:  # type: ignore[no-untyped-def]
    clear()
    seconds, rss, out = timed(hoist_argv)
    samples[0].runs.append(Run(seconds, rss, far_requests(), out))
    clear_skopeo_cache()
    clear()
    seconds, rss, out = timed(skopeo_argv)
    samples[1].runs.append(Run(seconds, rss, far_requests(), out))


def scenario_a(work: Path, runs: int, latency: float = LATENCY) -> tuple[Sample, Sample]:
    samples = (Sample("hoist"), Sample("skopeo"))
    layout = work / f"a-layout-{latency}"
    make_image(layout, tag="a", layers=3, layer_size=1024 * 1024, seed="bench-a")
    with far_registry(work / f"a-registry-{latency}", latency) as far:
        _seed(layout, "a", far.direct, "bench/a")
        for n in range(runs):
            source = f"{far.host}/bench/a:v1"
            _pair(
                far.requests,
                far.clear,
                [*HOIST, "copy", source, f"{far.host}/bench/a:hoist-{n}", "--json"],
                skopeo_copy_argv(source, f"{far.host}/bench/a:skopeo-{n}"),
                samples,
            )
    return samples


def scenario_b(work: Path, runs: int) -> tuple[Sample, Sample]:
    samples = (Sample("hoist"), Sample("skopeo"))
    layout = work / "b-layout"
    make_index(layout, tag="b", layers_per_image=5, layer_size=256 * 1024, seed="bench-b")
    with far_registry(work / "b-registry") as far:
        _seed(layout, "b", far.direct, "bench/b")
        for n in range(runs):
            source = f"{far.host}/bench/b:v1"
            _pair(
                far.requests,
                far.clear,
                [*HOIST, "copy", source, f"{far.host}/bench/b-hoist-{n}:v1", "--json"],
                skopeo_copy_argv(source, f"{far.host}/bench/b-skopeo-{n}:v1"),
                samples,
            )
    return samples


def scenario_c(work: Path, runs: int, *, layers: int = 4, layer_mb: int = 50) -> tuple[Sample, Sample]:
    samples = (Sample("hoist"), Sample("skopeo"))
    layout = work / f"c-layout-{layer_mb}"
    make_image(layout, tag="c", layers=layers, layer_size=layer_mb * 1000 * 1000, seed="bench-c", compress=False)
    with far_registry(work / f"c-source-{layer_mb}") as source_far:
        _seed(layout, "c", source_far.direct, "bench/c")
        for n in range(runs):
            for tool, sample in (("hoist", samples[0]), ("skopeo", samples[1])):
                with contextlib.ExitStack() as stack:
                    target = stack.enter_context(far_registry(work / f"c-target-{layer_mb}-{tool}-{n}"))
                    source = f"{source_far.host}/bench/c:v1"
                    destination = f"{target.host}/bench/c:v1"
                    clear_skopeo_cache()
                    source_far.clear()
                    argv = (
                        [*HOIST, "copy", source, destination, "--json"]
                        if tool == "hoist"
                        else skopeo_copy_argv(source, destination)
                    )
                    seconds, rss, out = timed(argv)
                    sample.runs.append(Run(seconds, rss, source_far.requests() + target.requests(), out))
    return samples


def report(work: Path, runs: int) -> str:
    rows = []
    results = {
        "(a) same-repository retag, 3-layer image": scenario_a(work, runs),
        "(a') the same retag, 100 ms per request": scenario_a(work, runs, 0.1),
        "(b) cross-repository copy, 4 platforms x 5 layers": scenario_b(work, runs),
        "(c) cross-registry copy, 4 x 50 MB into an empty registry": scenario_c(work, max(3, runs // 2)),
        "(c') the same with 2 x 250 MB layers (memory must not grow)": scenario_c(work, 1, layers=2, layer_mb=250),
    }
    for name, (hoist, skopeo) in results.items():
        speedup = skopeo.median / hoist.median if hoist.median else 0
        rows.append(
            [
                name,
                f"{hoist.median:.3f} s",
                f"{skopeo.median:.3f} s",
                f"{speedup:.1f}x",
                hoist.requests,
                skopeo.requests,
                f"{hoist.max_rss:.0f} MiB",
                f"{skopeo.max_rss:.0f} MiB",
            ]
        )
    check = hoist_json(results["(a) same-repository retag, 3-layer image"][0].runs[-1].output)
    table = markdown_table(
        [
            "scenario",
            "hoist (median)",
            "skopeo (median)",
            "hoist faster by",
            "hoist requests",
            "skopeo requests",
            "hoist peak RSS",
            "skopeo peak RSS",
        ],
        rows,
    )
    return (
        "## Copy\n\n"
        f"Medians of {runs} runs ((c): {max(3, runs // 2)}), both tools against the same registries "
        "through a proxy adding 25 ms to every request ((a'): 100 ms, about a CI runner to GHCR); "
        "skopeo's blob-info cache is removed before each of its runs; requests are counted at the proxy "
        "(the registries need no auth, so every request is after auth); peak RSS is GNU time's maximum "
        "resident set size.\n\n"
        f"{table}\n\n"
        f"hoist's own count for (a): {check['requests']} requests (manifest GET, PUT, read-back HEAD). "
        "In (a) the difference is start-up: hoist is a Python program and spends about 0.2 s importing "
        "before its first request, skopeo a few milliseconds; per request hoist is ahead (3 against 9), "
        "which is why it wins at 100 ms per request. In (b) and (c) hoist also looks for evidence to carry "
        "along (the referrers fallback tag and cosign's three legacy tags: 5 of its requests, sent while the "
        "image copies); skopeo copies none. (c') is one run each; peak memory stays flat as layers grow "
        "because blobs stream through in 1 MiB reads.\n"
    )
