"""What each gate decides and says, in detail, on OCI layouts (real stores, the files skopeo and oras use):
the gate results a promotion records and ``--json`` prints — gate, passed, detail, environment, evidence.

Evidence is recorded the way users record it (``hoist test``, ``hoist attest``, ``hoist sign``, deploys),
at times set through ``HOIST_NOW``; the gates are evaluated by the core (``Gates``), as every caller's are.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hoist.clock import fixed_clock
from hoist.digest import Digest
from hoist.evidence.keys import PrivateKey
from hoist.promotion.artifact import ANNOTATION_ENV, ANNOTATION_KIND, ANNOTATION_SEQ
from hoist.promotion.config import load_config
from hoist.promotion.context import Context
from hoist.promotion.gates import Gates
from hoist.promotion.history import new_record
from hoist.promotion.ledger import Ledger, View
from hoist.promotion.record import DeployInfo, DeployOutcome, GateResult, Kind, Provenance
from hoist.ref import parse_reference
from hoist.store import Session
from tests.infra.images import ImageInfo, make_image
from tests.support import Hoist

FIXTURES = Path(__file__).parent / "fixtures"
PASSWORD = "gate-decisions-password"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Setup:
    hoist: Hoist
    monkeypatch: pytest.MonkeyPatch
    tmp: Path
    layout: Path
    images: dict[str, ImageInfo]
    keys: Path
    config: Path

    def write(self, require: str, gates: str) -> None:
        self.config.write_text(f"""
[environments.staging]
image = "oci:{self.tmp}/staging:staging"
key = "{self.keys}/staging.key"

[environments.staging.deploy]
target = "command"
run = "true"

[environments.qa]
image = "oci:{self.tmp}/qa:qa"

[environments.production]
image = "oci:{self.tmp}/production:main"
from = "staging"
require = [{require}]

[environments.production.gates]
{gates}
""")

    def cli(self, *args: str, at: datetime = T0, code: int = 0) -> str:
        self.monkeypatch.setenv("HOIST_NOW", stamp(at))
        result = self.hoist("--config", str(self.config), *args)
        assert result.code == code, result
        return result.out

    def stage(self, name: str, environment: str = "staging") -> Digest:
        self.hoist.ok("copy", f"oci:{self.layout}:{name}", f"oci:{self.tmp}/{environment}:{environment}")
        return Digest.parse(self.images[name].digest)

    def evaluate(self, digest: Digest, *, at: datetime = T0) -> list[GateResult]:
        config = load_config(self.config)
        with Session() as session:
            ctx = Context(config=config, session=session, environ={}, clock=fixed_clock(at))
            gates = Gates(ctx, config.environment("staging"), config.environment("production"))
            return gates.evaluate(digest)

    def one(self, digest: Digest, *, at: datetime = T0) -> GateResult:
        (result,) = self.evaluate(digest, at=at)
        return result

    def artifacts(self, environment: str, digest: Digest, kind: str) -> list[str]:
        """The referrers of ``digest`` in ``environment``'s layout whose predicate (or, for signatures, whose
        artifact type) names ``kind``, read from the layout's files."""
        layout = self.tmp / environment
        index = json.loads((layout / "index.json").read_text())
        found = []
        for entry in index["manifests"]:
            if entry.get("annotations", {}).get("org.opencontainers.image.ref.name") != digest.fallback_tag:
                continue
            blob = layout / "blobs" / "sha256" / entry["digest"].partition(":")[2]
            for listed in json.loads(blob.read_text())["manifests"]:
                labels = listed.get("annotations", {})
                if kind in labels.get("dev.hoist.predicate-type", "") + listed.get("artifactType", ""):
                    found.append(listed["digest"])
        return found


@pytest.fixture
def setup(hoist: Hoist, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Setup:
    monkeypatch.setenv("HOIST_KEY_PASSWORD", PASSWORD)
    monkeypatch.setenv("HOIST_ACTOR", "tester")
    monkeypatch.setenv("HOIST_LEDGER_SETTLE", "0")
    layout = tmp_path / "build"
    images = {n: make_image(layout, tag=n, layers=1, layer_size=1024, seed=f"decisions-{n}") for n in "AB"}
    keys = tmp_path / "keys"
    keys.mkdir()
    for name in ("staging", "stranger"):
        hoist.ok("keygen", "--output-prefix", str(keys / name))
    return Setup(hoist, monkeypatch, tmp_path, layout, images, keys, tmp_path / "hoist.toml")


def result(gate: str, passed: bool, detail: str, environment: str, evidence: tuple[str, ...] = ()) -> GateResult:
    return GateResult(gate=gate, passed=passed, detail=detail, environment=environment, evidence=evidence)


# -- scan -------------------------------------------------------------------------------------------------


def test_scan_passes_naming_the_limit_and_the_report_it_used(setup: Setup) -> None:
    setup.write('"scan"', 'scan = { max_severity = "high" }')
    a = setup.stage("A")
    setup.cli("attest", "staging", "--scan", str(FIXTURES / "scans" / "trivy-low.json"))
    (report,) = setup.artifacts("staging", a, "vuln")
    assert setup.one(a) == result("scan", True, "nothing above HIGH (3 findings)", "staging", (report,))


@pytest.mark.parametrize(
    ("limit", "detail"),
    [
        ("high", "2 CRITICAL above the limit (HIGH)"),
        ("low", "2 CRITICAL, 3 HIGH, 1 MEDIUM above the limit (LOW)"),
        ("none", "2 CRITICAL, 3 HIGH, 1 MEDIUM, 1 LOW above the limit (NONE)"),  # UNKNOWN never counts
    ],
)
def test_scan_refuses_naming_every_severity_over_the_limit(setup: Setup, limit: str, detail: str) -> None:
    setup.write('"scan"', f'scan = {{ max_severity = "{limit}" }}')
    a = setup.stage("A")
    setup.cli("attest", "staging", "--scan", str(FIXTURES / "scans" / "trivy-high.json"))
    (report,) = setup.artifacts("staging", a, "vuln")
    assert setup.one(a) == result("scan", False, detail, "staging", (report,))


def test_scan_with_no_limit_passes_a_clean_report(setup: Setup) -> None:
    setup.write('"scan"', 'scan = { max_severity = "none" }')
    a = setup.stage("A")
    clean = setup.tmp / "clean.json"
    clean.write_text(json.dumps({"SchemaVersion": 2, "ArtifactName": "dotca", "Results": []}))
    setup.cli("attest", "staging", "--scan", str(clean))
    decided = setup.one(a)
    assert decided.passed and decided.detail == "nothing above NONE (0 findings)"


def test_scan_reads_the_environment_and_keys_it_is_given(setup: Setup) -> None:
    """The report recorded in qa (which has no signing key, so it is unsigned) counts where the gate says."""
    setup.write('"scan"', "scan = {}")
    a = setup.stage("A")
    setup.stage("A", "qa")
    setup.cli("attest", "qa", "--scan", str(FIXTURES / "scans" / "trivy-low.json"))
    (report,) = setup.artifacts("qa", a, "vuln")
    assert setup.one(a) == result("scan", False, "no valid scan report in staging", "staging")
    setup.write('"scan"', 'scan = { environment = "qa" }')
    assert setup.one(a) == result("scan", True, "nothing above HIGH (3 findings)", "qa", (report,))
    setup.write('"scan"', f'scan = {{ environment = "qa", keys = ["{setup.keys}/staging.pub"] }}')
    assert setup.one(a) == result("scan", False, "no valid scan report in qa (unsigned)", "qa")


def test_scan_too_old(setup: Setup) -> None:
    """A scan's time is the report's own (Trivy's CreatedAt)."""
    setup.write('"scan"', 'scan = { max_age = "36h" }')
    a = setup.stage("A")
    report_file = setup.tmp / "scanned-at-t0.json"
    report_file.write_text((FIXTURES / "scans" / "trivy-low.json").read_text().replace("2024-11-21T08:00:03+01:00",
                                                                                        stamp(T0)))  # fmt: skip
    setup.cli("attest", "staging", "--scan", str(report_file))
    (report,) = setup.artifacts("staging", a, "vuln")
    assert setup.one(a, at=T0 + timedelta(hours=35)).passed
    late = setup.one(a, at=T0 + timedelta(days=2))
    assert late == result("scan", False, "the newest scan report is too old (2.0d, the limit is 1.5d)", "staging",
                          (report,))  # fmt: skip


@pytest.mark.parametrize(
    ("max_age", "after", "detail"),
    [
        ("12h", timedelta(hours=13), "too old (13.0h, the limit is 12.0h)"),
        ("1d", timedelta(hours=30), "too old (1.2d, the limit is 1.0d)"),  # a day is shown in days
        ("2h", timedelta(minutes=150), "too old (2.5h, the limit is 2.0h)"),
        # units exactly: an hour is 3600 s and a day 86400 s (one second more shows in the first decimal)
        ("23h", timedelta(seconds=84064), "too old (23.4h, the limit is 23.0h)"),
        ("10000d", timedelta(days=10001), "too old (10001.0d, the limit is 10000.0d)"),
    ],
)
def test_ages_are_shown_in_hours_below_a_day_and_in_days_from_one(
    setup: Setup, max_age: str, after: timedelta, detail: str
) -> None:
    setup.write('"tests"', f'tests = {{ max_age = "{max_age}" }}')
    a = setup.stage("A")
    setup.cli("test", "staging", "--digest", str(a), "--", "true")
    decided = setup.one(a, at=T0 + after)
    assert not decided.passed and decided.detail == f"the newest test evidence is {detail}"


def test_evidence_exactly_max_age_old_still_counts(setup: Setup) -> None:
    setup.write('"tests"', 'tests = { max_age = "1h" }')
    a = setup.stage("A")
    setup.cli("test", "staging", "--digest", str(a), "--", "true")
    assert setup.one(a, at=T0 + timedelta(hours=1)).passed
    assert setup.one(a, at=T0 + timedelta(hours=1, seconds=1)).detail == (
        "the newest test evidence is too old (1.0h, the limit is 1.0h)"
    )


def test_a_signature_is_no_test_evidence_and_no_reason_given_for_its_absence(setup: Setup) -> None:
    """The tests gate reads attestations only: a signature by an unknown key beside them is not named."""
    setup.write('"tests"', "tests = {}")
    a = setup.stage("A")
    setup.cli("sign", f"oci:{setup.tmp}/staging@{a}", "--key", str(setup.keys / "stranger.key"))
    assert setup.one(a) == result("tests", False, "no valid test evidence in staging", "staging")


# -- tests ------------------------------------------------------------------------------------------------


def test_tests_gate_says_what_the_newest_run_said(setup: Setup) -> None:
    setup.write('"tests"', f'tests = {{ keys = ["{setup.keys}/staging.pub"] }}')
    a = setup.stage("A")
    assert setup.one(a) == result("tests", False, "no valid test evidence in staging", "staging")
    setup.cli("test", "staging", "--digest", str(a), "--", "true")
    (passed,) = setup.artifacts("staging", a, "test-result")
    assert setup.one(a) == result("tests", True, "the newest test run PASSED in staging", "staging", (passed,))
    junit = setup.tmp / "failures.xml"
    cases = "".join(
        f'<testcase classname="smoke" name="test_{n}"><failure message="no">x</failure></testcase>' for n in range(7)
    )
    junit.write_text(
        f'<testsuite name="s" tests="8" failures="7"><testcase classname="smoke" name="ok"/>{cases}</testsuite>'
    )
    setup.cli("test", "staging", "--digest", str(a), "--junit", str(junit), "--", "false", at=T0 + timedelta(1), code=1)
    failed = next(d for d in setup.artifacts("staging", a, "test-result") if d != passed)
    decided = setup.one(a, at=T0 + timedelta(2))
    listed = ", ".join(f"smoke.test_{n}" for n in range(5))
    assert decided == result("tests", False, f"the newest test run FAILED: {listed}", "staging", (failed,))
    assert decided.passed is False, "false, not merely falsy: --json prints it"
    setup.cli("test", "staging", "--digest", str(a), "--", "false", at=T0 + timedelta(3), code=1)
    assert setup.one(a, at=T0 + timedelta(4)).detail == "the newest test run FAILED"


def test_tests_gate_with_another_environment(setup: Setup) -> None:
    setup.write('"tests"', 'tests = { environment = "qa" }')
    a = setup.stage("A")
    setup.stage("A", "qa")
    setup.cli("test", "qa", "--digest", str(a), "--", "true")
    setup.write('"tests"', 'tests = { environment = "qa" }')
    decided = setup.one(a)
    assert decided.passed and decided.environment == "qa" and decided.detail == "the newest test run PASSED in qa"


def test_tests_gate_refuses_unsigned_results_when_keys_are_required(setup: Setup) -> None:
    setup.write('"tests"', "tests = {}")
    a = setup.stage("A")
    setup.stage("A", "qa")
    setup.cli("test", "qa", "--digest", str(a), "--", "true")
    setup.write('"tests"', f'tests = {{ environment = "qa", keys = ["{setup.keys}/staging.pub"] }}')
    assert setup.one(a) == result("tests", False, "no valid test evidence in qa (unsigned)", "qa")


# -- signature --------------------------------------------------------------------------------------------


def test_signature_gate_names_the_key_and_the_signatures(setup: Setup) -> None:
    setup.write('"signature"', f'signature = {{ keys = ["{setup.keys}/staging.pub"] }}')
    a = setup.stage("A")
    assert setup.one(a) == result("signature", False, "not signed", "staging")
    setup.cli("sign", f"oci:{setup.tmp}/staging@{a}", "--key", str(setup.keys / "stranger.key"))
    stranger = setup.one(a)
    assert not stranger.passed and stranger.detail == (
        "no valid signature (signature invalid, by an unknown key, or for another digest)"
    )
    setup.cli("sign", f"oci:{setup.tmp}/staging@{a}", "--key", str(setup.keys / "staging.key"))
    signed = setup.one(a)
    assert signed.passed and signed.environment == "staging"
    from hoist.evidence.keys import load_public_key

    assert signed.gate == "signature"
    assert signed.detail == f"signed by key {load_public_key(setup.keys / 'staging.pub').keyid}"
    assert len(signed.evidence) == 1, "the signature that verified, not the stranger's"


def test_the_gates_of_a_set_read_the_member_they_evaluate(setup: Setup) -> None:
    """Environments of several images: the signature gate for member ``api`` reads api's repository, and
    each result names its member."""
    keys = setup.keys
    setup.config.write_text(f"""
[environments.staging]
images = {{ web = "oci:{setup.tmp}/web:staging", api = "oci:{setup.tmp}/api:staging" }}

[environments.production]
images = {{ web = "oci:{setup.tmp}/pweb:main", api = "oci:{setup.tmp}/papi:main" }}
from = "staging"
require = ["signature"]

[environments.production.gates]
signature = {{ keys = ["{keys}/staging.pub"] }}
""")
    for member, image in (("web", "A"), ("api", "B")):
        setup.hoist.ok("copy", f"oci:{setup.layout}:{image}", f"oci:{setup.tmp}/{member}:staging")
    b = Digest.parse(setup.images["B"].digest)
    setup.cli("sign", f"oci:{setup.tmp}/api@{b}", "--key", str(keys / "staging.key"))
    config = load_config(setup.config)

    def evaluate(member: str) -> GateResult:
        with Session() as session:
            ctx = Context(config=config, session=session, environ={}, clock=fixed_clock(T0))
            gates = Gates(ctx, config.environment("staging"), config.environment("production"), member=member)
            (decided,) = gates.evaluate(b)
            return decided

    api, web = evaluate("api"), evaluate("web")
    assert (api.gate, api.passed, api.member, api.environment) == ("signature", True, "api", "staging")
    assert web == GateResult(gate="signature", passed=False, detail="not signed", environment="staging", member="web")


# -- soak, and what the gates take on trust -------------------------------------------------------------------


def test_soak_gate_counts_the_time_served_in_the_environment_it_names(setup: Setup) -> None:
    setup.write('"soak"', 'soak = { min = "1h" }')
    a = setup.stage("A")
    assert setup.one(a) == result("soak", False, "never deployed to staging (it must serve there for 1h)", "staging")
    setup.cli("deploy", "staging")
    ledger = json.loads(setup.cli("history", "staging", "--json"))
    early, late = setup.one(a, at=T0 + timedelta(minutes=20)), setup.one(a, at=T0 + timedelta(hours=2))
    assert (early.gate, early.passed, early.environment) == ("soak", False, "staging")
    assert early.detail.startswith("served healthy in staging for 20m since seq 1: 40m to go"), early.detail
    assert late == result("soak", True, "served healthy in staging for 2h since seq 1 (the minimum is 1h)", "staging",
                          (ledger[0]["record"],))  # fmt: skip
    setup.stage("A", "qa")
    setup.write('"soak"', 'soak = { environment = "qa", min = "1h" }')
    assert setup.one(a, at=T0 + timedelta(hours=2)) == result(
        "soak", False, "never deployed to qa (it must serve there for 1h)", "qa"
    )


def test_posture_names_the_evidence_a_gate_takes_on_trust(setup: Setup) -> None:
    from hoist.promotion.gates import posture

    setup.write('"tests", "scan", "deployed"', "tests = {}\nscan = {}\ndeployed = {}")
    config = load_config(setup.config)
    assert posture(config, config.environment("production")) == [
        "the tests gate accepts unsigned evidence (anyone who can push can write it): set keys",
        "the scan gate accepts unsigned evidence (anyone who can push can write it): set keys",
        "the deployed gate reads staging's ledger, which has no trust: anyone who can push can write its records",
    ]
    pub = setup.keys / "staging.pub"
    setup.write('"tests", "scan"', f'tests = {{ keys = ["{pub}"] }}\nscan = {{ keys = ["{pub}"] }}')
    config = load_config(setup.config)
    assert posture(config, config.environment("production")) == []


def test_the_soak_gate_of_a_set_reads_the_member_it_evaluates(setup: Setup) -> None:
    """Staging serves web A and api B, one deploy record per image. The soak gate for web reads web's
    deploy (not the newest deploy of any image, which is api's) and names web in its result."""
    setup.config.write_text(f"""
[environments.staging]
images = {{ web = "oci:{setup.tmp}/web:staging", api = "oci:{setup.tmp}/api:staging" }}
deploy.web = {{ target = "command", run = "true" }}
deploy.api = {{ target = "command", run = "true" }}

[environments.production]
images = {{ web = "oci:{setup.tmp}/pweb:main", api = "oci:{setup.tmp}/papi:main" }}
from = "staging"
require = ["soak"]
gates.soak = {{ min = "1h" }}
""")
    for member, image in (("web", "A"), ("api", "B")):
        setup.hoist.ok("copy", f"oci:{setup.layout}:{image}", f"oci:{setup.tmp}/{member}:staging")
    setup.cli("deploy", "staging")
    ledger = json.loads(setup.cli("history", "staging", "--json"))
    assert [sorted(entry["members"]) for entry in ledger] == [["api"], ["web"]], "api's deploy is the newest"
    web_deploy = ledger[1]
    config = load_config(setup.config)
    with Session() as session:
        ctx = Context(config=config, session=session, environ={}, clock=fixed_clock(T0 + timedelta(hours=2)))
        gates = Gates(ctx, config.environment("staging"), config.environment("production"), member="web")
        (decided,) = gates.evaluate(Digest.parse(setup.images["A"].digest))
    assert decided == GateResult(
        gate="soak",
        passed=True,
        detail=f"served healthy in staging for 2h since seq {web_deploy['seq']} (the minimum is 1h)",
        environment="staging",
        evidence=(web_deploy["record"],),
        member="web",
    )


def test_posture_of_a_deployed_gate_with_no_environment_named(setup: Setup) -> None:
    """An environment that requires a deployed gate but names no environment to read (no ``from``, no
    ``deployed.environment``): nothing to warn about, and no failure."""
    from hoist.promotion.gates import posture

    setup.config.write_text(f"""
[environments.production]
image = "oci:{setup.tmp}/production:main"
require = ["deployed"]
""")
    config = load_config(setup.config)
    assert posture(config, config.environment("production")) == []


# -- deployed: records older than the head keeps are found through the image's referrers ---------------------


WHO = Provenance(actor="tester", time="2026-03-01T12:00:00.000Z")


def test_deployed_gate_details(setup: Setup) -> None:
    setup.write('"deployed"', "deployed = {}")
    a = setup.stage("A")
    assert setup.one(a) == result("deployed", False, "never deployed to staging", "staging")
    setup.cli("deploy", "staging")
    ledger = json.loads(setup.cli("history", "staging", "--json"))
    decided = setup.one(a)
    assert decided == result("deployed", True, "deployed healthy to staging (seq 1)", "staging",
                             (ledger[0]["record"],))  # fmt: skip
    setup.stage("A", "qa")
    setup.write('"deployed"', 'deployed = { environment = "qa" }')
    assert setup.one(a) == result("deployed", False, "never deployed to qa", "qa")


def _record_deploy(store_path: Path, environment: str, subject: ImageInfo, outcome: DeployOutcome, *,
                   kind: Kind = Kind.DEPLOY, index: bool = True, signer: PrivateKey | None = None) -> None:  # fmt: skip
    """A record written the way hoist writes them (signed by ``signer``), into the layout at ``store_path``."""
    from hoist.manifest import Descriptor

    with Session() as session:
        store = session.open(parse_reference(f"oci:{store_path}"))
        ledger = Ledger(store, environment, settle=0.0, signer=signer)
        descriptor = Descriptor(subject.media_type, Digest.parse(subject.digest), len(subject.manifest_bytes))

        def build(view: View):  # type: ignore[no-untyped-def]
            return new_record(view, kind=kind, environment=environment, subject=descriptor, provenance=WHO,
                              deploy=DeployInfo(result=outcome) if kind is Kind.DEPLOY else None)  # fmt: skip

        appended = ledger.append(build)
        if index:
            ledger.index(appended.entry.record, appended.manifest, indexed=False)


def test_of_several_deploys_of_a_digest_the_newest_is_named(setup: Setup) -> None:
    """Two failed deploys of A, then two healthy ones: the gate names the newest of each kind, by sequence."""
    setup.write('"deployed"', "deployed = {}")
    a = setup.stage("A")
    staging = setup.tmp / "staging"
    for _ in range(2):
        _record_deploy(staging, "staging", setup.images["A"], DeployOutcome.FAILED)
    assert setup.one(a) == result("deployed", False, "deployed to staging but failed health checks (seq 2)", "staging")
    for _ in range(2):
        _record_deploy(staging, "staging", setup.images["A"], DeployOutcome.HEALTHY)
    ledger = json.loads(setup.cli("history", "staging", "--json"))
    assert [entry["seq"] for entry in ledger] == [4, 3, 2, 1]
    assert setup.one(a) == result("deployed", True, "deployed healthy to staging (seq 4)", "staging",
                                  (ledger[0]["record"],))  # fmt: skip


def test_a_deploy_in_the_head_window_counts_without_its_listing(setup: Setup) -> None:
    """A run that stopped after writing its deploy record but before listing it under the image: the gate
    reads the record from the head's window, not only from the image's referrers."""
    setup.write('"deployed"', "deployed = {}")
    a = setup.stage("A")
    _record_deploy(setup.tmp / "staging", "staging", setup.images["A"], DeployOutcome.HEALTHY, index=False)
    assert _listing(setup.tmp / "staging", a) == []
    ledger = json.loads(setup.cli("history", "staging", "--json"))
    assert setup.one(a) == result("deployed", True, "deployed healthy to staging (seq 1)", "staging",
                                  (ledger[0]["record"],))  # fmt: skip


def test_a_healthy_deploy_beyond_the_window_is_found_through_the_referrers(setup: Setup) -> None:
    """Staging deployed A, then B fifty times and more: A's deploy is neither in the head's window nor
    pinned (the last deploys are B's). The gate must find it listed under A's referrers and read it,
    past the entries listed before it that are not a staging deploy (qa's, a promotion, a torn label)."""
    setup.write('"deployed"', "deployed = {}")
    a = setup.stage("A")
    setup.stage("B")
    staging = setup.tmp / "staging"
    _record_deploy(staging, "qa", setup.images["A"], DeployOutcome.HEALTHY)
    _record_deploy(staging, "staging", setup.images["A"], DeployOutcome.HEALTHY, kind=Kind.PROMOTE)
    listed = _listing(staging, Digest.parse(setup.images["A"].digest))
    for n, seq in enumerate(({ANNOTATION_SEQ: ""}, {})):  # an empty sequence label, and none at all
        labels = {ANNOTATION_ENV: "staging", ANNOTATION_KIND: "deploy", **seq}
        torn = {**listed[0], "digest": str(Digest.of(b"a listing without a record %d" % n)), "annotations": labels}
        _list_under(staging, Digest.parse(setup.images["A"].digest), torn)
    _record_deploy(staging, "staging", setup.images["A"], DeployOutcome.HEALTHY)
    for _ in range(55):
        _record_deploy(staging, "staging", setup.images["B"], DeployOutcome.HEALTHY, index=False)
    assert [e["annotations"].get(ANNOTATION_ENV) for e in _listing(staging, a)] == ["qa", "staging", "staging",
                                                                                     "staging", "staging"]  # fmt: skip
    decided = setup.one(a)
    assert decided.passed, decided
    assert decided.detail == "deployed healthy to staging (seq 2)"
    assert decided.evidence == (_listing(staging, a)[-1]["digest"],)


def test_listings_that_are_not_a_healthy_deploy_of_this_digest_here_do_not_count(setup: Setup) -> None:
    """Under A's referrers: a deploy of A in another environment's ledger kept in the same repository, a
    promotion of A, and a failed deploy; none lets A through, and the failed one is named."""
    setup.write('"deployed"', "deployed = {}")
    a = setup.stage("A")
    setup.stage("B")
    staging = setup.tmp / "staging"
    _record_deploy(staging, "staging", setup.images["A"], DeployOutcome.FAILED)
    _record_deploy(staging, "qa", setup.images["A"], DeployOutcome.HEALTHY)
    _record_deploy(staging, "staging", setup.images["A"], DeployOutcome.HEALTHY, kind=Kind.PROMOTE)
    for _ in range(55):
        _record_deploy(staging, "staging", setup.images["B"], DeployOutcome.HEALTHY, index=False)
    decided = setup.one(a)
    assert decided == result("deployed", False, "deployed to staging but failed health checks (seq 1)", "staging")


def test_a_listing_whose_labels_lie_is_checked_against_its_record(setup: Setup) -> None:
    """A referrers entry claiming to be a healthy staging deploy of A, pointing at B's deploy record: the
    record is read, and it does not count for A."""
    setup.write('"deployed"', "deployed = {}")
    a = setup.stage("A")
    setup.stage("B")
    staging = setup.tmp / "staging"
    _record_deploy(staging, "staging", setup.images["B"], DeployOutcome.HEALTHY)
    for _ in range(55):
        _record_deploy(staging, "staging", setup.images["B"], DeployOutcome.FAILED, index=False)
    forged = dict(_listing(staging, Digest.parse(setup.images["B"].digest))[0])
    assert forged["annotations"][ANNOTATION_KIND] == "deploy" and forged["annotations"][ANNOTATION_ENV] == "staging"
    _list_under(staging, a, forged)
    assert setup.one(a) == result("deployed", False, "never deployed to staging", "staging")


def _deployed_gate_trusting(setup: Setup, key: Path) -> None:
    """production requires the deployed gate; staging's ledger trusts only ``key``."""
    setup.write('"deployed"', "deployed = {}")
    key_line = f'key = "{setup.keys}/staging.key"'
    trusted = f'{key_line}\ntrust = {{ keys = ["{key}"] }}'
    setup.config.write_text(setup.config.read_text().replace(key_line, trusted, 1))


def test_with_trust_an_unsigned_deploy_listed_under_the_image_does_not_count(setup: Setup) -> None:
    """Staging trusts its own key: a deploy record anyone could have pushed (unsigned), beyond the head's
    window and found only through A's referrers, lets nothing through."""
    _deployed_gate_trusting(setup, setup.keys / "staging.pub")
    a = setup.stage("A")
    setup.stage("B")
    staging = setup.tmp / "staging"
    _record_deploy(staging, "staging", setup.images["A"], DeployOutcome.HEALTHY)
    for _ in range(55):
        _record_deploy(staging, "staging", setup.images["B"], DeployOutcome.HEALTHY, index=False)
    assert [e["annotations"][ANNOTATION_KIND] for e in _listing(staging, a)] == ["deploy"]
    assert setup.one(a) == result("deployed", False, "never deployed to staging", "staging")


def test_with_trust_a_trusted_deploy_listed_after_an_untrusted_one_counts(setup: Setup) -> None:
    """Staging trusts one writer's key. Under A's referrers, beyond the head's window: first a healthy deploy
    record anyone could have pushed (unsigned), then one the trusted writer signed. The untrusted listing
    is passed over, and the signed deploy lets A through."""
    writer = PrivateKey.generate()
    pub = setup.tmp / "writer.pub"
    pub.write_bytes(writer.public_key().pem())
    _deployed_gate_trusting(setup, pub)
    a = setup.stage("A")
    setup.stage("B")
    staging = setup.tmp / "staging"
    _record_deploy(staging, "staging", setup.images["A"], DeployOutcome.HEALTHY)
    _record_deploy(staging, "staging", setup.images["A"], DeployOutcome.HEALTHY, signer=writer)
    for _ in range(55):
        _record_deploy(staging, "staging", setup.images["B"], DeployOutcome.HEALTHY, index=False, signer=writer)
    listed = _listing(staging, a)
    assert [e["annotations"][ANNOTATION_SEQ] for e in listed] == ["1", "2"]
    assert setup.one(a) == result("deployed", True, "deployed healthy to staging (seq 2)", "staging",
                                  (listed[1]["digest"],))  # fmt: skip


def test_a_test_result_that_gives_no_time_ranks_below_one_that_does(setup: Setup) -> None:
    """Beside hoist's own test result (it records when the command started and finished), another tool's
    test-result attestation, whose predicate has no time field: the one with a time is the newest and
    decides; the one without is never compared as a time."""
    from hoist.evidence.intoto import Outcome, TestResult
    from hoist.evidence.sign import attest

    setup.write('"tests"', "tests = {}")
    a = setup.stage("A")
    setup.cli("test", "staging", "--digest", str(a), "--", "true")
    (timed,) = setup.artifacts("staging", a, "test-result")
    with Session() as session:
        store = session.open(parse_reference(f"oci:{setup.tmp}/staging"))
        subject = store.head_manifest(a)
        assert subject is not None
        attest(store, subject, TestResult(result=Outcome.FAILED), key=None, created=stamp(T0 + timedelta(hours=1)))
    assert len(setup.artifacts("staging", a, "test-result")) == 2
    decided = setup.one(a, at=T0 + timedelta(hours=2))
    assert decided == result("tests", True, "the newest test run PASSED in staging", "staging", (timed,))


def _listing(layout: Path, subject: Digest) -> list[dict[str, Any]]:
    """The entries of ``subject``'s referrers index in the layout (its fallback tag), read from the files."""
    index = json.loads((layout / "index.json").read_text())
    for entry in index["manifests"]:
        if entry.get("annotations", {}).get("org.opencontainers.image.ref.name") == subject.fallback_tag:
            blob = layout / "blobs" / "sha256" / str(entry["digest"]).partition(":")[2]
            return list(json.loads(blob.read_text())["manifests"])
    return []


def _list_under(layout: Path, subject: Digest, entry: dict[str, object]) -> None:
    from hoist.manifest import Descriptor
    from hoist.ops.referrers import update_fallback_index

    with Session() as session:
        store = session.open(parse_reference(f"oci:{layout}"))
        annotations = entry["annotations"]
        assert isinstance(annotations, dict)
        descriptor = Descriptor(
            str(entry["mediaType"]),
            Digest.parse(str(entry["digest"])),
            int(str(entry["size"])),
            artifact_type=str(entry["artifactType"]),
            annotations={str(k): str(v) for k, v in annotations.items()},
        )
        update_fallback_index(store, subject, descriptor)
