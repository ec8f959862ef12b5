"""Who can fool hoist: signed ledger records, trust, unsigned evidence, child environments, terminal output.

The attacker here has push access to the registry and nothing else (no signing key): every forgery is
written with the registry's own API.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from hoist.digest import Digest
from hoist.manifest import OCI_MANIFEST
from hoist.promotion.artifact import record_manifest
from hoist.promotion.ledger import Ledger
from hoist.promotion.record import DeployInfo, DeployOutcome, Kind
from hoist.ref import parse_reference
from hoist.store.session import Session
from tests.infra.images import ImageInfo, make_image
from tests.infra.registry import RunningRegistry
from tests.support import Hoist, HoistResult

PASSWORD = "correct horse"


@dataclass
class Trusted:
    config: Path
    repo: str
    layout: Path
    images: dict[str, ImageInfo]
    registry: RunningRegistry
    keys: Path

    def run(self, hoist: Hoist, *args: str) -> HoistResult:
        return hoist("--config", str(self.config), *args)

    def stage(self, hoist: Hoist, name: str) -> str:
        hoist.ok("copy", f"oci:{self.layout}:{name}", f"{self.repo}:staging")
        return self.images[name].digest

    def forge(self, environment: str, **changes: object) -> None:
        """Write a new head on top of the real one, as anyone with push access could (no key)."""
        with Session() as session:
            store = session.open(parse_reference(self.repo))
            ledger = Ledger(store, environment)
            view = ledger.read()
            head = view.head
            assert head is not None
            forged = replace(
                head.record,
                seq=head.record.seq + 1,
                previous_record=head.manifest,
                actor="mallory",
                stack=head.record.stack,
                **changes,
            )
            manifest = record_manifest(forged, view.entries[:49])
            repository = self.repo.split("/", 1)[1]
            with self.registry.client() as client:
                answer = client.put(
                    f"/v2/{repository}/manifests/hoist-ledger.{environment}",
                    content=manifest.raw,
                    headers={"Content-Type": OCI_MANIFEST},
                )
            assert answer.status_code == 201, answer.text
            ledger.index(forged, manifest, indexed=False)  # listed under the image's referrers too


@pytest.fixture
def trusted(
    hoist: Hoist, tmp_path: Path, registry: RunningRegistry, unique_repo: str, monkeypatch: pytest.MonkeyPatch
) -> Trusted:
    monkeypatch.setenv("HOIST_KEY_PASSWORD", PASSWORD)
    monkeypatch.setenv("HOIST_ACTOR", "ci")
    monkeypatch.setenv("HOIST_LEDGER_SETTLE", "0.05")
    keys = tmp_path / "keys"
    keys.mkdir()
    for name in ("staging", "production", "stranger"):
        hoist.ok("keygen", "--output-prefix", str(keys / name))
    layout = tmp_path / "build"
    images = {n: make_image(layout, tag=n, layers=1, layer_size=1024, seed=f"trust-{n}") for n in "AB"}
    repo = f"{registry.host}/{unique_repo}"
    config = tmp_path / "hoist.toml"
    config.write_text(f"""
[environments.staging]
image = "{repo}:staging"
key = "{keys}/staging.key"
trust = {{ keys = ["{keys}/staging.pub"] }}

[environments.staging.deploy]
target = "command"
run = "true"

[environments.production]
image = "{repo}:main"
from = "staging"
key = "{keys}/production.key"
trust = {{ keys = ["{keys}/production.pub"] }}
require = ["deployed"]

[environments.production.gates]
deployed = {{ environment = "staging" }}
""")
    return Trusted(config, repo, layout, images, registry, keys)


def test_records_are_signed_and_the_audit_passes(hoist: Hoist, trusted: Trusted) -> None:
    trusted.stage(hoist, "A")
    assert trusted.run(hoist, "deploy", "staging").code == 0
    assert trusted.run(hoist, "promote", "staging", "production").code == 0
    for environment in ("staging", "production"):
        audit = trusted.run(hoist, "audit", "verify", environment, "--json")
        assert audit.code == 0 and audit.json["untrusted"] == 0, audit
    history = trusted.run(hoist, "history", "production", "--json").json
    assert history[0]["untrusted"] is None


def test_a_rewritten_chain_fails_the_audit_is_ignored_by_gates_and_shown_untrusted(
    hoist: Hoist, trusted: Trusted
) -> None:
    trusted.stage(hoist, "A")
    assert trusted.run(hoist, "deploy", "staging").code == 0
    digest_b = trusted.stage(hoist, "B")  # B was never deployed to staging
    with Session() as session:
        b = session.open(parse_reference(trusted.repo)).head_manifest(Digest.parse(digest_b))
    assert b is not None
    # the forger claims B was deployed to staging and healthy, chained onto the real records
    trusted.forge(
        "staging",
        kind=Kind.DEPLOY,
        digest=b.digest,
        media_type=b.media_type,
        size=b.size,
        deploy=DeployInfo(result=DeployOutcome.HEALTHY, target="command 'true'", image=f"{trusted.repo}@{digest_b}"),
    )
    audit = trusted.run(hoist, "audit", "verify", "staging", "--json")
    assert audit.code == 1, audit
    assert audit.json["untrusted"] == 1
    assert any("seq 2" in f["message"] and "not signed" in f["message"] for f in audit.json["findings"])

    refused = trusted.run(hoist, "promote", "staging", "production", "--json")
    assert refused.code == 3, refused  # the forged deploy does not count
    assert refused.json["gates"][0]["detail"] == "never deployed to staging"

    shown = trusted.run(hoist, "history", "staging")
    assert "UNTRUSTED: not signed" in shown.out and "mallory" in shown.out
    status = trusted.run(hoist, "status", "staging", "--json").json[0]
    assert status["untrusted"] == "not signed"
    # hoist will not build on the forged head, whatever it is asked to write
    writing = trusted.run(hoist, "deploy", "staging")
    assert writing.code == 1 and "will not build on it" in writing.err
    named = trusted.run(hoist, "deploy", "staging", "--digest", trusted.images["A"].digest)
    assert named.code == 1 and "will not build on it" in named.err


def test_a_record_signed_by_another_key_is_untrusted(hoist: Hoist, trusted: Trusted) -> None:
    trusted.stage(hoist, "A")
    assert trusted.run(hoist, "deploy", "staging").code == 0
    text = trusted.config.read_text().replace(f"{trusted.keys}/staging.key", f"{trusted.keys}/stranger.key")
    trusted.config.write_text(text)  # the stranger's key signs, but staging trusts only its own
    refused = trusted.run(hoist, "deploy", "staging", "--digest", trusted.images["A"].digest)
    assert refused.code == 2 and "not among the keys its trust lists" in refused.err, refused
    audit = trusted.run(hoist, "audit", "verify", "staging", "--json").json
    assert audit["untrusted"] == 0 and audit["records"] == 1  # nothing was written
    # what the stranger's key signs is untrusted even when written (here: by hand, with hoist's own code)
    with Session() as session:
        store = session.open(parse_reference(trusted.repo), push=True)
        from hoist.evidence.keys import load_private_key
        from hoist.secret import Secret

        stranger = load_private_key(trusted.keys / "stranger.key", password=Secret(PASSWORD))
        view = Ledger(store, "staging").read()
        assert view.head is not None
        Ledger(store, "staging", signer=stranger, settle=0.01).append(
            lambda latest: replace(
                latest.entries[0].record, seq=latest.next_seq, previous_record=latest.entries[0].manifest
            )
        )
    audit = trusted.run(hoist, "audit", "verify", "staging", "--json").json
    assert audit["untrusted"] == 1
    assert any("signed by a key not trusted here" in f["message"] for f in audit["findings"])


def test_an_unsigned_test_result_does_not_satisfy_a_gate_with_keys(hoist: Hoist, trusted: Trusted) -> None:
    text = trusted.config.read_text()
    text = text.replace('require = ["deployed"]', 'require = ["tests"]').replace(
        'deployed = { environment = "staging" }',
        f'tests = {{ environment = "staging", keys = ["{trusted.keys}/staging.pub"] }}',
    )
    trusted.config.write_text(text.replace(f'key = "{trusted.keys}/staging.key"\n', "", 1))  # staging signs nothing
    trusted.stage(hoist, "A")
    assert trusted.run(hoist, "test", "staging", "--", "true").code == 0  # recorded, unsigned
    refused = trusted.run(hoist, "promote", "staging", "production")
    assert refused.code == 3 and "unsigned" in refused.err, refused


def test_a_test_command_sees_github_token_only_when_pass_env_names_it(
    hoist: Hoist, trusted: Trusted, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_secret_from_the_runner")
    monkeypatch.setenv("SOME_OTHER_VAR", "other")
    trusted.stage(hoist, "A")
    seen = tmp_path / "env.json"
    dump = f"import json, os; json.dump(dict(os.environ), open({str(seen)!r}, 'w'))"
    assert trusted.run(hoist, "test", "staging", "--", "python3", "-c", dump).code == 0
    child = json.loads(seen.read_text())
    assert "GITHUB_TOKEN" not in child and "SOME_OTHER_VAR" not in child and "HOIST_KEY_PASSWORD" not in child
    assert child["HOIST_ENV"] == "staging" and "PATH" in child
    trusted.config.write_text(
        trusted.config.read_text().replace("trust = { keys", 'pass_env = ["GITHUB_TOKEN"]\ntrust = { keys', 1)
    )
    assert trusted.run(hoist, "test", "staging", "--", "python3", "-c", dump).code == 0
    assert json.loads(seen.read_text())["GITHUB_TOKEN"] == "ghp_secret_from_the_runner"


def test_a_reason_with_escape_sequences_prints_escaped(hoist: Hoist, trusted: Trusted) -> None:
    trusted.config.write_text(trusted.config.read_text().replace('require = ["deployed"]\n', ""))
    trusted.stage(hoist, "A")
    evil = "ship it\x1b[2J\x1b[31m fake: all good\r\nhoist: promoted"
    assert trusted.run(hoist, "promote", "staging", "production", "--reason", evil).code == 0
    shown = trusted.run(hoist, "history", "production")
    assert "\x1b" not in shown.out and "\r" not in shown.out
    assert "\\x1b[2J" in shown.out and "\\x0d\\x0ahoist: promoted" in shown.out
    assert json.loads(trusted.run(hoist, "history", "production", "--json").out)[0]["reason"] == evil


def test_a_forged_unfreeze_does_not_lift_a_freeze(hoist: Hoist, trusted: Trusted) -> None:
    """Freeze records are signed like every other; one written without the key lifts nothing."""
    trusted.stage(hoist, "A")
    assert trusted.run(hoist, "deploy", "staging").code == 0
    assert trusted.run(hoist, "promote", "staging", "production").code == 0
    assert trusted.run(hoist, "freeze", "production", "--for", "2h", "--reason", "holidays").code == 0
    assert trusted.run(hoist, "audit", "verify", "production", "--json").json["untrusted"] == 0
    trusted.forge("production", kind=Kind.UNFREEZE, reason="mallory lifts the freeze")
    status = trusted.run(hoist, "status", "production", "--json").json[0]
    assert status["untrusted"] == "not signed"
    assert [f["reason"] for f in status["freezes"]] == ["holidays"], status["freezes"]  # still frozen
