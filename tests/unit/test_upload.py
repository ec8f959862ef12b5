"""Blob uploads (store/registry/upload.py) against the distribution upload API as documented — POST opens a
session, PATCH appends (``Content-Range`` inclusive), GET reports ``Range``, PUT ``?digest=`` commits —
served in memory through ``httpx.MockTransport``, so each answer a registry may give can be staged: a
chunk refused as too large, a ``Range`` that stays behind, a dropped session, a corrupt assembly.

The end-to-end behaviour against real registries is in tests/test_faults.py, tests/test_integrity.py and
tests/test_hosted_registries.py; here each rule of the upload code is pinned one by one.
Source of the protocol: the OCI distribution spec, "Pushing blobs" (monolithic, chunked, resuming).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from hoist.digest import Digest
from hoist.errors import DigestMismatch, NotFound, RegistryError, TransportError
from hoist.manifest import Descriptor
from hoist.store.base import BytesBlobSource
from hoist.store.registry.answers import Wait
from hoist.store.registry.transport import RegistryClient, RegistryOptions, RequestStats
from hoist.store.registry.upload import (
    UploadSession,
    restartable,
    session_from,
    start_upload,
    upload_blob,
    with_query,
)

KiB = 1024
REPO = "o/app"


@dataclass
class Session:
    held: bytearray = field(default_factory=bytearray)
    state: int = 0


@dataclass
class Registry:
    """distribution's blob upload API, in memory, strict about upload state; ``hooks`` misbehave on cue."""

    min_chunk: str | None = None
    empty_range: str = "0-0"
    patch_status: int = 202
    """What a PATCH is answered with: 202 as distribution, 204 as some others, 201 as ECR."""
    hooks: list[Callable[[httpx.Request, Session], httpx.Response | None]] = field(default_factory=list)
    sessions: dict[str, Session] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)
    log: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)

    def handler(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        query = dict(parse_qsl(request.url.query.decode()))
        self.log.append((request.method, request.url.path, {**dict(request.headers), **query, "body": str(len(body))}))
        if request.method == "POST":
            uid = f"u{len(self.sessions)}"
            self.sessions[uid] = Session()
            headers = {"Location": self._location(uid), "Range": "0-0"}
            if self.min_chunk is not None:
                headers["OCI-Chunk-Min-Length"] = self.min_chunk
            return httpx.Response(202, headers=headers)
        uid = request.url.path.rsplit("/", 1)[1]
        session = self.sessions.get(uid)
        if session is None:
            return error(404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry")
        if query.get("_state") != str(session.state):
            return error(400, "BLOB_UPLOAD_INVALID", "stale upload state")
        for hook in self.hooks:
            answer = hook(request, session)
            if answer is not None:
                return answer
        if request.method == "GET":
            return httpx.Response(204, headers=self._progress(uid, session, bump=False))
        if request.method == "PATCH":
            span = request.headers.get("content-range")
            if span is not None:
                start, _, last = span.partition("-")
                if int(start) != len(session.held) or int(last) - int(start) + 1 != len(body):
                    return error(416, "RANGE_INVALID", "invalid content range")
            session.held += body
            return httpx.Response(self.patch_status, headers=self._progress(uid, session))
        if request.method == "PUT":
            session.held += body
            digest = query.get("digest", "")
            if digest != f"sha256:{hashlib.sha256(session.held).hexdigest()}":
                return error(400, "DIGEST_INVALID", "provided digest did not match uploaded content")
            self.blobs[digest] = bytes(session.held)
            del self.sessions[uid]
            return httpx.Response(201, headers={"Location": f"/v2/{REPO}/blobs/{digest}"})
        return httpx.Response(405)

    def _location(self, uid: str) -> str:
        return f"/v2/{REPO}/blobs/uploads/{uid}?_state={self.sessions[uid].state}"

    def _progress(self, uid: str, session: Session, *, bump: bool = True) -> dict[str, str]:
        if bump:
            session.state += 1
        end = f"0-{len(session.held) - 1}" if session.held else self.empty_range
        return {"Location": self._location(uid), "Range": end}

    def requests(self, method: str | None = None) -> list[tuple[str, str, dict[str, str]]]:
        return [entry for entry in self.log if method is None or entry[0] == method]


def error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json={"errors": [{"code": code, "message": message}]}, headers=headers)


def client(registry: Registry, host: str = "reg.example", **options: object) -> RegistryClient:
    opts = RegistryOptions(transport=httpx.MockTransport(registry.handler), backoff=0.001, **options)  # type: ignore[arg-type]
    return RegistryClient(host, opts, RequestStats())


def source(size: int, seed: bytes = b"blob") -> BytesBlobSource:
    data = (hashlib.sha256(seed).digest() * (size // 32 + 1))[:size]
    return BytesBlobSource(Descriptor("application/octet-stream", Digest.of(data), size), data)


def stored(registry: Registry, blob: BytesBlobSource) -> bool:
    return registry.blobs.get(str(blob.descriptor.digest)) == blob.data


# -- the small helpers ------------------------------------------------------------------------------------


def test_with_query_keeps_the_registry_state_and_sets_the_digest() -> None:
    url = "https://r.example/v2/o/app/blobs/uploads/u1?_state=abc&empty=&digest=sha256:old"
    merged = with_query(url, digest="sha256:new")
    parts = urlsplit(merged)
    assert parts.path == "/v2/o/app/blobs/uploads/u1" and parts.netloc == "r.example"
    assert parse_qsl(parts.query, keep_blank_values=True) == [
        ("_state", "abc"),
        ("empty", ""),
        ("digest", "sha256:new"),
    ]
    assert with_query("/v2/x/blobs/uploads/u", digest="d") == "/v2/x/blobs/uploads/u?digest=d"


def test_session_from_reads_the_location_and_the_minimum_chunk() -> None:
    registry = Registry()
    c = client(registry)
    opened = session_from(c, httpx.Response(202, headers={"Location": "/v2/o/app/blobs/uploads/u?_state=1"}), "w")
    assert opened == UploadSession("https://reg.example/v2/o/app/blobs/uploads/u?_state=1", 0)
    for announced, expected in (("1048576", 1048576), ("", 0), ("lots", 0), ("-5", 0)):
        answer = httpx.Response(202, headers={"Location": "https://up.example/x", "OCI-Chunk-Min-Length": announced})
        assert session_from(c, answer, "w") == UploadSession("https://up.example/x", expected)
    with pytest.raises(RegistryError) as missing:
        session_from(c, httpx.Response(202), "upload of blob x")
    assert str(missing.value) == "upload of blob x: reg.example started an upload without a Location"
    assert missing.value.registry == "reg.example"


def test_start_upload_opens_a_session_in_the_repository() -> None:
    registry = Registry(min_chunk="4096")
    opened = start_upload(client(registry), REPO, "w")
    assert opened.url == "https://reg.example/v2/o/app/blobs/uploads/u0?_state=0" and opened.min_chunk == 4096
    assert registry.requests()[0][:2] == ("POST", f"/v2/{REPO}/blobs/uploads/")


@pytest.mark.parametrize(
    ("exc", "again"),
    [
        (TransportError("reset"), True),
        (RegistryError("no status"), True),
        (RegistryError("x", status=500), True),
        (RegistryError("x", status=503), True),
        (RegistryError("x", status=408), True),
        (RegistryError("x", status=429), True),
        (RegistryError("x", status=499), False),
        (RegistryError("x", status=400), False),
        (RegistryError("x", status=416), False),
        (NotFound("x", status=404), False),
        (ValueError("x"), False),
    ],
)
def test_what_sending_again_can_cure(exc: Exception, again: bool) -> None:
    assert restartable(exc) is again


# -- the three ways a blob goes ---------------------------------------------------------------------------


def test_a_small_blob_is_one_put() -> None:
    registry = Registry()
    blob = source(10 * KiB)
    progress: list[int] = []
    upload_blob(client(registry, chunk_size=64 * KiB), REPO, blob, progress=progress.append)
    assert stored(registry, blob)
    assert [m for m, _, _ in registry.log] == ["POST", "PUT"]
    headers = registry.requests("PUT")[0][2]
    assert headers["content-type"] == "application/octet-stream"
    assert headers["content-length"] == str(10 * KiB) and headers["body"] == str(10 * KiB)
    assert headers["digest"] == str(blob.descriptor.digest) and headers["_state"] == "0"
    assert sum(progress) == 10 * KiB


def test_a_blob_of_exactly_the_chunk_size_is_still_one_put() -> None:
    registry = Registry()
    blob = source(64 * KiB)
    upload_blob(client(registry, chunk_size=64 * KiB), REPO, blob)
    assert [m for m, _, _ in registry.log] == ["POST", "PUT"] and stored(registry, blob)


def test_a_large_blob_goes_in_chunks_following_each_location() -> None:
    registry = Registry()
    blob = source(100 * KiB)
    progress: list[int] = []
    upload_blob(client(registry, chunk_size=40 * KiB), REPO, blob, progress=progress.append)
    assert stored(registry, blob)
    patches = registry.requests("PATCH")
    assert [h["content-range"] for _, _, h in patches] == ["0-40959", "40960-81919", "81920-102399"]
    assert [h["content-length"] for _, _, h in patches] == ["40960", "40960", "20480"]
    assert all(h["content-type"] == "application/octet-stream" for _, _, h in patches)
    assert [h["_state"] for _, _, h in patches] == ["0", "1", "2"], "each request goes where the last answer said"
    put = registry.requests("PUT")[0][2]
    assert put["content-length"] == "0" and put["body"] == "0" and put["_state"] == "3"
    assert put["digest"] == str(blob.descriptor.digest)
    assert sum(progress) == 100 * KiB


def test_the_registry_minimum_chunk_is_respected() -> None:
    registry = Registry(min_chunk=str(70 * KiB))
    blob = source(100 * KiB)
    upload_blob(client(registry, chunk_size=40 * KiB), REPO, blob)
    assert [h["content-range"] for _, _, h in registry.requests("PATCH")] == ["0-71679", "71680-102399"]
    assert stored(registry, blob)


def test_ghcr_gets_one_streamed_patch() -> None:
    """GHCR refuses chunks over 4 MiB; a PATCH without Content-Range passes (profile.py cites the sources)."""
    registry = Registry()
    blob = source(100 * KiB)
    upload_blob(client(registry, host="ghcr.io", chunk_size=40 * KiB), REPO, blob)
    assert stored(registry, blob)
    (patch,) = registry.requests("PATCH")
    assert "content-range" not in patch[2] and patch[2]["content-type"] == "application/octet-stream"
    assert patch[2]["body"] == str(100 * KiB)
    put = registry.requests("PUT")[0][2]
    assert put["_state"] == "1" and put["body"] == "0"


# -- when the registry does not keep up -------------------------------------------------------------------


def failing(method: str, times: int, answer: Callable[[], httpx.Response], *, keep: int = 0):  # type: ignore[no-untyped-def]
    """A hook: the first ``times`` requests of ``method`` are answered ``answer()`` (after keeping the
    first ``keep`` bytes of their body, as a registry that took part of a chunk)."""
    left = [times]

    def hook(request: httpx.Request, session: Session) -> httpx.Response | None:
        if request.method != method or left[0] == 0:
            return None
        left[0] -= 1
        session.held += request.read()[:keep]
        return answer()

    return hook


def test_a_failed_chunk_resumes_where_the_registry_stands() -> None:
    registry = Registry()
    registry.hooks.append(failing("PATCH", 1, lambda: error(500, "UNKNOWN", "boom"), keep=0))
    blob = source(100 * KiB)
    waits: list[Wait] = []
    upload_blob(client(registry, chunk_size=40 * KiB, on_wait=waits.append), REPO, blob)
    assert stored(registry, blob)
    methods = [m for m, _, _ in registry.log]
    assert methods == ["POST", "PATCH", "GET", "PATCH", "PATCH", "PATCH", "PUT"], "one session, resumed"
    assert [w.reason for w in waits] == [], "a 5xx is sent again at once"


def test_resuming_from_part_of_a_chunk() -> None:
    """The registry kept 1000 bytes of a failed chunk: the next chunk starts there, hashed from the last
    checkpoint so the digest still covers every byte."""
    registry = Registry()
    registry.hooks.append(failing("PATCH", 1, lambda: error(502, "UNKNOWN", "bad gateway"), keep=1000))
    blob = source(100 * KiB)
    upload_blob(client(registry, chunk_size=40 * KiB), REPO, blob)
    assert stored(registry, blob)
    assert [h["content-range"] for _, _, h in registry.requests("PATCH")][1:3] == ["1000-41959", "41960-82919"]


def test_an_empty_upload_reported_as_0_0_resumes_from_the_start() -> None:
    registry = Registry(empty_range="0-0")
    registry.hooks.append(failing("PATCH", 1, lambda: error(503, "UNAVAILABLE", "later")))
    blob = source(50 * KiB)
    upload_blob(client(registry, chunk_size=40 * KiB), REPO, blob)
    assert stored(registry, blob)
    assert registry.requests("PATCH")[1][2]["content-range"] == "0-40959"


def test_a_dropped_session_starts_the_upload_again() -> None:
    registry = Registry()

    def drop(request: httpx.Request, session: Session) -> httpx.Response | None:
        if request.method == "PATCH" and not registry.requests("GET"):
            registry.sessions.clear()
            return error(500, "UNKNOWN", "restarted")
        return None

    registry.hooks.append(drop)
    blob = source(100 * KiB)
    upload_blob(client(registry, chunk_size=40 * KiB), REPO, blob)
    assert stored(registry, blob)
    assert [m for m, _, _ in registry.log][:4] == ["POST", "PATCH", "GET", "POST"]


def test_a_range_that_stays_behind_sends_the_blob_whole() -> None:
    """ECR has been seen to keep only part of a chunk and answer a Range that does not advance."""
    registry = Registry()

    def stale(request: httpx.Request, session: Session) -> httpx.Response | None:
        if request.method != "PATCH" or len(registry.sessions) > 1:
            return None
        session.state += 1
        return httpx.Response(202, headers={"Location": registry._location("u0"), "Range": "0-99"})

    registry.hooks.append(stale)
    blob = source(100 * KiB)
    c = client(registry, chunk_size=40 * KiB)
    upload_blob(c, REPO, blob)
    assert stored(registry, blob)
    assert [m for m, _, _ in registry.log] == ["POST", "PATCH", "POST", "PUT"]
    assert registry.requests("PUT")[0][2]["body"] == str(100 * KiB)
    assert c.quirks.upload_mode(100 * KiB, 40 * KiB) == "monolithic", "remembered for the rest of the command"


def test_a_stream_the_registry_did_not_keep_whole_is_sent_again() -> None:
    registry = Registry()

    def short(request: httpx.Request, session: Session) -> httpx.Response | None:
        if request.method != "PATCH" or len(registry.sessions) > 1:
            return None
        session.state += 1
        return httpx.Response(202, headers={"Location": registry._location("u0"), "Range": "bytes=0-1023"})

    registry.hooks.append(short)
    blob = source(100 * KiB)
    upload_blob(client(registry, host="ghcr.io", chunk_size=40 * KiB), REPO, blob)
    assert stored(registry, blob)
    assert [m for m, _, _ in registry.log][:3] == ["POST", "PATCH", "POST"]


def test_a_broken_stream_continues_in_chunks_from_where_the_registry_stands() -> None:
    registry = Registry()
    registry.hooks.append(failing("PATCH", 1, lambda: error(500, "UNKNOWN", "broken"), keep=30 * KiB))
    blob = source(100 * KiB)
    upload_blob(client(registry, host="ghcr.io", chunk_size=40 * KiB), REPO, blob)
    assert stored(registry, blob)
    patches = registry.requests("PATCH")
    assert "content-range" not in patches[0][2]
    assert [h["content-range"] for _, _, h in patches[1:]] == ["30720-71679", "71680-102399"]


def test_a_chunk_refused_as_too_large_is_sent_smaller() -> None:
    registry = Registry()
    too_large = error(416, "SIZE_INVALID", "chunk exceeds the maximum permissible limit of 0.0625MiB")
    registry.hooks.append(failing("PATCH", 1, lambda: too_large))
    blob = source(300 * KiB)
    c = client(registry, chunk_size=128 * KiB)
    upload_blob(c, REPO, blob)
    assert stored(registry, blob)
    ranges = [h["content-range"] for _, _, h in registry.requests("PATCH")]
    assert ranges[0] == "0-131071" and ranges[1] == "0-65535", "from where it stood, at the stated limit"
    assert all(int(r.split("-")[1]) - int(r.split("-")[0]) < 64 * KiB for r in ranges[1:])
    assert c.quirks.chunk_size(128 * KiB) == 64 * KiB


def test_a_413_without_a_stated_limit_halves_the_chunk() -> None:
    registry = Registry()
    registry.hooks.append(failing("PATCH", 1, lambda: error(413, "SIZE_INVALID", "request entity too large")))
    blob = source(300 * KiB)
    upload_blob(client(registry, chunk_size=200 * KiB), REPO, blob)
    assert stored(registry, blob)
    assert [h["content-range"] for _, _, h in registry.requests("PATCH")][1] == "0-102399"


def test_an_offset_disagreement_starts_again() -> None:
    registry = Registry()
    registry.hooks.append(failing("PATCH", 1, lambda: error(416, "RANGE_INVALID", "invalid content range")))
    blob = source(100 * KiB)
    upload_blob(client(registry, chunk_size=40 * KiB), REPO, blob)
    assert stored(registry, blob)
    assert [m for m, _, _ in registry.log][:3] == ["POST", "PATCH", "POST"], "a new session, no GET"


def test_a_corrupt_assembly_starts_again() -> None:
    """DIGEST_INVALID on the commit of bytes hoist hashed itself: the registry assembled them wrongly."""
    registry = Registry()
    registry.hooks.append(failing("PUT", 1, lambda: error(400, "DIGEST_INVALID", "digest did not match")))
    blob = source(100 * KiB)
    upload_blob(client(registry, chunk_size=40 * KiB), REPO, blob)
    assert stored(registry, blob)
    assert [m for m, _, _ in registry.log].count("POST") == 2


def test_other_refusals_are_not_sent_again() -> None:
    """A refused commit, or a refused chunk, is the registry's error, naming the upload."""
    blob = source(100 * KiB)
    what = f"upload of blob {blob.descriptor.digest} to reg.example/{REPO}: "
    registry = Registry()
    registry.hooks.append(failing("PUT", 1, lambda: error(400, "NAME_INVALID", "invalid repository name")))
    with pytest.raises(RegistryError) as caught:
        upload_blob(client(registry, chunk_size=40 * KiB), REPO, blob)
    assert caught.value.code == "NAME_INVALID" and str(caught.value).startswith(what), str(caught.value)
    assert [m for m, _, _ in registry.log].count("POST") == 1
    registry = Registry()
    registry.hooks.append(failing("PATCH", 1, lambda: error(400, "BLOB_UPLOAD_INVALID", "no")))
    with pytest.raises(RegistryError) as caught:
        upload_blob(client(registry, chunk_size=40 * KiB), REPO, blob)
    assert caught.value.code == "BLOB_UPLOAD_INVALID" and str(caught.value).startswith(what), str(caught.value)
    assert [m for m, _, _ in registry.log] == ["POST", "PATCH"]


@pytest.mark.parametrize("chunked", [True, False])
def test_restarts_are_bounded_by_the_retries(chunked: bool) -> None:
    registry = Registry()
    method = "PATCH" if chunked else "PUT"
    registry.hooks.append(failing(method, 100, lambda: error(500, "UNKNOWN", "down")))
    with pytest.raises(RegistryError) as caught:
        upload_blob(client(registry, chunk_size=40 * KiB if chunked else 1024 * KiB, retries=2), REPO, source(50 * KiB))
    assert caught.value.status == 500
    # a start resumes a failed chunk at most ``retries`` times; the upload starts at most ``retries`` times more
    assert len(registry.requests(method)) == (9 if chunked else 3)
    assert len(registry.requests("POST")) == 3


def test_a_rate_limited_upload_waits_as_asked_then_starts_again() -> None:
    registry = Registry()
    registry.hooks.append(
        failing("PUT", 1, lambda: error(429, "TOOMANYREQUESTS", "slow down", {"Retry-After": "0.05"}))
    )
    waits: list[Wait] = []
    blob = source(10 * KiB)
    upload_blob(client(registry, on_wait=waits.append), REPO, blob)
    assert stored(registry, blob)
    assert [(w.seconds, w.reason, w.method) for w in waits] == [(0.05, "rate limited", "PUT")]
    assert waits[0].url == f"https://reg.example/v2/{REPO}/blobs/uploads/u0", "the URL without its upload state"


def test_unavailable_without_retry_after_backs_off_and_a_5xx_does_not() -> None:
    registry = Registry()
    registry.hooks.append(failing("PUT", 1, lambda: error(503, "UNAVAILABLE", "later")))
    registry.hooks.append(failing("PUT", 1, lambda: error(500, "UNKNOWN", "oops")))
    waits: list[Wait] = []
    blob = source(10 * KiB)
    upload_blob(client(registry, on_wait=waits.append), REPO, blob)
    assert stored(registry, blob)
    assert [w.reason for w in waits] == ["unavailable"]
    assert 0 < waits[0].seconds <= 0.002, "the configured backoff, first attempt"


# -- bytes that are not what they claim -------------------------------------------------------------------


class Lying:
    def __init__(self, descriptor: Descriptor, data: bytes) -> None:
        self.descriptor = descriptor
        self.data = data

    @contextmanager
    def open(self, offset: int) -> Iterator[Iterator[bytes]]:
        yield iter([self.data[offset:]])


def test_a_source_that_lies_is_named_not_the_registry() -> None:
    honest = source(10 * KiB)
    altered = bytes([honest.data[0] ^ 1]) + honest.data[1:]
    registry = Registry()
    with pytest.raises(DigestMismatch) as caught:
        upload_blob(client(registry), REPO, Lying(honest.descriptor, altered))
    assert str(caught.value).startswith(f"upload of blob {honest.descriptor.digest} to reg.example/{REPO}: content")
    assert f"expected {honest.descriptor.digest}" in str(caught.value)
    assert len(registry.requests("PUT")) == 1, "refused once, not sent again"
    assert registry.blobs == {}


def test_a_refusal_of_honest_bytes_stays_the_registry_error() -> None:
    registry = Registry()
    registry.hooks.append(failing("PUT", 9, lambda: error(400, "DIGEST_INVALID", "no")))
    with pytest.raises(RegistryError) as caught:
        upload_blob(client(registry), REPO, source(10 * KiB))
    assert caught.value.code == "DIGEST_INVALID" and not isinstance(caught.value, DigestMismatch)


def test_chunked_bytes_that_do_not_hash_are_never_committed() -> None:
    honest = source(100 * KiB)
    altered = honest.data[:-1] + bytes([honest.data[-1] ^ 1])
    registry = Registry()
    with pytest.raises(DigestMismatch) as caught:
        upload_blob(client(registry, chunk_size=40 * KiB), REPO, Lying(honest.descriptor, altered))
    assert str(caught.value) == (
        f"upload of blob {honest.descriptor.digest} to reg.example/{REPO}: content has digest "
        f"{Digest.of(altered)}, expected {honest.descriptor.digest}"
    )
    assert registry.requests("PUT") == []


def test_a_source_longer_than_declared_is_refused() -> None:
    honest = source(100 * KiB)
    registry = Registry()
    with pytest.raises(DigestMismatch) as caught:
        upload_blob(client(registry, chunk_size=40 * KiB), REPO, Lying(honest.descriptor, honest.data + b"extra"))
    assert str(caught.value).endswith(f"source has more than the {100 * KiB} bytes declared")
    assert registry.requests("PUT") == []


def test_a_declined_mount_session_is_used_for_the_upload() -> None:
    registry = Registry()
    c = client(registry)
    opened = start_upload(c, REPO, "mount declined")
    blob = source(10 * KiB)
    upload_blob(c, REPO, blob, session=opened)
    assert [m for m, _, _ in registry.log] == ["POST", "PUT"], "no second session"
    assert stored(registry, blob)


def test_uploads_name_the_blob_and_the_repository_in_errors() -> None:
    registry = Registry()
    registry.hooks.append(failing("PUT", 1, lambda: error(400, "NAME_UNKNOWN", "repository name not known")))
    blob = source(10 * KiB)
    with pytest.raises(RegistryError) as caught:
        upload_blob(client(registry), REPO, blob)
    assert re.match(rf"upload of blob {blob.descriptor.digest} to reg\.example/{REPO}: ", str(caught.value))


def test_random_sizes_round_trip() -> None:
    for size in (0, 1, 40 * KiB - 1, 40 * KiB + 1, 123457):
        registry = Registry()
        data = os.urandom(size)
        blob = BytesBlobSource(Descriptor("application/octet-stream", Digest.of(data), size), data)
        upload_blob(client(registry, chunk_size=40 * KiB), REPO, blob)
        assert stored(registry, blob), size


def test_a_throttled_stream_waits_as_asked_then_continues_in_chunks() -> None:
    registry = Registry()
    registry.hooks.append(failing("PATCH", 1, lambda: error(429, "TOOMANYREQUESTS", "slow", {"Retry-After": "0.05"})))
    waits: list[Wait] = []
    blob = source(100 * KiB)
    upload_blob(client(registry, host="ghcr.io", chunk_size=40 * KiB, on_wait=waits.append), REPO, blob)
    assert stored(registry, blob)
    assert [(w.seconds, w.reason, w.method) for w in waits] == [(0.05, "rate limited", "PATCH")]


def test_a_refused_stream_names_the_upload() -> None:
    registry = Registry()
    registry.hooks.append(failing("PATCH", 1, lambda: error(400, "BLOB_UPLOAD_INVALID", "refused")))
    blob = source(100 * KiB)
    with pytest.raises(RegistryError) as caught:
        upload_blob(client(registry, host="ghcr.io", chunk_size=40 * KiB), REPO, blob)
    assert str(caught.value).startswith(f"upload of blob {blob.descriptor.digest} to ghcr.io/{REPO}: ")
    assert [m for m, _, _ in registry.log] == ["POST", "PATCH"]


@pytest.mark.parametrize("status", [204, 201])
@pytest.mark.parametrize("host", ["reg.example", "ghcr.io"])
def test_patch_answers_other_than_202_are_accepted(status: int, host: str) -> None:
    registry = Registry(patch_status=status)
    blob = source(100 * KiB)
    upload_blob(client(registry, host=host, chunk_size=40 * KiB), REPO, blob)
    assert stored(registry, blob)
    assert [m for m, _, _ in registry.log].count("POST") == 1


def answer_status(
    *, status: int = 204, range_header: str | None
) -> Callable[[httpx.Request, Session], httpx.Response | None]:
    """A hook answering the status request (GET on the upload) the way some registries do."""

    def hook(request: httpx.Request, session: Session) -> httpx.Response | None:
        if request.method != "GET":
            return None
        headers = {"Location": f"/v2/{REPO}/blobs/uploads/u0?_state={session.state}"}
        if range_header is not None:
            headers["Range"] = range_header
        return httpx.Response(status, headers=headers)

    return hook


@pytest.mark.parametrize(
    ("status", "range_header"),
    [(204, None), (204, "bytes=0-0"), (200, "0-0"), (200, None)],
)
def test_resuming_an_upload_the_registry_holds_nothing_of(status: int, range_header: str | None) -> None:
    """No Range, distribution's "0-0" (with or without ``bytes=``), or a 200 instead of 204: start at 0."""
    registry = Registry()
    registry.hooks.append(failing("PATCH", 1, lambda: error(500, "UNKNOWN", "boom")))
    registry.hooks.append(answer_status(status=status, range_header=range_header))
    blob = source(100 * KiB)
    upload_blob(client(registry, chunk_size=40 * KiB), REPO, blob)
    assert stored(registry, blob)
    ranges = [h["content-range"] for _, _, h in registry.requests("PATCH")]
    assert ranges[:2] == ["0-40959", "0-40959"], "the resumed chunk starts at 0"
    assert [m for m, _, _ in registry.log].count("POST") == 1


def test_a_status_request_that_fails_names_the_upload() -> None:
    registry = Registry()
    registry.hooks.append(failing("PATCH", 1, lambda: error(500, "UNKNOWN", "boom")))
    registry.hooks.append(failing("GET", 1, lambda: error(400, "BLOB_UPLOAD_INVALID", "no status")))
    blob = source(100 * KiB)
    with pytest.raises(RegistryError) as caught:
        upload_blob(client(registry, chunk_size=40 * KiB), REPO, blob)
    assert str(caught.value).startswith(f"upload of blob {blob.descriptor.digest} to reg.example/{REPO}: ")


def test_a_session_the_registry_keeps_dropping_is_named_in_the_error() -> None:
    registry = Registry()
    registry.hooks.append(failing("PATCH", 100, lambda: error(500, "UNKNOWN", "boom")))
    registry.hooks.append(failing("GET", 100, lambda: error(404, "BLOB_UPLOAD_UNKNOWN", "gone")))
    blob = source(100 * KiB)
    with pytest.raises(TransportError) as caught:
        upload_blob(client(registry, chunk_size=40 * KiB, retries=1), REPO, blob)
    assert (
        str(caught.value)
        == f"upload of blob {blob.descriptor.digest} to reg.example/{REPO}: the registry dropped the upload session"
    )


def test_a_stream_kept_short_every_time_is_named_in_the_error() -> None:
    registry = Registry()

    def short(request: httpx.Request, session: Session) -> httpx.Response | None:
        if request.method != "PATCH":
            return None
        session.state += 1
        uid = request.url.path.rsplit("/", 1)[1]
        return httpx.Response(202, headers={"Location": registry._location(uid), "Range": "0-1023"})

    registry.hooks.append(short)
    blob = source(100 * KiB)
    with pytest.raises(TransportError) as caught:
        upload_blob(client(registry, host="ghcr.io", chunk_size=40 * KiB, retries=1), REPO, blob)
    assert str(caught.value) == (
        f"upload of blob {blob.descriptor.digest} to ghcr.io/{REPO}: the registry holds 1024 of {100 * KiB} bytes "
        "after the stream; starting again"
    )


def test_a_stream_that_fails_at_once_backs_off_from_the_first_attempt() -> None:
    registry = Registry()
    registry.hooks.append(failing("PATCH", 1, lambda: error(503, "UNAVAILABLE", "later")))
    waits: list[Wait] = []
    blob = source(100 * KiB)
    upload_blob(client(registry, host="ghcr.io", chunk_size=40 * KiB, on_wait=waits.append), REPO, blob)
    assert stored(registry, blob)
    assert [(w.reason, w.attempt) for w in waits] == [("unavailable", 0)]


def test_a_put_refused_before_its_body_was_read_is_the_registry_error() -> None:
    """A registry may answer before reading the body (a 403 on the first bytes): hoist has not read the whole
    source, so it cannot tell whether the source lied; the registry's answer is the error."""
    blob = source(10 * KiB)

    class Early(httpx.BaseTransport):
        """Answers without reading the request body (httpx.MockTransport always reads it first)."""

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            if request.method == "POST":
                return httpx.Response(202, headers={"Location": f"/v2/{REPO}/blobs/uploads/u0"})
            return error(400, "SIZE_INVALID", "refused before reading")

    c = RegistryClient("reg.example", RegistryOptions(transport=Early(), backoff=0.001), RequestStats())
    with pytest.raises(RegistryError) as caught:
        upload_blob(c, REPO, blob)
    assert caught.value.code == "SIZE_INVALID" and not isinstance(caught.value, DigestMismatch)


@pytest.mark.parametrize(
    ("method", "status", "code", "said"),
    [
        ("PUT", 400, "DIGEST_INVALID", "the registry's copy of the upload is corrupt; starting again"),
        ("PATCH", 416, "RANGE_INVALID", "upload offset disagreement; starting again"),
    ],
    ids=["assembled-wrongly-every-time", "offset-disagreement-every-time"],
)
def test_a_failure_that_repeats_until_the_retries_run_out_is_named_in_the_error(
    method: str, status: int, code: str, said: str
) -> None:
    registry = Registry()
    registry.hooks.append(failing(method, 100, lambda: error(status, code, "refused")))
    blob = source(100 * KiB)
    with pytest.raises(TransportError) as caught:
        upload_blob(client(registry, chunk_size=40 * KiB, retries=1), REPO, blob)
    assert str(caught.value) == f"upload of blob {blob.descriptor.digest} to reg.example/{REPO}: {said}"


@pytest.mark.parametrize("answered", [None, "1-100", "0-", "bytes=x-y"])
def test_a_range_that_does_not_say_how_much_is_held_is_not_read(answered: str | None) -> None:
    """Only ``0-<last>`` says how much the registry holds; no Range, or anything else, says nothing."""
    registry = Registry()

    def vague(request: httpx.Request, session: Session) -> httpx.Response | None:
        if request.method != "PATCH":
            return None
        session.held += request.read()
        session.state += 1
        uid = request.url.path.rsplit("/", 1)[1]
        headers = {"Location": registry._location(uid)}
        if answered is not None:
            headers["Range"] = answered
        return httpx.Response(202, headers=headers)

    registry.hooks.append(vague)
    blob = source(100 * KiB)
    upload_blob(client(registry, chunk_size=40 * KiB), REPO, blob)
    assert stored(registry, blob)
    assert [m for m, _, _ in registry.log] == ["POST", "PATCH", "PATCH", "PATCH", "PUT"]


def test_429_without_retry_after_backs_off() -> None:
    registry = Registry()
    registry.hooks.append(failing("PUT", 1, lambda: error(429, "TOOMANYREQUESTS", "slow down")))
    waits: list[Wait] = []
    blob = source(10 * KiB)
    upload_blob(client(registry, on_wait=waits.append), REPO, blob)
    assert stored(registry, blob)
    assert [(w.reason, w.attempt) for w in waits] == [("rate limited", 0)]
    assert 0 < waits[0].seconds <= 0.002


def test_every_upload_request_carries_a_token_for_push_on_the_repository() -> None:
    """Behind token auth (distribution's token flow: a challenge, then ``GET realm?service&scope``), each
    request of an upload asks for, and is sent with, push access to the destination repository."""
    registry = Registry()
    asked: list[list[str]] = []

    def gate(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            scopes = request.url.params.get_list("scope")
            asked.append(scopes)
            return httpx.Response(200, json={"token": "granted:" + " ".join(scopes), "expires_in": 300})
        granted = request.headers.get("authorization", "").removeprefix("Bearer granted:").split()
        if f"repository:{REPO}:pull,push" not in granted and f"repository:{REPO}:push" not in granted:
            realm = 'Bearer realm="https://reg.example/token",service="reg.example"'
            return error(401, "UNAUTHORIZED", "authentication required", {"WWW-Authenticate": realm})
        return registry.handler(request)

    opts = RegistryOptions(transport=httpx.MockTransport(gate), backoff=0.001, chunk_size=40 * KiB)
    blob = source(100 * KiB)
    upload_blob(RegistryClient("reg.example", opts, RequestStats()), REPO, blob)
    assert stored(registry, blob)
    assert asked and all(any(s.startswith(f"repository:{REPO}:") for s in scopes) for scopes in asked)


def test_waits_count_the_attempts() -> None:
    registry = Registry()
    registry.hooks.append(failing("PUT", 2, lambda: error(429, "TOOMANYREQUESTS", "slow down")))
    waits: list[Wait] = []
    blob = source(10 * KiB)
    upload_blob(client(registry, on_wait=waits.append), REPO, blob)
    assert stored(registry, blob)
    assert [w.attempt for w in waits] == [0, 1]


def test_an_upload_that_cannot_start_names_the_blob() -> None:
    def no_location(request: httpx.Request) -> httpx.Response:
        return httpx.Response(202)

    def refused(request: httpx.Request) -> httpx.Response:
        return error(400, "NAME_INVALID", "invalid repository name")

    blob = source(10 * KiB)
    what = f"upload of blob {blob.descriptor.digest} to reg.example/{REPO}"
    for handler, message in (
        (no_location, f"{what}: reg.example started an upload without a Location"),
        (refused, f"{what}: "),
    ):
        opts = RegistryOptions(transport=httpx.MockTransport(handler), backoff=0.001)
        with pytest.raises(RegistryError) as caught:
            upload_blob(RegistryClient("reg.example", opts, RequestStats()), REPO, blob)
        assert str(caught.value).startswith(message), str(caught.value)


def test_a_throttled_chunk_waits_as_asked_counting_its_attempts() -> None:
    registry = Registry()
    registry.hooks.append(failing("PATCH", 2, lambda: error(429, "TOOMANYREQUESTS", "slow down")))
    waits: list[Wait] = []
    blob = source(100 * KiB)
    upload_blob(client(registry, chunk_size=40 * KiB, retries=3, on_wait=waits.append), REPO, blob)
    assert stored(registry, blob)
    assert [(w.reason, w.method, w.attempt) for w in waits] == [
        ("rate limited", "PATCH", 0),
        ("rate limited", "PATCH", 1),
    ]


def test_a_413_on_a_later_chunk_halves_that_chunk() -> None:
    registry = Registry()
    patches = [0]

    def second_refused(request: httpx.Request, session: Session) -> httpx.Response | None:
        if request.method != "PATCH":
            return None
        patches[0] += 1
        return error(413, "SIZE_INVALID", "request entity too large") if patches[0] == 2 else None

    registry.hooks.append(second_refused)
    blob = source(500 * KiB)
    upload_blob(client(registry, chunk_size=200 * KiB), REPO, blob)
    assert stored(registry, blob)
    ranges = [h["content-range"] for _, _, h in registry.requests("PATCH")]
    assert ranges == ["0-204799", "204800-409599", "204800-307199", "307200-409599", "409600-511999"]


def test_bytes_a_registry_took_without_checking_are_refused_by_hoist() -> None:
    """distribution checks the digest of a blob it is given; a registry (or a proxy) that stores whatever
    it is sent is caught by hoist's own hash of the bytes it sent, and the error names the upload."""
    honest = source(10 * KiB)
    altered = bytes([honest.data[0] ^ 1]) + honest.data[1:]
    registry = Registry()

    def trusting(request: httpx.Request, session: Session) -> httpx.Response | None:
        if request.method != "PUT":
            return None
        return httpx.Response(201, headers={"Location": f"/v2/{REPO}/blobs/{honest.descriptor.digest}"})

    registry.hooks.append(trusting)
    with pytest.raises(DigestMismatch) as caught:
        upload_blob(client(registry), REPO, Lying(honest.descriptor, altered))
    assert str(caught.value) == (
        f"upload of blob {honest.descriptor.digest} to reg.example/{REPO}: content has digest "
        f"{Digest.of(altered)}, expected {honest.descriptor.digest}"
    )
