"""A promotion's follow-ups (history tag, listing under the image's referrers) and their repair.

A run writes its record, then its history tag, then lists the record under its image: the next run reads
that one listing to know the previous run left nothing undone, and repairs what it did leave. The effects
are read from the registry's own API, not from what hoist prints.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

import hoist as hoist_lib
from hoist.promotion.artifact import record_manifest
from hoist.promotion.ledger import Ledger
from tests.infra.faults import Fault
from tests.infra.images import make_image
from tests.infra.proxy import FaultProxy
from tests.infra.registry import RunningRegistry
from tests.support import Hoist


@pytest.fixture
def project(
    hoist: Hoist,
    fault_proxy: FaultProxy,
    proxied_registry: RunningRegistry,
    unique_repo: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[Path, dict[str, str]]:
    """staging and production in one repository behind the fault proxy; images A, B, C in a layout."""
    monkeypatch.setenv("HOIST_LEDGER_SETTLE", "0.3")
    layout = tmp_path / "build"
    digests = {
        name: make_image(layout, tag=name, layers=1, layer_size=2048, seed=f"follow-ups-{name}").digest
        for name in "ABC"
    }
    for name in "ABC":  # every image in the repository, by digest, without going through the proxy
        hoist.ok("copy", f"oci:{layout}:{name}", f"{proxied_registry.host}/{unique_repo}:seed-{name}")
    repo = f"{fault_proxy.host}/{unique_repo}"
    config = tmp_path / "hoist.toml"
    config.write_text(
        f'[environments.staging]\nimage = "{repo}:staging"\n\n'
        f'[environments.production]\nimage = "{repo}:main"\nfrom = "staging"\n'
    )
    return config, digests


def _stage(hoist: Hoist, registry: RunningRegistry, repo: str, name: str) -> None:
    hoist.ok("tag", f"{registry.host}/{repo}:seed-{name}", "staging")


def _without_rereads(seen: list[tuple[str, str]]) -> int:
    """Requests seen, not counting second reads of the ledger's head: a run reads it again only when it
    took longer between reading and writing it than the settle delay allows (a loaded machine)."""
    rereads = sum(1 for method, path in seen if method == "GET" and path.endswith("/hoist-ledger.production")) - 1
    return len(seen) - rereads


def _promote_each(hoist: Hoist, config: Path, registry: RunningRegistry, repo: str, names: str) -> None:
    for name in names:
        _stage(hoist, registry, repo, name)
        hoist.ok("--config", str(config), "promote", "staging", "production")


def _tag(registry: RunningRegistry, repo: str, tag: str) -> str | None:
    """The digest a tag names, asked of the registry itself (None: no such tag)."""
    with httpx.Client(base_url=f"http://{registry.host}") as client:
        answer = client.head(
            f"/v2/{repo}/manifests/{tag}", headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}
        )
    if answer.status_code == 404:
        return None
    assert answer.status_code == 200, answer
    return answer.headers["Docker-Content-Digest"]


def _listed(registry: RunningRegistry, repo: str, image: str) -> set[str]:
    """The record manifests the image's fallback referrers index lists."""
    with httpx.Client(base_url=f"http://{registry.host}") as client:
        answer = client.get(
            f"/v2/{repo}/manifests/{image.replace(':', '-')}",
            headers={"Accept": "application/vnd.oci.image.index.v1+json"},
        )
    if answer.status_code == 404:
        return set()
    assert answer.status_code == 200, answer
    return {entry["digest"] for entry in json.loads(answer.content)["manifests"]}


def test_a_plain_promotion_sends_ten_requests_and_leaves_nothing_to_repair(
    hoist: Hoist,
    project: tuple[Path, dict[str, str]],
    fault_proxy: FaultProxy,
    proxied_registry: RunningRegistry,
    unique_repo: str,
) -> None:
    config, digests = project
    for name in "AB":
        _stage(hoist, proxied_registry, unique_repo, name)
        fault_proxy.clear_requests()
        promoted = hoist.ok("--config", str(config), "promote", "staging", "production", "--json").json
    seen = [(r.method, r.path) for r in fault_proxy.requests]
    assert promoted["requests"] == len(seen), seen
    # source GET, ledger GET, record PUT, tag PUT, history tag PUT, the image's index GET and PUT, the
    # previous record's listing GET, the ledger's confirming HEAD and the tag's read-back HEAD
    assert _without_rereads(seen) == 10, seen
    assert sum(1 for method, _ in seen if method == "PUT") == 4, seen
    assert _tag(proxied_registry, unique_repo, "main-0002") == digests["B"]
    assert promoted["record"] in _listed(proxied_registry, unique_repo, digests["B"])


@pytest.mark.parametrize("failing", ["history", "listing"])
def test_the_next_run_repairs_what_a_run_left_undone(
    failing: str,
    hoist: Hoist,
    project: tuple[Path, dict[str, str]],
    fault_proxy: FaultProxy,
    proxied_registry: RunningRegistry,
    unique_repo: str,
) -> None:
    """A run whose history tag (or whose listing) could not be written reports it (exit 5); the next
    promotion writes what is missing for it, whatever the next promotion's own image is."""
    config, digests = project
    _stage(hoist, proxied_registry, unique_repo, "A")
    hoist.ok("--config", str(config), "promote", "staging", "production")
    _stage(hoist, proxied_registry, unique_repo, "B")
    target = r"/manifests/main-0002$" if failing == "history" else r"/manifests/sha256-" + digests["B"][7:]
    fault = fault_proxy.add_fault(Fault("status", method="PUT", path_regex=target, status=403, times=None))
    broken = hoist("--config", str(config), "promote", "staging", "production", "--json")
    assert broken.code == 5, broken
    assert fault.fired >= 1
    record = broken.json["record"]
    assert _tag(proxied_registry, unique_repo, "main") == digests["B"]  # the promotion itself stands
    assert record not in _listed(proxied_registry, unique_repo, digests["B"])
    if failing == "history":
        assert _tag(proxied_registry, unique_repo, "main-0002") is None
    fault_proxy.clear_faults()

    _stage(hoist, proxied_registry, unique_repo, "C")
    hoist.ok("--config", str(config), "promote", "staging", "production")
    assert _tag(proxied_registry, unique_repo, "main-0002") == digests["B"]
    assert record in _listed(proxied_registry, unique_repo, digests["B"])
    assert _tag(proxied_registry, unique_repo, "main-0003") == digests["C"]
    audit = hoist.ok("--config", str(config), "audit", "verify", "production", "--json").json
    assert audit["ok"], audit


def test_a_rollback_sends_nine_requests(
    hoist: Hoist,
    project: tuple[Path, dict[str, str]],
    fault_proxy: FaultProxy,
    proxied_registry: RunningRegistry,
    unique_repo: str,
) -> None:
    """The ledger says what production's tag names (B), so a rollback to A reads the tag only after moving it:
    ledger GET, A's manifest GET, record PUT, tag PUT, A's index GET and PUT, the previous record's listing
    GET, the ledger's confirming HEAD and the tag's read-back HEAD (a rollback writes no history tag)."""
    config, digests = project
    _promote_each(hoist, config, proxied_registry, unique_repo, "AB")
    fault_proxy.clear_requests()
    rolled = hoist.ok("--config", str(config), "rollback", "production", "--json").json
    seen = [(r.method, r.path) for r in fault_proxy.requests]
    assert rolled["requests"] == len(seen), seen
    assert _without_rereads(seen) == 9, seen
    assert _tag(proxied_registry, unique_repo, "main") == digests["A"]


def test_a_rollback_whose_tag_cannot_move_puts_it_back(
    hoist: Hoist,
    project: tuple[Path, dict[str, str]],
    fault_proxy: FaultProxy,
    proxied_registry: RunningRegistry,
    unique_repo: str,
) -> None:
    """Moving the tag fails once: the rollback fails (exit 1) and the tag still names B, the digest the
    ledger says production had, read back from the registry."""
    config, digests = project
    _promote_each(hoist, config, proxied_registry, unique_repo, "AB")
    fault = fault_proxy.add_fault(Fault("status", method="PUT", path_regex=r"/manifests/main$", status=403))
    failed = hoist("--config", str(config), "rollback", "production")
    assert failed.code == 1, failed
    assert fault.fired == 1
    assert "were put back" in failed.err, failed.err
    assert _tag(proxied_registry, unique_repo, "main") == digests["B"]


def test_a_record_written_again_after_a_lost_race_gets_its_own_history_tag_and_listing(
    hoist: Hoist,
    project: tuple[Path, dict[str, str]],
    proxied_registry: RunningRegistry,
    unique_repo: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Another writer puts its record over this promotion's while it settles: the promotion writes its
    record again on top, with the next sequence number, and the follow-ups serve that record — its history
    tag names the image and the image's referrers list it, not the record that lost (read from the
    registry's API)."""
    config, digests = project
    _promote_each(hoist, config, proxied_registry, unique_repo, "A")
    _stage(hoist, proxied_registry, unique_repo, "B")
    with hoist_lib.Project.load(config) as project_:
        store = project_.context.open(
            hoist_lib.parse_reference(f"{proxied_registry.host}/{unique_repo}:main"), push=True
        )
        rival = Ledger(store, "production")
        lost: list[str] = []
        sleep = time.sleep

        def racing_sleep(seconds: float) -> None:
            if not lost:  # the first wait is the settle delay: the head is this promotion's record
                view = rival.read()
                assert view.head is not None and view.head.record.seq == 2
                lost.append(str(view.head.manifest))
                theirs = replace(view.head.record, actor="rival", reason="written at the same moment")
                store.put_manifest(record_manifest(theirs, view.entries[1:], view.pinned), tag=rival.tag)
            sleep(seconds)

        monkeypatch.setattr(time, "sleep", racing_sleep)
        promoted = project_.promote("staging", "production")
        monkeypatch.setattr(time, "sleep", sleep)
    assert lost and promoted.seq == 3 and not promoted.follow_ups_failed
    assert _tag(proxied_registry, unique_repo, "main-0003") == digests["B"], "the standing record's history tag"
    listed = _listed(proxied_registry, unique_repo, digests["B"])
    assert str(promoted.record) in listed and lost[0] not in listed, listed
