"""Blob uploads to a registry: streamed, verified, chunked when large, resumed when interrupted.

Bytes flow from the source straight into the request body (no temp files, nothing whole in memory)
while a :class:`~hoist.digest.Hasher` checks them. A blob up to ``chunk_size`` goes in one streamed
``PUT``; a larger one in ``PATCH`` chunks with ``Content-Range``. When a chunk fails, hoist asks the
registry how much it holds (``GET`` on the upload URL, ``Range: 0-N``) and continues from there, reading
the source again from the last checkpoint so the digest still covers every byte.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from hoist.digest import Hasher
from hoist.errors import DigestMismatch, NotFound, RegistryError, TransportError
from hoist.store.base import BlobSource, Progress
from hoist.store.registry.auth import Scope
from hoist.store.registry.transport import RegistryClient

log = logging.getLogger("hoist.upload")

_OCTET = {"Content-Type": "application/octet-stream"}


def with_query(url: str, **params: str) -> str:
    """Merge ``params`` into ``url``'s query, keeping what the registry put there (its upload state)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    query += list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def start_upload(client: RegistryClient, repository: str, what: str) -> str:
    response = client.request(
        "POST",
        f"/v2/{repository}/blobs/uploads/",
        scopes=[Scope.push(repository)],
        what=what,
        ok=(202,),
    )
    return _location(client, response.headers.get("location"), what)


def _location(client: RegistryClient, value: str | None, what: str) -> str:
    if not value:
        raise RegistryError(f"{what}: {client.host} started an upload without a Location")
    return client.absolute(value)


class _Reader:
    """Reads a blob from its source at any offset, hashing every byte once, in order."""

    def __init__(self, source: BlobSource, stack: ExitStack) -> None:
        self.source = source
        self.stack = stack
        self.hasher = Hasher(source.descriptor.digest)
        self._iter: Iterator[bytes] = iter(())
        self._pending = b""
        self._checkpoint = (0, self.hasher.copy())
        self.position = 0

    def reopen(self, offset: int) -> None:
        self.stack.close()
        self._iter = self.stack.enter_context(self.source.open(offset))
        self._pending = b""
        self.position = offset

    def checkpoint(self) -> None:
        self._checkpoint = (self.position, self.hasher.copy())

    def rewind_to(self, offset: int) -> None:
        """Continue from ``offset`` (>= the last checkpoint), re-hashing the bytes in between."""
        start, hasher = self._checkpoint
        if offset < start:
            raise TransportError("the registry lost part of the upload; starting again")
        self.hasher = hasher.copy()
        self.reopen(start)
        for _ in self.take(offset - start):
            pass

    def take(self, count: int) -> Iterator[bytes]:
        """The next ``count`` bytes as chunks, hashed as they pass."""
        left = count
        while left > 0:
            chunk = self._pending or next(self._iter, b"")
            self._pending = b""
            if not chunk:
                raise DigestMismatch(
                    f"blob {self.source.descriptor.digest}: source ended at {self.position} bytes, "
                    f"expected {self.source.descriptor.size}"
                )
            if len(chunk) > left:
                chunk, self._pending = chunk[:left], chunk[left:]
            left -= len(chunk)
            self.position += len(chunk)
            self.hasher.update(chunk)
            yield chunk

    def finish(self, what: str) -> None:
        extra = self._pending or next(self._iter, b"")
        if extra:
            raise DigestMismatch(f"{what}: source has more than the {self.source.descriptor.size} bytes declared")
        self.hasher.check(what, size=self.source.descriptor.size)


@dataclass
class _Meter:
    progress: Progress | None
    reported: int = 0

    def at(self, position: int) -> None:
        if self.progress is not None and position > self.reported:
            self.progress(position - self.reported)
            self.reported = position


def upload_blob(
    client: RegistryClient,
    repository: str,
    source: BlobSource,
    *,
    progress: Progress | None = None,
    location: str | None = None,
) -> None:
    """Upload ``source`` into ``repository``, starting again (at most ``retries`` times) only when the
    transfer broke mid-stream; a registry that cannot be reached at all has had its retries already."""
    descriptor = source.descriptor
    what = f"upload of blob {descriptor.digest} to {client.host}/{repository}"
    attempts = 0
    meter = _Meter(progress)
    while True:
        session = location or start_upload(client, repository, what)
        location = None
        with ExitStack() as stack:
            reader = _Reader(source, stack)
            reader.reopen(0)
            try:
                if descriptor.size <= client.options.chunk_size:
                    _monolithic(client, repository, session, reader, meter, what)
                else:
                    _chunked(client, repository, session, reader, meter, what)
            except (TransportError, RegistryError) as exc:
                if isinstance(exc, RegistryError) and exc.status is not None and exc.status < 500:
                    raise
                attempts += 1
                if attempts > client.options.retries:
                    raise
                log.debug("%s failed (%s); starting again", what, exc)
                continue
            return


def _monolithic(
    client: RegistryClient, repository: str, session: str, reader: _Reader, meter: _Meter, what: str
) -> None:
    size = reader.source.descriptor.size

    def body() -> Iterator[bytes]:
        for chunk in reader.take(size):
            yield chunk
            meter.at(reader.position)

    url = with_query(session, digest=str(reader.source.descriptor.digest))
    headers = {**_OCTET, "Content-Length": str(size)}
    try:
        client.request(
            "PUT",
            url,
            scopes=[Scope.push(repository)],
            what=what,
            headers=headers,
            content=body(),
            retry=False,
            ok=(201,),
        )
    except RegistryError:
        _raise_if_corrupt(reader, what)
        raise
    reader.finish(what)


def _chunked(client: RegistryClient, repository: str, session: str, reader: _Reader, meter: _Meter, what: str) -> None:
    size = reader.source.descriptor.size
    chunk_size = client.options.chunk_size
    scopes = [Scope.push(repository)]
    resumes = 0
    while reader.position < size:
        start = reader.position
        end = min(start + chunk_size, size)
        reader.checkpoint()

        def body(count: int = end - start) -> Iterator[bytes]:
            for chunk in reader.take(count):
                yield chunk
                meter.at(reader.position)

        headers = {**_OCTET, "Content-Length": str(end - start), "Content-Range": f"{start}-{end - 1}"}
        try:
            response = client.request(
                "PATCH",
                session,
                scopes=scopes,
                what=what,
                headers=headers,
                content=body(),
                retry=False,
                ok=(202, 204),
            )
            session = _location(client, response.headers.get("location") or session, what)
        except (TransportError, RegistryError) as exc:
            if isinstance(exc, RegistryError) and exc.status == 416:
                # the registry holds another amount than we resumed from ("0-0" is ambiguous in
                # distribution's answers): start the upload again rather than guess
                raise TransportError(f"{what}: upload offset disagreement; starting again") from exc
            if isinstance(exc, RegistryError) and exc.status is not None and exc.status < 500:
                raise
            resumes += 1
            if resumes > client.options.retries:
                raise
            session, held = _status(client, repository, session, what)
            log.debug("%s: chunk %d-%d failed (%s); registry holds %d bytes, resuming", what, start, end, exc, held)
            reader.rewind_to(held)
    reader.finish(what)
    try:
        client.request(
            "PUT",
            with_query(session, digest=str(reader.source.descriptor.digest)),
            scopes=scopes,
            what=what,
            headers={"Content-Length": "0"},
            content=b"",
            ok=(201,),
        )
    except RegistryError as exc:
        if exc.code == "DIGEST_INVALID":  # our bytes were right; the registry assembled them wrongly
            raise TransportError(f"{what}: the registry's copy of the upload is corrupt; starting again") from exc
        raise


def _status(client: RegistryClient, repository: str, session: str, what: str) -> tuple[str, int]:
    """Ask the registry how many bytes of the upload it holds."""
    try:
        response = client.request("GET", session, scopes=[Scope.push(repository)], what=what, ok=(204, 200))
    except NotFound as exc:
        raise TransportError(f"{what}: the registry dropped the upload session") from exc
    held = 0
    value = response.headers.get("range", "")
    if value.startswith("bytes="):
        value = value[len("bytes=") :]
    end = value.split("-", 1)[1] if "-" in value else ""
    if end.isdigit() and value != "0-0":  # distribution answers "0-0" for an empty upload
        held = int(end) + 1
    return _location(client, response.headers.get("location") or session, what), held


def _raise_if_corrupt(reader: _Reader, what: str) -> None:
    """A registry refusing the digest after the whole body was sent means the source lied."""
    if reader.position == reader.source.descriptor.size and reader.hasher.actual() != reader.hasher.expected:
        reader.hasher.check(what)
