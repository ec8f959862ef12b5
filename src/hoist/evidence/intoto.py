"""in-toto Statements about an image digest, and reading their predicates back as typed evidence.

Statement v1: ``{"_type": "https://in-toto.io/Statement/v1", "subject": [{"name", "digest": {"sha256": hex}}],
"predicateType", "predicate"}``. Statements are written as v1 and read as v1 or v0.1 (what ``cosign attest``
wrote before v1). The predicates hoist reads — test results and vulnerability scans — are in
:mod:`hoist.evidence.predicates`; their names are re-exported here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hoist.digest import Digest
from hoist.errors import InputError, IntegrityError
from hoist.evidence._util import as_list, as_object, as_str, load_json, opt_str
from hoist.evidence.predicates import (
    COMMAND_DESCRIPTOR,
    MAX_FINDINGS,
    TEST_RESULT_PREDICATE,
    VULN_PREDICATE,
    Outcome,
    TestResult,
    VulnScan,
)

__all__ = [
    "COMMAND_DESCRIPTOR",
    "MAX_FINDINGS",
    "MAX_STATEMENT",
    "PAYLOAD_TYPE",
    "STATEMENT_V01",
    "STATEMENT_V1",
    "TEST_RESULT_PREDICATE",
    "VULN_PREDICATE",
    "Evidence",
    "Outcome",
    "Statement",
    "Subject",
    "TestResult",
    "VulnScan",
    "evidence_statement",
    "parse_statement",
    "read_evidence",
    "statement",
]

STATEMENT_V1 = "https://in-toto.io/Statement/v1"
STATEMENT_V01 = "https://in-toto.io/Statement/v0.1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
MAX_STATEMENT = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Subject:
    """A statement subject: a name and its DigestSet (algorithm → lowercase hex)."""

    name: str
    digest: Mapping[str, str]

    @classmethod
    def of(cls, name: str, digest: Digest) -> Subject:
        return cls(name, {digest.algorithm: digest.hex})

    def matches(self, digest: Digest) -> bool:
        value = self.digest.get(digest.algorithm)
        return value is not None and value.lower() == digest.hex

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "digest": dict(self.digest)}


@dataclass(frozen=True, slots=True, kw_only=True)
class Statement:
    subjects: tuple[Subject, ...]
    predicate_type: str
    predicate: Mapping[str, Any]
    type: str = STATEMENT_V1

    def to_json(self) -> bytes:
        doc = {
            "_type": self.type,
            "subject": [s.to_json() for s in self.subjects],
            "predicateType": self.predicate_type,
            "predicate": dict(self.predicate),
        }
        return json.dumps(doc, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")

    def names(self, digest: Digest) -> bool:
        return any(s.matches(digest) for s in self.subjects)

    def require_subject(self, digest: Digest) -> None:
        """Raise :class:`IntegrityError` unless a subject names ``digest``."""
        if not self.names(digest):
            named = ", ".join(f"{a}:{h}" for s in self.subjects for a, h in s.digest.items()) or "nothing"
            raise IntegrityError(f"the attestation is about {named}, not {digest}")


Evidence = TestResult | VulnScan


def statement(*, subject_name: str, digest: Digest, predicate_type: str, predicate: Mapping[str, Any]) -> Statement:
    return Statement(subjects=(Subject.of(subject_name, digest),), predicate_type=predicate_type, predicate=predicate)


def evidence_statement(evidence: Evidence, *, subject_name: str, digest: Digest) -> Statement:
    """The v1 statement that ``evidence`` holds for ``digest``."""
    kind = TEST_RESULT_PREDICATE if isinstance(evidence, TestResult) else VULN_PREDICATE
    return statement(subject_name=subject_name, digest=digest, predicate_type=kind, predicate=evidence.to_predicate())


def parse_statement(data: bytes) -> Statement:
    """Read a statement (v1 or v0.1); parse only bytes whose signature verified."""
    doc = as_object(load_json(data, what="in-toto statement", limit=MAX_STATEMENT), what="in-toto statement")
    kind = as_str(doc.get("_type"), what="in-toto statement '_type'")
    if kind not in (STATEMENT_V1, STATEMENT_V01):
        raise InputError(f"in-toto statement has _type {kind!r}; expected {STATEMENT_V1}")
    subjects = tuple(_subject(raw) for raw in as_list(doc.get("subject"), what="in-toto statement 'subject'"))
    if not subjects:
        raise InputError("in-toto statement has no subject")
    predicate = doc.get("predicate", {})
    return Statement(
        subjects=subjects,
        predicate_type=as_str(doc.get("predicateType"), what="in-toto statement 'predicateType'"),
        predicate=as_object(predicate, what="in-toto statement 'predicate'") if predicate is not None else {},
        type=kind,
    )


def read_evidence(statement: Statement, *, digest: Digest, accept: Sequence[str] | None = None) -> Evidence:
    """The typed predicate of a statement about ``digest``: :class:`IntegrityError` if no subject names it,
    :class:`InputError` for a predicate type hoist does not read (or not in ``accept``)."""
    statement.require_subject(digest)
    readers: dict[str, Callable[[Mapping[str, Any]], Evidence]] = {
        TEST_RESULT_PREDICATE: TestResult.from_predicate,
        VULN_PREDICATE: VulnScan.from_predicate,
    }
    reader = readers.get(statement.predicate_type)
    if reader is None or (accept is not None and statement.predicate_type not in accept):
        raise InputError(f"hoist does not read attestations of predicate type {statement.predicate_type!r} here")
    return reader(statement.predicate)


def _subject(raw: object) -> Subject:
    doc = as_object(raw, what="in-toto subject")
    digests = as_object(doc.get("digest"), what="in-toto subject 'digest'")
    return Subject(
        opt_str(doc.get("name"), what="in-toto subject 'name'") or "",
        {str(k): as_str(v, what=f"in-toto subject digest {k!r}") for k, v in digests.items()},
    )
