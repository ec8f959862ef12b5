"""Numbers for people: durations, rates, dates."""

from __future__ import annotations

from datetime import date


def duration(seconds: float | None) -> str:
    """Short and human: 850 ms, 12.3 s, 4.5 min, 2.1 h, 3.2 d; ``-`` for no value."""
    if seconds is None:
        return "-"
    sign, value = ("-" if seconds < 0 else ""), abs(seconds)
    if value < 1:
        return f"{sign}{value * 1000:.0f} ms"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if value >= size:
            return f"{sign}{value / size:.1f} {unit}"
    return f"{sign}{value:.1f} s"


def percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.1f}%"


def short_date(day: date) -> str:
    return f"{day:%b} {day.day}"


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"
