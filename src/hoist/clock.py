"""Time: the one clock hoist reads, and the one format ledger records and evidence use.

Every decision that depends on the time (evidence ``max_age``, freezes, soak time, record stamps) reads
a :data:`Clock`, so tests and dry runs can fix it: the library takes ``Options(clock=...)`` and the
command line reads ``HOIST_NOW`` (an RFC 3339 time such as ``2026-12-24T10:00:00Z``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime

Clock = Callable[[], datetime]
"""Returns the current time, timezone-aware."""

NOW_VARIABLE = "HOIST_NOW"


def system_clock() -> datetime:
    return datetime.now(UTC)


def fixed_clock(moment: datetime) -> Clock:
    """A clock that always says ``moment``."""
    fixed = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return lambda: fixed


def clock_from_environ(environ: Mapping[str, str]) -> Clock:
    """``HOIST_NOW`` when set (a fixed time), else the system clock; a malformed value raises ValueError."""
    text = environ.get(NOW_VARIABLE, "").strip()
    if not text:
        return system_clock
    return fixed_clock(parse_time(text))


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with milliseconds: ``2026-11-28T08:53:04.123Z`` (the ledger's stamp format)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_time(text: str) -> datetime:
    """An RFC 3339 time (``…Z`` or an offset; a time without a zone is taken as UTC), in UTC.

    Raises ValueError when ``text`` is not such a time.
    """
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_time_or_none(text: str | None) -> datetime | None:
    """:func:`parse_time`, or None for a missing or unreadable value (old or foreign records)."""
    if not text:
        return None
    try:
        return parse_time(text)
    except ValueError:
        return None
