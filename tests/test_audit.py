"""``hoist audit verify`` against ledgers rewritten by someone with push access, on a real registry.

Each forgery is written with the registry's own API (as any pusher could), keeping the hash chain
intact where the forger can, so only hoist's other checks can catch it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest

from hoist.manifest import OCI_MANIFEST
from hoist.promotion.artifact import record_manifest
from hoist.promotion.ledger import Ledger
from hoist.promotion.record import Entry
from hoist.store.session import Session
from tests.infra.images import make_image
from tests.infra.registry import RunningRegistry
from tests.support import Hoist, HoistResult


@dataclass
class Ledgered:
    registry: RunningRegistry
    repository: str
    config: Path

    def run(self, hoist: Hoist, *args: str) -> HoistResult:
        return hoist("--config", str(self.config), *args)

    def entries(self) -> list[Entry]:
        with Session() as session:
            store = session.open(_ref(self.registry, self.repository))
            return Ledger(store, "production").history(None)

    def put(self, reference: str, raw: bytes) -> None:
        with self.registry.client() as client:
            answer = client.put(
                f"/v2/{self.repository}/manifests/{reference}", content=raw, headers={"Content-Type": OCI_MANIFEST}
            )
        assert answer.status_code == 201, answer.text

    def delete(self, digest: str) -> None:
        with self.registry.client() as client:
            answer = client.delete(f"/v2/{self.repository}/manifests/{digest}")
        assert answer.status_code == 202, answer.text


def _ref(registry: RunningRegistry, repository: str):  # type: ignore[no-untyped-def]
    from hoist.ref import parse_reference

    return parse_reference(f"{registry.host}/{repository}")


@pytest.fixture
def ledgered(
    hoist: Hoist, registry: RunningRegistry, unique_repo: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Ledgered:
    """Production promoted four times (A, B, A, B): seq 1..4."""
    monkeypatch.setenv("HOIST_LEDGER_SETTLE", "0.02")
    layout = tmp_path / "build"
    for name in "AB":
        make_image(layout, tag=name, layers=1, layer_size=1024, seed=f"audit-{name}")
    repo = f"{registry.host}/{unique_repo}"
    config = tmp_path / "hoist.toml"
    config.write_text(
        f'[environments.staging]\nimage = "{repo}:staging"\n\n'
        f'[environments.production]\nimage = "{repo}:main"\nfrom = "staging"\n'
    )
    for name in "ABAB":
        hoist.ok("copy", f"oci:{layout}:{name}", f"{repo}:staging")
        hoist.ok("--config", str(config), "promote", "staging", "production")
    return Ledgered(registry, unique_repo, config)


def test_an_untouched_ledger_passes(hoist: Hoist, ledgered: Ledgered) -> None:
    result = ledgered.run(hoist, "audit", "verify", "production", "--json")
    assert result.code == 0, result
    assert result.json["records"] == 4 and result.json["ok"]


def test_a_sequence_gap_is_caught_though_the_chain_links(hoist: Hoist, ledgered: Ledgered) -> None:
    head, *older = ledgered.entries()
    forged = replace(head.record, seq=head.record.seq + 2)  # seq 6 right after seq 3: seq 4-5 "missing"
    window = older[:49]
    forged = replace(forged, previous_record=older[0].manifest)
    ledgered.put("hoist-ledger.production", record_manifest(forged, window).raw)
    result = ledgered.run(hoist, "audit", "verify", "production", "--json")
    assert result.code == 1, result
    messages = [f["message"] for f in result.json["findings"]]
    assert any("sequence jumps to 3, expected 5" in m for m in messages), messages


def test_a_copy_that_disagrees_with_its_record_is_caught(hoist: Hoist, ledgered: Ledgered) -> None:
    head, *older = ledgered.entries()
    edited = [Entry(e.manifest, replace(e.record, reason="approved by the board")) if e.record.seq == 2 else e
              for e in older]  # fmt: skip
    rewritten = record_manifest(head.record, edited[:49])  # the chain links are untouched
    ledgered.put("hoist-ledger.production", rewritten.raw)
    result = ledgered.run(hoist, "audit", "verify", "production", "--json")
    assert result.code == 1, result
    assert any("record seq 2 differs from the copy kept in seq 4" in f["message"] for f in result.json["findings"])


def test_a_deleted_record_breaks_the_chain(hoist: Hoist, ledgered: Ledgered) -> None:
    entries = ledgered.entries()
    ledgered.delete(str(next(e for e in entries if e.record.seq == 2).manifest))
    result = ledgered.run(hoist, "audit", "verify", "production", "--json")
    assert result.code == 1, result
    assert any("chain is broken after seq 3" in f["message"] for f in result.json["findings"]), result.json


def test_since_checks_back_to_a_point_already_audited(hoist: Hoist, ledgered: Ledgered) -> None:
    entries = ledgered.entries()
    ledgered.delete(str(next(e for e in entries if e.record.seq == 1).manifest))  # older than the checkpoint
    recent = ledgered.run(hoist, "audit", "verify", "production", "--since", "2", "--json")
    assert recent.code == 0, recent
    assert recent.json["records"] == 3 and recent.json["since"] == 2
    whole = ledgered.run(hoist, "audit", "verify", "production", "--json")
    assert whole.code == 1 and "chain is broken after seq 2" in whole.out


def test_audit_fetches_records_in_parallel(ledgered: Ledgered) -> None:
    """Records are read concurrently: the registry sees overlapping record reads (not one after another)."""
    import threading

    from hoist.promotion.audit import audit
    from hoist.promotion.config import Environment
    from hoist.ref import parse_reference

    in_flight = 0
    peak = 0
    changed = threading.Condition()

    class Counting(httpx.HTTPTransport):
        """Holds each GET until three are in flight at once (or 2 s pass): reads sent one after another
        never overlap, however slow the machine; concurrent ones always do."""

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            nonlocal in_flight, peak
            if request.method != "GET":  # the record reads; existence checks are HEADs
                return super().handle_request(request)
            with changed:
                in_flight += 1
                peak = max(peak, in_flight)
                changed.notify_all()
                changed.wait_for(lambda: peak >= 3, timeout=2.0)
            try:
                return super().handle_request(request)
            finally:
                with changed:
                    in_flight -= 1

    from hoist.options import Options

    options = Options(transport=Counting())
    env = Environment(name="production", image=parse_reference(f"{ledgered.registry.host}/{ledgered.repository}:main"))
    with Session(options.registry_options()) as session:
        result = audit(session.open(env.image), env)
    assert result.ok and result.records == 4
    assert peak >= 3, peak
