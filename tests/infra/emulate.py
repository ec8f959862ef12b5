"""A proxy in front of a real distribution 2.8 registry that answers as a hosted registry does.

Like :mod:`tests.infra.proxy` it forwards HTTP/1.1 on one pinned upstream connection per client
connection, streaming bodies (``Host`` unchanged, so the registry's ``Location`` URLs point back here).
Unlike it, it does not inject faults: it answers what :class:`~tests.infra.emulations.Behaviour` says a
hosted registry answers (GHCR's 4 MiB chunk cap, ECR's 201 PATCHes and declined mounts, immutable tags,
405 deletes, 429s, redirected blobs, paginated tag lists, token challenges), each with its documented
status and error body. A :class:`StorageHost` on a second loopback port stands in for the host blob
downloads are redirected to, recording the headers it receives.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import re
import secrets
import socket
import threading
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx

from tests.infra import emulations as doc
from tests.infra.emulations import Behaviour
from tests.infra.httpwire import Head, Sink, WireError, copy_body, read_head, request_framing, response_framing

ACCEPT = (
    "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json"
)
_DIGEST = re.compile(r"^[a-z0-9]+:[a-f0-9]{32,}$")
_UPLOAD = re.compile(r"^/v2/(.+)/blobs/uploads/")


@dataclass
class Seen:
    """One request as the emulator saw it, and what it answered."""

    method: str
    target: str
    status: int
    emulated: bool
    headers: dict[str, str] = field(default_factory=dict)
    note: str = ""  # what the emulation did: "dropped" (a PATCH body), "oci-subject" (header added), ...


class Emulator:
    """The emulating proxy; ``with Emulator(upstream, behaviour) as emu`` or ``start()``/``stop()``."""

    def __init__(self, upstream: str, behaviour: Behaviour, *, storage: StorageHost | None = None) -> None:
        host, _, port = upstream.rpartition(":")
        self.upstream = (host, int(port))
        self.behaviour = behaviour
        self.storage = storage
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=128)
        self._lock = threading.Lock()
        self._log: list[Seen] = []
        self._uploads = 0
        self._patches: dict[str, list[int]] = {}  # upload path -> sizes of its PATCHes
        self._tokens: set[str] = set()
        self._api = httpx.Client(base_url=f"http://{upstream}", headers={"Host": self.host}, timeout=60)
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        addr, port = self._listener.getsockname()[:2]
        return f"{addr}:{port}"

    @property
    def requests(self) -> list[Seen]:
        with self._lock:
            return list(self._log)

    def emulated(self, status: int | None = None) -> list[Seen]:
        """The requests the emulator answered itself (optionally only those with ``status``)."""
        return [s for s in self.requests if s.emulated and (status is None or s.status == status)]

    def start(self) -> Emulator:
        self._thread = threading.Thread(target=self._accept, name=f"emulator-{self.behaviour.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._api.close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=_Connection(self, client).serve, daemon=True).start()

    def record(self, method: str, target: str, status: int, emulated: bool, head: Head, note: str = "") -> None:
        with self._lock:
            self._log.append(Seen(method, target, status, emulated, {k.lower(): v for k, v in head.headers}, note))

    def noted(self, note: str) -> list[Seen]:
        return [s for s in self.requests if s.note == note]

    # -- decisions (called from connection threads) --------------------------------------------------

    def count_upload(self) -> int:
        with self._lock:
            self._uploads += 1
            return self._uploads

    def patch_sizes(self, path: str, size: int) -> list[int]:
        """The sizes of earlier PATCHes to this upload; records this one."""
        with self._lock:
            earlier = self._patches.setdefault(path, [])
            before = list(earlier)
            earlier.append(size)
            return before

    def new_token(self) -> str:
        token = secrets.token_urlsafe(16)
        with self._lock:
            self._tokens.add(token)
        return token

    def authorized(self, head: Head) -> bool:
        b = self.behaviour
        value = head.get("Authorization") or ""
        if b.auth == "bearer":
            with self._lock:
                return value.startswith("Bearer ") and value[7:] in self._tokens
        if b.auth == "basic":
            if not value.startswith("Basic "):
                return False
            user, _, password = base64.b64decode(value[6:]).decode().partition(":")
            return b.users.get(user) == password
        return True

    def challenge(self) -> str:
        b = self.behaviour
        if b.auth == "basic":
            return f'Basic realm="{b.basic_realm}",service="{b.service}"'
        return f'Bearer realm="http://{self.host}{b.realm_path}",service="{b.service}"'

    def upstream_head(self, path: str) -> httpx.Response:
        return self._api.head(path, headers={"Accept": ACCEPT})

    def upload_status(self, target: str) -> httpx.Response:
        return self._api.get(target)

    def all_tags(self, repository: str) -> list[str]:
        answer = self._api.get(f"/v2/{repository}/tags/list")
        return sorted(answer.json().get("tags") or []) if answer.status_code == 200 else []


class _Connection:
    """One client connection and its pinned upstream connection."""

    def __init__(self, emulator: Emulator, client: socket.socket) -> None:
        self.emu = emulator
        self.b = emulator.behaviour
        self.client = client
        self.reader: io.BufferedReader = client.makefile("rb")
        self.up: socket.socket | None = None
        self.up_reader: io.BufferedReader | None = None
        self.received = Head("", ())  # the request as it arrived (credentials included), for the log

    def serve(self) -> None:
        try:
            while (head := read_head(self.reader)) is not None:
                if head.has_token("Expect", "100-continue"):
                    head = head.without("Expect")
                    self.client.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                if not self._exchange(head):
                    break
        except (OSError, WireError, ValueError):
            pass
        finally:
            for closable in (self.reader, self.up_reader, self.up, self.client):
                if closable is not None:
                    with contextlib.suppress(OSError):
                        closable.close()

    def _exchange(self, head: Head) -> bool:
        method, target, _ = head.start.split(" ", 2)
        self.received = head
        parts = urlsplit(target)
        path, query = parts.path, dict(parse_qsl(parts.query))
        b, emu = self.b, self.emu
        if b.auth == "bearer" and path == b.realm_path:
            self._drain(head)
            return self._answer(method, target, head, 200, {"token": emu.new_token(), "expires_in": 300})
        if not emu.authorized(head):
            self._drain(head)
            challenge = {"WWW-Authenticate": emu.challenge()}
            return self._answer(
                method, target, head, 401, doc.error_body("UNAUTHORIZED", "authentication required"), challenge
            )
        head = head.without("Authorization")
        upload = _UPLOAD.match(path)
        throttled = upload and method in ("POST", "PATCH", "PUT") and b.throttle_uploads_every
        if throttled and emu.count_upload() % (b.throttle_uploads_every or 1) == 0:
            self._drain(head)
            return self._answer(method, target, head, 429, doc.TOO_MANY, {"Retry-After": b.retry_after})
        if method == "DELETE" and "/manifests/" in path and b.delete_unsupported:
            self._drain(head)
            return self._answer(method, target, head, 405, doc.UNSUPPORTED)
        if upload and method == "POST" and "mount" in query:
            return self._mount(method, target, head, upload.group(1), query)
        if upload and method == "POST":
            return self._forward(method, target, head, add=self._min_header())
        if upload and method == "PATCH":
            return self._patch(method, target, head, path)
        if method == "PUT" and "/manifests/" in path:
            return self._put_manifest(method, target, head, path)
        if method == "GET" and "/blobs/sha256:" in path and b.redirect_blobs and self.emu.storage is not None:
            self._drain(head)
            return self._answer(method, target, head, 307, b"", {"Location": self.emu.storage.signed_url(path)})
        if method == "HEAD" and "/blobs/sha256:" in path and b.missing_blob_head != 404:
            return self._forward(method, target, head, status_map={404: b.missing_blob_head})
        if method == "GET" and path.endswith("/tags/list") and b.tag_page:
            return self._tags(method, target, head, path, query)
        if method == "GET" and "/referrers/" in path and b.referrers_html_redirect and self.emu.storage is not None:
            self._drain(head)
            return self._answer(method, target, head, 302, b"", {"Location": self.emu.storage.url + "/v3/signin"})
        return self._forward(method, target, head)

    # -- behaviours ----------------------------------------------------------------------------------

    def _min_header(self) -> dict[str, str]:
        return {"OCI-Chunk-Min-Length": str(self.b.chunk_min)} if self.b.chunk_min else {}

    def _mount(self, method: str, target: str, head: Head, repository: str, query: dict[str, str]) -> bool:
        if self.b.mount == "unauthorized":  # goharbor/harbor#17097
            self._drain(head)
            project = query.get("from", "").split("/", 1)[0]
            body = doc.error_body("UNAUTHORIZED", f"project {project} not found: project {project} not found")
            return self._answer(method, target, head, 401, body, {"WWW-Authenticate": self.emu.challenge()})
        if self.b.mount == "decline":  # aws/containers-roadmap#2860: a fresh upload session, 202
            plain = f"/v2/{repository}/blobs/uploads/"
            return self._forward(method, target, Head(f"POST {plain} HTTP/1.1", head.headers), add=self._min_header())
        return self._forward(method, target, head)

    def _patch(self, method: str, target: str, head: Head, path: str) -> bool:
        length = int(head.get("Content-Length") or -1)
        ranged = head.get("Content-Range") is not None
        earlier = self.emu.patch_sizes(path, length)
        if ranged and self.b.chunk_cap and length > self.b.chunk_cap:  # GHCR
            self._drain(head)
            return self._answer(method, target, head, 416, doc.TOO_LARGE)
        if ranged and self.b.chunk_min and earlier and 0 <= earlier[-1] < self.b.chunk_min:  # ECR
            self._drain(head)
            return self._answer(method, target, head, 400, doc.PART_TOO_SMALL)
        status_map = {202: self.b.patch_status} if self.b.patch_status != 202 else None
        if self.b.drop_later_patches and earlier:  # aws/containers-roadmap#2831: accepted, not kept
            self._drain(head)
            state = self.emu.upload_status(target)  # distribution wants the upload's _state query
            keep = {k: v for k, v in state.headers.items() if k.lower() in ("location", "range", "docker-upload-uuid")}
            return self._answer(method, target, head, self.b.patch_status, b"", keep, note="dropped")
        return self._forward(method, target, head, status_map=status_map)

    def _put_manifest(self, method: str, target: str, head: Head, path: str) -> bool:
        repository, _, reference = path[len("/v2/") :].rpartition("/manifests/")
        if self.b.immutable and not _DIGEST.match(reference) and self.emu.upstream_head(path).status_code == 200:
            self._drain(head)
            status, body = doc.immutable_refusal(self.b.immutable, repository, reference)
            return self._answer(method, target, head, status, body)
        if not self.b.oci_subject_without_api:
            return self._forward(method, target, head)
        body = self._read_body(head)
        subject = _subject(body)
        if subject is None:
            return self._forward(method, target, head, body=body)
        return self._forward(method, target, head, body=body, add={"OCI-Subject": subject}, note="oci-subject")

    def _tags(self, method: str, target: str, head: Head, path: str, query: dict[str, str]) -> bool:
        self._drain(head)
        page = min(int(query.get("n") or self.b.tag_page or 100), self.b.tag_page or 100)
        tags = self.emu.all_tags(path[len("/v2/") : -len("/tags/list")])
        after = [t for t in tags if "last" not in query or t > query["last"]]
        shown, more = after[:page], len(after) > page
        name = path[len("/v2/") : -len("/tags/list")]
        extra = {"Link": f'<{path}?{urlencode({"n": page, "last": shown[-1]})}>; rel="next"'} if more else {}
        return self._answer(method, target, head, 200, {"name": name, "tags": shown}, extra)

    # -- plumbing ------------------------------------------------------------------------------------

    def _drain(self, head: Head) -> None:
        copy_body(self.reader, None, *request_framing(head))

    def _read_body(self, head: Head) -> bytes:
        framing, length = request_framing(head)
        return self.reader.read(length) if framing == "length" else b""

    def _answer(
        self,
        method: str,
        target: str,
        head: Head,
        status: int,
        body: bytes | dict[str, Any],
        headers: dict[str, str] | None = None,
        *,
        note: str = "",
    ) -> bool:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        fields = {"Content-Type": "application/json", "Content-Length": str(len(data)), **(headers or {})}
        fields.setdefault("Docker-Distribution-Api-Version", "registry/2.0")
        lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}", *(f"{k}: {v}" for k, v in fields.items())]
        self.emu.record(method, target, status, True, self.received, note)  # before the client can act on it
        self.client.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (b"" if method == "HEAD" else data))
        return True

    def _upstream(self) -> tuple[socket.socket, io.BufferedReader]:
        if self.up is None or self.up_reader is None:
            self.up = socket.create_connection(self.emu.upstream, timeout=120)
            self.up.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.up_reader = self.up.makefile("rb")
        return self.up, self.up_reader

    def _forward(
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
        self.emu.record(method, target, shown, shown != status or bool(add), self.received, note)
        self.client.sendall(Head(f"HTTP/1.1 {shown} {HTTPStatus(shown).phrase}", tuple(headers)).encode())
        copy_body(up_reader, Sink(self.client), framing, length)
        return not (framing == "close" or resp.has_token("Connection", "close"))


def _subject(body: bytes) -> str | None:
    try:
        subject = json.loads(body).get("subject")
    except (ValueError, AttributeError):
        return None
    return subject.get("digest") if isinstance(subject, dict) else None


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
