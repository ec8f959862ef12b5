"""A second loopback server standing in for object storage behind a registry (S3, a CDN, Pulp's content
app): blob downloads are redirected here with a signed URL, and every request's headers are recorded."""

from __future__ import annotations

import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import httpx

__all__ = ["StorageHost"]


class StorageHost:
    """A second loopback server standing in for object storage: serves redirected blob downloads from
    the registry (the signature in the URL is its only credential) and records every request's headers;
    ``/v3/signin`` is an HTML sign-in page."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.seen: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _storage_handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="storage-host", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def signed_url(self, path: str) -> str:
        return f"{self.url}/storage{path}?X-Amz-Signature={secrets.token_hex(16)}&X-Amz-Expires=600"

    def record(self, headers: dict[str, str]) -> None:
        with self._lock:
            self.seen.append(headers)

    def __enter__(self) -> StorageHost:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def _storage_handler(host: StorageHost) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            host.record({k.lower(): v for k, v in self.headers.items()} | {":path": self.path})
            path = urlsplit(self.path).path
            if path == "/v3/signin":
                page = b"<!DOCTYPE html><html><body>Sign in</body></html>"
                self._send(200, page, "text/html; charset=utf-8")
                return
            blob = path.removeprefix("/storage")
            headers = {"Range": self.headers["Range"]} if self.headers.get("Range") else {}
            with httpx.stream("GET", f"http://{host.upstream}{blob}", headers=headers, timeout=60) as answer:
                self.send_response(answer.status_code)
                for name in ("Content-Length", "Content-Range", "Content-Type"):
                    if answer.headers.get(name):
                        self.send_header(name, answer.headers[name])
                self.end_headers()
                for chunk in answer.iter_raw(1024 * 1024):
                    self.wfile.write(chunk)

        def _send(self, status: int, body: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    return Handler
