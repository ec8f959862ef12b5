"""The examples of ``docs/library.md`` run, in order, against a real registry."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.infra.images import make_image
from tests.infra.registry import RunningRegistry

DOC = Path(__file__).resolve().parent.parent / "docs" / "library.md"
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def blocks() -> list[str]:
    return _BLOCK.findall(DOC.read_text())


def test_the_document_has_examples() -> None:
    assert len(blocks()) >= 6


def test_library_examples_run(
    registry: RunningRegistry,
    unique_repo: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOIST_ACTOR", "docs")
    monkeypatch.setenv("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567")
    make_image(tmp_path / "build", tag="v1", layers=2, seed="library-docs")
    # each run gets its own repository names, so the ledger starts empty
    namespace: dict[str, object] = {"registry": registry.host}
    for number, text in enumerate(blocks(), start=1):
        code = text.replace("acme/app", unique_repo)
        try:
            exec(compile(code, f"{DOC.name} example {number}", "exec"), namespace)
        except Exception as exc:
            raise AssertionError(f"{DOC.name} example {number} failed: {exc!r}\n{code}") from exc
    out = capsys.readouterr().out
    assert "('main', 'latest')" in out  # the promotion's tags, printed by an example
