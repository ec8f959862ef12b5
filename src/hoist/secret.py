"""Secrets: one type whose ``repr`` and ``str`` never show the value, and one redactor for all output.

Every password or token hoist reads is wrapped in :class:`Secret` as soon as it is read; constructing one
registers the value with the redactor, which the CLI applies to every message and log record it prints.
"""

from __future__ import annotations

import logging
import re
import threading

_lock = threading.Lock()
_known: set[str] = set()
_MIN_SECRET = 4
_AUTH_HEADER = re.compile(r"(?i)\b(authorization:\s*)(basic|bearer)\s+\S+")
_URL_PASSWORD = re.compile(r"(://[^/:@\s]+:)[^@\s/]+@")
_QUERY_SECRET = re.compile(r"(?i)\b((?:password|refresh_token|access_token|token)=)[^&\s]+")


class Secret:
    """A secret value. ``reveal()`` is the only way to read it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        if len(value) >= _MIN_SECRET:
            with _lock:
                _known.add(value)

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def redact(text: str) -> str:
    """Replace every known secret, Authorization header value and URL password in ``text``."""
    with _lock:
        known = sorted(_known, key=len, reverse=True)
    for value in known:
        if value in text:
            text = text.replace(value, "***")
    text = _AUTH_HEADER.sub(r"\1\2 ***", text)
    text = _URL_PASSWORD.sub(r"\1***@", text)
    return _QUERY_SECRET.sub(r"\1***", text)


class RedactingFilter(logging.Filter):
    """A logging filter that renders each record and redacts it before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        return True
