"""in-toto statements with the test-result and vulnerability predicates, through DSSE and back."""

import base64
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hoist.digest import Digest
from hoist.errors import InputError, IntegrityError
from hoist.evidence import dsse, intoto
from hoist.evidence.intoto import Outcome, TestResult, VulnScan
from hoist.evidence.keys import PrivateKey, PublicKey
from hoist.evidence.reports import Finding, Severity, SeverityCounts, load_report

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
DIGEST = Digest.parse("sha256:634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00")
OTHER = Digest.parse("sha256:" + "b" * 64)
STARTED = datetime(2024, 11, 20, 10, 12, 1, tzinfo=UTC)
FINISHED = datetime(2024, 11, 20, 10, 12, 3, 500000, tzinfo=UTC)


def _result() -> TestResult:
    return TestResult(
        result=Outcome.FAILED,
        command="pytest -q tests/smoke --base-url http://app:8080",
        url="https://github.com/example/app/actions/runs/1",
        passed_tests=("tests.smoke.test_http.test_health",),
        failed_tests=("tests.smoke.test_http.test_login",),
        started=STARTED,
        finished=FINISHED,
        exit_code=1,
    )


def test_test_result_predicate_shape() -> None:
    predicate = _result().to_predicate()
    assert predicate["result"] == "FAILED"
    command = predicate["configuration"][0]
    assert command["name"] == "command"
    assert base64.b64decode(command["content"]).decode() == "pytest -q tests/smoke --base-url http://app:8080"
    assert command["annotations"] == {
        "startedOn": "2024-11-20T10:12:01Z",
        "finishedOn": "2024-11-20T10:12:03.500000Z",
        "exitCode": 1,
    }
    assert predicate["url"] == "https://github.com/example/app/actions/runs/1"
    assert predicate["passedTests"] == ["tests.smoke.test_http.test_health"]
    assert predicate["warnedTests"] == []
    assert predicate["failedTests"] == ["tests.smoke.test_http.test_login"]


def test_statement_shape() -> None:
    stmt = intoto.evidence_statement(_result(), subject_name="ghcr.io/example/app", digest=DIGEST)
    doc = json.loads(stmt.to_json())
    assert list(doc) == ["_type", "subject", "predicateType", "predicate"]
    assert doc["_type"] == "https://in-toto.io/Statement/v1"
    assert doc["subject"] == [{"name": "ghcr.io/example/app", "digest": {"sha256": DIGEST.hex}}]
    assert doc["predicateType"] == "https://in-toto.io/attestation/test-result/v0.1"


def test_test_result_round_trip_through_dsse() -> None:
    key = PrivateKey.generate()
    stmt = intoto.evidence_statement(_result(), subject_name="ghcr.io/example/app", digest=DIGEST)
    envelope = dsse.sign(stmt.to_json(), intoto.PAYLOAD_TYPE, key)
    verified = dsse.verify(dsse.parse(json.dumps(envelope).encode()), [key.public_key()], enforce=True)
    evidence = intoto.read_evidence(intoto.parse_statement(verified.payload), digest=DIGEST)
    assert evidence == _result()
    assert isinstance(evidence, TestResult) and evidence.time == FINISHED


def test_subject_digest_must_match() -> None:
    stmt = intoto.evidence_statement(_result(), subject_name="app", digest=DIGEST)
    parsed = intoto.parse_statement(stmt.to_json())
    assert parsed.names(DIGEST) and not parsed.names(OTHER)
    with pytest.raises(IntegrityError, match=f"not {OTHER}"):
        intoto.read_evidence(parsed, digest=OTHER)


def test_vuln_scan_round_trip_with_capped_findings() -> None:
    report = load_report(FIXTURES / "scans" / "trivy-high.json")
    scan = VulnScan.from_report(report, started=STARTED, finished=FINISHED, max_findings=3)
    predicate = scan.to_predicate()
    assert predicate["scanner"]["uri"] == "trivy" and predicate["scanner"]["version"] == "0.57.1"
    result = predicate["scanner"]["result"]
    assert result["counts"] == {"CRITICAL": 2, "HIGH": 3, "MEDIUM": 1, "LOW": 1, "UNKNOWN": 1}
    assert result["totalFindings"] == 8
    assert [f["severity"] for f in result["findings"]] == ["CRITICAL", "CRITICAL", "HIGH"]
    assert result["findings"][0] == {"id": "CVE-2024-6387", "severity": "CRITICAL", "package": "openssh-client"}
    assert predicate["metadata"] == {
        "scanStartedOn": "2024-11-20T10:12:01Z",
        "scanFinishedOn": "2024-11-20T10:12:03.500000Z",
    }

    stmt = intoto.evidence_statement(scan, subject_name="ghcr.io/example/app", digest=DIGEST)
    assert stmt.predicate_type == "https://cosign.sigstore.dev/attestation/vuln/v1"
    evidence = intoto.read_evidence(intoto.parse_statement(stmt.to_json()), digest=DIGEST)
    assert evidence == scan
    assert isinstance(evidence, VulnScan)
    assert evidence.counts.at_or_above(Severity.HIGH) == 5 and evidence.time == FINISHED
    assert evidence.findings[2] == Finding("CVE-2023-4911", Severity.HIGH, "libc6")


def test_vuln_predicate_with_a_raw_trivy_report_as_trivy_cosign_vuln_writes() -> None:
    trivy = json.loads((FIXTURES / "scans" / "trivy-low.json").read_text())
    predicate = {
        "invocation": {"parameters": None, "uri": "", "event_id": "", "builder.id": ""},
        "scanner": {
            "uri": "pkg:github/aquasecurity/trivy@0.57.1",
            "version": "0.57.1",
            "db": {"uri": "", "version": ""},
            "result": trivy,
        },
        "metadata": {"scanStartedOn": "2024-11-21T07:00:00.123456789Z", "scanFinishedOn": "2024-11-21T07:00:04Z"},
    }
    stmt = intoto.statement(
        subject_name="app", digest=DIGEST, predicate_type=intoto.VULN_PREDICATE, predicate=predicate
    )
    evidence = intoto.read_evidence(stmt, digest=DIGEST, accept=[intoto.VULN_PREDICATE])
    assert isinstance(evidence, VulnScan)
    assert evidence.counts == SeverityCounts(medium=1, low=2)
    assert evidence.started == datetime(2024, 11, 21, 7, 0, 0, 123456, tzinfo=UTC)
    assert evidence.scanner_uri == "pkg:github/aquasecurity/trivy@0.57.1"


def test_cosign_v01_statement_from_the_fixture() -> None:
    vector = json.loads((FIXTURES / "cosign" / "dsse-attestation.json").read_text())
    verified = dsse.verify(vector["envelope"], [PublicKey.from_pem(vector["public_key"].encode())], enforce=True)
    stmt = intoto.parse_statement(verified.payload)
    assert stmt.type == intoto.STATEMENT_V01
    assert stmt.predicate_type == "https://slsa.dev/provenance/v0.2"
    blob = Digest.parse("sha256:658781cd4ed9bca60dacd09f7bb914bb51502e8b5d619f57f39a1d652596cc24")
    assert stmt.subjects[0].name == "blob" and stmt.names(blob)
    with pytest.raises(InputError, match="does not read attestations of predicate type"):
        intoto.read_evidence(stmt, digest=blob)


def test_accept_limits_the_predicate_types() -> None:
    stmt = intoto.evidence_statement(_result(), subject_name="app", digest=DIGEST)
    with pytest.raises(InputError, match="test-result"):
        intoto.read_evidence(stmt, digest=DIGEST, accept=[intoto.VULN_PREDICATE])


def test_foreign_test_result_without_a_command() -> None:
    predicate = {
        "result": "PASSED",
        "configuration": [{"name": ".github/workflows/ci.yml", "digest": {"gitBlob": "ebe4add4"}}],
        "passedTests": ["build (3.12, ubuntu-latest, py)"],
    }
    result = TestResult.from_predicate(predicate)
    assert result.result is Outcome.PASSED and result.command is None and result.time is None
    assert result.configuration == ({"name": ".github/workflows/ci.yml", "digest": {"gitBlob": "ebe4add4"}},)
    assert result.to_predicate()["configuration"] == predicate["configuration"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"_type":"https://in-toto.io/Statement/v2","subject":[],"predicateType":"x"}', "_type"),
        (b'{"_type":"https://in-toto.io/Statement/v1","subject":[],"predicateType":"x"}', "no subject"),
        (
            b'{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":"x"}],"predicateType":"x"}',
            "'digest'",
        ),
        (b'{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":{}}]}', "predicateType"),
    ],
    ids=["type", "no-subject", "digest-not-object", "no-predicate-type"],
)
def test_malformed_statements(data: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message):
        intoto.parse_statement(data)


@pytest.mark.parametrize(
    ("predicate", "message"),
    [
        ({"result": "OK", "configuration": []}, "expected PASSED, WARNED or FAILED"),
        ({"result": "PASSED", "configuration": {}}, "'configuration' must be a JSON array"),
        ({"result": "PASSED", "configuration": [], "failedTests": [1]}, "failedTests"),
    ],
)
def test_malformed_test_results(predicate: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match=message):
        TestResult.from_predicate(predicate)


def test_vuln_predicate_without_counts() -> None:
    predicate = {
        "scanner": {"uri": "x", "version": "1", "result": {"something": "else"}},
        "metadata": {"scanStartedOn": "2024-01-01T00:00:00Z", "scanFinishedOn": "2024-01-01T00:00:01Z"},
    }
    with pytest.raises(InputError, match="no severity counts"):
        VulnScan.from_predicate(predicate)


def test_run_times_need_a_command() -> None:
    with pytest.raises(InputError, match="needs the command"):
        TestResult(result=Outcome.PASSED, finished=FINISHED).to_predicate()
