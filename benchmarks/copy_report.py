"""The copy section of docs/benchmarks.md, written from what :mod:`bench_copy` measured."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from benchmarks.common import Bench, Stats, markdown_table, mix_text, ratio

if TYPE_CHECKING:
    from benchmarks.bench_copy import Measured, Row

TOOLS = ("hoist", "skopeo cold", "skopeo warm")


def _title(row: Row, sizes: dict[str, tuple[int, int]]) -> str:
    if row.key == "a":
        return "(a) same-repository retag, 3 x 1 MiB layers"
    if row.key == "b":
        return "(b) cross-repository copy, 4 platforms x 5 layers of 256 KiB"
    layers, size = sizes[row.key]
    return f"({row.key}) cross-registry copy, {layers} x {size / 1e6:g} MB into an empty registry"


def _stats(runs: Sequence[Measured], what: str) -> Stats:
    return Stats.of(float(getattr(m, what)) for m in runs)


def _table(rows: list[Row], sizes: dict[str, tuple[int, int]], *, tokens: bool) -> str:
    body = []
    for row in rows:
        times = {t: _stats(row.results[t], "seconds") for t in TOOLS}
        hoist = times["hoist"].median
        cells = [
            _title(row, sizes),
            f"{row.latency * 1000:.0f} ms",
            *(times[t].seconds() for t in TOOLS),
            f"{ratio(times['skopeo cold'].median, hoist)} / {ratio(times['skopeo warm'].median, hoist)}",
            " / ".join(_stats(row.results[t], "requests").count() for t in TOOLS),
        ]
        if tokens:
            cells.append(" / ".join(_stats(row.results[t], "tokens").count() for t in TOOLS))
        cells.append(" / ".join(f"{_stats(row.results[t], 'rss_mib').high:.0f}" for t in TOOLS) + " MiB")
        cells.append(str(len(row.results["hoist"])))
        body.append(cells)
    headers = ["scenario", "per request", "hoist", "skopeo cold", "skopeo warm", "hoist faster by (vs cold / warm)",
               "requests (hoist / cold / warm)"]  # fmt: skip
    if tokens:
        headers.append("token requests (not delayed)")
    headers += ["peak RSS, max (hoist / cold / warm)", "runs"]
    return markdown_table(headers, body)


def _mixes(rows: list[Row], sizes: dict[str, tuple[int, int]]) -> str:
    body = []
    for row in rows:
        if row.key in ("a", "b") and row.latency != min(r.latency for r in rows):
            continue  # the same requests as at the lower latency
        for tool in TOOLS:
            body.append([_title(row, sizes), tool, mix_text(row.results[tool][-1].mix)])
    return markdown_table(["scenario", "tool", "requests seen by the proxy (last run), by kind"], body)


def _findings(bench: Bench, rows: list[Row], sizes: dict[str, tuple[int, int]]) -> list[str]:
    notes = []
    startup = bench.facts.get("startup", {})
    for row in rows:
        hoist = _stats(row.results["hoist"], "seconds").median
        requests = {t: _stats(row.results[t], "requests").median for t in TOOLS}
        own = Stats.of(m.own_seconds for m in row.results["hoist"] if m.own_seconds is not None).median
        where = f"{_title(row, sizes)} at {row.latency * 1000:.0f} ms"
        others = {t: _stats(row.results[t], "seconds").median for t in ("skopeo cold", "skopeo warm")}
        if any(other < hoist for other in others.values()):
            notes.append(
                f"In {where} hoist took {hoist:.3f} s against skopeo's {others['skopeo cold']:.3f} s cold and "
                f"{others['skopeo warm']:.3f} s warm (medians), with {requests['hoist']:.0f} requests against "
                f"{requests['skopeo cold']:.0f} and {requests['skopeo warm']:.0f}; hoist's own timer, which runs "
                f"inside the command, reported {own:.3f} s of its {hoist:.3f} s."
            )
        if requests["skopeo warm"] != requests["skopeo cold"]:
            notes.append(
                f"In {where} skopeo made {requests['skopeo cold']:.0f} requests cold and "
                f"{requests['skopeo warm']:.0f} warm."
            )
    if "hoist --version" in startup:
        notes.append(
            f"For comparison, this run measured `hoist --version` at {startup['hoist --version']:.3f} s and "
            f"`skopeo --version` at {startup['skopeo --version']:.3f} s (Start-up section)."
        )
    big = {r.key: r for r in rows if r.key in ("c", "c'")}
    if len(big) == 2:
        peaks = {k: {t: _stats(r.results[t], "rss_mib").high for t in TOOLS} for k, r in big.items()}
        (c_layers, c_size), (d_layers, d_size) = sizes["c"], sizes["c'"]
        small, large = peaks["c"], peaks["c'"]
        notes.append(
            f"Peak RSS of hoist: {small['hoist']:.0f} MiB copying {c_layers} x {c_size / 1e6:g} MB layers, "
            f"{large['hoist']:.0f} MiB copying {d_layers} x {d_size / 1e6:g} MB layers; skopeo (cold): "
            f"{small['skopeo cold']:.0f} and {large['skopeo cold']:.0f} MiB."
        )
    return notes


def render(
    bench: Bench,
    rows: dict[str, list[Row]],
    *,
    sizes: dict[str, tuple[int, int]],
    why_not_pulp: str,
    pulp_started: float | None,
) -> str:
    parts = [
        "## Copy\n",
        "hoist (`hoist copy SRC DST --json`) and skopeo 1.9 (`skopeo copy --all --preserve-digests`) copy the "
        "same images between the same registries, each reached through a proxy on loopback that adds the "
        "latency shown to every request and counts the requests. Wall time is taken from outside, from "
        "spawning the command to its exit, so hoist's start-up is included; cells are the median with "
        "(min-max) over the runs. Each run copies to a new tag or repository, in the order hoist, skopeo "
        "cold (every `blob-info-cache-v1.*` file of every skopeo version removed first: /var/lib/containers/"
        "cache, ~/.local/share/containers/cache, $XDG_DATA_HOME), then skopeo warm (the cache that identical "
        "cold copy just left, which tells skopeo where the blobs already are). In (c) every run of every "
        "tool copies into a registry holding none of the blobs: a new distribution registry, or on Pulp a new "
        "repository after the previous one and its blobs were deleted (repository removed, orphan clean-up). "
        "The destination digest is checked after every run (hoist's JSON, skopeo's `--digestfile`). Peak RSS "
        "is GNU time's maximum resident set size.\n",
    ]
    for name, found in rows.items():
        tokens = name == "Pulp"
        parts.append(f"### {name}\n")
        if tokens:
            started = f" (it started in {pulp_started:.0f} s, once for all these rows)" if pulp_started else ""
            parts.append(
                f"Pulp{started}: pulp-container behind nginx with Bearer token auth; both tools read the admin's "
                "credentials from one auth.json. Token requests go to the token server's own address, which "
                "Pulp names in its challenge, so they bypass the latency proxy: they are counted from nginx's "
                "access log instead. Blob reads Pulp answers with a redirect (`302` in the request mix) continue at "
                "its content app's own address, also without the proxy.\n"
            )
        parts += [_table(found, sizes, tokens=tokens) + "\n", _mixes(found, sizes) + "\n"]
        notes = _findings(bench, found, sizes)
        if notes:
            parts.append("\n".join(f"- {n}" for n in notes) + "\n")
    if "Pulp" not in rows:
        parts.append(f"### Pulp\n\nNo Pulp rows: {why_not_pulp}.\n")
    return "\n".join(parts)
