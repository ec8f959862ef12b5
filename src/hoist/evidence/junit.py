"""JUnit XML reports (``<testsuites>``/``<testsuite>``/``<testcase>``) as passed, failed and skipped test names.

A test case is failed when it has a ``<failure>`` or ``<error>`` child, skipped when it has ``<skipped>``,
passed otherwise; its name is ``classname.name`` (or ``name`` without a class name).

The files come from the user's own test run, not from strangers, and defusedxml is not a dependency, so
this parses with the standard library's expat into an :mod:`xml.etree.ElementTree` tree. It still refuses
what the XML attacks need: a size cap, and any ``<!DOCTYPE>`` (so no ``<!ENTITY>``, no entity expansion and
no external entities) is rejected outright, whatever the file's encoding.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from xml.parsers import expat

from hoist.errors import InputError
from hoist.evidence._util import read_capped

MAX_JUNIT = 32 * 1024 * 1024
_FAILED = ("failure", "error")


@dataclass(frozen=True, slots=True, kw_only=True)
class JUnitReport:
    passed: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()

    @property
    def total(self) -> int:
        return len(self.passed) + len(self.failed) + len(self.skipped)

    @property
    def ok(self) -> bool:
        return not self.failed

    def merged(self, other: JUnitReport) -> JUnitReport:
        return JUnitReport(
            passed=self.passed + other.passed, failed=self.failed + other.failed, skipped=self.skipped + other.skipped
        )


class _Forbidden(Exception):
    pass


def load_junit(path: Path) -> JUnitReport:
    return parse_junit(read_capped(path, limit=MAX_JUNIT, what="JUnit report"), source=str(path))


def parse_junit(data: bytes, *, source: str) -> JUnitReport:
    if len(data) > MAX_JUNIT:
        raise InputError(f"JUnit report {source} is larger than {MAX_JUNIT} bytes")
    root = _parse_xml(data, source)
    if root.tag not in ("testsuites", "testsuite"):
        raise InputError(f"JUnit report {source} has root element <{root.tag}>; expected <testsuites> or <testsuite>")
    passed: list[str] = []
    failed: list[str] = []
    skipped: list[str] = []
    for case in root.iter("testcase"):
        name = case.get("name", "")
        classname = case.get("classname", "")
        full = f"{classname}.{name}" if classname else name
        children = {child.tag for child in case}
        if children.intersection(_FAILED):
            failed.append(full)
        elif "skipped" in children:
            skipped.append(full)
        else:
            passed.append(full)
    return JUnitReport(passed=tuple(passed), failed=tuple(failed), skipped=tuple(skipped))


def _forbid_external(_context: str, _base: str | None, _system_id: str | None, _public_id: str | None) -> int:
    raise _Forbidden


def _parse_xml(data: bytes, source: str) -> ET.Element:
    builder = ET.TreeBuilder()
    parser = expat.ParserCreate()

    def forbid(*_: object) -> None:
        raise _Forbidden

    parser.StartDoctypeDeclHandler = forbid
    parser.EntityDeclHandler = forbid
    parser.UnparsedEntityDeclHandler = forbid
    parser.ExternalEntityRefHandler = _forbid_external
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    parser.buffer_text = True
    try:
        parser.Parse(data, True)
    except _Forbidden:
        raise InputError(
            f"JUnit report {source} has a DOCTYPE or ENTITY declaration; hoist refuses those in XML"
        ) from None
    except expat.ExpatError as exc:
        raise InputError(
            f"JUnit report {source} is not well-formed XML: {expat.ErrorString(exc.code)} "
            f"at line {exc.lineno} column {exc.offset}"
        ) from None
    return builder.close()
