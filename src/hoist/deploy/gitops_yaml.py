"""Read and change the image a YAML file in a GitOps repository names, keeping every other byte as it was.

ruamel.yaml parses the file and says where each value is; :mod:`yaml_write` then replaces exactly the old
value's characters. Either way the result is parsed again and must equal the original with only the
intended values changed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from hoist.deploy.yaml_write import Change, child, dump, get, put, splice
from hoist.errors import InputError, OperationError
from hoist.promotion.gitops_config import Edit, KeyPath, format_path
from hoist.ref import parse_reference

_DIGEST = re.compile(r"^sha(256|512):[a-f0-9]+$")


@dataclass(frozen=True)
class Found:
    """The image a file names: ``repository`` and ``digest`` (None when the file holds no digest yet)."""

    repository: str | None
    digest: str | None


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
    changes: list[Change] = []
    if edit.kind == "kustomize":
        doc, index = _kustomize_entry(docs, edit, repository, file)
        entry = docs[doc]["images"][index]
        base: KeyPath = ("images", index)
        changes.append(Change(doc, (*base, "digest"), digest))
        if not _same_repository(str(entry.get("newName") or entry.get("name")), repository):
            changes.append(Change(doc, (*base, "newName"), repository))
    elif edit.kind == "helm":
        doc, parent, _ = _locate(docs, edit.path, file, allow_missing_leaf=True)
        changes.append(Change(doc, edit.path, digest))
        changes += _helm_repository_changes(doc, edit.path[:-1], parent, repository)
    else:
        doc, _, _ = _locate(docs, edit.path, file, allow_missing_leaf=False)
        changes.append(Change(doc, edit.path, f"{repository}@{digest}"))
    changes = [c for c in changes if get(docs[c.doc], c.path) != c.value]
    if not changes:
        return text
    expected = [_plain(d) for d in docs]
    for change in changes:
        put(expected[change.doc], change.path, change.value)
    new_text = splice(text, docs, changes)
    if new_text is None or [_plain(d) for d in _load(new_text, file)] != expected:
        new_text = dump(text, changes)
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
            node = child(node, key)
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
    leaf_value = child(parent, path[-1])
    if isinstance(leaf_value, dict | list):
        kind = "mapping" if isinstance(leaf_value, dict) else "list"
        raise InputError(f"{file}: {format_path(path)} holds a {kind}, not a value: name the key of the value")
    return number, parent, path[-1]


def _missing(path: KeyPath, depth: int, file: str) -> str:
    where = format_path(path[:depth]) or "the top level"
    return f"{file} has no {format_path(path[: depth + 1])} (under {where}): fix deploy.edit or the file"


def _helm_repository(parent: Any) -> str | None:
    repository = parent.get("repository") if isinstance(parent, dict) else None
    if not isinstance(repository, str) or not repository:
        return None
    registry = parent.get("registry")
    return f"{registry}/{repository}" if isinstance(registry, str) and registry else repository


def _helm_repository_changes(doc: int, base: KeyPath, parent: Any, repository: str) -> list[Change]:
    """A values file naming another repository beside the digest would pull the digest from there: fix it."""
    current = _helm_repository(parent)
    if current is None or _same_repository(current, repository):
        return []
    registry = parent.get("registry")
    if isinstance(registry, str) and registry:
        host, _, rest = repository.partition("/")
        return [Change(doc, (*base, "registry"), host), Change(doc, (*base, "repository"), rest)]
    return [Change(doc, (*base, "repository"), repository)]


def _same_repository(a: str, b: str) -> bool:
    if a == b:
        return True
    try:
        return parse_reference(a).name == parse_reference(b).name
    except Exception:  # noqa: BLE001 - a name that does not parse is simply another name
        return False


def _plain(node: Any) -> Any:
    """The data without ruamel's types, for comparing two parses."""
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node if node is None or isinstance(node, bool | int | float) else str(node)
