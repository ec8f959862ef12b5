"""Scanner reports as severity counts and findings: Trivy JSON and SARIF 2.1.0, detected from the content.

Trivy JSON: ``Results[].Vulnerabilities[]`` (``VulnerabilityID``, ``PkgName``, ``Severity``), plus failed
``Misconfigurations[]`` and ``Secrets[]`` when present. SARIF: one finding per result of kind ``fail`` (the
default) that is not suppressed; its severity is, in order, a severity word among the rule's
``properties.tags``, the CVSS score in ``properties.security-severity`` (>= 9 CRITICAL, >= 7 HIGH, >= 4
MEDIUM, > 0 LOW), then the SARIF level (``error`` HIGH, ``warning`` MEDIUM, ``note`` LOW).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from hoist.errors import InputError
from hoist.evidence._util import as_list, as_object, load_json, opt_str, parse_time, read_capped

MAX_REPORT = 64 * 1024 * 1024
_RANK = {"CRITICAL": 4, "HIGH": 3, "MEDIUM": 2, "LOW": 1, "UNKNOWN": 0}
_ALIASES = {"MODERATE": "MEDIUM", "IMPORTANT": "HIGH", "NEGLIGIBLE": "LOW", "INFO": "LOW"}
_LEVELS = {"error": "HIGH", "warning": "MEDIUM", "note": "LOW", "none": "UNKNOWN"}
_NOT_FINDINGS = {"pass", "notApplicable", "informational"}
_PACKAGE_LINE = re.compile(r"^Package: (\S+)", re.MULTILINE)


class Severity(StrEnum):
    CRITICAL = "CRITICAL"
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"
    UNKNOWN = "UNKNOWN"

    @property
    def rank(self) -> int:
        """CRITICAL 4 … LOW 1, UNKNOWN 0 (Trivy's order)."""
        return _RANK[self.value]

    @classmethod
    def parse(cls, text: object) -> Severity:
        """A scanner's severity word (case-insensitive; a few aliases); anything else is UNKNOWN."""
        word = str(text or "").strip().upper()
        word = _ALIASES.get(word, word)
        return cls(word) if word in _RANK else cls.UNKNOWN


@dataclass(frozen=True, slots=True, kw_only=True)
class SeverityCounts:
    critical: int = 0
    high: int = 0
    medium: int = 0
    low: int = 0
    unknown: int = 0

    @classmethod
    def of(cls, severities: Iterable[Severity]) -> SeverityCounts:
        tally = dict.fromkeys(Severity, 0)
        for severity in severities:
            tally[severity] += 1
        return cls(**{severity.value.lower(): n for severity, n in tally.items()})

    @classmethod
    def from_json(cls, doc: Mapping[str, object], *, what: str = "severity counts") -> SeverityCounts:
        values: dict[str, int] = {}
        for severity in Severity:
            n = doc.get(severity.value, 0)
            if isinstance(n, bool) or not isinstance(n, int) or n < 0:
                raise InputError(f"{what}: {severity.value} must be a non-negative integer")
            values[severity.value.lower()] = n
        return cls(**values)

    def to_json(self) -> dict[str, int]:
        return {severity.value: self[severity] for severity in Severity}

    def __getitem__(self, severity: Severity) -> int:
        return int(getattr(self, severity.value.lower()))

    def at_or_above(self, threshold: Severity) -> int:
        """How many findings are at least as severe as ``threshold`` (UNKNOWN counts only at UNKNOWN)."""
        return sum(self[s] for s in Severity if s.rank >= threshold.rank)

    @property
    def total(self) -> int:
        return sum(self[s] for s in Severity)


@dataclass(frozen=True, slots=True)
class Finding:
    """One finding: the vulnerability or rule id, its severity and the package (or location) it is in."""

    id: str
    severity: Severity
    package: str = ""
    kind: str = "vulnerability"


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanReport:
    format: str
    """``trivy`` or ``sarif``."""
    findings: tuple[Finding, ...]
    scanner: str | None = None
    scanner_version: str | None = None
    artifact: str | None = None
    created: datetime | None = None

    @property
    def counts(self) -> SeverityCounts:
        return SeverityCounts.of(f.severity for f in self.findings)


def load_report(path: Path) -> ScanReport:
    return parse_report(read_capped(path, limit=MAX_REPORT, what="scan report"), source=str(path))


def parse_report(data: bytes, *, source: str) -> ScanReport:
    """Detect Trivy JSON or SARIF from the content; anything else is an :class:`InputError` naming ``source``."""
    neither = f"scan report {source} is neither a Trivy JSON report nor SARIF 2.1.0"
    try:
        doc = load_json(data, what="the content", limit=MAX_REPORT)
    except InputError as exc:
        raise InputError(f"{neither} ({exc.message})") from None
    report = report_from_document(doc, source=source)
    if report is None:
        raise InputError(neither)
    return report


def report_from_document(doc: object, *, source: str) -> ScanReport | None:
    """A parsed JSON document as a report, or ``None`` when it is neither Trivy JSON nor SARIF 2.1.0."""
    if isinstance(doc, dict) and isinstance(doc.get("runs"), list) and _is_sarif(doc):
        return _parse_sarif(doc, source)
    if isinstance(doc, dict) and _is_trivy(doc):
        return _parse_trivy(doc, source)
    return None


def _is_sarif(doc: Mapping[str, Any]) -> bool:
    version = doc.get("version")
    schema = doc.get("$schema")
    return version == "2.1.0" or (isinstance(schema, str) and "sarif" in schema.lower() and "2.1.0" in schema)


def _is_trivy(doc: Mapping[str, Any]) -> bool:
    if "ArtifactName" in doc and "Results" in doc:
        return True
    version = doc.get("SchemaVersion")
    return isinstance(version, int) and not isinstance(version, bool) and ("ArtifactName" in doc or "Results" in doc)


def _parse_trivy(doc: dict[str, Any], source: str) -> ScanReport:
    what = f"Trivy report {source}"
    findings: list[Finding] = []
    for index, raw in enumerate(as_list(doc.get("Results") or [], what=f"{what}: Results")):
        result = as_object(raw, what=f"{what}: Results[{index}]")
        target = str(result.get("Target") or "")
        for item in _entries(result, "Vulnerabilities", what):
            package = str(item.get("PkgName") or target)
            findings.append(
                Finding(str(item.get("VulnerabilityID") or "?"), Severity.parse(item.get("Severity")), package)
            )
        for item in _entries(result, "Misconfigurations", what):
            if str(item.get("Status") or "FAIL").upper() != "FAIL":
                continue
            rule = str(item.get("ID") or item.get("AVDID") or "?")
            findings.append(Finding(rule, Severity.parse(item.get("Severity")), target, "misconfiguration"))
        for item in _entries(result, "Secrets", what):
            findings.append(
                Finding(str(item.get("RuleID") or "?"), Severity.parse(item.get("Severity")), target, "secret")
            )
    trivy = doc.get("Trivy")
    version = opt_str(trivy.get("Version"), what=f"{what}: Trivy.Version") if isinstance(trivy, dict) else None
    created = doc.get("CreatedAt")
    return ScanReport(
        format="trivy",
        findings=tuple(findings),
        scanner="trivy",
        scanner_version=version,
        artifact=opt_str(doc.get("ArtifactName"), what=f"{what}: ArtifactName"),
        created=parse_time(created, what=f"{what}: CreatedAt") if created else None,
    )


def _entries(result: Mapping[str, Any], key: str, what: str) -> list[dict[str, Any]]:
    return [
        as_object(item, what=f"{what}: {key} entry") for item in as_list(result.get(key) or [], what=f"{what}: {key}")
    ]


def _parse_sarif(doc: dict[str, Any], source: str) -> ScanReport:
    what = f"SARIF report {source}"
    findings: list[Finding] = []
    names: list[str] = []
    versions: list[str] = []
    for run_index, raw_run in enumerate(as_list(doc["runs"], what=f"{what}: runs")):
        run = as_object(raw_run, what=f"{what}: runs[{run_index}]")
        driver = as_object(as_object(run.get("tool"), what=f"{what}: tool").get("driver"), what=f"{what}: tool.driver")
        if isinstance(driver.get("name"), str):
            names.append(driver["name"])
        version = driver.get("version") or driver.get("semanticVersion")
        if isinstance(version, str):
            versions.append(version)
        rules = [r for r in driver.get("rules") or [] if isinstance(r, dict)]
        by_id = {r["id"]: r for r in rules if isinstance(r.get("id"), str)}
        for ext in as_object(run["tool"], what="tool").get("extensions") or []:
            if isinstance(ext, dict):
                by_id.update({r["id"]: r for r in ext.get("rules") or [] if isinstance(r, dict) and "id" in r})
        for index, raw in enumerate(as_list(run.get("results") or [], what=f"{what}: results")):
            result = as_object(raw, what=f"{what}: results[{index}]")
            if result.get("kind", "fail") in _NOT_FINDINGS or _suppressed(result):
                continue
            rule = _rule_for(result, rules, by_id)
            rule_id = str(result.get("ruleId") or rule.get("id") or "?")
            findings.append(Finding(rule_id, _sarif_severity(result, rule), _sarif_package(result)))
    return ScanReport(
        format="sarif",
        findings=tuple(findings),
        scanner=", ".join(dict.fromkeys(names)) or None,
        scanner_version=", ".join(dict.fromkeys(versions)) or None,
    )


def _rule_for(
    result: Mapping[str, Any], rules: list[dict[str, Any]], by_id: Mapping[str, dict[str, Any]]
) -> dict[str, Any]:
    index = result.get("ruleIndex")
    if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < len(rules):
        return rules[index]
    rule_id = result.get("ruleId")
    return by_id.get(rule_id, {}) if isinstance(rule_id, str) else {}


def _suppressed(result: Mapping[str, Any]) -> bool:
    suppressions = result.get("suppressions")
    if not isinstance(suppressions, list):
        return False
    return any(isinstance(s, dict) and s.get("status", "accepted") == "accepted" for s in suppressions)


def _sarif_severity(result: Mapping[str, Any], rule: Mapping[str, Any]) -> Severity:
    for props in (_props(rule), _props(result)):
        tags = props.get("tags")
        for tag in tags if isinstance(tags, list) else []:
            if isinstance(tag, str) and tag.upper() in _RANK:
                return Severity(tag.upper())
    for props in (_props(rule), _props(result)):
        score = _cvss(props.get("security-severity"))
        if score is not None and score > 0:
            return _from_cvss(score)
    level = result.get("level")
    if not isinstance(level, str):
        config = rule.get("defaultConfiguration")
        level = config.get("level") if isinstance(config, dict) else None
    return Severity(_LEVELS.get(level if isinstance(level, str) else "warning", "UNKNOWN"))


def _from_cvss(score: float) -> Severity:
    if score >= 9:
        return Severity.CRITICAL
    if score >= 7:
        return Severity.HIGH
    if score >= 4:
        return Severity.MEDIUM
    return Severity.LOW


def _cvss(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value) if isinstance(value, str | int | float) else None
    except ValueError:
        return None


def _sarif_package(result: Mapping[str, Any]) -> str:
    props = _props(result)
    for key in ("PkgName", "package", "packageName"):
        if isinstance(props.get(key), str):
            return str(props[key])
    message = result.get("message")
    text = message.get("text") if isinstance(message, dict) else None
    if isinstance(text, str) and (match := _PACKAGE_LINE.search(text)):
        return match.group(1)
    for location in result.get("locations") or []:
        physical = location.get("physicalLocation") if isinstance(location, dict) else None
        artifact = physical.get("artifactLocation") if isinstance(physical, dict) else None
        if isinstance(artifact, dict) and isinstance(artifact.get("uri"), str):
            return str(artifact["uri"])
    return ""


def _props(doc: Mapping[str, Any]) -> Mapping[str, Any]:
    props = doc.get("properties")
    return props if isinstance(props, dict) else {}
