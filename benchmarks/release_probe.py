"""Timing an automatic rollback from outside hoist: a probe polling the service, and the engine's events.

The probe asks ``/version`` every few milliseconds and notes which version answered (or that none did);
podman's event log says when the failing container died. Recovery is from that death to the previous
version's first answer; downtime from the previous version's last answer before it to the same point.
"""

from __future__ import annotations

import http.client
import json
import re
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

POLL = 0.01
TIMEOUT = 0.25


class Probe:
    """Polls ``url`` in a thread from ``with`` to its end; ``seen`` holds (epoch seconds, body or None)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.seen: list[tuple[float, str | None]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rollback-probe", daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            asked = time.time()
            body: str | None
            try:
                with urllib.request.urlopen(self.url, timeout=TIMEOUT) as answer:
                    body = answer.read().decode().strip()
            except (OSError, urllib.error.URLError, http.client.HTTPException):
                body = None  # refused, reset, timed out, or cut off while the container stopped
            self.seen.append((asked, body))
            self._stop.wait(POLL)

    def __enter__(self) -> Probe:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        time.sleep(0.2)  # a few answers after hoist exited: the restored version is seen answering
        self._stop.set()
        self._thread.join(timeout=5)


def _epoch(stamp: str) -> float:
    """podman's event time (RFC 3339, nanoseconds, UTC) as epoch seconds."""
    match = re.match(r"(.*T\d\d:\d\d:\d\d)(\.\d+)?Z$", stamp)
    if match is None:
        raise ValueError(f"unexpected podman event time {stamp!r}")
    whole = datetime.fromisoformat(match.group(1)).replace(tzinfo=UTC).timestamp()
    return whole + float(match.group(2) or 0)


def died_at(events_log: Path, *, digest: str) -> float:
    """When the engine saw a container of the image ``digest`` die (the last time it did)."""
    found = []
    for line in events_log.read_text().splitlines():
        event = json.loads(line)
        if event.get("Status") == "died" and str(event.get("Image", "")).endswith(f"@{digest}"):
            found.append(_epoch(event["Time"]))
    if not found:
        raise RuntimeError(f"no 'died' event for a container of {digest} in {events_log}")
    return found[-1]


def rollback_times(seen: list[tuple[float, str | None]], *, previous: str, died: float) -> tuple[float, float, float]:
    """(recovery, downtime, resolution): from the failing container's death, and from the previous
    version's last answer before it, to the previous version's first answer after it. An answer counts at
    the moment it was asked; the attempt before it had not been answered, so the first answer may have
    been possible up to ``resolution`` (the time between those two attempts) earlier."""
    before = [t for t, body in seen if body == previous and t < died]
    index = next((i for i, (t, body) in enumerate(seen) if body == previous and t > died), None)
    if not before or index is None or index == 0:
        answers = sorted({body for _, body in seen if body})
        raise RuntimeError(f"the probe did not see {previous} answer before and after the failure (saw {answers})")
    back = seen[index][0]
    return back - died, back - max(before), back - seen[index - 1][0]
