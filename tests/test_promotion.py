"""Promotion, history, rollback, status, audit and prune, against a real registry and an OCI layout."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.infra.images import ImageInfo, make_image
from tests.infra.registry import RunningRegistry
from tests.infra.skopeo import skopeo_copy, skopeo_digest
from tests.support import Hoist, HoistResult


@dataclass
class Setup:
    """Two environments (staging -> production), a config file, and three images A, B, C."""

    backend: str
    config: Path
    staging: str
    production: str
    images: dict[str, ImageInfo]
    layout: Path
    registry: RunningRegistry | None

    def skopeo_ref(self, ref: str) -> str:
        return ref if ref.startswith("oci:") else f"docker://{ref}"

    def digest(self, ref: str) -> str:
        return skopeo_digest(self.skopeo_ref(ref), tls_verify=False)


def _config(path: Path, staging: str, production: str, extra: str = "") -> Path:
    path.write_text(
        f'[environments.staging]\nimage = "{staging}"\n\n'
        f'[environments.production]\nimage = "{production}"\nfrom = "staging"\n'
        f'tags = ["latest", "sha-{{git_sha:.7}}", "{{date}}"]\n{extra}'
    )
    return path


def _setup(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, unique_repo: str, monkeypatch: pytest.MonkeyPatch
) -> Setup:
    monkeypatch.setenv("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567")
    monkeypatch.setenv("HOIST_ACTOR", "tester")
    layout = tmp_path / "build"
    images = {name: make_image(layout, tag=name, layers=2, layer_size=8192, seed=f"promo-{name}") for name in "ABCDE"}
    if backend in ("registry", "pulp"):
        registry: Any = request.getfixturevalue("registry" if backend == "registry" else "pulp_registry")
        if backend == "pulp":  # Pulp's token auth: hoist and skopeo read the same auth file
            monkeypatch.setenv("REGISTRY_AUTH_FILE", str(registry.auth_file(tmp_path / "auth.json")))
        staging, production = f"{registry.host}/{unique_repo}:staging", f"{registry.host}/{unique_repo}:main"
    else:
        registry = None
        staging, production = f"oci:{tmp_path}/staging:staging", f"oci:{tmp_path}/production:main"
    config = _config(tmp_path / "hoist.toml", staging, production)
    return Setup(backend, config, staging, production, images, layout, registry)


@pytest.fixture(params=["registry", "layout", "pulp"])
def setup(request: pytest.FixtureRequest, tmp_path: Path, unique_repo: str, monkeypatch: pytest.MonkeyPatch) -> Setup:
    """The same tests on distribution, an OCI layout and Pulp (with its token auth on)."""
    return _setup(request.param, request, tmp_path, unique_repo, monkeypatch)


@pytest.fixture(params=["registry", "layout"])
def stored(request: pytest.FixtureRequest, tmp_path: Path, unique_repo: str, monkeypatch: pytest.MonkeyPatch) -> Setup:
    """Stores whose files the tests edit behind hoist's back (Pulp keeps manifests in its database, and
    keeps serving a deleted one by digest: tests/test_pulp.py edits a record there)."""
    return _setup(request.param, request, tmp_path, unique_repo, monkeypatch)


def stage(hoist: Hoist, setup: Setup, name: str) -> str:
    """Build once: put image ``name`` at the staging tag (as a CI build would)."""
    hoist.ok("copy", f"oci:{setup.layout}:{name}", setup.staging)
    return setup.images[name].digest


def promote(hoist: Hoist, setup: Setup, *args: str) -> HoistResult:
    return hoist("--config", str(setup.config), "promote", "staging", "production", *args)


def run(hoist: Hoist, setup: Setup, *args: str) -> HoistResult:
    return hoist("--config", str(setup.config), *args)


def test_promote_history_rollback_status(hoist: Hoist, setup: Setup) -> None:
    digests = []
    for name in "ABC":
        digests.append(stage(hoist, setup, name))
        result = promote(hoist, setup, "--reason", f"release {name}", "--json")
        assert result.code == 0, result
        assert result.json["digest"] == digests[-1]
    assert setup.digest(setup.production) == digests[-1]
    history = run(hoist, setup, "history", "production", "--json").json
    assert [h["seq"] for h in history] == [3, 2, 1]
    assert [h["digest"] for h in history] == digests[::-1]
    assert [h["kind"] for h in history] == ["promote"] * 3
    assert history[0]["reason"] == "release C" and history[0]["actor"] == "tester"
    assert history[0]["source"]["environment"] == "staging"
    assert set(history[0]["tags"]) == {"main", "latest", "sha-0123456", history[0]["tags"][-1]}
    assert history[0]["history_tag"] == "main-0003"

    rolled = run(hoist, setup, "rollback", "production", "--reason", "bad C", "--json")
    assert rolled.code == 0, rolled
    assert rolled.json["digest"] == digests[1]
    assert setup.digest(setup.production) == digests[1]  # read by skopeo
    assert setup.digest(setup.production.rsplit(":", 1)[0] + ":latest") == digests[1]
    history = run(hoist, setup, "history", "production", "--json").json
    assert history[0]["kind"] == "rollback" and history[0]["digest"] == digests[1] and history[0]["seq"] == 4

    status = run(hoist, setup, "status", "production", "--json").json[0]
    assert status["environment"] == "production"
    assert status["digest"] == digests[1] and status["seq"] == 4 and status["drift"] is False
    assert status["rollback_ready"] and status["rollback_to"] == digests[0]
    audit = run(hoist, setup, "audit", "verify", "production", "--json")
    assert audit.code == 0, audit
    assert audit.json["records"] == 4

    again = run(hoist, setup, "rollback", "production", "--json").json  # "undo" semantics: back to A
    assert again["digest"] == digests[0]
    to_seq = run(hoist, setup, "rollback", "production", "--to", "3", "--json").json
    assert to_seq["digest"] == digests[2]
    text = run(hoist, setup, "history", "production", "--limit", "2")
    assert text.code == 0 and "rollback" in text.out and "SEQ" in text.out


def test_noop_force_and_dry_run(hoist: Hoist, setup: Setup) -> None:
    stage(hoist, setup, "A")
    assert promote(hoist, setup).code == 0
    noop = promote(hoist, setup, "--json").json
    assert noop["noop"] is True and noop["seq"] == 1
    forced = promote(hoist, setup, "--force", "--reason", "again", "--json").json
    assert forced["noop"] is False and forced["seq"] == 2
    history = run(hoist, setup, "history", "production", "--json").json
    assert history[0]["forced"] is True and len(history) == 2
    stage(hoist, setup, "B")
    dry = promote(hoist, setup, "--dry-run", "--json").json
    assert dry["dry_run"] and dry["seq"] == 3 and dry["history_tag"] == "main-0003"
    assert setup.digest(setup.production) == setup.images["A"].digest
    assert len(run(hoist, setup, "history", "production", "--json").json) == 2


def test_a_dry_run_into_a_layout_that_does_not_exist_yet(hoist: Hoist, tmp_path: Path) -> None:
    """The first promotion into a new OCI layout can be tried first: the dry run reads the missing layout
    as empty and creates nothing; the promotion then creates it."""
    image = make_image(tmp_path / "staging", tag="staging", layers=1, layer_size=256, seed="dry-new-layout")
    production = tmp_path / "production"
    config = tmp_path / "hoist.toml"
    config.write_text(
        f'[environments.staging]\nimage = "oci:{tmp_path / "staging"}:staging"\n\n'
        f'[environments.production]\nimage = "oci:{production}:main"\nfrom = "staging"\n'
        f'mirrors = ["oci:{tmp_path / "mirror"}:main"]\n'
    )
    dry = hoist.ok("--config", str(config), "promote", "staging", "production", "--dry-run", "--json").json
    assert dry["dry_run"] and dry["seq"] == 1 and dry["digest"] == image.digest
    assert not production.exists() and not (tmp_path / "mirror").exists()
    hoist.ok("--config", str(config), "promote", "staging", "production")
    assert skopeo_digest(f"oci:{production}:main") == image.digest
    assert skopeo_digest(f"oci:{tmp_path / 'mirror'}:main") == image.digest


def test_drift_is_reported(hoist: Hoist, setup: Setup) -> None:
    stage(hoist, setup, "A")
    promote(hoist, setup)
    stage(hoist, setup, "B")
    promote(hoist, setup)
    assert run(hoist, setup, "status", "--json").json[1]["drift"] is False
    source = setup.skopeo_ref(f"oci:{setup.layout}:C")
    skopeo_copy(source, setup.skopeo_ref(setup.production), dest_tls_verify=False, preserve_digests=True)
    status = run(hoist, setup, "status", "production", "--json").json[0]
    assert status["drift"] is True
    assert status["tag_digest"] == setup.images["C"].digest
    assert status["digest"] == setup.images["B"].digest
    warnings = run(hoist, setup, "audit", "verify", "production", "--json").json["findings"]
    assert any("drift" in f["message"] for f in warnings)


def _record_blob(setup: Setup, record: str) -> Path:
    hexdigest = record.partition(":")[2]
    if setup.registry is not None:
        return setup.registry.storage_dir / "docker/registry/v2/blobs/sha256" / hexdigest[:2] / hexdigest / "data"
    return Path(setup.production[4:].rsplit(":", 1)[0]) / "blobs/sha256" / hexdigest


def _damage(setup: Setup, record: str, damage: str) -> None:
    """Edit or remove a ledger record's file behind hoist's back."""
    blob = _record_blob(setup, record)
    assert blob.is_file(), blob
    if damage == "tamper":
        data = blob.read_bytes().replace(b"tester", b"mallor", 1)  # the actor, edited in place
        assert b"mallor" in data
        blob.write_bytes(data)
    else:
        blob.unlink()


@pytest.mark.parametrize("damage", ["tamper", "delete"])
def test_damaged_record_fails_the_audit(hoist: Hoist, stored: Setup, damage: str) -> None:
    setup = stored
    for name in "ABC":
        stage(hoist, setup, name)
        promote(hoist, setup)
    middle = run(hoist, setup, "history", "production", "--json").json[1]["record"]
    _damage(setup, middle, damage)
    result = run(hoist, setup, "audit", "verify", "production", "--json")
    assert result.code == 1, result
    messages = " ".join(f["message"] for f in result.json["findings"] if f["severity"] == "error")
    assert "seq 3" in messages or "after seq 3" in messages, messages
    text = run(hoist, setup, "audit", "verify", "production")
    assert text.code == 1 and "FAILED" in text.out


def test_prune_keeps_the_newest_and_the_current(hoist: Hoist, setup: Setup) -> None:
    for name in "ABC":
        stage(hoist, setup, name)
        promote(hoist, setup)
    run(hoist, setup, "rollback", "production", "--to", "1")  # current is A again, history tag main-0001
    dry = run(hoist, setup, "prune", "production", "--keep", "1", "--dry-run", "--json").json
    assert dry["removed"] == ["main-0002"] and set(dry["kept"]) == {"main-0003", "main-0001"}
    result = run(hoist, setup, "prune", "production", "--keep", "2", "--json")
    assert result.code == 0, result
    assert result.json["removed"] == ["main-0001"] or result.json["removed"] == []
    # keep 2 = main-0003, main-0002; the current image (A, main-0001) is protected as well
    assert set(result.json["kept"]) == {"main-0003", "main-0002", "main-0001"}
    result = run(hoist, setup, "prune", "production", "--keep", "1", "--json").json
    assert result["removed"] == ["main-0002"]
    tags = _tags(hoist, setup)
    assert "main-0002" not in tags and {"main-0003", "main-0001", "main"} <= tags
    assert hoist("verify", setup.production, "--deep").code == 0
    assert setup.digest(setup.production) == setup.images["A"].digest
    assert run(hoist, setup, "history", "production", "--json").json[0]["kind"] == "prune"
    assert run(hoist, setup, "audit", "verify", "production").code == 0


def _tags(hoist: Hoist, setup: Setup) -> set[str]:
    if setup.registry is not None:
        repo = setup.production.split("/", 1)[1].rsplit(":", 1)[0]
        with setup.registry.client() as client:
            return set(client.get(f"/v2/{repo}/tags/list").json()["tags"])
    index = json.loads((Path(setup.production[4:].rsplit(":", 1)[0]) / "index.json").read_text())
    return {m["annotations"]["org.opencontainers.image.ref.name"] for m in index["manifests"]}


def test_concurrent_promotions_keep_a_consistent_ledger(hoist: Hoist, setup: Setup, tmp_path: Path) -> None:
    stage(hoist, setup, "A")
    promote(hoist, setup)
    digests = [stage(hoist, setup, name) for name in "BCDE"]
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hoist",
                "-v",
                "--config",
                str(setup.config),
                "promote",
                "staging",
                "production",
                "--digest",
                digest,
                "--json",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for digest in digests
    ]
    outcomes = [(*p.communicate(timeout=120), p.returncode) for p in processes]
    for _out, err, code in outcomes:
        assert code == 0, err
    history = run(hoist, setup, "history", "production", "--json").json
    assert [h["seq"] for h in history] == [5, 4, 3, 2, 1]
    assert {h["digest"] for h in history[:4]} == set(digests)
    raced = sum("met a concurrent writer" in err for _out, err, _code in outcomes)
    sys.__stderr__.write(f"{raced} of {len(processes)} writers met another one\n")
    assert run(hoist, setup, "audit", "verify", "production").code == 0
    status = run(hoist, setup, "status", "production", "--json").json[0]
    logs = "\n".join(err for _out, err, _code in outcomes)
    assert status["drift"] is False, (status, [(h["seq"], h["digest"][:19]) for h in history], logs)
    assert status["digest"] == history[0]["digest"] == setup.digest(setup.production)


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("[environments.production]\nimag = 'x'\n", ["environments.production.imag", "unknown key"]),
        ("[environments.production]\nimage = 'x/UPPER:1'\n", ["environments.production.image"]),
        ("[environments.production]\nimage = 'x/y:1'\ntags = ['{nope}']\n", ["tags[0]", "{nope}"]),
        ("[environments.production]\nimage = 'x/y:1'\nfrom = 'staging'\n", ["from", "staging"]),
        ("[environments]\n", ["at least one"]),
        ("not toml = = 1", ["not valid TOML"]),
        (
            "[environments.production]\nimage = 'x/y'\ntags = 'latest'\n[environments.production.health]\nurl = 1\n",
            ["health.url"],
        ),
    ],
)
def test_bad_config_is_exit_2(hoist: Hoist, tmp_path: Path, content: str, words: list[str]) -> None:
    path = tmp_path / "hoist.toml"
    path.write_text(content)
    result = hoist("--config", str(path), "status")
    assert result.code == 2, result
    line = result.err.strip()
    assert "\n" not in line and str(path) in line, line
    for word in words:
        assert word in line


def test_input_errors(hoist: Hoist, setup: Setup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stage(hoist, setup, "A")
    promote(hoist, setup)
    for args, word, code in [
        (["promote", "staging", "prod"], "unknown environment 'prod'", 2),
        (["rollback", "production", "--to", "99"], "sequence 99", 2),
        (["rollback", "production", "--to", "sha256:" + "9" * 64], "never had", 3),  # a rule, overridable
        (["rollback", "production"], "no earlier promoted image", 2),
        (["promote", "staging", "production", "--digest", "sha256:" + "8" * 64], "is not in staging", 2),
        (["prune", "production", "--keep", "0"], "at least 1", 2),
    ]:
        result = run(hoist, setup, *args)
        assert result.code == code, (args, result)
        assert word in result.err and len(result.err.strip().splitlines()) == 1, (args, result.err)
    monkeypatch.chdir(setup.layout)  # a directory without a hoist.toml
    missing = hoist("status")
    assert missing.code == 2 and "no hoist.toml" in missing.err


def test_unknown_template_value_changes_nothing(hoist: Hoist, setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    stage(hoist, setup, "A")
    monkeypatch.delenv("GITHUB_SHA")
    monkeypatch.setenv("GIT_DIR", "/nonexistent")  # outside any repository
    result = promote(hoist, setup)
    assert result.code == 2 and "git_sha" in result.err, result
    assert run(hoist, setup, "history", "production", "--json").json == []
    _config(setup.config, setup.staging, setup.production).write_text(
        setup.config.read_text().replace('"{date}"]', '"{date}", "{env.MISSING_VAR}"]')
    )
    monkeypatch.setenv("GITHUB_SHA", "abcdef0")
    result = promote(hoist, setup)
    assert result.code == 2 and "MISSING_VAR" in result.err


def test_github_actions_outputs(hoist: Hoist, setup: Setup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    outputs, summary = tmp_path / "out", tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    digest = stage(hoist, setup, "A")
    assert promote(hoist, setup, "--reason", "ship it").code == 0
    values = dict(line.split("=", 1) for line in outputs.read_text().splitlines())
    assert values["digest"] == digest and values["seq"] == "1" and values["previous-digest"] == ""
    assert values["tags"].startswith("main,latest,sha-0123456,")
    assert "hoist promoted production" in summary.read_text() and "ship it" in summary.read_text()
    failed = run(hoist, setup, "rollback", "production")
    assert failed.code == 2
    assert failed.out.startswith("::error::") and "no earlier promoted image" in failed.out
