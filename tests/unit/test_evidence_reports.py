"""Scanner reports: Trivy JSON and SARIF 2.1.0 into severity counts and findings."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from hoist.errors import InputError
from hoist.evidence.reports import Finding, Severity, SeverityCounts, load_report, parse_report

SCANS = Path(__file__).resolve().parents[1] / "fixtures" / "scans"


@pytest.mark.parametrize(
    ("name", "fmt", "counts", "at_or_above_high"),
    [
        ("trivy-high.json", "trivy", SeverityCounts(critical=2, high=3, medium=1, low=1, unknown=1), 5),
        ("trivy-low.json", "trivy", SeverityCounts(medium=1, low=2), 0),
        ("sarif-high.sarif", "sarif", SeverityCounts(critical=1, high=3, medium=1, low=2), 4),
        ("sarif-low.sarif", "sarif", SeverityCounts(medium=1, low=2), 0),
    ],
)
def test_counts(name: str, fmt: str, counts: SeverityCounts, at_or_above_high: int) -> None:
    report = load_report(SCANS / name)
    assert report.format == fmt
    assert report.counts == counts
    assert report.counts.at_or_above(Severity.HIGH) == at_or_above_high
    assert report.counts.total == len(report.findings)


def test_trivy_details() -> None:
    report = load_report(SCANS / "trivy-high.json")
    assert (report.scanner, report.scanner_version) == ("trivy", "0.57.1")
    assert report.artifact is not None and report.artifact.startswith("ghcr.io/example/app@sha256:")
    assert report.created == datetime(2024, 11, 20, 10, 15, 42, 123456, tzinfo=UTC)
    assert Finding("CVE-2023-4911", Severity.HIGH, "libc6") in report.findings
    assert Finding("DS002", Severity.HIGH, "Dockerfile", "misconfiguration") in report.findings
    assert Finding("aws-access-key-id", Severity.CRITICAL, "/app/config.env", "secret") in report.findings
    assert not any(f.id == "DS026" for f in report.findings)  # a passed check is not a finding


def test_trivy_without_version_or_results() -> None:
    report = parse_report(b'{"SchemaVersion":2,"ArtifactName":"app:1","ArtifactType":"container_image"}', source="x")
    assert report.format == "trivy" and report.scanner_version is None and report.counts.total == 0
    low = load_report(SCANS / "trivy-low.json")
    assert low.created == datetime(2024, 11, 21, 7, 0, 3, tzinfo=UTC)


def test_sarif_details() -> None:
    report = load_report(SCANS / "sarif-high.sarif")
    assert report.scanner == "Trivy, CodeQL"
    assert report.scanner_version == "0.57.1, 2.19.3"
    by_id = {(f.id, f.package): f.severity for f in report.findings}
    assert by_id == {
        ("CVE-2023-4911", "libc6"): Severity.HIGH,  # tag
        ("CVE-2024-6387", "openssh-client"): Severity.CRITICAL,  # tag wins over CVSS 8.1
        ("CVE-2011-3374", "apt"): Severity.LOW,
        ("js/sql-injection", "src/db.js"): Severity.HIGH,  # security-severity 8.8
        ("js/weak-cryptographic-algorithm", "src/token.js"): Severity.MEDIUM,  # security-severity 5.3
        ("js/unused-local-variable", "src/util.js"): Severity.LOW,  # the rule's default level, note
        ("js/debugger-statement", "src/app.js"): Severity.HIGH,  # the result's level, error
    }
    # the suppressed sql-injection and the "pass" result are not findings
    assert len(report.findings) == 7


@pytest.mark.parametrize(
    ("score", "severity"),
    [
        ("9.0", Severity.CRITICAL),
        ("7.0", Severity.HIGH),
        ("6.9", Severity.MEDIUM),
        ("4.0", Severity.MEDIUM),
        ("0.1", Severity.LOW),
    ],
)
def test_sarif_cvss_thresholds(score: str, severity: Severity) -> None:
    data = (
        '{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"t","rules":[{"id":"r","properties":'
        f'{{"security-severity":"{score}"}}}}]}}}},"results":[{{"ruleId":"r","level":"note"}}]}}]}}'
    )
    assert parse_report(data.encode(), source="s").findings[0].severity is severity


def test_sarif_level_defaults_to_warning() -> None:
    data = b'{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"t"}},"results":[{"ruleId":"r"}]}]}'
    assert parse_report(data, source="s").counts == SeverityCounts(medium=1)


@pytest.mark.parametrize(
    "data",
    [b'{"hello":"world"}', b"[1,2]", b"<xml/>", b"", b'{"version":"2.0.0","runs":[]}'],
    ids=["other-json", "array", "xml", "empty", "old-sarif"],
)
def test_neither_format_is_an_input_error_naming_the_file(data: bytes, tmp_path: Path) -> None:
    path = tmp_path / "report.out"
    path.write_bytes(data)
    with pytest.raises(InputError, match=f"scan report {path} is neither a Trivy JSON report nor SARIF 2.1.0"):
        load_report(path)


def test_missing_report_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        load_report(tmp_path / "nope.json")


def test_malformed_trivy_results() -> None:
    with pytest.raises(InputError, match="Results"):
        parse_report(b'{"SchemaVersion":2,"ArtifactName":"a","Results":{"x":1}}', source="t.json")


def test_severity_words() -> None:
    assert Severity.parse("critical") is Severity.CRITICAL
    assert Severity.parse("Moderate") is Severity.MEDIUM
    assert Severity.parse("Negligible") is Severity.LOW
    assert Severity.parse(None) is Severity.UNKNOWN
    assert Severity.parse("whatever") is Severity.UNKNOWN
    counts = SeverityCounts(critical=1, high=2, medium=3, low=4, unknown=5)
    assert [counts.at_or_above(s) for s in Severity] == [1, 3, 6, 10, 15]
    assert SeverityCounts.from_json(counts.to_json()) == counts
    with pytest.raises(InputError, match="HIGH must be a non-negative integer"):
        SeverityCounts.from_json({"HIGH": -1})
