"""hoist's own HTTP connections: an httpx transport whose sockets are read 1 MiB at a time.

httpcore reads 64 KiB per ``recv()`` (``HTTP11Connection.READ_NUM_BYTES``); streaming blobs of hundreds
of MB then spends most of its CPU on per-read overhead, and 1 MiB reads double the throughput of a
stream (measured: 300 -> 500 MB/s on loopback). Rather than changing that class attribute for every
httpx user in the process, hoist's connection pool gets a network backend whose streams read at least
1 MiB: httpcore's documented extension point (``ConnectionPool(network_backend=...)``), used only by
the clients hoist creates.
"""

from __future__ import annotations

import ssl
import typing
import urllib.request
from pathlib import Path

import httpcore
import httpx

from hoist import __version__
from hoist.errors import TransportError
from hoist.store.registry.answers import error_detail
from hoist.store.registry.options import RegistryOptions

READ_SIZE = 1024 * 1024


class _LargeReads(httpcore.NetworkStream):
    """A network stream that asks the socket for at least ``READ_SIZE`` bytes per read."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max(max_bytes, READ_SIZE), timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, timeout)

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        return _LargeReads(self._stream.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> typing.Any:
        return self._stream.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self._backend = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._backend.connect_tcp(host, port, timeout, local_address, socket_options)
        return _LargeReads(stream)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: typing.Iterable[typing.Any] | None = None
    ) -> httpcore.NetworkStream:
        return _LargeReads(self._backend.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


class LargeReadTransport(httpx.HTTPTransport):
    """``httpx.HTTPTransport`` (its request mapping and error translation) over a pool of large-read
    connections. If a future httpx stops keeping its pool in ``_pool``, this is a plain HTTPTransport:
    slower streams, nothing else changes."""

    def __init__(self, *, verify: ssl.SSLContext | bool, limits: httpx.Limits) -> None:
        super().__init__(verify=verify, limits=limits)
        context = verify if isinstance(verify, ssl.SSLContext) else httpx.create_ssl_context(verify=verify)
        self._pool = httpcore.ConnectionPool(
            ssl_context=context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_Backend(),
        )


def http_client(options: RegistryOptions, host: str, *, verify: bool) -> httpx.Client:
    """The httpx client for one registry host: hoist's limits, timeouts, trust and large reads (with
    environment proxies, httpx's own transports, which honour them)."""
    trust: ssl.SSLContext | bool = False
    if verify and not options.is_insecure(host):
        trust = ssl_context(options.ca_file)
    limits = httpx.Limits(max_connections=options.max_connections, max_keepalive_connections=options.max_connections)
    timeout = httpx.Timeout(options.timeout, connect=min(options.timeout, 30.0))
    headers = {"User-Agent": f"hoist/{__version__}"}
    transport = options.transport
    if transport is None and not urllib.request.getproxies():
        transport = LargeReadTransport(verify=trust, limits=limits)
    return httpx.Client(verify=trust, limits=limits, timeout=timeout, headers=headers, transport=transport)


def ssl_context(ca_file: Path | None) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if ca_file is not None:
        try:
            context.load_verify_locations(cafile=str(ca_file))
        except (OSError, ssl.SSLError) as exc:
            raise TransportError(f"cannot load CA file {ca_file}: {exc}") from exc
    return context


def speaks_tls(response: httpx.Response) -> bool:
    """A 400 that is not a registry error, in answer to plain HTTP: the server wants TLS (Go and nginx
    answer so)."""
    if response.status_code != 400:
        return False
    response.read()
    code, _ = error_detail(response)
    return code is None


def is_certificate_error(exc: BaseException) -> bool:
    """A TLS certificate the client does not trust (retrying or falling back to HTTP cannot help)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLCertVerificationError):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def describe_transport(exc: httpx.TransportError) -> tuple[str, str]:
    """A phrase for the message and the ``cause`` attribute of the :class:`TransportError`."""
    if isinstance(exc, httpx.TimeoutException):
        return "timed out", "timeout"
    if isinstance(exc, httpx.ConnectError):
        if is_certificate_error(exc):
            return "its TLS certificate is not trusted (not signed by a known or configured CA)", (
                "untrusted-certificate"
            )
        return f"cannot connect ({exc})", "connect"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "connection dropped mid-answer", "dropped"
    return f"connection failed ({type(exc).__name__}: {exc})", "dropped"
