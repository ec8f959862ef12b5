"""Read and change the image a YAML file in a GitOps repository names, keeping every other byte as it was.

ruamel.yaml parses the file and says where each value is; the new value then replaces exactly the old
value's characters (keeping its quoting), so comments, blank lines, indentation and key order stay as they
were. A key that is missing or null, or a value that is not a one-line scalar, is written through ruamel's
round-trip dump instead (comments survive, spacing may be normalised). Either way the result is parsed
again and must equal the original with only the intended values changed.
"""

from __future__ import annotations

import copy
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hoist.errors import InputError, OperationError
from hoist.promotion.gitops_config import Edit, KeyPath, format_path
from hoist.ref import parse_reference

_PLAIN_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9@:/._+-]*$")
_AFTER_PLAIN = re.compile(r"^\s*(?:#.*)?$|^\s*[,\]}]")
_NULL_REST = re.compile(r"^(\s*?)(?:~|null|Null|NULL)?(\s*(?:#.*)?)$")
_DIGEST = re.compile(r"^sha(256|512):[a-f0-9]+$")


@dataclass(frozen=True)
class Found:
    """The image a file names: ``repository`` and ``digest`` (None when the file holds no digest yet)."""

    repository: str | None
    digest: str | None


@dataclass(frozen=True)
class _Set:
    doc: int
    path: KeyPath
    value: str


def read(text: str, edit: Edit, *, repository: str, file: str) -> Found:
    """What the file says runs (``repository`` is the environment's image, for the kustomize entry)."""
    docs = _load(text, file)
    if edit.kind == "kustomize":
        doc, index = _kustomize_entry(docs, edit, repository, file)
        entry = docs[doc]["images"][index]
        digest = entry.get("digest")
        return Found(str(entry.get("newName") or entry.get("name")), str(digest) if digest else None)
    doc, parent, key = _locate(docs, edit.path, file, allow_missing_leaf=edit.kind == "helm")
    value = parent.get(key) if isinstance(key, str) else parent[key]
    if edit.kind == "helm":
        digest = str(value) if value and _DIGEST.match(str(value)) else None
        return Found(_helm_repository(parent), digest)
    text_value = str(value or "")
    name, sep, digest_text = text_value.partition("@")
    return Found(name or None, digest_text if sep and _DIGEST.match(digest_text) else None)


def apply(text: str, edit: Edit, *, repository: str, digest: str, file: str) -> str:
    """The file's text with the environment's image set to ``repository@digest``."""
    docs = _load(text, file)
    changes: list[_Set] = []
    if edit.kind == "kustomize":
        doc, index = _kustomize_entry(docs, edit, repository, file)
        entry = docs[doc]["images"][index]
        base: KeyPath = ("images", index)
        changes.append(_Set(doc, (*base, "digest"), digest))
        if not _same_repository(str(entry.get("newName") or entry.get("name")), repository):
            changes.append(_Set(doc, (*base, "newName"), repository))
    elif edit.kind == "helm":
        doc, parent, _ = _locate(docs, edit.path, file, allow_missing_leaf=True)
        changes.append(_Set(doc, edit.path, digest))
        changes += _helm_repository_changes(doc, edit.path[:-1], parent, repository)
    else:
        doc, _, _ = _locate(docs, edit.path, file, allow_missing_leaf=False)
        changes.append(_Set(doc, edit.path, f"{repository}@{digest}"))
    changes = [c for c in changes if _get(docs[c.doc], c.path) != c.value]
    if not changes:
        return text
    expected = [_plain(d) for d in docs]
    for change in changes:
        _put(expected[change.doc], change.path, change.value)
    new_text = _splice(text, docs, changes)
    if new_text is None or [_plain(d) for d in _load(new_text, file)] != expected:
        new_text = _dump(text, changes, file)
        if [_plain(d) for d in _load(new_text, file)] != expected:
            raise OperationError(f"cannot change {file} without changing more than the image: edit it by hand once")
    return new_text


# --- finding the value -----------------------------------------------------------------------------


def _load(text: str, file: str) -> list[Any]:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        docs = [d for d in YAML(typ="rt").load_all(text) if d is not None]
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise InputError(f"{file} is not valid YAML{where} ({problem}): point deploy.file at a YAML file") from exc
    if not docs or not all(isinstance(d, dict) for d in docs):
        raise InputError(f"{file} does not hold YAML mappings: point deploy.file at a kustomization or values file")
    return docs


def _kustomize_entry(docs: list[Any], edit: Edit, repository: str, file: str) -> tuple[int, int]:
    images = docs[0].get("images")
    if not isinstance(images, list) or not images:
        raise InputError(f"{file} has no images: list; add an entry such as '- name: {repository}' and deploy again")
    names = [str(e.get("name")) if isinstance(e, dict) else "?" for e in images]
    for index, entry in enumerate(images):
        if not isinstance(entry, dict):
            continue
        if edit.image_name is not None:
            if entry.get("name") == edit.image_name:
                return 0, index
        elif any(_same_repository(str(entry.get(k) or ""), repository) for k in ("name", "newName")):
            return 0, index
    wanted = edit.image_name or repository
    raise InputError(
        f"{file} has no images: entry named {wanted} (entries: {', '.join(names)}); "
        'name the entry with edit = "kustomize:NAME"'
    )


def _locate(docs: list[Any], path: KeyPath, file: str, *, allow_missing_leaf: bool) -> tuple[int, Any, str | int]:
    """The one document holding ``path``: its index, the value's parent and the last key."""
    misses: list[tuple[int, str]] = []  # how deep each document got, and what it lacks
    found: list[tuple[int, Any]] = []
    for number, doc in enumerate(docs):
        node: Any = doc
        for depth, key in enumerate(path[:-1]):
            node = _child(node, key)
            if node is None:
                misses.append((depth, _missing(path, depth, file)))
                break
        else:
            leaf = path[-1]
            in_map = isinstance(node, dict) and isinstance(leaf, str) and (leaf in node or allow_missing_leaf)
            in_list = isinstance(node, list) and isinstance(leaf, int) and leaf < len(node)
            if in_map or in_list:
                found.append((number, node))
            else:
                misses.append((len(path) - 1, _missing(path, len(path) - 1, file)))
    if len(found) > 1:
        raise InputError(f"{file}: {len(found)} documents have {format_path(path)}; keep one per file")
    if not found:
        raise InputError(max(misses, key=lambda miss: miss[0])[1])
    number, parent = found[0]
    leaf_value = _child(parent, path[-1])
    if isinstance(leaf_value, dict | list):
        kind = "mapping" if isinstance(leaf_value, dict) else "list"
        raise InputError(f"{file}: {format_path(path)} holds a {kind}, not a value: name the key of the value")
    return number, parent, path[-1]


def _child(node: Any, key: str | int) -> Any:
    if isinstance(key, int):
        return node[key] if isinstance(node, list) and key < len(node) else None
    return node.get(key) if isinstance(node, dict) else None


def _missing(path: KeyPath, depth: int, file: str) -> str:
    where = format_path(path[:depth]) or "the top level"
    return f"{file} has no {format_path(path[: depth + 1])} (under {where}): fix deploy.edit or the file"


def _helm_repository(parent: Any) -> str | None:
    repository = parent.get("repository") if isinstance(parent, dict) else None
    if not isinstance(repository, str) or not repository:
        return None
    registry = parent.get("registry")
    return f"{registry}/{repository}" if isinstance(registry, str) and registry else repository


def _helm_repository_changes(doc: int, base: KeyPath, parent: Any, repository: str) -> list[_Set]:
    """A values file naming another repository beside the digest would pull the digest from there: fix it."""
    current = _helm_repository(parent)
    if current is None or _same_repository(current, repository):
        return []
    registry = parent.get("registry")
    if isinstance(registry, str) and registry:
        host, _, rest = repository.partition("/")
        return [_Set(doc, (*base, "registry"), host), _Set(doc, (*base, "repository"), rest)]
    return [_Set(doc, (*base, "repository"), repository)]


def _same_repository(a: str, b: str) -> bool:
    if a == b:
        return True
    try:
        return parse_reference(a).name == parse_reference(b).name
    except Exception:  # noqa: BLE001 - a name that does not parse is simply another name
        return False


def _get(doc: Any, path: KeyPath) -> Any:
    node = doc
    for key in path:
        node = _child(node, key)
    return node


def _put(node: Any, path: KeyPath, value: str) -> None:
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


def _plain(node: Any) -> Any:
    """The data without ruamel's types, for comparing two parses."""
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node if node is None or isinstance(node, bool | int | float) else str(node)


# --- writing it back -------------------------------------------------------------------------------


def _splice(text: str, docs: list[Any], changes: Sequence[_Set]) -> str | None:
    """Replace each value's characters in place; None when one of them is not a one-line scalar."""
    lines = text.split("\n")
    edits: list[tuple[int, int, int, str]] = []  # line, start column, end column, replacement
    inserts: list[tuple[int, str]] = []  # after line, new line
    for change in changes:
        parent = _get(docs[change.doc], change.path[:-1])
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


def _dump(text: str, changes: Sequence[_Set], file: str) -> str:
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
        _put(docs[change.doc], change.path, copy.copy(change.value))
    out = io.StringIO()
    yaml.dump_all(docs, out)
    return out.getvalue()
