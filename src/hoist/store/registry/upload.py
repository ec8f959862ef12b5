"""Blob uploads to a registry: streamed, verified, sent the way the registry takes them, resumed.

Bytes flow from the source straight into the request body (no temp files, nothing whole in memory)
while a :class:`~hoist.digest.Hasher` checks them. How a blob goes is the registry's profile's choice
(:mod:`.profile`): one ``PUT`` up to ``chunk_size``; above it ``PATCH`` chunks with ``Content-Range``,
one streamed ``PATCH`` without it (as docker and skopeo send), or still one ``PUT``. Chunks stay within
the registry's bounds (``OCI-Chunk-Min-Length``, a documented or learned maximum), a ``416`` "too large"
shrinks them, and the ``Range`` answered after each chunk is checked: a registry whose ``Range`` does
not advance gets the blob again in one request. When a transfer fails, hoist asks the registry how much
it holds (``GET`` on the upload URL) and continues from there, re-reading the source from the last
checkpoint so the digest still covers every byte; a rate-limited request waits as asked and resumes.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from hoist.errors import NotFound, RegistryError, TransportError
from hoist.store.base import BlobSource, Progress
from hoist.store.registry.auth import Scope
from hoist.store.registry.profile import stated_limit
from hoist.store.registry.reader import Meter, Reader
from hoist.store.registry.transport import RegistryClient

log = logging.getLogger("hoist.upload")

_OCTET = {"Content-Type": "application/octet-stream"}
_TOO_LARGE = re.compile(r"too large|exceed", re.IGNORECASE)


@dataclass(frozen=True)
class UploadSession:
    """An open upload: its URL and the smallest chunk the registry announced (``OCI-Chunk-Min-Length``)."""

    url: str
    min_chunk: int = 0


def with_query(url: str, **params: str) -> str:
    """Merge ``params`` into ``url``'s query, keeping what the registry put there (its upload state)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    query += list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def session_from(client: RegistryClient, response: httpx.Response, what: str) -> UploadSession:
    """The upload session a ``202`` answer opened (a plain upload start or a declined mount)."""
    announced = response.headers.get("oci-chunk-min-length", "")
    return UploadSession(
        _location(client, response.headers.get("location"), what), int(announced or 0) if announced.isdigit() else 0
    )


def start_upload(client: RegistryClient, repository: str, what: str) -> UploadSession:
    response = client.request(
        "POST", f"/v2/{repository}/blobs/uploads/", scopes=[Scope.push(repository)], what=what, ok=(202,)
    )
    return session_from(client, response, what)


def _location(client: RegistryClient, value: str | None, what: str) -> str:
    if not value:
        raise RegistryError(f"{what}: {client.host} started an upload without a Location", registry=client.host)
    return client.absolute(value)


def restartable(exc: Exception) -> bool:
    """A failure that sending again can cure: the network, a 5xx, a 408 or 429 (after the wait)."""
    if isinstance(exc, TransportError):
        return True
    return isinstance(exc, RegistryError) and (exc.status is None or exc.status >= 500 or exc.status in (408, 429))


@dataclass
class _Upload:
    """One attempt at one blob: the client, where it goes, what it reads, and how far it got."""

    client: RegistryClient
    repository: str
    session: UploadSession
    reader: Reader
    meter: Meter
    what: str

    @property
    def scopes(self) -> list[Scope]:
        return [Scope.push(self.repository)]

    def body(self, count: int) -> Iterator[bytes]:
        for chunk in self.reader.take(count):
            yield chunk
            self.meter.at(self.reader.position)

    def moved(self, response: httpx.Response) -> None:
        self.session = UploadSession(
            _location(self.client, response.headers.get("location") or self.session.url, self.what),
            self.session.min_chunk,
        )


def upload_blob(
    client: RegistryClient,
    repository: str,
    source: BlobSource,
    *,
    progress: Progress | None = None,
    session: UploadSession | None = None,
) -> None:
    """Upload ``source`` into ``repository`` (in ``session`` when a declined mount opened one), starting
    again at most ``retries`` times when the transfer broke; requests that are safe to repeat have had
    their own retries already."""
    descriptor = source.descriptor
    what = f"upload of blob {descriptor.digest} to {client.host}/{repository}"
    attempts = 0
    meter = Meter(progress)
    while True:
        opened = session or start_upload(client, repository, what)
        session = None
        mode = client.quirks.upload_mode(descriptor.size, client.options.chunk_size)
        with ExitStack() as stack:
            reader = Reader(source, stack)
            reader.reopen(0)
            upload = _Upload(client, repository, opened, reader, meter, what)
            try:
                if mode == "monolithic":
                    _monolithic(upload)
                elif mode == "stream":
                    _stream(upload)
                else:
                    _chunked(upload)
            except (TransportError, RegistryError) as exc:
                if not restartable(exc):
                    raise
                attempts += 1
                if attempts > client.options.retries:
                    raise
                log.debug("%s failed (%s); starting again", what, exc)
                _wait_before_again(client, exc, attempts - 1)
                continue
            return


def _wait_before_again(client: RegistryClient, exc: TransportError | RegistryError, attempt: int) -> None:
    """Wait as a 429 or 503 asked (``Retry-After``), else a short backoff, before sending again."""
    if not isinstance(exc, RegistryError) or (exc.retry_after is None and exc.status not in (429, 503)):
        return  # a dropped connection or a 5xx: start again at once, as before
    delay = exc.retry_after if exc.retry_after is not None else client.waits.backoff(attempt)
    url = exc.url or client.url("/")
    client.waits.pause(delay, status=exc.status, method=exc.method or "PUT", url=url, attempt=attempt)


def _monolithic(up: _Upload) -> None:
    size = up.reader.source.descriptor.size
    url = with_query(up.session.url, digest=str(up.reader.source.descriptor.digest))
    headers = {**_OCTET, "Content-Length": str(size)}
    try:
        up.client.request(
            "PUT", url, scopes=up.scopes, what=up.what, headers=headers, content=up.body(size), retry=False, ok=(201,)
        )
    except RegistryError:
        _raise_if_corrupt(up.reader, up.what)
        raise
    up.reader.finish(up.what)


def _stream(up: _Upload) -> None:
    """One ``PATCH`` without ``Content-Range`` or ``Content-Length`` (chunked transfer encoding, as the
    docker client sends it), then the closing ``PUT``; a broken stream resumes in bounded chunks."""
    size = up.reader.source.descriptor.size
    try:
        response = up.client.request(
            "PATCH",
            up.session.url,
            scopes=up.scopes,
            what=up.what,
            headers=dict(_OCTET),
            content=up.body(size),
            retry=False,
            ok=(202, 204, 201),
        )
    except (TransportError, RegistryError) as exc:
        if not restartable(exc):
            raise
        _wait_before_again(up.client, exc, 0)
        _resume(up)
        _chunked(up)
        return
    up.moved(response)
    held = _range_end(response)
    if held is not None and held != size:
        raise TransportError(f"{up.what}: the registry holds {held} of {size} bytes after the stream; starting again")
    _commit(up)


def _chunked(up: _Upload) -> None:
    size = up.reader.source.descriptor.size
    quirks = up.client.quirks
    resumes = 0
    while up.reader.position < size:
        start = up.reader.position
        end = min(start + quirks.chunk_size(up.client.options.chunk_size, up.session.min_chunk), size)
        up.reader.checkpoint()
        headers = {**_OCTET, "Content-Length": str(end - start), "Content-Range": f"{start}-{end - 1}"}
        try:
            response = up.client.request(
                "PATCH",
                up.session.url,
                scopes=up.scopes,
                what=up.what,
                headers=headers,
                content=up.body(end - start),
                retry=False,
                ok=(202, 204, 201),  # 201: ECR (aws/containers-roadmap#2831, openai/tart#273)
            )
        except (TransportError, RegistryError) as exc:
            resumes += 1
            if resumes > up.client.options.retries:
                raise
            if isinstance(exc, RegistryError) and _too_large(exc):
                # GHCR's 4 MiB chunk cap (ocx-sh/ocx#237): send smaller chunks from where it stands
                limit = quirks.learn_chunk_limit(stated_limit(exc.message) or (end - start) // 2)
                log.debug(
                    "%s: %s refused a %d-byte chunk; chunks of at most %d now",
                    up.what,
                    up.client.host,
                    end - start,
                    limit,
                )
            elif isinstance(exc, RegistryError) and exc.status == 416:
                # the registry holds another amount than we resumed from ("0-0" is ambiguous in
                # distribution's answers): start the upload again rather than guess
                raise TransportError(f"{up.what}: upload offset disagreement; starting again") from exc
            elif not restartable(exc):
                raise
            else:
                _wait_before_again(up.client, exc, resumes - 1)
            _resume(up)
            continue
        up.moved(response)
        held = _range_end(response)
        if held is not None and held != end:
            # ECR has been seen to keep only the first chunk, or to answer a Range that stays behind
            # (aws/containers-roadmap#2831): no more chunks to this registry, the blob goes whole.
            quirks.distrust_chunks()
            raise TransportError(
                f"{up.what}: the registry holds {held} bytes after a chunk ending at {end}; starting again"
            )
    _commit(up)


def _commit(up: _Upload) -> None:
    up.reader.finish(up.what)
    try:
        up.client.request(
            "PUT",
            with_query(up.session.url, digest=str(up.reader.source.descriptor.digest)),
            scopes=up.scopes,
            what=up.what,
            headers={"Content-Length": "0"},
            content=b"",
            ok=(201,),
        )
    except RegistryError as exc:
        if exc.code == "DIGEST_INVALID":  # our bytes were right; the registry assembled them wrongly
            raise TransportError(f"{up.what}: the registry's copy of the upload is corrupt; starting again") from exc
        raise


def _too_large(exc: RegistryError) -> bool:
    return exc.status == 413 or (exc.status == 416 and _TOO_LARGE.search(exc.message) is not None)


def _range_end(response: httpx.Response) -> int | None:
    """Bytes the registry says it holds (``Range: 0-<last>``, ``bytes=`` accepted), or None if unsaid."""
    value = response.headers.get("range", "").strip()
    if value.startswith("bytes="):
        value = value[len("bytes=") :]
    start, _, last = value.partition("-")
    if not last.isdigit() or start != "0":
        return None
    return int(last) + 1


def _resume(up: _Upload) -> None:
    """Ask the registry how many bytes of the upload it holds, and continue from there."""
    try:
        response = up.client.request("GET", up.session.url, scopes=up.scopes, what=up.what, ok=(204, 200))
    except NotFound as exc:
        raise TransportError(f"{up.what}: the registry dropped the upload session") from exc
    held = _range_end(response) or 0
    if response.headers.get("range", "").removeprefix("bytes=") == "0-0":
        held = 0  # distribution answers "0-0" for an empty upload
    up.moved(response)
    log.debug("%s: the registry holds %d bytes; resuming", up.what, held)
    up.reader.rewind_to(held)


def _raise_if_corrupt(reader: Reader, what: str) -> None:
    """A registry refusing the digest after the whole body was sent means the source lied."""
    if reader.position == reader.source.descriptor.size and reader.hasher.actual() != reader.hasher.expected:
        reader.hasher.check(what)
