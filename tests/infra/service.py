"""A stand-in service for deploys and a webhook receiver, both real HTTP servers on loopback.

:class:`Service`: a ``command`` deploy target writes the digest it deploys to :attr:`Service.state`
(``printf %s "$HOIST_DIGEST" > state``); ``GET /health`` answers 200, or 500 while the deployed digest
is one of :attr:`Service.broken` — a release whose bug only shows once it serves.

:class:`Hooks`: receives hoist's JSON webhook deliveries and keeps each event.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


@dataclass
class Service:
    state: Path
    port: int = 0
    broken: set[str] = field(default_factory=set)
    checks: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/health"

    @property
    def deploy_command(self) -> str:
        return f'printf %s "$HOIST_DIGEST" > {self.state}'

    def serving(self) -> str | None:
        return self.state.read_text() if self.state.exists() else None


@dataclass
class Hooks:
    port: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hoist"

    def kinds(self) -> list[str]:
        return [str(e["kind"]) for e in self.events]


def _serve(handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@contextmanager
def running_service(state: Path) -> Iterator[Service]:
    service = Service(state=state)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            service.checks += 1
            status = 500 if service.serving() in service.broken else 200
            body = f"serving {service.serving()}".encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = _serve(Handler)
    service.port = server.server_address[1]
    try:
        yield service
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def running_hooks() -> Iterator[Hooks]:
    hooks = Hooks()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            hooks.events.append(json.loads(body)["event"])
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = _serve(Handler)
    hooks.port = server.server_address[1]
    try:
        yield hooks
    finally:
        server.shutdown()
        server.server_close()
