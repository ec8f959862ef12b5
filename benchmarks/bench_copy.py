"""Copy benchmarks: hoist beside skopeo (cold and warm blob-info cache) on the same far registries.

(a) same-repository retag of a 3-layer image; (b) cross-repository copy of a 4-platform x 5-layer index;
(c) cross-registry copy of 4 x 50 MB layers into an empty registry; (c') 2 x 250 MB layers, one run.
On distribution 2.8, and on Pulp with its token auth. The tables are written by :mod:`copy_report`.
"""

from __future__ import annotations

import contextlib
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import pulp as pulp_site
from benchmarks.common import (
    FAR_LATENCY,
    HOIST,
    LATENCY,
    Bench,
    Far,
    clear_skopeo_cache,
    far,
    far_registry,
    request_mix,
    skopeo_copy_argv,
    timed,
)
from benchmarks.copy_report import render
from tests.infra.images import ImageInfo, make_image, make_index
from tests.infra.skopeo import layout_ref, skopeo_copy

TOOLS = ("hoist", "skopeo cold", "skopeo warm")


@dataclass(frozen=True)
class Measured:
    seconds: float
    rss_mib: float
    requests: int
    tokens: int
    mix: Counter[str]
    own_seconds: float | None = None
    """hoist's own timer (its JSON ``seconds``), beside the wall time taken from outside."""


@dataclass
class Row:
    key: str
    title: str
    latency: float
    results: dict[str, list[Measured]] = field(default_factory=lambda: {t: [] for t in TOOLS})


@dataclass(frozen=True)
class Image:
    layout: Path
    tag: str
    info: ImageInfo


Endpoint = Callable[[Path, float, Image, str], contextlib.AbstractContextManager[Far]]
"""Opens a far endpoint (work dir, latency) whose registry holds ``image`` in the repository given."""
Empty = Callable[[Path, str, Image], contextlib.AbstractContextManager[tuple[Far, str]]]
"""A far endpoint and a repository of a registry holding none of the image's blobs (work dir, name)."""


@dataclass(frozen=True)
class Site:
    name: str
    endpoint: Endpoint
    empty: Empty
    authfile: Path | None = None
    tokens: Callable[[], int] = lambda: 0


def _one(bench: Bench, site: Site, tool: str, source: str, destination: str, fars: list[Far], digest: str) -> Measured:
    if tool == "skopeo cold":
        clear_skopeo_cache(bench.home)
    for endpoint in fars:
        endpoint.clear()
    tokens = site.tokens()
    digest_file = bench.work / "skopeo.digest"
    digest_file.unlink(missing_ok=True)
    if tool == "hoist":
        auth = {"REGISTRY_AUTH_FILE": str(site.authfile)} if site.authfile else {}
        run = timed([*HOIST, "copy", source, destination, "--json"], env=bench.env(**auth))
        got, own = run.json()["digest"], float(run.json()["seconds"])
    else:
        argv = skopeo_copy_argv(source, destination, digest_file=digest_file, authfile=site.authfile)
        run = timed(argv, env=bench.env())
        got, own = digest_file.read_text().strip(), None
    if got != digest:
        raise RuntimeError(f"{tool} copied {got} from {source}, expected {digest}")
    log = [r for endpoint in fars for r in endpoint.log()]
    return Measured(run.seconds, run.rss_mib, len(log), site.tokens() - tokens, request_mix(log), own)


def _within(bench: Bench, site: Site, row: Row, image: Image) -> Row:
    """(a) and (b): source and destination in one registry. Per run: hoist, skopeo with its cache removed,
    then skopeo again with the cache that cold run left (it knows where the blobs are, and mounts)."""
    source_repo = f"bench/{row.key}"
    with site.endpoint(bench.dir(f"copy-{site.name}-{row.key}-{row.latency}"), row.latency, image, source_repo) as end:
        for n in range(bench.runs):
            for tool in TOOLS:
                slug = tool.replace(" ", "-")
                repo = f"{source_repo}:{slug}-{n}" if row.key == "a" else f"{source_repo}-{slug}-{n}:v1"
                measured = _one(bench, site, tool, f"{end.host}/{source_repo}:v1", f"{end.host}/{repo}", [end],
                                image.info.digest)  # fmt: skip
                row.results[tool].append(measured)
    return row


def _across(bench: Bench, site: Site, source: Far, row: Row, runs: int, image: Image) -> Row:
    """(c): from a distribution registry into an empty one, a fresh one for every run of every tool (the
    warm skopeo's cache then knows the blobs only in a registry that is gone)."""
    repo = f"bench/{image.tag}"
    for n in range(runs):
        for tool in TOOLS:
            slug = f"{image.tag}-{tool.replace(' ', '-')}-{n}"
            with site.empty(bench.dir(f"copy-{site.name}-{slug}"), f"bench/{slug}", image) as (target, into):
                measured = _one(bench, site, tool, f"{source.host}/{repo}:v1", f"{target.host}/{into}:v1",
                                [source, target], image.info.digest)  # fmt: skip
                row.results[tool].append(measured)
    return row


@contextlib.contextmanager
def _distribution_endpoint(workdir: Path, latency: float, image: Image, repo: str) -> Iterator[Far]:
    with far_registry(workdir, latency) as endpoint:
        skopeo_copy(layout_ref(image.layout, image.tag), f"docker://{endpoint.direct}/{repo}:v1", dest_tls_verify=False)
        yield endpoint


@contextlib.contextmanager
def _distribution_empty(workdir: Path, repo: str, _: Image) -> Iterator[tuple[Far, str]]:
    try:
        with far_registry(workdir) as target:
            yield target, repo
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


DISTRIBUTION = Site("distribution", _distribution_endpoint, _distribution_empty)


def _pulp(running: pulp_site.PulpSite) -> Site:
    seeded: set[str] = set()

    @contextlib.contextmanager
    def endpoint(_: Path, latency: float, image: Image, repo: str) -> Iterator[Far]:
        if repo not in seeded:
            running.seed(image.layout, image.tag, repo)
            seeded.add(repo)
        with far(running.pulp.host, latency) as proxied:
            running.allow(proxied.host)
            yield proxied

    @contextlib.contextmanager
    def empty(_: Path, repo: str, image: Image) -> Iterator[tuple[Far, str]]:
        try:
            with far(running.pulp.host, LATENCY) as proxied:
                running.allow(proxied.host)
                yield proxied, repo
        finally:
            running.drop(repo, blobs=image.info.blobs)  # the repository and its blobs: Pulp is empty again

    return Site("pulp", endpoint, empty, authfile=running.authfile, tokens=running.tokens)


def sizes(bench: Bench) -> dict[str, tuple[int, int]]:
    """Layers and bytes per layer of (c) and (c'); --quick makes them a tenth."""
    scale = 10 if bench.quick else 1
    return {"c": (4, 50_000_000 // scale), "c'": (2, 250_000_000 // scale)}


def _images(bench: Bench) -> dict[str, Image]:
    layout = bench.dir("copy-layout")
    found = {
        "a": make_image(layout, tag="a", layers=3, layer_size=1024 * 1024, seed="bench-a"),
        "b": make_index(layout, tag="b", layers_per_image=5, layer_size=256 * 1024, seed="bench-b"),
    }
    for key, (layers, size) in sizes(bench).items():
        tag = key.replace("'", "2")
        found[key] = make_image(layout, tag=tag, layers=layers, layer_size=size, seed=f"bench-{tag}", compress=False)
    return {key: Image(layout, key.replace("'", "2"), info) for key, info in found.items()}


def _on(bench: Bench, site: Site, images: dict[str, Image], *, full: bool) -> list[Row]:
    rows = []
    for key in ("a", "b"):
        for latency in (LATENCY, FAR_LATENCY) if full else (LATENCY,):
            rows.append(_within(bench, site, Row(key, key, latency), images[key]))
    with far_registry(bench.dir(f"copy-{site.name}-c-source")) as source:
        for key in ("c", "c'") if full else ("c",):
            image = images[key]
            target = f"docker://{source.direct}/bench/{image.tag}:v1"
            skopeo_copy(layout_ref(image.layout, image.tag), target, dest_tls_verify=False)
            runs = 1 if key == "c'" else bench.runs
            rows.append(_across(bench, site, source, Row(key, key, LATENCY), runs, image))
    return rows


def report(bench: Bench, *, pulp: bool = True) -> str:
    images = _images(bench)
    rows = {"distribution 2.8": _on(bench, DISTRIBUTION, images, full=True)}
    why_not_pulp, pulp_started = "not run (`--no-pulp`)", None
    if pulp:
        with pulp_site.started(bench.dir("pulp")) as running:
            if isinstance(running, str):
                why_not_pulp = running
            else:
                pulp_started = running.started_in
                bench.versions.update({f"Pulp {k}": v for k, v in running.versions().items()})
                rows["Pulp"] = _on(bench, _pulp(running), images, full=False)
    return render(bench, rows, sizes=sizes(bench), why_not_pulp=why_not_pulp, pulp_started=pulp_started)
