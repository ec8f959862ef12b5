"""Write values into YAML text in place: the old value's characters are replaced (keeping its quoting), a
missing key is added as a line beside its siblings, and comments, blank lines, indentation and key order
stay as they were. What cannot be done in place (a flow-style mapping, a multi-line scalar) goes through
ruamel.yaml's round-trip dump, which keeps comments but may respace; the caller checks the result.
"""

from __future__ import annotations

import copy
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hoist.promotion.gitops_config import KeyPath

_PLAIN_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9@:/._+-]*$")
_AFTER_PLAIN = re.compile(r"^\s*(?:#.*)?$|^\s*[,\]}]")
_NULL_REST = re.compile(r"^(\s*?)(?:~|null|Null|NULL)?(\s*(?:#.*)?)$")


@dataclass(frozen=True)
class Change:
    """Set the string at ``path`` in document ``doc`` to ``value``."""

    doc: int
    path: KeyPath
    value: str


def child(node: Any, key: str | int) -> Any:
    if isinstance(key, int):
        return node[key] if isinstance(node, list) and key < len(node) else None
    return node.get(key) if isinstance(node, dict) else None


def get(doc: Any, path: KeyPath) -> Any:
    node = doc
    for key in path:
        node = child(node, key)
    return node


def put(node: Any, path: KeyPath, value: str) -> None:
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


def splice(text: str, docs: list[Any], changes: Sequence[Change]) -> str | None:
    """Replace each value's characters in place; None when one of them is not a one-line scalar."""
    lines = text.split("\n")
    edits: list[tuple[int, int, int, str]] = []  # line, start column, end column, replacement
    inserts: list[tuple[int, str]] = []  # after line, new line
    for change in changes:
        parent = get(docs[change.doc], change.path[:-1])
        key = change.path[-1]
        if getattr(parent, "fa", None) is not None and parent.fa.flow_style():
            return None
        if isinstance(parent, dict) and key not in parent:
            anchor = _scalar_line_anchor(parent, lines)
            if anchor is None:
                return None
            line, column = anchor
            ending = "\r" if lines[line].endswith("\r") else ""
            inserts.append((line, f"{' ' * column}{key}: {_render(change.value, '')}{ending}"))
            continue
        current = parent[key]
        line, column = _lc(parent).item(key) if isinstance(parent, list) else _lc(parent).value(key)
        if current is None:
            span = _null_span(parent, key, lines)
            if span is None:
                return None
            edits.append((*span, f": {_render(change.value, '')}"))
            continue
        end = _scalar_end(lines[line], column, current)
        if end is None:
            return None
        edits.append((line, column, end, _render(change.value, lines[line][column])))
    for line, start, end, replacement in sorted(edits, reverse=True):
        lines[line] = lines[line][:start] + replacement + lines[line][end:]
    for line, new in sorted(inserts, reverse=True):
        lines.insert(line + 1, new)
    return "\n".join(lines)


def _scalar_end(line: str, column: int, value: Any) -> int | None:
    first = line[column : column + 1]
    if first == '"':
        position = column + 1
        while position < len(line):
            if line[position] == "\\":
                position += 2
            elif line[position] == '"':
                return position + 1
            else:
                position += 1
        return None
    if first == "'":
        position = column + 1
        while position < len(line):
            if line[position] == "'":
                if line[position + 1 : position + 2] == "'":
                    position += 2
                    continue
                return position + 1
            position += 1
        return None
    if isinstance(value, str) and value and line.startswith(value, column):
        end = column + len(value)
        return end if _AFTER_PLAIN.match(line[end:]) else None
    return None


def _null_span(parent: Any, key: Any, lines: list[str]) -> tuple[int, int, int] | None:
    """``key:``, ``key: ~`` or ``key: null`` (comment kept): the span from the colon to the comment."""
    if not isinstance(key, str) or not isinstance(parent, dict):
        return None
    line, column = _lc(parent).key(key)
    text = lines[line]
    if not text.startswith(key, column) or text[column + len(key) : column + len(key) + 1] != ":":
        return None
    colon = column + len(key)
    rest = _NULL_REST.match(text[colon + 1 :])
    if rest is None:
        return None
    return line, colon, colon + 1 + rest.start(2)


def _lc(node: Any) -> Any:
    """ruamel's line/column record of a parsed mapping or sequence."""
    return node.lc


def _scalar_line_anchor(parent: dict[str, Any], lines: list[str]) -> tuple[int, int] | None:
    """Where a new key goes: after the last key whose scalar value sits on its own line."""
    lc: Any = getattr(parent, "lc", None)
    if lc is None:
        return None
    for key in reversed(list(parent)):
        value = parent[key]
        if isinstance(value, dict | list) or value is None:
            continue
        line, column = lc.key(key)
        value_line, value_column = lc.value(key)
        if value_line == line and _scalar_end(lines[line], value_column, value) is not None:
            return line, column
    return None


def _render(value: str, quote: str) -> str:
    if quote == "'":
        return "'" + value.replace("'", "''") + "'"
    if quote == '"' or not _PLAIN_SAFE.match(value):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return value


def dump(text: str, changes: Sequence[Change]) -> str:
    """ruamel's round-trip dump, indentation guessed from the file: keeps comments, may respace."""
    from ruamel.yaml import YAML
    from ruamel.yaml.util import load_yaml_guess_indent

    _, indent, block_seq_indent = load_yaml_guess_indent(text)
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=indent or 2, sequence=(indent or 2) + (block_seq_indent or 0), offset=block_seq_indent or 0)
    yaml.explicit_start = text.lstrip().startswith("---")
    docs = [d for d in yaml.load_all(text) if d is not None]
    for change in changes:
        put(docs[change.doc], change.path, copy.copy(change.value))
    out = io.StringIO()
    yaml.dump_all(docs, out)
    return out.getvalue()
