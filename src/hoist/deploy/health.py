"""Health checks: HTTP(S) with expected status and body, TCP connect, and the container's own HEALTHCHECK,
polled until enough consecutive successes or the deadline."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from hoist.promotion.config import HealthConfig
from hoist.ref import split_host_port


@dataclass(frozen=True)
class Outcome:
    ok: bool
    detail: str


class Check(Protocol):
    name: str

    def __call__(self) -> Outcome: ...


Liveness = Callable[[], str | None]
"""Returns why the deployed process is gone (``"exited with code 1"``), or None while it runs."""


class HttpCheck:
    def __init__(self, url: str, *, statuses: Sequence[int], body: str | None, timeout: float) -> None:
        self.name = f"GET {url}"
        self.url = url
        self.statuses = tuple(statuses)
        self.body = re.compile(body) if body else None
        self.client = httpx.Client(timeout=timeout, follow_redirects=False, verify=True)

    def __call__(self) -> Outcome:
        try:
            response = self.client.get(self.url)
        except httpx.TimeoutException:
            return Outcome(False, f"{self.name}: no answer within {self.client.timeout.read:.0f}s")
        except httpx.HTTPError as exc:
            return Outcome(False, f"{self.name}: {type(exc).__name__}: {exc}")
        status_ok = response.status_code in self.statuses if self.statuses else 200 <= response.status_code < 300
        if not status_ok:
            wanted = "/".join(map(str, self.statuses)) or "2xx"
            snippet = response.text[:80].strip().replace("\n", " ")
            return Outcome(False, f"{self.name} answered {response.status_code}, expected {wanted} (body: {snippet!r})")
        if self.body is not None and not self.body.search(response.text):
            return Outcome(
                False, f"{self.name} answered {response.status_code} but the body does not match {self.body.pattern!r}"
            )
        return Outcome(True, f"{self.name} answered {response.status_code}")

    def close(self) -> None:
        self.client.close()


class TcpCheck:
    def __init__(self, address: str, *, timeout: float) -> None:
        self.name = f"TCP {address}"
        host, port = split_host_port(address)
        if port is None:
            raise ValueError(f"tcp health check {address!r} needs HOST:PORT")
        self.address = (host, port)
        self.timeout = timeout

    def __call__(self) -> Outcome:
        try:
            with socket.create_connection(self.address, timeout=self.timeout):
                return Outcome(True, f"{self.name} accepted a connection")
        except OSError as exc:
            return Outcome(False, f"{self.name}: {exc.strerror or exc}")


@dataclass
class HealthResult:
    healthy: bool
    detail: str
    attempts: int = 0
    seconds: float = 0.0
    checks: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "healthy": self.healthy,
            "detail": self.detail,
            "attempts": self.attempts,
            "seconds": round(self.seconds, 3),
            "checks": self.checks,
        }


def wait_healthy(
    checks: Sequence[Check],
    config: HealthConfig,
    *,
    alive: Liveness | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> HealthResult:
    """Poll every check until ``config.successes`` consecutive rounds pass, or the deadline.

    A process that is gone fails at once (there is nothing left to wait for).
    """
    started = clock()
    deadline = started + config.timeout
    streak = 0
    attempts = 0
    last = "no check ran"
    names = [c.name for c in checks]
    while True:
        attempts += 1
        gone = alive() if alive is not None else None
        if gone is not None:
            return HealthResult(False, f"the process {gone}", attempts, clock() - started, names)
        outcomes = [check() for check in checks]
        failed = [o for o in outcomes if not o.ok]
        if failed:
            streak = 0
            last = failed[0].detail
        else:
            streak += 1
            last = "; ".join(o.detail for o in outcomes) or "no checks configured"
            if streak >= config.successes:
                return HealthResult(True, last, attempts, clock() - started, names)
        if clock() + config.interval > deadline:
            return HealthResult(
                False, f"not healthy within {config.timeout:g}s: {last}", attempts, clock() - started, names
            )
        sleep(config.interval)
