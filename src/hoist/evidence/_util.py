"""Small shared helpers for the evidence parsers: capped reads, strict base64, typed JSON access, times."""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hoist import clock
from hoist.errors import InputError

_STD_B64 = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")
_URL_B64 = re.compile(r"^[A-Za-z0-9_-]*={0,2}$")


def read_capped(path: Path, *, limit: int, what: str, error: type[InputError] = InputError) -> bytes:
    """The bytes of ``path``, refusing files larger than ``limit``; errors name the file."""
    try:
        with path.open("rb") as fh:
            data = fh.read(limit + 1)
    except FileNotFoundError:
        raise error(f"{what} {path} does not exist") from None
    except IsADirectoryError:
        raise error(f"{what} {path} is a directory, not a file") from None
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise error(f"{what} {path} is larger than {limit} bytes")
    return data


def load_json(data: bytes, *, what: str, limit: int) -> Any:
    """Parse JSON text (UTF-8, optional BOM) no larger than ``limit`` bytes."""
    if len(data) > limit:
        raise InputError(f"{what} is larger than {limit} bytes")
    try:
        return json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise InputError(f"{what} is not UTF-8 text") from None
    except (json.JSONDecodeError, RecursionError) as exc:
        detail = f"line {exc.lineno} column {exc.colno}: {exc.msg}" if isinstance(exc, json.JSONDecodeError) else ""
        raise InputError(f"{what} is not valid JSON {detail}".rstrip()) from None


def b64decode(text: str, *, what: str, error: type[InputError] = InputError) -> bytes:
    """Decode standard or URL-safe base64 (padding optional), rejecting anything else."""
    cleaned = "".join(text.split())
    urlsafe = not _STD_B64.match(cleaned)
    if urlsafe and not _URL_B64.match(cleaned):
        raise error(f"{what} is not base64")
    cleaned = cleaned.rstrip("=")
    cleaned += "=" * (-len(cleaned) % 4)
    try:
        return base64.urlsafe_b64decode(cleaned) if urlsafe else base64.b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError):
        raise error(f"{what} is not base64") from None


def as_object(value: object, *, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InputError(f"{what} must be a JSON object")
    return value


def as_list(value: object, *, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise InputError(f"{what} must be a JSON array")
    return value


def as_str(value: object, *, what: str) -> str:
    if not isinstance(value, str):
        raise InputError(f"{what} must be a string")
    return value


def opt_str(value: object, *, what: str) -> str | None:
    return None if value is None else as_str(value, what=what)


def as_int(value: object, *, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InputError(f"{what} must be a non-negative integer")
    return value


def str_list(value: object, *, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    return tuple(as_str(item, what=f"each entry of {what}") for item in as_list(value, what=what))


def format_time(when: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``, as in-toto requires; naive times are taken to be UTC."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    text = when.astimezone(UTC).isoformat(timespec="microseconds" if when.microsecond else "seconds")
    return text.replace("+00:00", "Z")


def parse_time(value: object, *, what: str) -> datetime:
    """An RFC 3339 timestamp (any fraction length) as an aware UTC datetime."""
    text = as_str(value, what=what)
    try:
        return clock.parse_time(text)
    except ValueError:
        raise InputError(f"{what} {text!r} is not an RFC 3339 timestamp") from None
