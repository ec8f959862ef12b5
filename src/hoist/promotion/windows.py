"""Scheduled windows: when an environment may change, from ``hoist.toml``.

::

    [environments.production.windows]
    timezone = "Europe/Berlin"                 # for rules that name no zone of their own
    deny = ["Fri 16:00-Mon 08:00", "2026-12-24 00:00-2027-01-02 09:00"]
    allow = ["Mon-Thu 09:00-17:00 America/New_York"]   # optional: only inside these

A rule is one of

* ``DAY HH:MM-DAY HH:MM [ZONE]`` — once a week, from the first to the second (``Fri 16:00-Mon 08:00``
  wraps the weekend; an end before the start wraps the week);
* ``DAYS HH:MM-HH:MM [ZONE]`` — on each of DAYS (``Mon-Fri``, ``Sat,Sun``, ``daily``), from the first time
  to the second; an end at or before the start is the next morning (``Mon-Fri 18:00-08:00``), and
  ``24:00`` is the end of the day;
* ``YYYY-MM-DD HH:MM-YYYY-MM-DD HH:MM [ZONE]`` — once.

Times are the wall clock of ZONE (an IANA name such as ``Europe/Berlin``, or ``UTC``), read with the
standard library's :mod:`zoneinfo`, so a window keeps its local hours across daylight-saving changes:
``Fri 16:00-Mon 08:00 Europe/Berlin`` lasts 64 hours, 65 on the weekend the clocks go back and 63 on
the one they go forward. A time the clocks skip (02:30 on the night they go forward) is read as the same
time before the change (03:30 summer time), and a time that happens twice (the night they go back) as
its first occurrence (PEP 495's ``fold=0``).

An environment is *closed* inside any ``deny`` window, and, when ``allow`` is given, outside every
``allow`` window. Deny wins where both apply.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    from hoist.promotion.schema import Table

_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_TIME = r"(\d{1,2}:\d{2})"
_DAY = r"([A-Za-z]+)"
_DATE = r"(\d{4}-\d{2}-\d{2})"
_WEEKLY = re.compile(rf"^{_DAY}\s+{_TIME}\s*-\s*{_DAY}\s+{_TIME}$")
_DAILY = re.compile(rf"^([A-Za-z,\-]+)\s+{_TIME}\s*-\s*{_TIME}$")
_ONCE = re.compile(rf"^{_DATE}\s+{_TIME}\s*-\s*{_DATE}\s+{_TIME}$")
_HORIZON = 400
"""How many openings and closings :meth:`Windows.reopens` follows before it calls a window endless."""

SYNTAX = (
    '"DAY HH:MM-DAY HH:MM [ZONE]" (Fri 16:00-Mon 08:00), "DAYS HH:MM-HH:MM [ZONE]" (Mon-Fri 18:00-08:00, '
    'daily 00:00-06:00) or "YYYY-MM-DD HH:MM-YYYY-MM-DD HH:MM [ZONE]"'
)


class WindowSyntaxError(ValueError):
    """A rule that does not parse; the message says what was expected."""


@dataclass(frozen=True)
class Span:
    """Where a rule's occurrences start (a weekday and wall-clock time, or one date) and how long they
    last on the wall clock."""

    start: time
    length: timedelta
    weekday: int | None = None
    day: date | None = None


@dataclass(frozen=True)
class Rule:
    text: str
    zone: ZoneInfo
    spans: tuple[Span, ...]

    def __str__(self) -> str:
        return self.text

    def occurrences(self, around: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Every occurrence (start, end; UTC instants) from a week before ``around`` to a week after."""
        local = around.astimezone(self.zone).date()
        for span in self.spans:
            if span.day is not None:
                yield self._instants(datetime.combine(span.day, span.start), span.length)
                continue
            assert span.weekday is not None
            first = local - timedelta(days=(local.weekday() - span.weekday) % 7)
            for weeks in (-1, 0, 1):
                start = datetime.combine(first + timedelta(weeks=weeks), span.start)
                yield self._instants(start, span.length)

    def _instants(self, start: datetime, length: timedelta) -> tuple[datetime, datetime]:
        """Wall-clock start and end in the rule's zone, as instants (``fold=0``: see the module docs)."""
        end = start + length  # wall-clock arithmetic: the local hours stay what the rule says
        return start.replace(tzinfo=self.zone).astimezone(UTC), end.replace(tzinfo=self.zone).astimezone(UTC)

    def containing(self, moment: datetime) -> tuple[datetime, datetime] | None:
        found = [(s, e) for s, e in self.occurrences(moment) if s <= moment < e]
        return max(found, key=lambda pair: pair[1]) if found else None

    def next_start(self, moment: datetime) -> datetime | None:
        return min((s for s, _ in self.occurrences(moment) if s > moment), default=None)

    def local(self, moment: datetime) -> str:
        """``Mon 28 Dec 2026 08:00 CET`` in the rule's zone."""
        return moment.astimezone(self.zone).strftime("%a %d %b %Y %H:%M %Z")


@dataclass(frozen=True)
class Closed:
    """Why an environment is closed now, and when it opens (None: no window ahead opens it)."""

    rule: Rule | None
    """The deny window it is in (None: it is outside every allow window)."""
    allow: tuple[Rule, ...]
    until: datetime | None


@dataclass(frozen=True)
class Windows:
    deny: tuple[Rule, ...] = ()
    allow: tuple[Rule, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.deny or self.allow)

    def _denying(self, moment: datetime) -> tuple[Rule, datetime] | None:
        found = [(rule, hit[1]) for rule in self.deny if (hit := rule.containing(moment)) is not None]
        return max(found, key=lambda pair: pair[1]) if found else None

    def _allowed(self, moment: datetime) -> datetime | None:
        """The end of the allow window ``moment`` is in (None when in none)."""
        ends = [hit[1] for rule in self.allow if (hit := rule.containing(moment)) is not None]
        return max(ends) if ends else None

    def is_closed(self, moment: datetime) -> bool:
        return self._denying(moment) is not None or (bool(self.allow) and self._allowed(moment) is None)

    def closed(self, now: datetime) -> Closed | None:
        """None when changes may happen now; else the window that stops them and when it opens."""
        denying = self._denying(now)
        if denying is None and (not self.allow or self._allowed(now) is not None):
            return None
        return Closed(rule=denying[0] if denying else None, allow=self.allow, until=self.reopens(now))

    def reopens(self, now: datetime) -> datetime | None:
        """The first moment at or after ``now`` outside every deny window and inside an allow window."""
        moment = now
        for _ in range(_HORIZON):
            denying = self._denying(moment)
            if denying is not None:
                moment = denying[1]
                continue
            if self.allow and self._allowed(moment) is None:
                starts = [s for rule in self.allow if (s := rule.next_start(moment)) is not None]
                if not starts:
                    return None
                moment = min(starts)
                continue
            return moment
        return None

    def next_closing(self, now: datetime) -> datetime | None:
        """When an environment open at ``now`` closes next (None: no window ahead closes it)."""
        candidates = [s for rule in self.deny if (s := rule.next_start(now)) is not None]
        if self.allow:
            end = self._allowed(now)
            while end is not None and (following := self._allowed(end)) is not None and following > end:
                end = following
            if end is not None:
                candidates.append(end)
        return min(candidates, default=None)


# -- parsing ---------------------------------------------------------------------------------------


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise WindowSyntaxError(f"unknown time zone {name!r} (an IANA name such as Europe/Berlin, or UTC)") from exc


def _clock(text: str, *, end: bool = False) -> tuple[time, bool]:
    """``HH:MM`` (and, as an end, ``24:00``): the time, and whether it is the end of the day."""
    hours, minutes = (int(part) for part in text.split(":"))
    if end and (hours, minutes) == (24, 0):
        return time(0, 0), True
    if not (0 <= hours <= 23 and 0 <= minutes <= 59):
        raise WindowSyntaxError(f"{text!r} is not a time of day (00:00 to 23:59)")
    return time(hours, minutes), False


def _weekday(text: str) -> int:
    """``Mon``, ``monday``, ``Thurs``: at least three letters of a weekday's English name."""
    word = text.lower()
    for index, name in enumerate(_DAY_NAMES):
        if len(word) >= 3 and name.startswith(word):
            return index
    raise WindowSyntaxError(f"{text!r} is not a day of the week (Mon, Tue, Wed, Thu, Fri, Sat, Sun)")


def _days(text: str) -> list[int]:
    """``Mon-Fri``, ``Sat,Sun``, ``Fri-Mon`` (wrapping), ``daily``."""
    if text.lower() in ("daily", "everyday", "*"):
        return list(range(7))
    days: list[int] = []
    for part in text.split(","):
        first, _, last = part.partition("-")
        start = _weekday(first)
        stop = _weekday(last) if last else start
        days += [(start + offset) % 7 for offset in range((stop - start) % 7 + 1)]
    return sorted(set(days))


def _minutes(value: time) -> int:
    return value.hour * 60 + value.minute


def _spans(text: str) -> tuple[Span, ...]:
    if match := _ONCE.match(text):
        start_day, start, end_day, end = match.groups()
        try:
            first = datetime.combine(date.fromisoformat(start_day), _clock(start)[0])
            clock, midnight = _clock(end, end=True)
            last = datetime.combine(date.fromisoformat(end_day) + timedelta(days=midnight), clock)
        except ValueError as exc:
            raise WindowSyntaxError(str(exc)) from exc
        if last <= first:
            raise WindowSyntaxError("the window ends before it begins")
        return (Span(start=first.time(), length=last - first, day=first.date()),)
    if match := _WEEKLY.match(text):
        first_day, start, last_day, end = match.groups()
        begin = _clock(start)[0]
        clock, midnight = _clock(end, end=True)
        minutes = (_weekday(last_day) - _weekday(first_day)) * 1440 + midnight * 1440
        minutes += _minutes(clock) - _minutes(begin)
        minutes %= 7 * 1440
        if minutes == 0:
            raise WindowSyntaxError("the window ends where it begins")
        return (Span(start=begin, length=timedelta(minutes=minutes), weekday=_weekday(first_day)),)
    if match := _DAILY.match(text):
        days, start, end = match.groups()
        begin = _clock(start)[0]
        clock, midnight = _clock(end, end=True)
        minutes = _minutes(clock) + midnight * 1440 - _minutes(begin)
        if minutes == 0 and not midnight:
            raise WindowSyntaxError("the window ends where it begins (for a whole day, write 00:00-24:00)")
        minutes = minutes if minutes > 0 else minutes + 1440
        return tuple(Span(start=begin, length=timedelta(minutes=minutes), weekday=day) for day in _days(days))
    raise WindowSyntaxError(f"expected {SYNTAX}")


def parse_rule(text: str, *, timezone: str | None = None) -> Rule:
    """One rule; ``timezone`` is the zone of a rule that names none."""
    words = text.split()
    zone_name = timezone
    if len(words) > 1 and ":" not in words[-1]:  # every window ends with a time: a last word without one is a zone
        zone_name = words.pop()
    if zone_name is None:
        raise WindowSyntaxError("name a time zone after the window (Europe/Berlin, UTC) or set windows.timezone")
    return Rule(text=text.strip(), zone=_zone(zone_name), spans=_spans(" ".join(words)))


def parse_windows(table: Table | None) -> Windows | None:
    """The ``windows`` table of an environment (None when there is none)."""
    if table is None:
        return None
    table.check_keys(["deny", "allow", "timezone"])
    timezone = table.string("timezone")
    if timezone is not None:
        try:
            _zone(timezone)
        except WindowSyntaxError as exc:
            raise table.fail("timezone", str(exc)) from exc
    parsed: dict[str, tuple[Rule, ...]] = {}
    for key in ("deny", "allow"):
        rules = []
        for index, text in enumerate(table.strings(key)):
            try:
                rules.append(parse_rule(text, timezone=timezone))
            except WindowSyntaxError as exc:
                raise table.fail(f"{key}[{index}]", f"{text!r}: {exc}") from exc
        parsed[key] = tuple(rules)
    windows = Windows(deny=parsed["deny"], allow=parsed["allow"])
    if not windows:
        raise table.fail(None, 'give deny = ["Fri 16:00-Mon 08:00 Europe/Berlin"] or allow = [...]')
    return windows
