"""GitHub Actions: step outputs, the job summary (``::error::`` annotations live in context.error_line)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path


def in_actions() -> bool:
    return os.environ.get("GITHUB_ACTIONS") == "true"


def write_outputs(values: Mapping[str, object]) -> None:
    """Append ``values`` to ``$GITHUB_OUTPUT`` (multi-line values use a heredoc delimiter)."""
    target = os.environ.get("GITHUB_OUTPUT")
    if not in_actions() or not target:
        return
    lines = []
    for key, value in values.items():
        text = "" if value is None else ",".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
        if "\n" in text:
            import secrets  # only inside GitHub Actions: not loaded by every command

            delimiter = f"hoist_{secrets.token_hex(8)}"
            lines.append(f"{key}<<{delimiter}\n{text}\n{delimiter}")
        else:
            lines.append(f"{key}={text}")
    with Path(target).open("a", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")


def write_summary(markdown: str) -> None:
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not in_actions() or not target:
        return
    with Path(target).open("a", encoding="utf-8") as out:
        out.write(markdown.rstrip() + "\n\n")


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(out)
