"""Freezes (ledger records) and windows (hoist.toml) on a real registry, the clock set through HOIST_NOW.

Deploys run a real command against a loopback service whose health depends on the digest it serves;
webhooks go to a loopback receiver. Tags are read back with skopeo and ledger records with the
registry's own HTTP API, not through hoist.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hoist.promotion import ledger as ledger_module
from tests.infra.images import ImageInfo, make_image
from tests.infra.registry import RunningRegistry
from tests.infra.service import Hooks, Service, running_hooks, running_service
from tests.infra.skopeo import skopeo_digest
from tests.support import Hoist, HoistResult

WINDOWS = """
[environments.production.windows]
deny = ["Fri 16:00-Mon 08:00 Europe/Berlin"]
"""


@dataclass
class Frozen:
    config: Path
    registry: RunningRegistry
    repo: str
    layout: Path
    images: dict[str, ImageInfo]
    service: Service
    hooks: Hooks
    monkeypatch: pytest.MonkeyPatch

    @property
    def staging(self) -> str:
        return f"{self.registry.host}/{self.repo}:staging"

    @property
    def production(self) -> str:
        return f"{self.registry.host}/{self.repo}:main"

    def write(self, extra: str = "") -> None:
        self.config.write_text(f"""
[environments.staging]
image = "{self.staging}"

[environments.production]
image = "{self.production}"
from = "staging"
tags = ["latest"]

[environments.production.deploy]
target = "command"
run = '{self.service.deploy_command}'

[environments.production.health]
url = "{self.service.url}"
timeout = "2s"
interval = "0.1s"

[[notify.webhooks]]
url = "{self.hooks.url}"
events = ["freeze", "unfreeze", "rollback", "promote"]
{extra}
""")

    def at(self, moment: str) -> None:
        self.monkeypatch.setenv("HOIST_NOW", moment)

    def run(self, hoist: Hoist, *args: str) -> HoistResult:
        return hoist("--config", str(self.config), *args)

    def stage(self, hoist: Hoist, name: str) -> str:
        hoist.ok("copy", f"oci:{self.layout}:{name}", self.staging)
        return self.images[name].digest

    def main(self) -> str:
        return skopeo_digest(f"docker://{self.production}", tls_verify=False)

    def head(self) -> dict[str, Any]:
        """The production ledger's head manifest, read with the registry API (not through hoist)."""
        with self.registry.client() as client:
            answer = client.get(
                f"/v2/{self.repo}/manifests/hoist-ledger.production",
                headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
            )
        assert answer.status_code == 200, answer.text
        manifest: dict[str, Any] = answer.json()
        return manifest

    def head_record(self) -> dict[str, Any]:
        record: dict[str, Any] = json.loads(self.head()["annotations"]["dev.hoist.ledger.record"])
        return record


@pytest.fixture
def frozen(
    tmp_path: Path, registry: RunningRegistry, unique_repo: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Frozen]:
    monkeypatch.setenv("HOIST_ACTOR", "alice")
    monkeypatch.setenv("HOIST_LEDGER_SETTLE", "0.05")
    layout = tmp_path / "build"
    images = {n: make_image(layout, tag=n, layers=1, layer_size=2048, seed=f"freeze-{n}") for n in "ABCD"}
    with running_service(tmp_path / "serving") as service, running_hooks() as hooks:
        setup = Frozen(tmp_path / "hoist.toml", registry, unique_repo, layout, images, service, hooks, monkeypatch)
        setup.write()
        yield setup


def refused(result: HoistResult, *words: str) -> str:
    assert result.code == 3, result
    line = result.err.strip().splitlines()[-1]
    for word in words:
        assert word in line, (word, line)
    return line


def test_a_freeze_stops_changes_until_it_ends(hoist: Hoist, frozen: Frozen) -> None:
    frozen.at("2026-12-20T10:00:00Z")
    a = frozen.stage(hoist, "A")
    frozen.run(hoist, "promote", "staging", "production")
    assert frozen.run(hoist, "deploy", "production").code == 0

    done = frozen.run(hoist, "freeze", "production", "--until", "2026-12-27T09:00Z", "--reason", "holidays", "--json")
    assert done.code == 0, done
    assert done.json[0]["seq"] == 3 and done.json[0]["until"] == "2026-12-27T09:00:00Z"
    record = frozen.head_record()  # the registry holds it: every pipeline sees it
    assert record["kind"] == "freeze" and record["seq"] == 3
    assert (record["reason"], record["actor"], record["details"]["until"]) == (
        "holidays",
        "alice",
        "2026-12-27T09:00:00.000Z",
    )
    assert record["time"] == "2026-12-20T10:00:00.000Z" and record["digest"] == a
    (event,) = [e for e in frozen.hooks.events if e["kind"] == "freeze"]
    assert (event["environment"], event["until"], event["reason"], event["seq"]) == (
        "production",
        "2026-12-27T09:00:00.000Z",
        "holidays",
        3,
    )

    b = frozen.stage(hoist, "B")
    frozen.at("2026-12-24T18:30:00Z")
    line = refused(
        frozen.run(hoist, "promote", "staging", "production"),
        "freeze: production is frozen until 2026-12-27 09:00 UTC (in 2d 14h) by alice since 2026-12-20 10:00 UTC: "
        "holidays (seq 3)",
        "(override with --force --reason TEXT)",
    )
    assert b[:19] in line
    refused(frozen.run(hoist, "release", "staging", "production"), "frozen until 2026-12-27 09:00 UTC")
    refused(frozen.run(hoist, "promote", "staging", "production", "--dry-run"), "frozen")
    refused(frozen.run(hoist, "deploy", "production", "--digest", b), "deploy of", "frozen until")
    assert frozen.main() == a and frozen.service.serving() == a  # nothing moved, nothing deployed
    forced = frozen.run(hoist, "promote", "staging", "production", "--force")
    assert forced.code == 2 and "only with --reason TEXT" in forced.err
    as_json = frozen.run(hoist, "promote", "staging", "production", "--json")
    assert as_json.code == 3 and as_json.json["gates"][0]["gate"] == "freeze", as_json

    status = frozen.run(hoist, "status", "production")
    assert "FROZEN: production is frozen until 2026-12-27 09:00 UTC (in 2d 14h) by alice" in status.out
    status_json = frozen.run(hoist, "status", "production", "--json").json[0]
    assert status_json["freezes"][0]["until"] == "2026-12-27T09:00:00Z" and status_json["freezes"][0]["seq"] == 3

    # redeploying what runs restores nothing new: allowed, and the record says it went through a freeze
    assert frozen.run(hoist, "deploy", "production").code == 0
    gate = frozen.head_record()["gates"][0]
    assert gate["gate"] == "freeze" and gate["passed"] and "goes ahead during a freeze" in gate["detail"]

    # an override is explicit and recorded
    hotfix = frozen.run(hoist, "release", "staging", "production", "--force", "--reason", "CVE hotfix", "--json")
    assert hotfix.code == 0, hotfix
    assert frozen.main() == b and frozen.service.serving() == b
    history = frozen.run(hoist, "history", "production", "--json").json
    promoted = next(r for r in history if r["kind"] == "promote")
    assert promoted["override"] == {"reason": "CVE hotfix", "rules": ["freeze"]}
    assert promoted["gates"][0]["gate"] == "freeze" and promoted["gates"][0]["overridden"]

    # the freeze ends on its own
    c = frozen.stage(hoist, "C")
    frozen.at("2026-12-27T08:59:59Z")
    refused(frozen.run(hoist, "promote", "staging", "production"), "(in 1s)")
    frozen.at("2026-12-27T09:00:00Z")
    assert frozen.run(hoist, "promote", "staging", "production").code == 0
    assert frozen.main() == c
    assert "FROZEN" not in frozen.run(hoist, "status", "production").out


def test_unfreeze_lifts_a_freeze_and_a_new_freeze_replaces_one(hoist: Hoist, frozen: Frozen) -> None:
    frozen.at("2026-12-20T10:00:00Z")
    frozen.stage(hoist, "A")
    assert frozen.run(hoist, "promote", "staging", "production").code == 0
    none = frozen.run(hoist, "unfreeze", "production", "--reason", "nothing to lift")
    assert none.code == 2 and "production has no freeze in force to lift" in none.err
    past = frozen.run(hoist, "freeze", "production", "--until", "2026-12-19T00:00Z", "--reason", "late")
    assert past.code == 2 and "would be over already" in past.err
    no_reason = frozen.run(hoist, "freeze", "production", "--for", "2d")
    assert no_reason.code == 2 and "needs --reason" in no_reason.err
    bad_time = frozen.run(hoist, "freeze", "production", "--until", "next friday", "--reason", "x")
    assert bad_time.code == 2 and "RFC 3339" in bad_time.err
    unknown = frozen.run(hoist, "freeze", "production", "qa", "--for", "1h", "--reason", "x")
    assert unknown.code == 2 and "unknown environment 'qa'" in unknown.err
    assert frozen.head_record()["seq"] == 1  # bad input wrote nothing

    assert frozen.run(hoist, "freeze", "production", "--for", "2d", "--reason", "incident 4711").code == 0
    longer = frozen.run(hoist, "freeze", "production", "--for", "5d", "--reason", "incident 4711, longer")
    assert longer.code == 0 and "replaces the freeze until 2026-12-22 10:00 UTC" in longer.out
    frozen.stage(hoist, "B")
    frozen.at("2026-12-23T10:00:00Z")  # past the first freeze's end, inside the second's
    refused(frozen.run(hoist, "promote", "staging", "production"), "frozen until 2026-12-25 10:00 UTC")

    lifted = frozen.run(hoist, "unfreeze", "production", "--reason", "incident resolved", "--json")
    assert lifted.code == 0, lifted
    record = frozen.head_record()
    assert record["kind"] == "unfreeze" and record["details"]["lifted"] == 3 and record["reason"] == "incident resolved"
    assert frozen.hooks.kinds()[-1] == "unfreeze" and frozen.hooks.events[-1]["reason"] == "incident resolved"
    assert frozen.run(hoist, "promote", "staging", "production").code == 0
    history = frozen.run(hoist, "history", "production").out
    assert "freeze" in history and "until 2026-12-25 10:00" in history and "unfreeze" in history
    audit = frozen.run(hoist, "audit", "verify", "production", "--json")
    assert audit.code == 0 and audit.json["ok"], audit  # freeze records are links of the chain like any


def test_rollbacks_during_a_freeze(hoist: Hoist, frozen: Frozen) -> None:
    """The on-call engineer at 3 a.m.: going back to what ran needs no override, and the automatic
    rollback after a failed deploy is never stopped; going anywhere new is."""
    frozen.at("2026-12-20T10:00:00Z")
    a = frozen.stage(hoist, "A")
    assert frozen.run(hoist, "release", "staging", "production").code == 0
    b = frozen.stage(hoist, "B")
    assert frozen.run(hoist, "release", "staging", "production").code == 0
    assert frozen.run(hoist, "freeze", "production", "--for", "7d", "--reason", "holidays").code == 0

    frozen.at("2026-12-24T03:00:00Z")
    back = frozen.run(hoist, "rollback", "production", "--reason", "B leaks memory", "--json")
    assert back.code == 0, back
    assert frozen.main() == a
    gate = back.json["gates"][0]
    assert gate["gate"] == "freeze" and gate["passed"] and "going back to what production ran" in gate["detail"]
    assert frozen.head_record()["gates"][0]["gate"] == "freeze"
    deployed = frozen.run(hoist, "deploy", "production")  # carrying out the rollback
    assert deployed.code == 0, deployed
    assert frozen.service.serving() == a

    never = "sha256:" + "1" * 64
    line = refused(frozen.run(hoist, "rollback", "production", "--to", never), "promoted: production never had")
    assert "freeze: production is frozen" in line

    # a forced release of a broken build: its deploy fails, and the automatic rollback goes ahead
    c = frozen.stage(hoist, "C")
    frozen.service.broken.add(c)
    failed = frozen.run(hoist, "release", "staging", "production", "--force", "--reason", "urgent fix")
    assert failed.code == 4, failed
    assert frozen.main() == a and frozen.service.serving() == a
    history = frozen.run(hoist, "history", "production", "--json").json
    automatic = next(r for r in history if r["kind"] == "rollback")
    assert automatic["details"]["automatic"] is True
    assert automatic["gates"][0]["gate"] == "freeze" and automatic["gates"][0]["passed"]
    assert "automatic rollback after a failed deploy" in automatic["gates"][0]["detail"]
    assert b != c


def test_a_freeze_stays_in_reach_however_long_the_ledger_grows(
    hoist: Hoist, frozen: Frozen, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The head pins the freeze in force: with a window of 4 records and 9 records written after the
    freeze, it still refuses, and the head the registry serves holds it."""
    monkeypatch.setattr(ledger_module, "WINDOW", 4)
    frozen.at("2026-12-20T10:00:00Z")
    frozen.stage(hoist, "A")
    assert frozen.run(hoist, "release", "staging", "production").code == 0
    assert frozen.run(hoist, "freeze", "production", "--for", "7d", "--reason", "holidays").code == 0
    for _ in range(9):
        assert frozen.run(hoist, "deploy", "production").code == 0  # redeploys: allowed, and recorded
    frozen.stage(hoist, "B")
    refused(frozen.run(hoist, "promote", "staging", "production"), "holidays (seq 3)")
    head = frozen.head()
    window = json.loads(head["annotations"]["dev.hoist.ledger.window"])
    pinned = json.loads(head["annotations"]["dev.hoist.ledger.pinned"])
    assert all(e["record"]["kind"] == "deploy" for e in window)
    assert [e["record"]["seq"] for e in pinned if e["record"]["kind"] == "freeze"] == [3]
    assert frozen.run(hoist, "unfreeze", "production", "--reason", "done").code == 0
    head = frozen.head()
    pinned = json.loads(head["annotations"].get("dev.hoist.ledger.pinned", "[]"))
    assert not [e for e in pinned if e["record"]["kind"] == "freeze"]  # lifted: no longer kept in reach
    assert frozen.run(hoist, "promote", "staging", "production").code == 0


def test_a_deny_window_across_a_weekend_and_daylight_saving_changes(hoist: Hoist, frozen: Frozen) -> None:
    """Fri 16:00-Mon 08:00 Europe/Berlin: 63 hours on the weekend the clocks go forward (29 March 2026),
    65 on the one they go back (25 October 2026)."""
    frozen.write(WINDOWS)
    frozen.at("2026-03-27T14:59:00Z")  # Friday 15:59 CET
    a = frozen.stage(hoist, "A")
    first = frozen.run(hoist, "promote", "staging", "production", "--json")
    assert first.code == 0, first
    assert first.json["gates"] == [
        {
            "gate": "window",
            "passed": True,
            "detail": "outside its deny windows until 2026-03-27 15:00 UTC",
            "environment": "production",
            "evidence": [],
            "overridden": False,
        }
    ]
    b = frozen.stage(hoist, "B")
    until = "until Mon 30 Mar 2026 08:00 CEST = 2026-03-30 06:00 UTC"
    for moment in ("2026-03-27T15:00:00Z", "2026-03-29T01:30:00Z", "2026-03-30T05:59:00Z"):
        frozen.at(moment)  # Friday 16:00 CET, Sunday as the clocks go forward, Monday 07:59 CEST
        refused(
            frozen.run(hoist, "promote", "staging", "production"),
            f"window: production is inside its deny window Fri 16:00-Mon 08:00 Europe/Berlin {until}",
        )
    assert "FROZEN: production is inside its deny window" in frozen.run(hoist, "status", "production").out
    lift = frozen.run(hoist, "unfreeze", "production", "--reason", "want to ship")
    assert lift.code == 2 and "no freeze in force to lift" in lift.err and "hoist.toml's to change" in lift.err
    frozen.at("2026-03-30T06:30:00Z")  # 08:30 CEST: open (at a fixed winter offset it would still be 07:30)
    assert frozen.run(hoist, "promote", "staging", "production").code == 0
    assert frozen.main() == b

    frozen.at("2026-10-23T13:59:00Z")  # Friday 15:59 CEST
    assert frozen.run(hoist, "rollback", "production").code == 0 and frozen.main() == a
    frozen.at("2026-10-26T06:30:00Z")  # Monday 07:30 CET: the clocks went back, still closed
    refused(
        frozen.run(hoist, "promote", "staging", "production"), "until Mon 26 Oct 2026 08:00 CET = 2026-10-26 07:00 UTC"
    )
    override = frozen.run(hoist, "promote", "staging", "production", "--force", "--reason", "ship it", "--json")
    assert override.code == 0 and override.json["override"] == {"reason": "ship it", "rules": ["window"]}
    assert frozen.main() == b
    frozen.at("2026-10-26T07:00:00Z")
    assert frozen.run(hoist, "rollback", "production").code == 0  # open again (a rollback is allowed anyway)
    assert frozen.run(hoist, "promote", "staging", "production", "--json").json["gates"][0]["passed"]


def test_allow_windows_and_bad_window_rules(hoist: Hoist, frozen: Frozen) -> None:
    frozen.write(
        '\n[environments.production.windows]\ntimezone = "America/New_York"\nallow = ["Mon-Thu 09:00-17:00"]\n'
    )
    frozen.stage(hoist, "A")
    frozen.at("2026-03-27T14:00:00Z")  # Friday 10:00 EDT: outside
    refused(
        frozen.run(hoist, "promote", "staging", "production"),
        "production is outside its allowed windows (Mon-Thu 09:00-17:00) until Mon 30 Mar 2026 09:00 EDT = "
        "2026-03-30 13:00 UTC",
    )
    frozen.at("2026-03-30T13:00:00Z")
    assert frozen.run(hoist, "promote", "staging", "production").code == 0
    for rule, message in (
        ('deny = ["Fri 16:00-Mon 08:00 Mars/Olympus"]', "unknown time zone 'Mars/Olympus'"),
        ('deny = ["Fri 16:00-Mon 08:00"]', "name a time zone"),
        ('deny = ["Fry 16:00-Mon 08:00 UTC"]', "'Fry' is not a day of the week"),
        ('deny = ["Fri 16:00-Fri 16:00 UTC"]', "ends where it begins"),
        ('deny = ["weekends UTC"]', 'expected "DAY HH:MM-DAY HH:MM [ZONE]"'),
        ('when = ["Fri"]', "unknown key"),
    ):
        frozen.write(f"\n[environments.production.windows]\n{rule}\n")
        result = frozen.run(hoist, "promote", "staging", "production")
        assert result.code == 2 and "environments.production.windows" in result.err and message in result.err, result
