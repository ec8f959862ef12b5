"""``hoist report``: the metrics from known records, the numbers through a real ledger and CLI, and the
HTML page in a real headless Chromium (screenshot kept under test-artifacts/)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from hoist.cli.context import STATE
from hoist.cli.report import command as report_command
from hoist.digest import Digest
from hoist.errors import InputError
from hoist.promotion.ledger import Ledger, View
from hoist.promotion.record import DeployInfo, DeployOutcome, Kind, Record
from hoist.report.html import shown
from hoist.report.metrics import Window, measure, percentile
from hoist.store.ocidir import OCILayoutStore
from tests.browser import Chromium, chromium_path
from tests.infra.images import make_image
from tests.support import Hoist

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
AUTOMATIC = "automatic: the deploy of sha256:0bad failed health checks (HTTP 503)"


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-4] + "Z"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def record(
    seq: int,
    kind: str,
    when: datetime | str,
    *,
    result: str | None = None,
    reason: str | None = None,
    sha: str | None = None,
    timings: dict[str, float] | None = None,
) -> Record:
    digest = Digest.parse(f"sha256:{seq:064x}")
    return Record(
        seq=seq,
        environment="production",
        kind=Kind(kind),
        digest=digest,
        media_type="application/vnd.oci.image.manifest.v1+json",
        size=512,
        current=digest,
        current_seq=seq,
        time=when if isinstance(when, str) else stamp(when),
        reason=reason,
        git={"sha": sha, "ref": "refs/heads/main"} if sha else None,
        timings=timings or {},
        deploy=DeployInfo(result=DeployOutcome(result), target="command") if result else None,
    )


# -- 1. the metrics from records built here --------------------------------------------------------------


def test_percentile_interpolates_between_closest_ranks() -> None:
    assert percentile([], 0.5) is None
    assert percentile([7.0], 0.9) == 7.0
    assert percentile([4.0, 1.0, 3.0, 2.0], 0.5) == 2.5
    assert percentile([10.0, 20.0, 30.0, 40.0, 50.0], 0.9) == pytest.approx(46.0)
    assert percentile([1.0, 2.0], 1.0) == 2.0


def test_metrics_from_known_records() -> None:
    commits = {
        "c1": at("2025-03-04T09:00:00"),
        "c2": at("2025-03-05T07:00:00"),
        "c3": at("2025-03-09T08:00:00"),
    }
    records = [
        record(1, "promote", at("2025-03-03T23:59:59"), sha="c1", timings={"resolve": 99.0}),  # before the window
        record(2, "promote", at("2025-03-04T00:00:00"), sha="c1", timings={"resolve": 1.0, "copy": 10.0}),
        record(3, "deploy", at("2025-03-04T10:05:00"), result="healthy", timings={"deploy": 2.0, "health": 4.0}),
        record(4, "promote", at("2025-03-05T09:00:00"), sha="c2", timings={"resolve": 2.0, "copy": 20.0}),
        record(5, "deploy", at("2025-03-05T09:10:00"), result="failed", timings={"deploy": 3.0, "health": 60.0}),
        record(6, "rollback", at("2025-03-05T09:11:00"), reason=AUTOMATIC, timings={"resolve": 0.5}),
        record(7, "deploy", at("2025-03-05T09:12:00"), result="restored", timings={"deploy": 1.0, "restore": 5.0}),
        record(8, "promote", at("2025-03-06T12:00:00"), sha="deadbeef", timings={"resolve": 3.0, "copy": 30.0}),
        record(9, "deploy", at("2025-03-06T12:10:00"), result="healthy", timings={"deploy": 4.0, "health": 6.0}),
        record(10, "rollback", at("2025-03-07T08:00:00"), reason="bad build", timings={"resolve": 1.5}),
        record(11, "deploy", at("2025-03-07T09:00:00"), result="healthy", timings={"deploy": 5.0, "health": 8.0}),
        record(12, "promote", at("2025-03-08T14:00:00"), timings={"resolve": 4.0, "copy": 40.0}),
        record(13, "deploy", at("2025-03-08T14:30:00"), result="failed", timings={"deploy": 6.0, "health": 60.0}),
        record(14, "rollback", at("2025-03-08T15:00:00"), reason="still broken", timings={"resolve": 2.5}),
        record(15, "deploy", at("2025-03-08T16:30:00"), result="healthy", timings={"deploy": 7.0, "health": 10.0}),
        record(16, "promote", at("2025-03-10T08:00:00"), sha="c3", timings={"resolve": 5.0, "copy": 50.0}),
        record(17, "deploy", at("2025-03-10T09:00:00"), result="failed", timings={"deploy": 8.0, "health": 60.0}),
        record(18, "prune", at("2025-03-10T10:00:00")),
        record(19, "promote", ""),  # no time: counted, left out
        record(20, "deploy", at("2025-03-11T00:00:00"), result="healthy"),  # the window ends at 00:00Z
    ]
    asked: list[str] = []

    def commit_time(sha: str) -> datetime | None:
        asked.append(sha)
        return commits.get(sha)

    window = Window.last(7, at("2025-03-10T12:00:00"))
    assert (window.start, window.end) == (at("2025-03-04T00:00:00"), at("2025-03-11T00:00:00"))
    metrics = measure("production", records[::-1], commit_time, window)  # newest first, as ledgers give them
    doc = metrics.to_json()

    assert doc["records"] == {
        "read": 20,
        "untimed": 1,
        "in_window": 17,
        "promote": 5,
        "rollback": 3,
        "deploy": 8,
        "prune": 1,
        "sync": 0,
        "freeze": 0,
        "unfreeze": 0,
    }
    freq = doc["deployment_frequency"]
    assert [(d["date"], d["deploys"], d["promotions"], d["rollbacks"], d["failed_deploys"]) for d in freq["days"]] == [
        ("2025-03-04", 1, 1, 0, 0),
        ("2025-03-05", 0, 1, 1, 1),  # a restored deploy is not a deploy of a change
        ("2025-03-06", 1, 1, 0, 0),
        ("2025-03-07", 1, 0, 1, 0),
        ("2025-03-08", 1, 1, 1, 1),
        ("2025-03-09", 0, 0, 0, 0),
        ("2025-03-10", 0, 1, 0, 1),
    ]
    assert {k: v for k, v in freq.items() if k != "days"} == {
        "deploys": 4,
        "promotions": 5,
        "deploys_per_day": 0.5714,
        "promotions_per_day": 0.7143,
    }
    # 3600 (seq 2), 7200 (seq 4), 86400 (seq 16): p90 = 7200 + (86400 - 7200) * 0.8
    assert doc["lead_time"] == {
        "promotions": 5,
        "measured": 3,
        "skipped_without_sha": 1,
        "skipped_unknown_sha": 1,
        "median_seconds": 7200.0,
        "p90_seconds": 70560.0,
    }
    assert sorted(asked) == ["c1", "c2", "c3", "deadbeef"]
    # failures: 3 failed deploys + 2 manual rollbacks (the automatic one belongs to seq 5's failure)
    assert doc["change_failure_rate"] == {
        "rate": 0.7143,
        "failures": 5,
        "deploys": 7,
        "failed_deploys": 3,
        "rollbacks": 3,
        "manual_rollbacks": 2,
        "automatic_rollbacks": 1,
    }
    # incidents: 5 -> 7 (120 s, restored by the automatic rollback), 10 -> 11 (3600 s),
    # 13 + 14 -> 15 (7200 s: the rollback joins the open incident), 17 (not restored yet)
    assert doc["time_to_restore"] == {
        "incidents": 4,
        "restored": 3,
        "unrestored": 1,
        "median_seconds": 3600.0,
        "p90_seconds": 6480.0,
    }
    incidents = metrics.restore.incidents
    assert [(i.start.record.seq, i.end.record.seq if i.end else None, i.failures) for i in incidents] == [
        (5, 7, 1),
        (10, 11, 1),
        (13, 15, 2),
        (17, None, 1),
    ]
    # the restored deploy (seq 7) repeats its failed deploy's stages: no "restore" stage
    assert doc["stage_timings"] == {
        "promote": {
            "resolve": {"count": 5, "median_seconds": 3.0, "p90_seconds": 4.6},
            "copy": {"count": 5, "median_seconds": 30.0, "p90_seconds": 46.0},
        },
        "rollback": {"resolve": {"count": 3, "median_seconds": 1.5, "p90_seconds": 2.3}},
        "deploy": {
            "deploy": {"count": 7, "median_seconds": 5.0, "p90_seconds": 7.4},
            "health": {"count": 7, "median_seconds": 10.0, "p90_seconds": 60.0},
        },
    }


def test_empty_environment() -> None:
    window = Window.last(3, at("2025-03-10T12:00:00"))
    doc = measure("staging", [], lambda sha: None, window).to_json()
    assert [d["date"] for d in doc["deployment_frequency"]["days"]] == ["2025-03-08", "2025-03-09", "2025-03-10"]
    assert doc["deployment_frequency"]["deploys_per_day"] == 0.0
    assert doc["lead_time"]["median_seconds"] is None and doc["lead_time"]["measured"] == 0
    assert doc["change_failure_rate"]["rate"] is None
    assert doc["time_to_restore"] == {
        "incidents": 0,
        "restored": 0,
        "unrestored": 0,
        "median_seconds": None,
        "p90_seconds": None,
    }
    assert doc["stage_timings"] == {}


# -- real ledgers, git and the CLI -----------------------------------------------------------------------


def git(repo: Path, *args: str, when: datetime | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    if when is not None:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = when.strftime("%Y-%m-%dT%H:%M:%S+0000")
    done = subprocess.run(
        ["git", "-c", "user.name=Tester", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false", *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def commit(repo: Path, when: datetime) -> str:
    git(repo, "commit", "-q", "--allow-empty", "-m", f"change at {when.isoformat()}", when=when)
    return git(repo, "rev-parse", "HEAD")


@dataclass
class Workspace:
    """A git repository holding hoist.toml, with one OCI layout per environment."""

    root: Path
    environments: dict[str, Path] = field(default_factory=dict)

    def config(self) -> Path:
        text = "".join(f'[environments.{n}]\nimage = "oci:{p}:{n}"\n\n' for n, p in self.environments.items())
        path = self.root / "hoist.toml"
        path.write_text(text)
        return path


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    monkeypatch.chdir(root)  # the commit times come from the working directory's repository
    monkeypatch.setattr(STATE, "config", root / "hoist.toml")
    return Workspace(root)


class Writer:
    """Appends records with chosen times to an environment's real ledger in an OCI layout."""

    def __init__(self, path: Path, environment: str) -> None:
        self.image = make_image(path, tag=environment, layers=1, layer_size=256, seed=f"report-{environment}")
        self.environment = environment
        self.ledger = Ledger(OCILayoutStore(path, create=True), environment, settle=0)

    def add(
        self,
        kind: str,
        when: datetime,
        *,
        result: str | None = None,
        reason: str | None = None,
        sha: str | None = None,
        timings: dict[str, float] | None = None,
    ) -> Record:
        image = self.image

        def build(view: View) -> Record:
            head = view.head
            return Record(
                seq=view.next_seq,
                environment=self.environment,
                kind=Kind(kind),
                digest=Digest.parse(image.digest),
                media_type=image.media_type,
                size=len(image.manifest_bytes),
                current=Digest.parse(image.digest),
                current_seq=view.next_seq,
                previous_record=head.manifest if head else None,
                actor="tester",
                time=stamp(when),
                reason=reason,
                git={"sha": sha, "ref": "refs/heads/main"} if sha else None,
                timings=timings or {},
                deploy=DeployInfo(result=DeployOutcome(result), target="command") if result else None,
            )

        return self.ledger.append(build).entry.record


def invoke(*args: str) -> Result:
    """``hoist report ARGS`` through a local click group (the real CLI registers the command itself)."""
    group = click.Group("hoist", commands={"report": report_command})
    try:
        return CliRunner().invoke(group, ["report", *args], catch_exceptions=False)
    finally:
        STATE.close()


# -- 2. the numbers through a real ledger ---------------------------------------------------------------


def test_report_json_from_a_real_ledger(workspace: Workspace) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    production = workspace.environments["production"] = workspace.root.parent / "production"
    workspace.environments["staging"] = workspace.root.parent / "staging"
    make_image(workspace.environments["staging"], tag="staging", layers=1, layer_size=256, seed="staging")
    workspace.config()
    writer = Writer(production, "production")
    old = commit(workspace.root, now - timedelta(days=50))
    writer.add("promote", now - timedelta(days=45), sha=old)
    writer.add("promote", now - timedelta(days=40), sha=old)
    promoted: list[datetime] = []
    for k in range(27):  # a promotion and a healthy deploy a day; lead times 600 s, 1200 s, ... 16200 s
        when = now - timedelta(days=27 - k, hours=2)
        sha = commit(workspace.root, when - timedelta(seconds=600 * (k + 1)))
        writer.add("promote", when, sha=sha, timings={"resolve": 0.5, "copy": 1.0 + k})
        writer.add("deploy", when + timedelta(minutes=10), result="healthy", timings={"deploy": 1.0 + k, "health": 2})
        promoted.append(when)
    failed = now - timedelta(hours=6)  # a bad release, rolled back automatically, restored after 120 s
    writer.add("promote", failed, sha="f" * 40, timings={"resolve": 0.5, "copy": 50.0})
    writer.add("deploy", failed + timedelta(minutes=5), result="failed", timings={"deploy": 100.0, "health": 60.0})
    writer.add("rollback", failed + timedelta(minutes=6), reason=AUTOMATIC, timings={"resolve": 0.25, "ledger": 0.75})
    writer.add("deploy", failed + timedelta(minutes=7), result="restored", timings={"deploy": 1.0, "restore": 9.0})
    promoted.append(failed)

    result = invoke("--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["window"]["days"] == 30
    assert list(doc["environments"]) == ["production", "staging"]
    prod = doc["environments"]["production"]
    # 60 records: the head carries 20, so the report had to read older record manifests too, back to the
    # first record older than the window (seq 2, 40 days old), not to seq 1
    assert prod["records"] == {
        "read": 59,
        "untimed": 0,
        "in_window": 58,
        "promote": 28,
        "rollback": 1,
        "deploy": 29,
        "prune": 0,
        "sync": 0,
        "freeze": 0,
        "unfreeze": 0,
    }
    freq = prod["deployment_frequency"]
    assert (freq["deploys"], freq["promotions"]) == (27, 28)
    assert (freq["deploys_per_day"], freq["promotions_per_day"]) == (0.9, 0.9333)
    per_day: dict[str, int] = {}
    for when in promoted:
        per_day[when.date().isoformat()] = per_day.get(when.date().isoformat(), 0) + 1
    assert {d["date"]: d["promotions"] for d in freq["days"] if d["promotions"]} == per_day
    assert prod["lead_time"] == {
        "promotions": 28,
        "measured": 27,
        "skipped_without_sha": 0,
        "skipped_unknown_sha": 1,
        "median_seconds": 8400.0,
        "p90_seconds": 14640.0,
    }
    assert prod["change_failure_rate"] == {
        "rate": 0.0357,
        "failures": 1,
        "deploys": 28,
        "failed_deploys": 1,
        "rollbacks": 1,
        "manual_rollbacks": 0,
        "automatic_rollbacks": 1,
    }
    assert prod["time_to_restore"] == {
        "incidents": 1,
        "restored": 1,
        "unrestored": 0,
        "median_seconds": 120.0,
        "p90_seconds": 120.0,
    }
    assert prod["stage_timings"] == {
        "promote": {
            "resolve": {"count": 28, "median_seconds": 0.5, "p90_seconds": 0.5},
            "copy": {"count": 28, "median_seconds": 14.5, "p90_seconds": 25.3},
        },
        "rollback": {
            "resolve": {"count": 1, "median_seconds": 0.25, "p90_seconds": 0.25},
            "ledger": {"count": 1, "median_seconds": 0.75, "p90_seconds": 0.75},
        },
        "deploy": {
            "deploy": {"count": 28, "median_seconds": 14.5, "p90_seconds": 25.3},
            "health": {"count": 28, "median_seconds": 2.0, "p90_seconds": 2.0},
        },
    }
    # records keep their timings with sorted keys; the report puts the stages back in pipeline order
    assert [list(stages) for stages in prod["stage_timings"].values()] == [
        ["resolve", "copy"],
        ["resolve", "ledger"],
        ["deploy", "health"],
    ]
    staging = doc["environments"]["staging"]  # an image, but nothing recorded
    assert staging["records"]["read"] == 0 and staging["lead_time"]["median_seconds"] is None

    week = json.loads(invoke("production", "--since", "7", "--json").stdout)
    assert list(week["environments"]) == ["production"]
    first = date.fromisoformat(week["window"]["start"][:10])
    recent = sum(1 for when in promoted if when.date() >= first)
    lead = week["environments"]["production"]["lead_time"]
    assert (lead["promotions"], lead["measured"], lead["skipped_unknown_sha"]) == (recent, recent - 1, 1)

    text = invoke("production")
    assert text.exit_code == 0
    assert "production: 58 records in the last 30 days" in text.stdout
    assert "skipped 1 whose commit is not in this repository" in text.stdout
    assert "change failure  3.6% (1 failed deploys + 0 manual rollbacks / 28 deploys)" in text.stdout


def test_report_reads_the_time_from_hoist_now(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """``HOIST_NOW`` fixes the report's clock as it fixes every other command's: the window ends there and
    records after it are not in it."""
    now = datetime(2026, 1, 15, 12, tzinfo=UTC)
    monkeypatch.setenv("HOIST_NOW", "2026-01-15T12:00:00Z")
    production = workspace.environments["production"] = workspace.root.parent / "production"
    workspace.config()
    writer = Writer(production, "production")
    writer.add("promote", now - timedelta(days=40), sha="a" * 40)
    writer.add("promote", now - timedelta(days=2), sha="b" * 40)
    writer.add("promote", now + timedelta(days=3), sha="c" * 40)
    result = invoke("--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["generated"] == "2026-01-15T12:00:00Z"
    assert doc["window"]["end"] == "2026-01-16T00:00:00Z"  # whole days: the window ends with that day
    assert doc["environments"]["production"]["records"]["in_window"] == 1
    monkeypatch.setenv("HOIST_NOW", "yesterday")
    with pytest.raises(InputError, match=r"^HOIST_NOW='yesterday' is not an RFC 3339 time$"):
        invoke("--json")  # the real command line turns it into one line and exit 2


def test_report_after_real_promotions(
    hoist: Hoist, workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Records written by ``hoist promote`` and ``hoist rollback`` themselves."""
    committed = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    sha = commit(workspace.root, committed)
    monkeypatch.setenv("GITHUB_SHA", sha)
    monkeypatch.setenv("HOIST_ACTOR", "tester")
    monkeypatch.setenv("HOIST_LEDGER_SETTLE", "0.05")
    build = tmp_path / "build"
    for name in "AB":
        make_image(build, tag=name, layers=2, layer_size=4096, seed=f"report-real-{name}")
    staging, production = f"oci:{tmp_path}/staging:staging", f"oci:{tmp_path}/production:main"
    config = workspace.root / "hoist.toml"
    config.write_text(
        f'[environments.staging]\nimage = "{staging}"\n\n'
        f'[environments.production]\nimage = "{production}"\nfrom = "staging"\ntags = ["latest"]\n'
    )
    for name in "AB":
        hoist.ok("copy", f"oci:{build}:{name}", staging)
        hoist.ok("--config", str(config), "promote", "staging", "production")
    hoist.ok("--config", str(config), "rollback", "production", "--reason", "B is slow")
    history = hoist.ok("--config", str(config), "history", "production", "--json").json
    monkeypatch.setattr(STATE, "config", config)

    result = invoke("production", "--json")
    assert result.exit_code == 0, result.output
    prod = json.loads(result.stdout)["environments"]["production"]
    assert prod["records"]["in_window"] == 3 and prod["records"]["rollback"] == 1
    leads = sorted(
        (datetime.fromisoformat(h["time"].replace("Z", "+00:00")) - committed).total_seconds()
        for h in history
        if h["kind"] == "promote"
    )
    assert prod["lead_time"]["measured"] == 2
    assert prod["lead_time"]["median_seconds"] == round((leads[0] + leads[1]) / 2, 4)
    assert prod["lead_time"]["p90_seconds"] == round(leads[0] + (leads[1] - leads[0]) * 0.9, 4)
    promote_stages = [h["timings"] for h in history if h["kind"] == "promote"]
    assert set(prod["stage_timings"]["promote"]) == {stage for t in promote_stages for stage in t}
    copy_times = sorted(t["copy"] for t in promote_stages)
    assert prod["stage_timings"]["promote"]["copy"]["median_seconds"] == round(sum(copy_times) / 2, 4)
    # no deploys: no failure rate, and the manual rollback is an incident no deploy has restored
    assert prod["change_failure_rate"]["rate"] is None and prod["change_failure_rate"]["failures"] == 1
    assert prod["time_to_restore"]["incidents"] == 1 and prod["time_to_restore"]["unrestored"] == 1


# -- 3. the HTML page in a real Chromium ----------------------------------------------------------------


def rich_history(workspace: Workspace, now: datetime) -> None:
    """A month of a busy pipeline: promotions, deploys, failures and rollbacks, two environments."""
    rng = random.Random(20250330)
    writers = {}
    for name in ("staging", "production"):
        workspace.environments[name] = workspace.root.parent / name
        writers[name] = Writer(workspace.environments[name], name)
    workspace.config()
    prod, staging = writers["production"], writers["staging"]
    when = now - timedelta(days=29, hours=rng.uniform(0, 10))
    while when < now - timedelta(hours=2):
        built = when - timedelta(minutes=rng.uniform(15, 30))
        staging.add(
            "deploy", built, result="healthy", timings={"deploy": rng.uniform(2, 6), "health": rng.uniform(1, 4)}
        )
        sha = commit(workspace.root, built - timedelta(minutes=rng.uniform(20, 900)))
        promote_timings = {
            "resolve": rng.uniform(0.05, 0.3),
            "gates": rng.uniform(0.4, 2.5),
            "copy": rng.uniform(2, 30),
            "tags": rng.uniform(0.05, 0.4),
            "ledger": rng.uniform(0.3, 1.2),
        }
        unknown = rng.random() < 0.1  # built from a commit this clone does not have
        prod.add("promote", when, sha="e" * 40 if unknown else sha, timings=promote_timings)
        deployed = when + timedelta(minutes=rng.uniform(2, 12))
        deploy_timings = {"deploy": rng.uniform(3, 18), "health": rng.uniform(2, 30), "record": rng.uniform(0.3, 0.6)}
        if rng.random() < 0.12:
            prod.add("deploy", deployed, result="failed", timings={**deploy_timings, "health": 60.0})
            prod.add("rollback", deployed + timedelta(minutes=1), reason=AUTOMATIC, timings={"resolve": 0.1})
            prod.add("deploy", deployed + timedelta(minutes=2), result="restored", timings={"restore": 8.0})
        else:
            prod.add("deploy", deployed, result="healthy", timings=deploy_timings)
            if rng.random() < 0.08:
                back = deployed + timedelta(hours=rng.uniform(1, 4))
                prod.add("rollback", back, reason="error rate up after release", timings={"resolve": 0.2})
                prod.add("deploy", back + timedelta(minutes=25), result="healthy", timings=deploy_timings)
        when += timedelta(hours=rng.choice([3, 5, 8, 20, 26, 30, 50]))
    prod.add("prune", now - timedelta(hours=1), reason="keep 20 <script>alert('tags')</script>")  # shown escaped


COLLECT = """(() => {
  const box = (e) => { const r = e.getBoundingClientRect(); return [r.width, r.height]; };
  const out = {cells: [], environments: {}, scrollWidth: document.documentElement.scrollWidth};
  for (const cell of document.querySelectorAll('[data-path]')) {
    out.cells.push([JSON.parse(cell.dataset.path), cell.textContent]);
  }
  for (const section of document.querySelectorAll('section.env')) {
    const marks = (sel) => [...section.querySelectorAll(sel)];
    out.environments[section.dataset.environment] = {
      charts: marks('svg.chart').map((e) => [e.classList[1], ...box(e)]),
      deploys: marks('rect.bar-deploys').map((e) => [e.dataset.date, +e.dataset.value, box(e)[1]]),
      promotions: marks('rect.bar-promotions').map((e) => [e.dataset.date, +e.dataset.value, box(e)[1]]),
      events: marks('.event').map((e) => [+e.dataset.seq, e.dataset.kind, e.dataset.result, ...box(e)]),
      incidents: marks('rect.incident').length,
      medians: marks('rect.stage-median').map((e) => [e.dataset.kind, e.dataset.stage, +e.dataset.value, box(e)[0]]),
      p90s: marks('rect.stage-p90').map((e) => [e.dataset.kind, e.dataset.stage, +e.dataset.value, box(e)[0]]),
      kpis: marks('.kpi .value').map((e) => e.textContent),
    };
  }
  return out;
})()"""


def leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from leaves(item, (*path, index))
    else:
        yield path, value


def test_html_page_in_chromium(workspace: Workspace, tmp_path: Path) -> None:
    executable = chromium_path()
    assert executable is not None, "the HTML test needs Chromium: apt-get install -y chromium"
    now = datetime.now(UTC)
    rich_history(workspace, now)
    page_file = tmp_path / "report.html"
    result = invoke("--json", "--html", str(page_file))
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    html = page_file.read_text()
    for fetches in ("<script", "<link", "<img", "<iframe", "src=", "url(", "@import", "https://"):
        assert fetches not in html, fetches  # self-contained: nothing to load

    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "report.html").write_text(html)
    started = time.monotonic()
    with Chromium(tmp_path / "chromium-profile") as browser:
        launched = time.monotonic()
        page = browser.open(page_file.as_uri(), width=1280, height=2000)
        loaded = time.monotonic()
        seen = page.evaluate(COLLECT)
        page.screenshot(ARTIFACTS / "report.png")
        requests = page.requests()
    done = time.monotonic()
    (ARTIFACTS / "report-timings.json").write_text(
        json.dumps({"launch": launched - started, "load": loaded - launched, "check+screenshot": done - loaded})
    )

    assert requests == [page_file.as_uri()], requests  # the page itself, nothing else
    assert seen["scrollWidth"] <= 1280  # nothing sticks out sideways

    expected = dict(leaves(doc))
    shown_cells = {tuple(path): text for path, text in seen["cells"]}
    assert len(shown_cells) == len(seen["cells"])  # every number once
    assert set(shown_cells) == set(expected)  # every number of --json is on the page
    mismatched = {path: (text, expected[path]) for path, text in shown_cells.items() if text != shown(expected[path])}
    assert not mismatched

    for name, env in doc["environments"].items():
        drawn = seen["environments"][name]
        assert all(width > 300 and height > 50 for _, width, height in drawn["charts"]), drawn["charts"]
        assert [c[0] for c in drawn["charts"]] == ["timeline", "per-day", "stages"]
        days = env["deployment_frequency"]["days"]
        for series in ("deploys", "promotions"):
            bars = drawn[series]
            assert [(d, v) for d, v, _ in bars] == [(day["date"], day[series]) for day in days]
            assert all((height > 0) == (value > 0) for _, value, height in bars)
        counts = env["records"]
        assert len(drawn["events"]) == counts["in_window"]
        for kind in ("promote", "deploy", "rollback", "prune"):
            assert sum(1 for e in drawn["events"] if e[1] == kind) == counts[kind]
        assert all(w > 0 and h > 0 for *_, w, h in drawn["events"])
        assert drawn["incidents"] == env["time_to_restore"]["incidents"]
        stages = [(k, s, v["median_seconds"]) for k, by in env["stage_timings"].items() for s, v in by.items()]
        assert [(k, s, v) for k, s, v, _ in drawn["medians"]] == stages
        assert [(k, s, v) for k, s, v, _ in drawn["p90s"]] == [
            (k, s, v["p90_seconds"]) for k, by in env["stage_timings"].items() for s, v in by.items()
        ]
        assert all(m[3] <= p[3] + 0.01 for m, p in zip(drawn["medians"], drawn["p90s"], strict=True))
        assert drawn["kpis"][0] == f"{env['deployment_frequency']['deploys_per_day']:g}"

    prod = doc["environments"]["production"]
    assert prod["records"]["in_window"] > 40 and prod["lead_time"]["skipped_unknown_sha"] > 0
    assert prod["change_failure_rate"]["failures"] > 0 and prod["time_to_restore"]["restored"] > 0
    png = (ARTIFACTS / "report.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 50_000
    assert done - started < 60
