"""One client connection of an HTTP/1.1 relay: answer locally, or forward to a pinned upstream
connection with the answer's status or headers changed, streaming bodies both ways."""

from __future__ import annotations

import contextlib
import io
import json
import socket
from http import HTTPStatus
from typing import Any

from tests.infra.httpwire import Head, Sink, WireError, copy_body, read_head, request_framing, response_framing


class Relay:
    """Subclasses implement :meth:`exchange` (one request) and :meth:`record` (what was answered)."""

    def __init__(self, client: socket.socket, upstream: tuple[str, int]) -> None:
        self.client = client
        self.upstream = upstream
        self.reader: io.BufferedReader = client.makefile("rb")
        self.up: socket.socket | None = None
        self.up_reader: io.BufferedReader | None = None
        self.received = Head("", ())  # the request as it arrived (credentials included), for the log

    def exchange(self, head: Head) -> bool:
        """Handle one request; False closes the connection."""
        raise NotImplementedError

    def record(self, method: str, target: str, status: int, emulated: bool, note: str) -> None:
        """Called before an answer is sent (so a log is complete when the client sees it)."""

    def serve(self) -> None:
        try:
            while (head := read_head(self.reader)) is not None:
                if head.has_token("Expect", "100-continue"):
                    head = head.without("Expect")
                    self.client.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                self.received = head
                if not self.exchange(head):
                    break
        except (OSError, WireError, ValueError):
            pass
        finally:
            for closable in (self.reader, self.up_reader, self.up, self.client):
                if closable is not None:
                    with contextlib.suppress(OSError):
                        closable.close()

    def drain(self, head: Head) -> None:
        copy_body(self.reader, None, *request_framing(head))

    def read_body(self, head: Head) -> bytes:
        framing, length = request_framing(head)
        return self.reader.read(length) if framing == "length" else b""

    def answer(
        self,
        method: str,
        target: str,
        status: int,
        body: bytes | dict[str, Any],
        headers: dict[str, str] | None = None,
        *,
        note: str = "",
    ) -> bool:
        """Answer locally (the request body must have been read), with a JSON or raw body."""
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        fields = {"Content-Type": "application/json", "Content-Length": str(len(data)), **(headers or {})}
        fields.setdefault("Docker-Distribution-Api-Version", "registry/2.0")
        lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}", *(f"{k}: {v}" for k, v in fields.items())]
        self.record(method, target, status, True, note)
        self.client.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (b"" if method == "HEAD" else data))
        return True

    def _upstream(self) -> tuple[socket.socket, io.BufferedReader]:
        if self.up is None or self.up_reader is None:
            self.up = socket.create_connection(self.upstream, timeout=120)
            self.up.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.up_reader = self.up.makefile("rb")
        return self.up, self.up_reader

    def forward(
        self,
        method: str,
        target: str,
        head: Head,
        *,
        body: bytes | None = None,
        add: dict[str, str] | None = None,
        status_map: dict[int, int] | None = None,
        note: str = "",
    ) -> bool:
        """Send ``head`` (and the client's body, or ``body``) upstream; relay the answer with its status
        mapped by ``status_map`` and the headers ``add`` appended."""
        up, up_reader = self._upstream()
        up.sendall(head.encode())
        if body is not None:
            up.sendall(body)
        else:
            copy_body(self.reader, Sink(up), *request_framing(head))
        resp = read_head(up_reader)
        if resp is None:
            raise WireError("upstream closed without answering")
        status = int(resp.start.split(" ")[1])
        framing, length = response_framing(resp, method, status)
        shown = (status_map or {}).get(status, status)
        headers = [*resp.headers, *(add or {}).items()]
        self.record(method, target, shown, shown != status or bool(add), note)
        self.client.sendall(Head(f"HTTP/1.1 {shown} {HTTPStatus(shown).phrase}", tuple(headers)).encode())
        copy_body(up_reader, Sink(self.client), framing, length)
        return not (framing == "close" or resp.has_token("Connection", "close"))
