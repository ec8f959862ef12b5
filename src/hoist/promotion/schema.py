"""A small reader for TOML tables that names the file, the key and what was expected on every error.

Hand-written rather than a schema library: hoist.toml is small, start-up time matters for a CLI, and
the one-line error ("hoist.toml: environments.production.tags[1]: expected a string") is the point.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from hoist.errors import ConfigError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}


@dataclass(frozen=True)
class Table:
    """A TOML table with its location, for messages."""

    file: Path
    path: str
    data: dict[str, Any]

    def fail(self, key: str | None, expected: str) -> ConfigError:
        where = f"{self.path}.{key}" if key and self.path else (key or self.path or "top level")
        return ConfigError(f"{self.file}: {where}: {expected}")

    def check_keys(self, allowed: Iterable[str]) -> None:
        allowed = sorted(allowed)
        for key in self.data:
            if key not in allowed:
                raise self.fail(key, f"unknown key (expected one of: {', '.join(allowed)})")

    def has(self, key: str) -> bool:
        return key in self.data

    def table(self, key: str, *, required: bool = False) -> Table | None:
        value = self.data.get(key)
        if value is None:
            if required:
                raise self.fail(key, "missing table")
            return None
        if not isinstance(value, dict):
            raise self.fail(key, "expected a table")
        return Table(self.file, f"{self.path}.{key}" if self.path else key, value)

    def tables(self) -> list[tuple[str, Table]]:
        out = []
        for key in self.data:
            table = self.table(key)
            if table is None:
                raise self.fail(key, "expected a table")
            out.append((key, table))
        return out

    def string(self, key: str, *, required: bool = False, default: str | None = None) -> str | None:
        value = self.data.get(key)
        if value is None:
            if required:
                raise self.fail(key, "missing (expected a string)")
            return default
        if not isinstance(value, str) or (required and not value.strip()):
            raise self.fail(key, "expected a non-empty string")
        return value

    def req_string(self, key: str) -> str:
        value = self.string(key, required=True)
        assert value is not None
        return value

    def strings(self, key: str) -> list[str]:
        value = self.data.get(key)
        if value is None:
            return []
        if isinstance(value, str):
            return [value]
        if not isinstance(value, list):
            raise self.fail(key, "expected a list of strings")
        for index, item in enumerate(value):
            if not isinstance(item, str):
                raise self.fail(f"{key}[{index}]", "expected a string")
        return list(value)

    def mapping(self, key: str) -> dict[str, str]:
        value = self.data.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(key, 'expected a table of strings, such as { NAME = "value" }')
        out = {}
        for name, item in value.items():
            if not isinstance(item, str | int | float | bool):
                raise self.fail(f"{key}.{name}", "expected a string")
            out[str(name)] = str(item).lower() if isinstance(item, bool) else str(item)
        return out

    def integer(self, key: str, *, default: int, minimum: int = 0) -> int:
        value = self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.fail(key, f"expected a whole number >= {minimum}")
        return value

    def boolean(self, key: str, *, default: bool) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(key, "expected true or false")
        return value

    def duration(self, key: str, *, default: float | None) -> float | None:
        value = self.data.get(key)
        if value is None:
            return default
        try:
            return parse_duration(value)
        except (TypeError, ValueError) as exc:
            raise self.fail(key, 'expected a duration such as "30s", "5m" or "7d"') from exc


def parse_duration(value: object) -> float:
    """Seconds in ``"90s"``, ``"5m"``, ``"7d"``, ``"1.5h"`` or a bare number of seconds."""
    if isinstance(value, bool):
        raise TypeError(value)
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(value)
        return float(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if not isinstance(value, str):
        raise TypeError(value)
    match = _DURATION.match(value)
    if not match:
        raise ValueError(value)
    return float(match.group(1)) * _UNITS[match.group(2)]
