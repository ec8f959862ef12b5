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
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

import httpx

from hoist import __version__
from hoist.errors import AuthenticationFailed, TransportError
from hoist.ref import DOCKER_HUB, DOCKER_HUB_API, is_loopback_host
from hoist.store.registry.answers import (
    REDIRECT_STATUSES,
    RETRY_STATUSES,
    error_detail,
    read_capped,
    safe_url,
    to_error,
)
from hoist.store.registry.auth import Authenticator, Scope, parse_challenge
from hoist.store.registry.netio import describe_transport, http_client, is_certificate_error, speaks_tls
from hoist.store.registry.options import RegistryOptions, RequestStats
from hoist.store.registry.profile import Quirks
from hoist.store.registry.waits import Waits

__all__ = ["RETRY_STATUSES", "RegistryClient", "RegistryOptions", "RequestStats"]

log = logging.getLogger("hoist.http")

_MAX_REDIRECTS = 5


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
        self.waits = Waits(host, options, stats)
        self._lock = threading.Lock()
        self._probe = is_loopback_host(host) or options.is_insecure(host)
        self._scheme: str | None = None if self._probe else "https"
        # Plain HTTP needs no trust store: loopback hosts get one only if they turn out to speak TLS.
        self._http = self._client(verify=not self._probe)
        self._retired: list[httpx.Client] = []
        self.auth = Authenticator(host, lambda repo: options.credentials.lookup(registry, repo), self._send_auth)

    def _client(self, *, verify: bool) -> httpx.Client:
        return http_client(self.options, self.host, verify=verify)

    def close(self) -> None:
        for client in (*self._retired, self._http):
            client.close()

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
            if self.options.check is not None:
                self.options.check()
            try:
                response = self._send(method, path, needed, headers=headers, params=params, content=content)
                if follow_redirects and response.status_code in REDIRECT_STATUSES - ok_set:
                    response = self._follow(method, response, needed, headers)
                status = response.status_code
                if status in RETRY_STATUSES - ok_set and retry:
                    delay = self.waits.delay_for(response, what, attempt, started)
                    if delay is not None:
                        response.close()
                        self.waits.pause(delay, status=status, method=method, url=str(response.request.url))
                        attempt += 1
                        continue
                if status not in ok_set:
                    response.read()
                    response.close()
                    raise to_error(response, what=what, registry=self.host)
                if not stream:
                    read_capped(response, max_body, what=what, registry=self.host)
            except httpx.TransportError as exc:
                if retry and not is_certificate_error(exc) and self.waits.may_retry(attempt, started, 0.0):
                    self.waits.pause(self.waits.backoff(attempt), status=None, method=method, url=self.url(path))
                    attempt += 1
                    continue
                phrase, cause = describe_transport(exc)
                raise TransportError(
                    f"{what}: {self.host}: {phrase}",
                    cause=cause,
                    registry=self.host,
                    method=method,
                    url=safe_url(self.url(path)),
                ) from exc
            return response

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
            if self.auth.anonymous:  # a token server hands anonymous callers tokens that grant nothing
                raise self.auth.missing()
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
        """Loopback and insecure hosts: plain HTTP first; switch to HTTPS when the server speaks TLS.

        Reads probe side by side (sending one twice is harmless), so a command's first requests still go out
        together; a request with a body probes alone, as it may not be sendable twice.
        """
        if method in ("GET", "HEAD"):
            response = self._exchange(method, f"http://{self.host}{path}", headers, params, content)
            if not speaks_tls(response):
                self._scheme = "http"
                return response
            response.close()
            with self._lock:
                self._switch_to_tls()
            return self._exchange(method, self.url(path), headers, params, content)
        with self._lock:
            if self._scheme is None:
                response = self._exchange(method, f"http://{self.host}{path}", headers, params, content)
                if not speaks_tls(response):
                    self._scheme = "http"
                    return response
                response.close()
                self._switch_to_tls()
        return self._exchange(method, self.url(path), headers, params, content)

    def _switch_to_tls(self) -> None:
        """Use HTTPS from now on (call with the lock held); the first probe to learn it switches."""
        if self._scheme == "https":
            return
        self._retired.append(self._http)  # another probe may still be reading from it
        self._http = self._client(verify=True)
        self._scheme = "https"
        log.debug("%s speaks TLS; using HTTPS", self.host)

    def _send_auth(self, request: httpx.Request) -> httpx.Response:
        """Send a token-server request (retried like any other safe request)."""
        attempt = 0
        started = time.monotonic()
        while True:
            try:
                response = self._http.send(request)
            except httpx.TransportError as exc:
                if self.waits.may_retry(attempt, started, 0.0):
                    self.waits.pause(
                        self.waits.backoff(attempt), status=None, method=request.method, url=str(request.url)
                    )
                    attempt += 1
                    continue
                phrase, cause = describe_transport(exc)
                raise TransportError(
                    f"token server {request.url.host}: {phrase}", cause=cause, registry=self.host
                ) from exc
            self.stats.record(request.method, request.url.path, response.status_code, auth=True)
            if response.status_code in RETRY_STATUSES:
                delay = self.waits.delay_for(response, f"token request to {request.url.host}", attempt, started)
                if delay is not None:
                    self.waits.pause(delay, status=response.status_code, method=request.method, url=str(request.url))
                    attempt += 1
                    continue
            return response
