"""A proxy in front of a real distribution 2.8 registry that answers as a hosted registry does.

Like :mod:`tests.infra.proxy` it forwards HTTP/1.1 on one pinned upstream connection per client
connection, streaming bodies (``Host`` unchanged, so the registry's ``Location`` URLs point back here).
Unlike it, it does not inject faults: it answers what :class:`~tests.infra.emulations.Behaviour` says a
hosted registry answers (GHCR's 4 MiB chunk cap, ECR's 201 PATCHes and declined mounts, immutable tags,
405 deletes, 429s, redirected blobs, paginated tag lists, token challenges), each with its documented
status and error body. A :class:`~tests.infra.storage_host.StorageHost` on a second loopback port stands
in for the host blob downloads are redirected to, recording the headers it receives.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import secrets
import socket
import threading
from dataclasses import dataclass, field
from types import TracebackType
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx

from tests.infra import emulations as doc
from tests.infra.emulations import Behaviour
from tests.infra.httpwire import Head
from tests.infra.relay import Relay
from tests.infra.storage_host import StorageHost

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


class _Connection(Relay):
    """One client connection, answered as the emulated registry would."""

    def __init__(self, emulator: Emulator, client: socket.socket) -> None:
        super().__init__(client, emulator.upstream)
        self.emu = emulator
        self.b = emulator.behaviour

    def record(self, method: str, target: str, status: int, emulated: bool, note: str) -> None:
        self.emu.record(method, target, status, emulated, self.received, note)

    def exchange(self, head: Head) -> bool:
        method, target, _ = head.start.split(" ", 2)
        parts = urlsplit(target)
        path, query = parts.path, dict(parse_qsl(parts.query))
        b, emu = self.b, self.emu
        if b.auth == "bearer" and path == b.realm_path:
            self.drain(head)
            return self.answer(method, target, 200, {"token": emu.new_token(), "expires_in": 300})
        if not emu.authorized(head):
            self.drain(head)
            challenge = {"WWW-Authenticate": emu.challenge()}
            return self.answer(
                method, target, 401, doc.error_body("UNAUTHORIZED", "authentication required"), challenge
            )
        head = head.without("Authorization")
        upload = _UPLOAD.match(path)
        throttled = upload and method in ("POST", "PATCH", "PUT") and b.throttle_uploads_every
        if throttled and emu.count_upload() % (b.throttle_uploads_every or 1) == 0:
            self.drain(head)
            return self.answer(method, target, 429, doc.TOO_MANY, {"Retry-After": b.retry_after})
        if method == "DELETE" and "/manifests/" in path and b.delete_unsupported:
            self.drain(head)
            return self.answer(method, target, 405, doc.UNSUPPORTED)
        if upload and method == "POST" and "mount" in query:
            return self._mount(method, target, head, upload.group(1), query)
        if upload and method == "POST":
            return self.forward(method, target, head, add=self._min_header())
        if upload and method == "PATCH":
            return self._patch(method, target, head, path)
        if method == "PUT" and "/manifests/" in path:
            return self._put_manifest(method, target, head, path)
        if method == "GET" and "/blobs/sha256:" in path and b.redirect_blobs and self.emu.storage is not None:
            self.drain(head)
            return self.answer(method, target, 307, b"", {"Location": self.emu.storage.signed_url(path)})
        if method == "HEAD" and "/blobs/sha256:" in path and b.missing_blob_head != 404:
            return self.forward(method, target, head, status_map={404: b.missing_blob_head})
        if method == "GET" and path.endswith("/tags/list") and b.tag_page:
            return self._tags(method, target, head, path, query)
        if method == "GET" and "/referrers/" in path and b.referrers_html_redirect and self.emu.storage is not None:
            self.drain(head)
            return self.answer(method, target, 302, b"", {"Location": self.emu.storage.url + "/v3/signin"})
        return self.forward(method, target, head)

    # -- behaviours ----------------------------------------------------------------------------------

    def _min_header(self) -> dict[str, str]:
        return {"OCI-Chunk-Min-Length": str(self.b.chunk_min)} if self.b.chunk_min and self.b.announce_min else {}

    def _mount(self, method: str, target: str, head: Head, repository: str, query: dict[str, str]) -> bool:
        if self.b.mount == "unauthorized":  # goharbor/harbor#17097
            self.drain(head)
            project = query.get("from", "").split("/", 1)[0]
            body = doc.error_body("UNAUTHORIZED", f"project {project} not found: project {project} not found")
            return self.answer(method, target, 401, body, {"WWW-Authenticate": self.emu.challenge()})
        if self.b.mount == "decline":  # aws/containers-roadmap#2860: a fresh upload session, 202
            plain = f"/v2/{repository}/blobs/uploads/"
            return self.forward(method, target, Head(f"POST {plain} HTTP/1.1", head.headers), add=self._min_header())
        return self.forward(method, target, head)

    def _patch(self, method: str, target: str, head: Head, path: str) -> bool:
        length = int(head.get("Content-Length") or -1)
        ranged = head.get("Content-Range") is not None
        earlier = self.emu.patch_sizes(path, length)
        if ranged and self.b.chunk_cap and length > self.b.chunk_cap:  # GHCR
            self.drain(head)
            return self.answer(method, target, 416, doc.TOO_LARGE)
        if ranged and self.b.chunk_min and earlier and 0 <= earlier[-1] < self.b.chunk_min:  # ECR
            self.drain(head)
            return self.answer(method, target, 400, doc.PART_TOO_SMALL)
        status_map = {202: self.b.patch_status} if self.b.patch_status != 202 else None
        if self.b.drop_later_patches and earlier:  # aws/containers-roadmap#2831: accepted, not kept
            self.drain(head)
            state = self.emu.upload_status(target)  # distribution wants the upload's _state query
            keep = {k: v for k, v in state.headers.items() if k.lower() in ("location", "range", "docker-upload-uuid")}
            return self.answer(method, target, self.b.patch_status, b"", keep, note="dropped")
        return self.forward(method, target, head, status_map=status_map)

    def _put_manifest(self, method: str, target: str, head: Head, path: str) -> bool:
        repository, _, reference = path[len("/v2/") :].rpartition("/manifests/")
        if self.b.immutable and not _DIGEST.match(reference) and self.emu.upstream_head(path).status_code == 200:
            self.drain(head)
            status, body = doc.immutable_refusal(self.b.immutable, repository, reference)
            return self.answer(method, target, status, body)
        if not self.b.oci_subject_without_api:
            return self.forward(method, target, head)
        body = self.read_body(head)
        subject = _subject(body)
        if subject is None:
            return self.forward(method, target, head, body=body)
        return self.forward(method, target, head, body=body, add={"OCI-Subject": subject}, note="oci-subject")

    def _tags(self, method: str, target: str, head: Head, path: str, query: dict[str, str]) -> bool:
        self.drain(head)
        page = min(int(query.get("n") or self.b.tag_page or 100), self.b.tag_page or 100)
        tags = self.emu.all_tags(path[len("/v2/") : -len("/tags/list")])
        after = [t for t in tags if "last" not in query or t > query["last"]]
        shown, more = after[:page], len(after) > page
        name = path[len("/v2/") : -len("/tags/list")]
        extra = {"Link": f'<{path}?{urlencode({"n": page, "last": shown[-1]})}>; rel="next"'} if more else {}
        return self.answer(method, target, 200, {"name": name, "tags": shown}, extra)


def _subject(body: bytes) -> str | None:
    try:
        subject = json.loads(body).get("subject")
    except (ValueError, AttributeError):
        return None
    return subject.get("digest") if isinstance(subject, dict) else None
