"""Writing the generated files: all or nothing about existing ones, each file replaced atomically."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from hoist.errors import InputError, OperationError


def existing(directory: Path, files: Mapping[str, str]) -> list[str]:
    return [name for name in files if (directory / name).exists() or (directory / name).is_symlink()]


def write_files(directory: Path, files: Mapping[str, str], *, force: bool) -> list[Path]:
    """Write ``{relative path: text}`` under ``directory``; when one exists, write nothing unless ``force``."""
    present = existing(directory, files)
    if present and not force:
        names = ", ".join(present)
        verb = "exists" if len(present) == 1 else "exist"
        raise InputError(f"{names} already {verb} in {directory}: nothing written (--force overwrites)")
    for name in present:
        if (directory / name).is_dir():
            raise InputError(f"{directory / name} is a directory: nothing written")
    written = []
    for name, text in files.items():
        path = directory / name
        _atomic_write(path, text)
        written.append(path)
    return written


def _atomic_write(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
                out.write(text)
            os.chmod(temp, 0o644)
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise OperationError(f"cannot write {path}: {exc.strerror or exc}") from exc
