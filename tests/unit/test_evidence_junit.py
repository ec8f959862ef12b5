"""JUnit XML into passed, failed and skipped test names; hostile and malformed XML refused."""

from pathlib import Path

import pytest

from hoist.errors import InputError
from hoist.evidence import junit
from hoist.evidence.junit import JUnitReport, load_junit, parse_junit

JUNIT = Path(__file__).resolve().parents[1] / "fixtures" / "junit"


def test_pytest_report_with_failures() -> None:
    report = load_junit(JUNIT / "pytest-failures.xml")
    assert report.passed == (
        "tests.smoke.test_http.test_health",
        "tests.smoke.test_http.test_index_served",
        "TestVersion",
    )
    assert report.failed == ("tests.smoke.test_http.test_login", "tests.smoke.test_db.test_migrations")
    assert report.skipped == ("tests.smoke.test_db.test_replica",)
    assert report.total == 6 and not report.ok


def test_single_testsuite_root() -> None:
    data = b'<testsuite name="s"><testcase classname="a.B" name="ok"/><testcase name="bare"/></testsuite>'
    report = parse_junit(data, source="s.xml")
    assert report == JUnitReport(passed=("a.B.ok", "bare"))
    assert report.ok


def test_merged() -> None:
    a = JUnitReport(passed=("a",), failed=("b",))
    b = JUnitReport(passed=("c",), skipped=("d",))
    assert a.merged(b) == JUnitReport(passed=("a", "c"), failed=("b",), skipped=("d",))


def test_utf16_report() -> None:
    text = '<?xml version="1.0" encoding="utf-16"?><testsuites><testsuite><testcase name="é"/></testsuite></testsuites>'
    assert parse_junit(text.encode("utf-16"), source="u.xml").passed == ("é",)


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<testsuites><testsuite><testcase name="&lol2;"/></testsuite></testsuites>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE t [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<testsuites><testsuite><testcase name="&xxe;"/></testsuite></testsuites>"""


@pytest.mark.parametrize(
    "data",
    [
        BILLION_LAUGHS,
        EXTERNAL_ENTITY,
        b'<!DOCTYPE testsuites SYSTEM "junit.dtd"><testsuites/>',
        BILLION_LAUGHS.decode().replace('"1.0"?>', '"1.0" encoding="utf-16"?>', 1).encode("utf-16"),
    ],
    ids=["entity-expansion", "external-entity", "doctype", "utf16-doctype"],
)
def test_doctype_and_entities_are_refused(data: bytes) -> None:
    with pytest.raises(InputError, match="DOCTYPE or ENTITY"):
        parse_junit(data, source="evil.xml")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"<testsuites><testsuite>", "not well-formed XML"),
        (b"", "not well-formed XML"),
        (b"not xml at all", "not well-formed XML"),
        (b"<html><body/></html>", "root element <html>"),
    ],
    ids=["truncated", "empty", "text", "wrong-root"],
)
def test_malformed_reports(data: bytes, message: str) -> None:
    with pytest.raises(InputError, match=f"JUnit report r.xml .*{message}|JUnit report r.xml has {message}"):
        parse_junit(data, source="r.xml")


def test_size_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(junit, "MAX_JUNIT", 64)
    path = tmp_path / "big.xml"
    path.write_bytes(b"<testsuites>" + b"<testsuite/>" * 10 + b"</testsuites>")
    with pytest.raises(InputError, match="larger than 64 bytes"):
        load_junit(path)


def test_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=f"JUnit report {tmp_path / 'none.xml'} does not exist"):
        load_junit(tmp_path / "none.xml")
