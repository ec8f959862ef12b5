"""HTTP/1.1 wire helpers for the proxy: read a message head, stream a body without buffering it."""

from __future__ import annotations

import contextlib
import fcntl
import socket
import struct
import termios
import time
from dataclasses import dataclass
from io import BufferedReader
from typing import Literal

MAX_LINE = 64 * 1024
COPY_SIZE = 1024 * 1024

Framing = Literal["none", "length", "chunked", "close"]


class WireError(Exception):
    """The peer sent something that is not HTTP/1.1 or closed mid-message."""


class Cut(Exception):
    """Raised by :class:`Sink` once its byte limit is reached."""


@dataclass(frozen=True)
class Head:
    """A request or response head: start line plus headers in their original order and case."""

    start: str
    headers: tuple[tuple[str, str], ...]

    def get(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers if k.lower() == lowered), None)

    def has_token(self, name: str, token: str) -> bool:
        """Whether a comma-separated header such as ``Connection`` holds ``token``."""
        values = (v for k, v in self.headers if k.lower() == name.lower())
        return any(token in (t.strip().lower() for t in v.split(",")) for v in values)

    def without(self, name: str) -> Head:
        return Head(self.start, tuple((k, v) for k, v in self.headers if k.lower() != name.lower()))

    def encode(self) -> bytes:
        lines = [self.start, *(f"{k}: {v}" for k, v in self.headers), "", ""]
        return "\r\n".join(lines).encode("latin-1")


def read_head(reader: BufferedReader) -> Head | None:
    """Read one message head; None on a clean EOF before its first byte."""
    line = reader.readline(MAX_LINE)
    while line in (b"\r\n", b"\n"):  # tolerate stray CRLF between messages
        line = reader.readline(MAX_LINE)
    if not line:
        return None
    start = line.decode("latin-1").rstrip("\r\n")
    headers: list[tuple[str, str]] = []
    while True:
        line = reader.readline(MAX_LINE)
        if not line:
            raise WireError("connection closed inside a message head")
        text = line.decode("latin-1").rstrip("\r\n")
        if not text:
            return Head(start, tuple(headers))
        name, sep, value = text.partition(":")
        if not sep:
            raise WireError(f"malformed header line {text!r}")
        headers.append((name.strip(), value.strip()))


def request_framing(head: Head) -> tuple[Framing, int]:
    if head.has_token("Transfer-Encoding", "chunked"):
        return "chunked", 0
    length = head.get("Content-Length")
    return ("length", int(length)) if length is not None else ("none", 0)


def response_framing(head: Head, method: str, status: int) -> tuple[Framing, int]:
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return "none", 0
    if head.has_token("Transfer-Encoding", "chunked"):
        return "chunked", 0
    length = head.get("Content-Length")
    return ("length", int(length)) if length is not None else ("close", 0)


class Sink:
    """Writes to a socket, flipping the byte at ``flip``, replacing ``rewrite[0]`` by ``rewrite[1]`` in
    each piece written, and stopping (``Cut``) after ``limit`` bytes."""

    def __init__(
        self,
        sock: socket.socket | None,
        *,
        limit: int | None = None,
        flip: int | None = None,
        rewrite: tuple[bytes, bytes] | None = None,
    ) -> None:
        self.sock = sock
        self.limit = limit
        self.flip = flip
        self.rewrite = rewrite
        self.sent = 0

    def write(self, data: bytes | memoryview) -> None:
        if self.limit is not None and self.sent + len(data) >= self.limit:
            data = data[: self.limit - self.sent]
            self._send(data)
            raise Cut
        self._send(data)

    def _send(self, data: bytes | memoryview) -> None:
        if self.flip is not None and self.sent <= self.flip < self.sent + len(data):
            changed = bytearray(data)
            changed[self.flip - self.sent] ^= 0xFF
            data = changed
        if self.rewrite is not None and self.rewrite[0]:
            data = bytes(data).replace(*self.rewrite)
        self._deliver(data)
        self.sent += len(data)

    def _deliver(self, data: bytes | memoryview | bytearray) -> None:
        assert self.sock is not None
        self.sock.sendall(data)


class Buffer(Sink):
    """A :class:`Sink` that keeps what is written (a whole message body, framing included)."""

    def __init__(self) -> None:
        super().__init__(None)
        self.data = bytearray()

    def _deliver(self, data: bytes | memoryview | bytearray) -> None:
        self.data += data


def copy_body(reader: BufferedReader, sink: Sink | None, framing: Framing, length: int) -> None:
    """Stream one message body from ``reader`` to ``sink`` (None drains it), raw chunk framing included."""
    if framing == "length":
        _copy_exact(reader, sink, length)
    elif framing == "close":
        _copy_exact(reader, sink, None)
    elif framing == "chunked":
        while True:
            line = _line(reader)
            _write(sink, line)
            size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                break
            _copy_exact(reader, sink, size)
            _write(sink, _line(reader))
        while (trailer := _line(reader)) not in (b"\r\n", b"\n"):
            _write(sink, trailer)
        _write(sink, trailer)


def _copy_exact(reader: BufferedReader, sink: Sink | None, remaining: int | None) -> None:
    buf = memoryview(bytearray(COPY_SIZE))
    while remaining is None or remaining > 0:
        want = COPY_SIZE if remaining is None else min(COPY_SIZE, remaining)
        got = reader.readinto1(buf[:want])
        if not got:
            if remaining is None:
                return
            raise WireError(f"connection closed with {remaining} body bytes missing")
        _write(sink, buf[:got])
        if remaining is not None:
            remaining -= got


def _line(reader: BufferedReader) -> bytes:
    line = reader.readline(MAX_LINE)
    if not line.endswith(b"\n"):
        raise WireError("connection closed inside chunked framing")
    return line


def _write(sink: Sink | None, data: bytes | memoryview) -> None:
    if sink is not None:
        sink.write(data)


def abort(sock: socket.socket, *, drain_timeout: float = 5.0) -> None:
    """Close with a TCP RST instead of a FIN (the peer sees 'connection reset').

    Waits first until the peer has acknowledged what was already sent, because an RST discards
    unsent data and "reset after N bytes" must deliver those N bytes.
    """
    deadline = time.monotonic() + drain_timeout
    with contextlib.suppress(OSError):
        while _unacknowledged(sock) > 0 and time.monotonic() < deadline:
            time.sleep(0.001)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _unacknowledged(sock: socket.socket) -> int:
    """Bytes in the send queue (Linux SIOCOUTQ)."""
    raw = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
    return int(struct.unpack("i", raw)[0])
