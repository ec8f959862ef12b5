"""Fault rules for the proxy, its request log entries, and distribution-style error answers."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Literal

FaultKind = Literal["reset", "status", "truncate", "flip", "latency", "rewrite", "race", "trust"]
_ERROR_CODES = {
    401: "UNAUTHORIZED",
    403: "DENIED",
    404: "NOT_FOUND",
    429: "TOOMANYREQUESTS",
    503: "UNAVAILABLE",
}


@dataclass
class Fault:
    """A rule for requests matching ``method`` (None: any) and ``path_regex`` (searched in path+query).

    ``reset``: RST the client before forwarding, or (``after_bytes``) after N response body bytes.
    ``status``: answer ``status`` with a distribution-style error body and extra ``headers``.
    ``truncate``: forward headers, then only ``after_bytes`` body bytes, then close.
    ``flip``: invert the response body byte at ``offset``.  ``latency``: sleep ``delay`` first.
    ``rewrite``: replace ``find`` by ``replace`` (same length) in each piece of the response body read
    (bodies of up to 1 MiB arrive in one piece).
    ``race``: another writer: forward the request, and before relaying the upstream's answer, ``PUT``
    ``body`` (with ``headers``) to the same target upstream — e.g. another manifest to the tag just
    written, before the client can read the tag back.
    ``race`` logs the client's request (fault None), then the racing one (fault ``race``).
    ``trust``: a store that does not check what it is given: an upload's ``PUT …?digest=`` (or any request
    with a ``digest=`` query) is forwarded with the digest replaced by the sha256 of the body actually
    received, so distribution stores whatever arrived (bodies with a Content-Length only).
    ``forward=True`` lets the upstream handle the request before a ``reset``/``status`` answer.
    Fires ``times`` times (None: forever); ``fired`` counts how often it did.
    """

    kind: FaultKind
    method: str | None = None
    path_regex: str | None = None
    times: int | None = 1
    status: int = 503
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    after_bytes: int | None = None
    offset: int = 0
    delay: float = 0.0
    forward: bool = False
    find: bytes = b""
    replace: bytes = b""
    fired: int = 0

    def active(self) -> bool:
        return self.times is None or self.fired < self.times

    def matches(self, method: str, target: str) -> bool:
        if self.method is not None and self.method.upper() != method:
            return False
        return self.path_regex is None or re.search(self.path_regex, target) is not None


@dataclass(frozen=True)
class ProxiedRequest:
    """One request seen by the proxy: ``status`` sent to the client (None if reset before any)."""

    method: str
    path: str
    status: int | None
    fault: FaultKind | None


def error_response(fault: Fault, *, head_only: bool = False) -> bytes:
    """The complete HTTP answer for a ``status`` fault (``{"errors": [...]}`` unless ``fault.body``)."""
    code = _ERROR_CODES.get(fault.status, "UNKNOWN")
    error = {"code": code, "message": f"fault proxy answered {fault.status}", "detail": None}
    body = fault.body if fault.body is not None else json.dumps({"errors": [error]}).encode()
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "Content-Length": str(len(body)),
        "Docker-Distribution-Api-Version": "registry/2.0",
        **fault.headers,
    }
    try:
        phrase = HTTPStatus(fault.status).phrase
    except ValueError:
        phrase = "Injected"
    lines = [f"HTTP/1.1 {fault.status} {phrase}", *(f"{k}: {v}" for k, v in headers.items())]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head if head_only else head + body
