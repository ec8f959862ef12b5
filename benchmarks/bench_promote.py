"""Promotion benchmarks through the far registry (25 ms per request): requests and wall time of promote,
rollback, history and status, with a ledger already holding a few dozen records."""

from __future__ import annotations

import statistics
from pathlib import Path

from benchmarks.common import HOIST, far_registry, hoist_json, markdown_table, timed
from tests.infra.images import make_image
from tests.infra.skopeo import layout_ref, skopeo_copy

HISTORY = 30


def _config(path: Path, host: str) -> Path:
    path.write_text(
        f'[environments.staging]\nimage = "{host}/bench/app:staging"\n\n'
        f'[environments.production]\nimage = "{host}/bench/app:main"\nfrom = "staging"\n'
    )
    return path


def report(work: Path, runs: int) -> str:
    layout = work / "layout"
    names = [f"v{i}" for i in range(HISTORY + runs + 1)]
    for name in names:
        make_image(layout, tag=name, layers=2, layer_size=4096, seed=f"bench-promote-{name}")
    measured: dict[str, list[tuple[float, int]]] = {"promote": [], "rollback": [], "history": [], "status": []}
    with far_registry(work / "registry") as far:
        config = _config(work / "hoist.toml", far.host)
        base = [*HOIST, "--config", str(config)]

        def stage(name: str) -> None:
            skopeo_copy(layout_ref(layout, name), f"docker://{far.direct}/bench/app:staging", dest_tls_verify=False)

        for name in names[:HISTORY]:  # a ledger with history: the first records pay one-time costs
            stage(name)
            timed([*base, "promote", "staging", "production"])
        for name in names[HISTORY : HISTORY + runs]:
            stage(name)
            far.clear()
            seconds, _, out = timed([*base, "promote", "staging", "production", "--json"])
            measured["promote"].append((seconds, far.requests()))
            assert hoist_json(out)["requests"] == far.requests()
            far.clear()
            seconds, _, _ = timed([*base, "rollback", "production", "--json"])
            measured["rollback"].append((seconds, far.requests()))
            for command, args in (
                ("history", ["history", "production", "--limit", "20", "--json"]),
                ("status", ["status", "production", "--json"]),
            ):
                far.clear()
                seconds, _, out = timed([*base, *args])
                measured[command].append((seconds, far.requests()))
    rows = []
    targets = {"promote": 10, "rollback": 10, "history": 4, "status": 4}
    what = {
        "promote": "promote, image already in the repository (retag + ledger write)",
        "rollback": "rollback to the previous digest",
        "history": "history --limit 20",
        "status": "status of one environment",
    }
    for command, samples in measured.items():
        requests = max(r for _, r in samples)
        rows.append(
            [
                what[command],
                f"{statistics.median(s for s, _ in samples):.3f} s",
                requests,
                f"<= {targets[command]}",
                "yes" if requests <= targets[command] else "NO",
            ]
        )
    table = markdown_table(["operation", "wall time (median)", "requests (max)", "target", "met"], rows)
    return (
        "## Promotion\n\n"
        f"Medians of {runs} runs through the proxy adding 25 ms to every request, with a ledger already "
        f"holding {HISTORY} records; requests counted at the proxy (no auth: every request is after auth). "
        "The promote has no extra tags configured; each extra tag adds a PUT and a read-back.\n\n"
        f"{table}\n\n"
        "A promote is: GET the source manifest, GET the ledger head (whose window holds the last 50 "
        "records), PUT the record as the new head, PUT the environment tag, HEAD the ledger head (race "
        "check), HEAD the tag (read-back), PUT and HEAD the history tag, GET and PUT the referrers fallback "
        "index of the image.\n"
    )
