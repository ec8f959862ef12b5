"""HTTP to one registry host: scheme, TLS, authentication, redirects, retries and waits, request counts.

Retries (exponential backoff, or the wait a ``Retry-After`` asks for) cover 408, 429, 5xx and dropped
connections, and only for requests that are safe to send again; a body that arrives truncated is a
dropped connection. Requests that stream a body are not repeated here: the upload code resumes or
restarts them. Every wait is reported to ``RegistryOptions.on_wait`` first. Redirects are followed by
hand so the registry's credentials never reach another host (object storage, a CDN, Pulp's content
app). Loopback hosts (and hosts the user marked insecure) work over plain HTTP with no flag, as docker
treats them; hoist switches to HTTPS when such a server turns out to speak TLS. Everywhere else it is
HTTPS with verification. Status codes become hoist errors only in :mod:`.answers`.
"""

from __future__ import annotations

import logging
import random
import ssl
import threading
import time
import urllib.request
from collections.abc import Iterable, Mapping
from typing import Any

import httpx

from hoist import __version__
from hoist.errors import AuthenticationFailed, ManifestTooLarge, RateLimited, TransportError
from hoist.ref import DOCKER_HUB, DOCKER_HUB_API, is_loopback_host
from hoist.store.registry.answers import (
    REDIRECT_STATUSES,
    RETRY_STATUSES,
    Wait,
    error_detail,
    exhausted_quota,
    requested_wait,
    safe_url,
    to_error,
    wait_reason,
)
from hoist.store.registry.auth import Authenticator, Scope, parse_challenge
from hoist.store.registry.netio import LargeReadTransport
from hoist.store.registry.options import RegistryOptions, RequestStats
from hoist.store.registry.profile import Quirks

__all__ = ["RETRY_STATUSES", "RegistryClient", "RegistryOptions", "RequestStats"]

log = logging.getLogger("hoist.http")

_MAX_REDIRECTS = 5


def _ssl_context(ca_file: Any) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if ca_file is not None:
        try:
            context.load_verify_locations(cafile=str(ca_file))
        except (OSError, ssl.SSLError) as exc:
            raise TransportError(f"cannot load CA file {ca_file}: {exc}") from exc
    return context


def _speaks_tls(response: httpx.Response) -> bool:
    """A 400 that is not a registry error, in answer to plain HTTP: the server wants TLS (Go and nginx
    answer so)."""
    if response.status_code != 400:
        return False
    response.read()
    code, _ = error_detail(response)
    return code is None


def _is_certificate_error(exc: BaseException) -> bool:
    """A TLS certificate the client does not trust (retrying or falling back to HTTP cannot help)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLCertVerificationError):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def _describe_transport(exc: httpx.TransportError) -> tuple[str, str]:
    """A phrase for the message and the ``cause`` attribute of the :class:`TransportError`."""
    if isinstance(exc, httpx.TimeoutException):
        return "timed out", "timeout"
    if isinstance(exc, httpx.ConnectError):
        if _is_certificate_error(exc):
            return "its TLS certificate is not trusted (not signed by a known or configured CA)", (
                "untrusted-certificate"
            )
        return f"cannot connect ({exc})", "connect"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "connection dropped mid-answer", "dropped"
    return f"connection failed ({type(exc).__name__}: {exc})", "dropped"


def _replayable(content: Any) -> bool:
    return content is None or isinstance(content, (bytes, str))


class RegistryClient:
    """Speaks HTTP to one registry host for the whole command; thread-safe."""

    def __init__(self, registry: str, options: RegistryOptions, stats: RequestStats) -> None:
        self.registry = registry
        host = DOCKER_HUB_API if registry == DOCKER_HUB else registry
        self.host = host
        self.options = options
        self.stats = stats
        self.quirks = Quirks(host)
        self._lock = threading.Lock()
        self._probe = is_loopback_host(host) or options.is_insecure(host)
        self._scheme: str | None = None if self._probe else "https"
        # Plain HTTP needs no trust store: loopback hosts get one only if they turn out to speak TLS.
        self._http = self._client(verify=not self._probe)
        self.auth = Authenticator(host, lambda repo: options.credentials.lookup(registry, repo), self._send_auth)

    def _client(self, *, verify: bool) -> httpx.Client:
        options = self.options
        trust: ssl.SSLContext | bool = False
        if verify and not options.is_insecure(self.host):
            trust = _ssl_context(options.ca_file)
        limits = httpx.Limits(
            max_connections=options.max_connections, max_keepalive_connections=options.max_connections
        )
        timeout = httpx.Timeout(options.timeout, connect=min(options.timeout, 30.0))
        headers = {"User-Agent": f"hoist/{__version__}"}
        transport = options.transport
        if transport is None and not urllib.request.getproxies():  # with proxies, httpx's own transports
            transport = LargeReadTransport(verify=trust, limits=limits)
        return httpx.Client(verify=trust, limits=limits, timeout=timeout, headers=headers, transport=transport)

    def close(self) -> None:
        self._http.close()

    # -- URLs ----------------------------------------------------------------------------------------

    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return f"{self._scheme or 'https'}://{self.host}{path}"

    def absolute(self, location: str) -> str:
        """Resolve a ``Location`` header, which may be relative, against this registry."""
        if location.startswith(("http://", "https://")):
            return location
        path = location if location.startswith("/") else "/" + location
        return f"{self._scheme or 'https'}://{self.host}{path}"

    # -- requests ------------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        scopes: Iterable[Scope],
        what: str,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        content: Any = None,
        stream: bool = False,
        retry: bool = True,
        max_body: int | None = None,
        ok: Iterable[int] = (200,),
        follow_redirects: bool = False,
    ) -> httpx.Response:
        """Send, authenticate, follow, retry, and return a response whose status is in ``ok``.

        Other statuses raise the matching :mod:`hoist.errors` class. With ``stream`` the caller owns the
        response and must close it; otherwise the body has been read (at most ``max_body`` bytes).
        """
        needed = list(scopes)
        ok_set = frozenset(ok)
        attempt = 0
        started = time.monotonic()
        while True:
            try:
                response = self._send(method, path, needed, headers=headers, params=params, content=content)
                if follow_redirects and response.status_code in REDIRECT_STATUSES - ok_set:
                    response = self._follow(method, response, needed, headers)
                status = response.status_code
                if status in RETRY_STATUSES - ok_set and retry:
                    delay = self._retry_delay(response, what, attempt, started)
                    if delay is not None:
                        response.close()
                        self.pause(delay, status=status, method=method, url=str(response.request.url))
                        attempt += 1
                        continue
                if status not in ok_set:
                    response.read()
                    response.close()
                    raise to_error(response, what=what, registry=self.host)
                if not stream:
                    self._read_capped(response, max_body, what)
            except httpx.TransportError as exc:
                if retry and not _is_certificate_error(exc) and self._may_retry(attempt, started, 0.0):
                    self.pause(self.backoff(attempt), status=None, method=method, url=self.url(path))
                    attempt += 1
                    continue
                phrase, cause = _describe_transport(exc)
                raise TransportError(
                    f"{what}: {self.host}: {phrase}",
                    cause=cause,
                    registry=self.host,
                    method=method,
                    url=safe_url(self.url(path)),
                ) from exc
            return response

    def _may_retry(self, attempt: int, started: float, delay: float) -> bool:
        elapsed = time.monotonic() - started
        return attempt < self.options.retries and elapsed + delay < self.options.retry_budget

    def _retry_delay(self, response: httpx.Response, what: str, attempt: int, started: float) -> float | None:
        """How long to wait before sending again, as the registry asked; None: give up now.

        A wait the registry asks for that does not fit hoist's retry budget, or a quota that is used up
        for hours (Docker Hub's ``RateLimit-Remaining: 0``), fails at once rather than hang.
        """
        asked = requested_wait(response)
        if asked is None and response.status_code == 429 and exhausted_quota(response):
            return None
        delay = asked if asked is not None else self.backoff(attempt)
        if self._may_retry(attempt, started, delay):
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

    def _read_capped(self, response: httpx.Response, max_body: int | None, what: str) -> None:
        if max_body is None:
            response.read()
            return
        declared = response.headers.get("content-length")
        limit = f"the {max_body // (1024 * 1024)} MiB limit"
        if declared and declared.isdigit() and int(declared) > max_body:
            response.close()
            raise ManifestTooLarge(f"{what}: {declared} bytes is over {limit}", registry=self.host)
        chunks: list[bytes] = []
        total = 0
        for chunk in response.iter_bytes():
            total += len(chunk)
            if total > max_body:
                response.close()
                raise ManifestTooLarge(f"{what}: more than {limit}", registry=self.host)
            chunks.append(chunk)
        response._content = b"".join(chunks)

    def _send(
        self,
        method: str,
        path: str,
        needed: list[Scope],
        *,
        headers: Mapping[str, str] | None,
        params: Mapping[str, str] | None,
        content: Any,
    ) -> httpx.Response:
        used = self.auth.header(needed)
        response = self._once(method, path, used, headers, params, content)
        if response.status_code != 401:
            return response
        response.read()
        response.close()
        challenge = parse_challenge(response.headers.get("www-authenticate", ""))
        if challenge is not None:
            self.quirks.observe_challenge(challenge.params)
        fresh = self.auth.challenged(response, needed, used)
        if not fresh:
            raise AuthenticationFailed(
                f"{self.host} requires authentication and no credentials for it were found",
                registry=self.host,
                reason="no-credentials",
                status=401,
            )
        if not _replayable(content):  # its body is gone: the upload code resumes with the new token
            raise TransportError(
                f"{self.host} asked for fresh credentials in the middle of an upload",
                cause="dropped",
                registry=self.host,
                method=method,
                url=safe_url(self.url(path)),
            )
        response = self._once(method, path, fresh, headers, params, content)
        if response.status_code == 401:
            response.read()
            response.close()
            code, _message = error_detail(response)
            actions = "/".join(sorted({a for s in needed for a in s.actions})) or "access"
            raise AuthenticationFailed(
                f"{self.host} refused access to {', '.join(s.repository for s in needed) or 'the registry'}"
                f" ({code or 'UNAUTHORIZED'}): check that your credentials grant {actions}",
                registry=self.host,
                reason="denied",
                status=401,
                code=code,
                method=method,
                url=safe_url(response.request.url),
            )
        return response

    def _follow(
        self, method: str, response: httpx.Response, needed: list[Scope], headers: Mapping[str, str] | None
    ) -> httpx.Response:
        """Follow redirects by hand: the registry's own URLs get its credentials, other hosts (object
        storage, a CDN, Pulp's content app) get none: their URLs carry their own signature."""
        origin = response.request.url
        for _hop in range(_MAX_REDIRECTS):
            location = response.headers.get("location")
            if response.status_code not in REDIRECT_STATUSES or not location:
                return response
            target = response.request.url.join(location)
            response.close()
            if response.status_code == 303 and method != "HEAD":
                method = "GET"
            if (target.scheme, target.host, target.port) == (origin.scheme, origin.host, origin.port):
                response = self._send(method, str(target), needed, headers=headers, params=None, content=None)
                continue
            request = httpx.Request(
                method,
                target,
                headers={**(headers or {}), "User-Agent": f"hoist/{__version__}"},
                extensions={"timeout": self._http.timeout.as_dict()},
            )  # built here, not by the client: no client cookies or defaults ride along
            response = self._http.send(request, stream=True)
            self.stats.record(method, target.path, response.status_code)
            log.debug("%s %s (redirect, no credentials) -> %d", method, safe_url(target), response.status_code)
        return response

    def _once(
        self,
        method: str,
        path: str,
        authorization: str | None,
        headers: Mapping[str, str] | None,
        params: Mapping[str, str] | None,
        content: Any,
    ) -> httpx.Response:
        merged = dict(headers or {})
        if authorization:
            merged["Authorization"] = authorization
        if self._scheme is None:
            return self._probe_scheme(method, path, merged, params, content)
        return self._exchange(method, self.url(path), merged, params, content)

    def _exchange(
        self, method: str, url: str, headers: dict[str, str], params: Mapping[str, str] | None, content: Any
    ) -> httpx.Response:
        request = self._http.build_request(method, url, headers=headers, params=params, content=content)
        started = time.monotonic()
        response = self._http.send(request, stream=True)
        self.stats.record(method, request.url.path, response.status_code)
        if log.isEnabledFor(logging.DEBUG):
            elapsed = (time.monotonic() - started) * 1000
            log.debug("%s %s -> %d (%.0f ms)", method, safe_url(request.url), response.status_code, elapsed)
        return response

    def _probe_scheme(
        self, method: str, path: str, headers: dict[str, str], params: Mapping[str, str] | None, content: Any
    ) -> httpx.Response:
        """Loopback and insecure hosts: plain HTTP first; switch to HTTPS when the server speaks TLS."""
        with self._lock:
            if self._scheme is None:
                response = self._exchange(method, f"http://{self.host}{path}", headers, params, content)
                if not _speaks_tls(response):
                    self._scheme = "http"
                    return response
                response.close()
                self._http.close()
                self._http = self._client(verify=True)
                self._scheme = "https"
                log.debug("%s speaks TLS; using HTTPS", self.host)
        return self._exchange(method, self.url(path), headers, params, content)

    def _send_auth(self, request: httpx.Request) -> httpx.Response:
        """Send a token-server request (retried like any other safe request)."""
        attempt = 0
        started = time.monotonic()
        while True:
            try:
                response = self._http.send(request)
            except httpx.TransportError as exc:
                if self._may_retry(attempt, started, 0.0):
                    self.pause(self.backoff(attempt), status=None, method=request.method, url=str(request.url))
                    attempt += 1
                    continue
                phrase, cause = _describe_transport(exc)
                raise TransportError(
                    f"token server {request.url.host}: {phrase}", cause=cause, registry=self.host
                ) from exc
            self.stats.record(request.method, request.url.path, response.status_code, auth=True)
            if response.status_code in RETRY_STATUSES:
                delay = self._retry_delay(response, f"token request to {request.url.host}", attempt, started)
                if delay is not None:
                    self.pause(delay, status=response.status_code, method=request.method, url=str(request.url))
                    attempt += 1
                    continue
            return response
