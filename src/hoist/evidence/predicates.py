"""The two predicates hoist writes and reads, as typed values: test results and vulnerability scans.

- Test result (``https://in-toto.io/attestation/test-result/v0.1``): ``result``, ``configuration`` (resource
  descriptors), optional ``url``, ``passedTests``, ``warnedTests``, ``failedTests``. hoist records the
  command it ran as the descriptor ``{"name": "command", "content": base64(command), "mediaType":
  "text/plain; charset=utf-8"}`` whose ``annotations`` carry ``startedOn``, ``finishedOn`` (RFC 3339 UTC) and
  ``exitCode`` — the predicate itself has no time field.
- Vulnerability scan (cosign's ``https://cosign.sigstore.dev/attestation/vuln/v1``): ``invocation``,
  ``scanner {uri, version, db {uri, version}, result}``, ``metadata {scanStartedOn, scanFinishedOn}``.
  hoist writes ``scanner.result`` as ``{"counts": {SEVERITY: n}, "findings": [{id, severity, package}],
  "totalFindings": n}`` (findings capped, most severe first); it also reads a raw Trivy JSON report there,
  as ``trivy --format cosign-vuln`` writes it.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from hoist.errors import InputError
from hoist.evidence._util import (
    as_int,
    as_list,
    as_object,
    as_str,
    b64decode,
    format_time,
    opt_str,
    parse_time,
    str_list,
)
from hoist.evidence.reports import Finding, ScanReport, Severity, SeverityCounts, report_from_document

TEST_RESULT_PREDICATE = "https://in-toto.io/attestation/test-result/v0.1"
VULN_PREDICATE = "https://cosign.sigstore.dev/attestation/vuln/v1"
COMMAND_DESCRIPTOR = "command"
MAX_FINDINGS = 100


class Outcome(StrEnum):
    PASSED = "PASSED"
    WARNED = "WARNED"
    FAILED = "FAILED"


@dataclass(frozen=True, slots=True, kw_only=True)
class TestResult:
    """The test-result predicate as typed values; ``configuration`` holds the descriptors besides the command."""

    __test__: ClassVar[bool] = False  # not a pytest test class

    result: Outcome
    command: str | None = None
    url: str | None = None
    passed_tests: tuple[str, ...] = ()
    warned_tests: tuple[str, ...] = ()
    failed_tests: tuple[str, ...] = ()
    started: datetime | None = None
    finished: datetime | None = None
    exit_code: int | None = None
    configuration: tuple[Mapping[str, Any], ...] = ()

    @property
    def time(self) -> datetime | None:
        return self.finished or self.started

    def to_predicate(self) -> dict[str, Any]:
        configuration = [dict(d) for d in self.configuration]
        if self.command is not None:
            configuration.insert(0, self._command_descriptor(self.command))
        elif self.started or self.finished or self.exit_code is not None:
            raise InputError("a test result with run times or an exit code needs the command that ran")
        predicate: dict[str, Any] = {"result": self.result.value, "configuration": configuration}
        if self.url:
            predicate["url"] = self.url
        predicate["passedTests"] = list(self.passed_tests)
        predicate["warnedTests"] = list(self.warned_tests)
        predicate["failedTests"] = list(self.failed_tests)
        return predicate

    def _command_descriptor(self, command: str) -> dict[str, Any]:
        annotations: dict[str, Any] = {}
        if self.started:
            annotations["startedOn"] = format_time(self.started)
        if self.finished:
            annotations["finishedOn"] = format_time(self.finished)
        if self.exit_code is not None:
            annotations["exitCode"] = self.exit_code
        descriptor: dict[str, Any] = {
            "name": COMMAND_DESCRIPTOR,
            "content": base64.b64encode(command.encode("utf-8")).decode("ascii"),
            "mediaType": "text/plain; charset=utf-8",
        }
        if annotations:
            descriptor["annotations"] = annotations
        return descriptor

    @classmethod
    def from_predicate(cls, predicate: Mapping[str, Any]) -> TestResult:
        what = "test-result predicate"
        text = as_str(predicate.get("result"), what=f"{what} 'result'")
        if text not in Outcome.__members__:
            raise InputError(f"{what} 'result' is {text!r}; expected PASSED, WARNED or FAILED")
        command: str | None = None
        annotations: Mapping[str, Any] = {}
        others: list[Mapping[str, Any]] = []
        for raw in as_list(predicate.get("configuration", []), what=f"{what} 'configuration'"):
            descriptor = as_object(raw, what=f"{what} configuration entry")
            if descriptor.get("name") == COMMAND_DESCRIPTOR and command is None and "content" in descriptor:
                content = b64decode(as_str(descriptor["content"], what="command content"), what="command content")
                command = content.decode("utf-8", errors="replace")
                annotations = as_object(descriptor.get("annotations", {}), what="command annotations")
            else:
                others.append(descriptor)
        started, finished = annotations.get("startedOn"), annotations.get("finishedOn")
        exit_code = annotations.get("exitCode")
        return cls(
            result=Outcome(text),
            command=command,
            url=opt_str(predicate.get("url"), what=f"{what} 'url'"),
            passed_tests=str_list(predicate.get("passedTests"), what=f"{what} 'passedTests'"),
            warned_tests=str_list(predicate.get("warnedTests"), what=f"{what} 'warnedTests'"),
            failed_tests=str_list(predicate.get("failedTests"), what=f"{what} 'failedTests'"),
            started=parse_time(started, what="command startedOn") if started is not None else None,
            finished=parse_time(finished, what="command finishedOn") if finished is not None else None,
            exit_code=as_int(exit_code, what="command exitCode") if exit_code is not None else None,
            configuration=tuple(others),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class VulnScan:
    """cosign's vulnerability-scan predicate as typed values: counts, capped findings, scanner and times."""

    counts: SeverityCounts
    started: datetime
    finished: datetime
    findings: tuple[Finding, ...] = ()
    total_findings: int | None = None
    scanner_uri: str = ""
    scanner_version: str = ""
    db_uri: str = ""
    db_version: str = ""
    invocation_uri: str = ""

    @property
    def time(self) -> datetime:
        return self.finished

    @classmethod
    def from_report(
        cls,
        report: ScanReport,
        *,
        started: datetime,
        finished: datetime,
        scanner_uri: str | None = None,
        invocation_uri: str = "",
        max_findings: int = MAX_FINDINGS,
    ) -> VulnScan:
        """The most severe ``max_findings`` findings of ``report``, with counts over all of them."""
        ranked = sorted(report.findings, key=lambda f: -f.severity.rank)
        return cls(
            counts=report.counts,
            started=started,
            finished=finished,
            findings=tuple(ranked[:max_findings]),
            total_findings=len(report.findings),
            scanner_uri=scanner_uri if scanner_uri is not None else (report.scanner or report.format),
            scanner_version=report.scanner_version or "",
            invocation_uri=invocation_uri,
        )

    def to_predicate(self) -> dict[str, Any]:
        findings = [_finding_json(f) for f in self.findings]
        total = self.total_findings if self.total_findings is not None else self.counts.total
        return {
            "invocation": {"parameters": None, "uri": self.invocation_uri, "event_id": "", "builder.id": ""},
            "scanner": {
                "uri": self.scanner_uri,
                "version": self.scanner_version,
                "db": {"uri": self.db_uri, "version": self.db_version},
                "result": {"counts": self.counts.to_json(), "findings": findings, "totalFindings": total},
            },
            "metadata": {"scanStartedOn": format_time(self.started), "scanFinishedOn": format_time(self.finished)},
        }

    @classmethod
    def from_predicate(cls, predicate: Mapping[str, Any]) -> VulnScan:
        what = "vulnerability predicate"
        scanner = as_object(predicate.get("scanner"), what=f"{what} 'scanner'")
        metadata = as_object(predicate.get("metadata"), what=f"{what} 'metadata'")
        invocation = predicate.get("invocation")
        db = scanner.get("db")
        db = db if isinstance(db, dict) else {}
        result = scanner.get("result")
        if isinstance(result, dict) and isinstance(result.get("counts"), dict):
            counts = SeverityCounts.from_json(result["counts"], what=f"{what} counts")
            findings = tuple(_finding(raw) for raw in as_list(result.get("findings", []), what=f"{what} findings"))
            total = result.get("totalFindings")
            total_findings = as_int(total, what=f"{what} totalFindings") if total is not None else None
        elif (report := report_from_document(result, source="in the attestation")) is not None:
            counts, findings, total_findings = report.counts, report.findings, len(report.findings)
        else:
            raise InputError(f"{what} has no severity counts hoist can read in scanner.result")
        return cls(
            counts=counts,
            started=parse_time(metadata.get("scanStartedOn"), what=f"{what} scanStartedOn"),
            finished=parse_time(metadata.get("scanFinishedOn"), what=f"{what} scanFinishedOn"),
            findings=findings,
            total_findings=total_findings,
            scanner_uri=opt_str(scanner.get("uri"), what=f"{what} scanner.uri") or "",
            scanner_version=opt_str(scanner.get("version"), what=f"{what} scanner.version") or "",
            db_uri=opt_str(db.get("uri"), what=f"{what} db.uri") or "",
            db_version=opt_str(db.get("version"), what=f"{what} db.version") or "",
            invocation_uri=str(invocation.get("uri") or "") if isinstance(invocation, dict) else "",
        )


def _finding_json(finding: Finding) -> dict[str, str]:
    doc = {"id": finding.id, "severity": finding.severity.value, "package": finding.package}
    if finding.kind != "vulnerability":
        doc["kind"] = finding.kind
    return doc


def _finding(raw: object) -> Finding:
    doc = as_object(raw, what="vulnerability finding")
    return Finding(
        as_str(doc.get("id"), what="finding id"),
        Severity.parse(doc.get("severity")),
        str(doc.get("package") or ""),
        str(doc.get("kind") or "vulnerability"),
    )
