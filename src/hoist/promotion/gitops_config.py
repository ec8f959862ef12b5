"""``target = "gitops"``: which repository, branch and file hold the digest, and how to edit that file.

::

    [environments.production.deploy]
    target = "gitops"
    repository = "git@github.com:acme/deploy.git"   # any URL git can push to, or a local path
    branch = "main"                                  # default: the repository's default branch
    file = "apps/dotca/kustomization.yaml"
    edit = "kustomize"        # "kustomize:NAME", "helm:image.digest", "yaml:spec.template.spec.containers[0].image"
    mode = "push"             # or "branch": push hoist/<env>/<digest> for a pull request

Key paths are dot-separated keys with list indexes (``containers[0]``); a key holding dots or brackets
is quoted: ``metadata.annotations["example.com/image"]``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from hoist.promotion.schema import Table

EditKind = Literal["kustomize", "helm", "yaml"]
Mode = Literal["push", "branch"]
KeyPath = tuple[str | int, ...]

DEFAULT_ATTEMPTS = 5
_SEGMENT = re.compile(r"""\[(\d+)\]|\["((?:[^"\\]|\\.)*)"\]|\['([^']*)'\]|([^.\[\]"']+)""")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True, kw_only=True)
class Edit:
    """What to change in the file: a kustomization's ``images:`` entry, or the value at a key path."""

    kind: EditKind
    path: KeyPath = ()
    image_name: str | None = None
    """kustomize only: the ``images:`` entry's ``name`` (default: the entry naming the environment's image)."""

    def __str__(self) -> str:
        if self.kind == "kustomize":
            return f"kustomize:{self.image_name}" if self.image_name else "kustomize"
        return f"{self.kind}:{format_path(self.path)}"


@dataclass(frozen=True, kw_only=True)
class GitopsConfig:
    repository: str
    file: str
    branch: str | None = None
    edit: Edit = Edit(kind="kustomize")
    mode: Mode = "push"
    attempts: int = DEFAULT_ATTEMPTS
    """Pushes tried before giving up when other pushes keep winning the race for the branch."""
    timeout: float = 120.0
    """Seconds each git command may take (a clone over a slow link)."""
    pass_env: tuple[str, ...] = ()
    """Further environment variables git's credential helpers need (``GH_TOKEN``); none by default."""


def parse_path(text: str) -> KeyPath:
    """``spec.template.spec.containers[0].image`` → ``("spec", "template", "spec", "containers", 0, "image")``."""
    parts: list[str | int] = []
    position = 0
    while position < len(text):
        if parts and text[position] == ".":
            position += 1
        match = _SEGMENT.match(text, position)
        if match is None or match.end() == position:
            raise ValueError(f"cannot read the key path {text!r} at character {position + 1}")
        index, double, single, plain = match.groups()
        if index is not None:
            if not parts:
                raise ValueError(f"the key path {text!r} starts with a list index; start with a key")
            parts.append(int(index))
        else:
            parts.append(
                plain if plain is not None else single if single is not None else re.sub(r"\\(.)", r"\1", double)
            )
        position = match.end()
        if position < len(text) and text[position] not in ".[":
            raise ValueError(f"cannot read the key path {text!r} at character {position + 1}")
    if not parts or text.endswith("."):
        raise ValueError(f"the key path {text!r} is empty or ends with '.'")
    return tuple(parts)


def format_path(path: KeyPath) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[^.\[\]\"'\s]+", part):
            out += f".{part}" if out else part
        else:
            quoted = part.replace("\\", "\\\\").replace('"', '\\"')
            out += f'["{quoted}"]'
    return out


def parse_edit(text: str) -> Edit:
    kind, sep, rest = text.partition(":")
    if kind == "kustomize":
        return Edit(kind="kustomize", image_name=rest.strip() or None)
    if kind in ("helm", "yaml") and sep and rest.strip():
        path = parse_path(rest.strip())
        if kind == "helm" and path[-1] in ("tag", "repository", "registry"):
            raise ValueError(
                f"helm:{rest} names the image's {path[-1]}, but hoist writes a digest: point it at the key the "
                'chart reads a digest from (helm:image.digest), or use "yaml:KEY" for a key holding repo@digest'
            )
        return Edit(kind="helm" if kind == "helm" else "yaml", path=path)
    raise ValueError(
        'expected "kustomize", "kustomize:IMAGE_NAME", "helm:KEY.PATH" (such as helm:image.digest) or '
        '"yaml:KEY.PATH" (such as yaml:spec.template.spec.containers[0].image)'
    )


def parse_gitops(table: Table) -> GitopsConfig:
    table.check_keys(["target", "repository", "branch", "file", "edit", "mode", "attempts", "timeout", "pass_env"])
    file = table.req_string("file")
    pure = PurePosixPath(file)
    if pure.is_absolute() or ".." in pure.parts or file.endswith("/"):
        raise table.fail("file", "expected a file path inside the repository, such as apps/dotca/kustomization.yaml")
    branch = table.string("branch")
    if branch is not None and (branch.startswith(("-", "refs/")) or " " in branch or ".." in branch):
        raise table.fail("branch", "expected a branch name, such as main")
    try:
        edit = parse_edit(table.string("edit", default="kustomize") or "kustomize")
    except ValueError as exc:
        raise table.fail("edit", str(exc)) from exc
    mode = table.string("mode", default="push")
    if mode not in ("push", "branch"):
        raise table.fail("mode", 'expected "push" (commit to the branch) or "branch" (push a branch to merge)')
    repository = table.req_string("repository")
    if repository.startswith("-"):
        raise table.fail("repository", "expected a URL git can push to, or a local path")
    pass_env = table.strings("pass_env")
    for index, name in enumerate(pass_env):
        if not _ENV_NAME.match(name):
            raise table.fail(f"pass_env[{index}]", "expected an environment variable name")
    return GitopsConfig(
        repository=repository,
        file=str(pure),
        branch=branch,
        edit=edit,
        mode="branch" if mode == "branch" else "push",
        attempts=table.integer("attempts", default=DEFAULT_ATTEMPTS, minimum=1),
        timeout=table.duration("timeout", default=120.0) or 120.0,
        pass_env=tuple(pass_env),
    )
