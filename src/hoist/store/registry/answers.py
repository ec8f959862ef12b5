"""Registry answers read in one place: error bodies, ``Retry-After`` and rate-limit headers, safe URLs.

Every HTTP status that becomes a hoist error does so in :func:`to_error`, which attaches the context
go-containerregistry's ``transport.Error`` carries: status, the registry's error code, method and a URL
without secrets.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit, urlunsplit

import httpx

from hoist.errors import AuthenticationFailed, HoistError, ManifestTooLarge, NotFound, RateLimited, RegistryError

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


def safe_url(url: str | httpx.URL) -> str:
    """The URL without userinfo, query or fragment: upload URLs carry state tokens in their query and
    redirects to object storage carry signatures there."""
    parts = urlsplit(str(url))
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def error_detail(response: httpx.Response) -> tuple[str | None, str]:
    """The first ``{"errors": [{"code", "message"}]}`` entry of a distribution error body."""
    try:
        doc = response.json()
        first = doc["errors"][0]
        return str(first.get("code") or "") or None, str(first.get("message") or "")
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return None, ""


@dataclass(frozen=True)
class Wait:
    """hoist is about to sleep before sending a request again; ``str()`` is a line a CLI can show."""

    registry: str
    seconds: float
    reason: str
    method: str
    url: str
    attempt: int

    def __str__(self) -> str:
        return f"waiting {self.seconds:.0f}s for {self.registry} ({self.reason})"

    @property
    def worth_showing(self) -> bool:
        """A wait a person should hear of: the registry throttles hoist for a second or more (retries after
        a dropped connection or a 5xx are routine, and the error says so if they run out)."""
        return self.seconds >= 1.0 and self.reason == "rate limited"


def wait_reason(status: int | None) -> str:
    if status == 429:
        return "rate limited"
    if status == 503:
        return "unavailable"
    if status is None:
        return "connection failed"
    return f"answered {status}"


def requested_wait(response: httpx.Response) -> float | None:
    """Seconds from ``Retry-After`` (a number or an HTTP date), or None when absent or unreadable."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(moment.timestamp() - time.time(), 0.0)


_QUOTA = re.compile(r"^\s*(\d+)\s*(?:;\s*w\s*=\s*(\d+))?")


def exhausted_quota(response: httpx.Response) -> str | None:
    """Docker Hub's pull quota when it is used up: ``RateLimit-Remaining: 0;w=21600`` with no
    ``Retry-After`` means the window is hours long, so waiting inside one command cannot help.

    Docker Hub documents the headers (docs.docker.com/docker-hub/usage/pulls/, "View pull rate and
    limit"); a 429 there carries them instead of ``Retry-After``.
    """
    remaining = _QUOTA.match(response.headers.get("ratelimit-remaining", ""))
    if remaining is None or int(remaining.group(1)) > 0:
        return None
    limit = _QUOTA.match(response.headers.get("ratelimit-limit", ""))
    window = remaining.group(2) or (limit.group(2) if limit else None)
    if limit is None:
        return "its request quota is used up"
    span = f" per {int(window) // 3600} h" if window and int(window) >= 3600 else f" per {window} s" if window else ""
    return f"its quota of {limit.group(1)} pulls{span} is used up"


def to_error(response: httpx.Response, *, what: str, registry: str) -> HoistError:
    """The hoist error for an answer whose status the caller did not expect (body already read)."""
    status = response.status_code
    code, message = error_detail(response)
    detail = f" ({code}{': ' + message if message else ''})" if code else ""
    method = response.request.method
    url = safe_url(response.request.url)
    if status in (401, 403):
        return AuthenticationFailed(
            f"{what}: {registry} denied access{detail}",
            registry=registry,
            reason="denied",
            status=status,
            code=code,
            method=method,
            url=url,
        )
    kind: type[RegistryError] = RegistryError
    text = f"{what}: {registry} answered {status}{detail}"
    asked = requested_wait(response)
    if status == 404:
        kind, text = NotFound, f"{what}: not found{detail}"
    elif status == 413 or code == "SIZE_INVALID":
        kind, text = ManifestTooLarge, f"{what}: {registry} refused it as too large{detail}"
    elif status == 429:
        quota = exhausted_quota(response)
        why = f": {quota}" if quota else f", asking to wait {asked:.0f}s" if asked else ""
        kind, text = RateLimited, f"{what}: {registry} is rate limiting hoist{why}{detail}; try again later"
    return kind(text, status=status, code=code, method=method, url=url, registry=registry, retry_after=asked)


def read_capped(response: httpx.Response, max_body: int | None, *, what: str, registry: str) -> None:
    """Read the body, refusing more than ``max_body`` bytes (manifests: distribution's 4 MiB cap)."""
    if max_body is None:
        response.read()
        return
    declared = response.headers.get("content-length")
    limit = f"the {max_body // (1024 * 1024)} MiB limit"
    if declared and declared.isdigit() and int(declared) > max_body:
        response.close()
        raise ManifestTooLarge(f"{what}: {declared} bytes is over {limit}", registry=registry)
    chunks: list[bytes] = []
    total = 0
    for chunk in response.iter_bytes():
        total += len(chunk)
        if total > max_body:
            response.close()
            raise ManifestTooLarge(f"{what}: more than {limit}", registry=registry)
        chunks.append(chunk)
    response._content = b"".join(chunks)
