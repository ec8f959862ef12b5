"""Waiting before a request goes again: as long as the registry asks (``Retry-After``), else an
exponential backoff with jitter, within a retry budget; every wait is reported to ``on_wait`` first."""

from __future__ import annotations

import logging
import random
import time

import httpx

from hoist.errors import RateLimited
from hoist.store.registry.answers import Wait, error_detail, exhausted_quota, requested_wait, safe_url, wait_reason
from hoist.store.registry.options import RegistryOptions, RequestStats

log = logging.getLogger("hoist.http")


class Waits:
    """Retry timing for one registry host; thread-safe (it holds no state of its own)."""

    def __init__(self, host: str, options: RegistryOptions, stats: RequestStats) -> None:
        self.host = host
        self.options = options
        self.stats = stats

    def may_retry(self, attempt: int, started: float, delay: float) -> bool:
        elapsed = time.monotonic() - started
        return attempt < self.options.retries and elapsed + delay < self.options.retry_budget

    def delay_for(self, response: httpx.Response, what: str, attempt: int, started: float) -> float | None:
        """How long to wait before sending again, as the registry asked; None: give up now.

        A wait the registry asks for that does not fit hoist's retry budget, or a quota that is used up
        for hours (Docker Hub's ``RateLimit-Remaining: 0``), fails at once rather than hang.
        """
        asked = requested_wait(response)
        if asked is None and response.status_code == 429 and exhausted_quota(response):
            return None
        delay = asked if asked is not None else self.backoff(attempt)
        if self.may_retry(attempt, started, delay):
            return delay
        if asked is not None and attempt < self.options.retries:
            response.read()
            raise RateLimited(
                f"{what}: {self.host} asked to wait {asked:.0f}s ({wait_reason(response.status_code)}), longer "
                f"than hoist waits ({self.options.retry_budget:.0f}s in all); try again later",
                status=response.status_code,
                code=error_detail(response)[0],
                method=response.request.method,
                url=safe_url(response.request.url),
                registry=self.host,
                retry_after=asked,
            )
        return None

    def pause(self, delay: float, *, status: int | None, method: str, url: str, attempt: int = 0) -> None:
        """Sleep ``delay`` seconds, telling ``on_wait`` first (callers outside this class: uploads)."""
        self.stats.retried()
        event = Wait(self.host, delay, wait_reason(status), method, safe_url(url), attempt)
        log.debug("%s", event)
        if self.options.on_wait is not None:
            self.options.on_wait(event)
        time.sleep(delay)

    def backoff(self, attempt: int) -> float:
        return float(self.options.backoff * (2**attempt) * (0.5 + random.random()))  # noqa: S311 - jitter
