"""A fault-injecting, latency-adding HTTP/1.1 reverse proxy for a plain-HTTP upstream.

One thread per client connection, each pinned to its own keep-alive upstream connection. Bodies are
streamed in both directions (Content-Length, chunked, or until close), and the ``Host`` header is
forwarded unchanged, so the registry's ``Location`` URLs point back at the proxy.

    python -m tests.infra.proxy --upstream 127.0.0.1:5000 --latency 0.025 --port 5001
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.client
import io
import select
import signal
import socket
import threading
import time
from types import TracebackType
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from tests.infra.faults import Fault, FaultKind, ProxiedRequest, error_response
from tests.infra.httpwire import (
    Buffer,
    Cut,
    Head,
    Sink,
    WireError,
    abort,
    copy_body,
    read_head,
    request_framing,
    response_framing,
)

__all__ = ["Fault", "FaultKind", "FaultProxy", "ProxiedRequest", "main"]


class FaultProxy:
    """The proxy server; start with ``start()`` or ``with``. State changes are thread-safe."""

    def __init__(self, upstream: str, *, latency: float = 0.0, port: int = 0, host: str = "127.0.0.1") -> None:
        up_host, _, up_port = upstream.rpartition(":")
        self.upstream = (up_host, int(up_port))
        self._lock = threading.Lock()
        self._latency = latency
        self._faults: list[Fault] = []
        self._log: list[ProxiedRequest] = []
        self._sockets: set[socket.socket] = set()
        self._listener = socket.create_server((host, port), backlog=128)
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        addr, port = self._listener.getsockname()[:2]
        return f"{addr}:{port}"

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def latency(self) -> float:
        with self._lock:
            return self._latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        with self._lock:
            self._latency = seconds

    @property
    def requests(self) -> list[ProxiedRequest]:
        """A copy of the request log, in the order responses started."""
        with self._lock:
            return list(self._log)

    def clear_requests(self) -> None:
        with self._lock:
            self._log.clear()

    def add_fault(self, fault: Fault) -> Fault:
        """Install ``fault`` (rules are tried in insertion order); returns it to read ``fired`` later."""
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def reset(self) -> None:
        """Back to pristine: no log, no faults, no latency."""
        with self._lock:
            self._log.clear()
            self._faults.clear()
            self._latency = 0.0

    def start(self) -> FaultProxy:
        self._thread = threading.Thread(target=self._accept_loop, name="fault-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        with self._lock:
            open_sockets = list(self._sockets)
        for sock in open_sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- internals -----------------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=_Connection(self, client).serve, daemon=True).start()

    def _track(self, sock: socket.socket, *, add: bool) -> None:
        with self._lock:
            (self._sockets.add if add else self._sockets.discard)(sock)

    def _plan(self, method: str, target: str) -> tuple[float, Fault | None]:
        """Total delay and the action rule for one request; counts the rules that fire."""
        with self._lock:
            delay, action = self._latency, None
            for fault in self._faults:
                if not fault.active() or not fault.matches(method, target):
                    continue
                if fault.kind == "latency":
                    delay += fault.delay
                elif action is not None:
                    continue
                else:
                    action = fault
                fault.fired += 1
            return delay, action

    def _record(self, method: str, target: str, status: int | None, fault: Fault | None) -> None:
        with self._lock:
            self._log.append(ProxiedRequest(method, target, status, fault.kind if fault else None))


class _Connection:
    """One client connection and its pinned upstream connection."""

    def __init__(self, proxy: FaultProxy, client: socket.socket) -> None:
        self.proxy = proxy
        self.client = _open(proxy, client)
        self.reader: io.BufferedReader = self.client.makefile("rb")
        self.up: socket.socket | None = None
        self.up_reader: io.BufferedReader | None = None

    def serve(self) -> None:
        rst = False
        try:
            while (head := read_head(self.reader)) is not None:
                keep, rst = self._exchange(head)
                if not keep:
                    break
        except (OSError, WireError, ValueError):
            pass
        finally:
            self._close_upstream()
            self.reader.close()
            self.proxy._track(self.client, add=False)
            abort(self.client) if rst else self.client.close()

    def _exchange(self, head: Head) -> tuple[bool, bool]:
        """Handle one request; returns (keep the connection, close it with RST)."""
        method, target, _ = head.start.split(" ", 2)
        delay, fault = self.proxy._plan(method, target)
        if delay > 0:
            time.sleep(delay)
        if head.has_token("Expect", "100-continue"):
            head = head.without("Expect")
            self.client.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        keep = not head.has_token("Connection", "close") and not head.start.endswith("HTTP/1.0")
        if fault and fault.kind == "reset" and fault.after_bytes is None and not fault.forward:
            self.proxy._record(method, target, None, fault)
            return False, True
        if fault and fault.kind == "status" and not fault.forward:
            copy_body(self.reader, None, *request_framing(head))
            self._send_status(method, target, fault)
            return keep, False
        return self._forward(method, target, head, fault, keep)

    def _forward(self, method: str, target: str, head: Head, fault: Fault | None, keep: bool) -> tuple[bool, bool]:
        try:
            up, up_reader = self._upstream()
        except OSError:
            copy_body(self.reader, None, *request_framing(head))
            unreachable = Fault(kind="status", status=502)
            self._send_status(method, target, unreachable, injected=False)
            return keep, False
        reusable = True
        body: bytes | None = None
        if fault and fault.kind == "trust":
            head, body = self._trusting(head)
            target = head.start.split(" ", 2)[1]
        try:
            up.sendall(head.encode())
            if body is not None:
                up.sendall(body)
            else:
                copy_body(self.reader, Sink(up), *request_framing(head))
        except OSError:  # upstream answered early and hung up: relay its answer, then close
            keep = reusable = False
        resp = read_head(up_reader)
        while resp is not None and resp.start.split(" ")[1].startswith("1"):
            resp = read_head(up_reader)  # interim 1xx answers: the client already got its 100
        if resp is None:
            raise WireError("upstream closed without answering")
        status = int(resp.start.split(" ")[1])
        framing, length = response_framing(resp, method, status)
        reusable = reusable and framing != "close" and not resp.has_token("Connection", "close")
        if fault and fault.forward and fault.kind in ("status", "reset"):
            copy_body(up_reader, None, framing, length)
            if not reusable:
                self._close_upstream()
            if fault.kind == "reset":
                self.proxy._record(method, target, None, fault)
                return False, True
            self._send_status(method, target, fault)
            return keep, False
        if fault and fault.kind == "race":
            held = Buffer()
            copy_body(up_reader, held, framing, length)
            self.proxy._record(method, target, status, None)
            self._race(target, fault)  # lands after this write, before the client hears of it
            self.client.sendall(resp.encode() + bytes(held.data))
            if not reusable:
                self._close_upstream()
            return keep and framing != "close", False
        self.proxy._record(method, target, status, fault)
        self.client.sendall(resp.encode())
        try:
            copy_body(up_reader, _sink_for(self.client, fault), framing, length)
        except Cut:
            reusable = False  # the rest of the body is still in flight upstream
        if fault and fault.kind in ("truncate", "reset"):
            self._close_upstream()
            return False, fault.kind == "reset"
        if not reusable:
            self._close_upstream()
        return keep and framing != "close", False

    def _trusting(self, head: Head) -> tuple[Head, bytes]:
        """Read the whole request body; the head with ``digest=`` set to the body's actual sha256."""
        framing, length = request_framing(head)
        if framing != "length":
            raise WireError("a 'trust' fault needs a request with a Content-Length")
        received = Buffer()
        copy_body(self.reader, received, framing, length)
        body = bytes(received.data)
        method, target, version = head.start.split(" ", 2)
        parts = urlsplit(target)
        actual = f"sha256:{hashlib.sha256(body).hexdigest()}"
        query = [(k, actual if k == "digest" else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
        rewritten = urlunsplit(parts._replace(query=urlencode(query)))
        return Head(f"{method} {rewritten} {version}", head.headers), body

    def _race(self, target: str, fault: Fault) -> None:
        """The other writer's request, on a connection of its own, logged with fault ``race``."""
        host, port = self.proxy.upstream
        connection = http.client.HTTPConnection(host, port, timeout=30)
        try:
            connection.request("PUT", target, body=fault.body or b"", headers=fault.headers)
            answer = connection.getresponse()
            answer.read()
            self.proxy._record("PUT", target, answer.status, fault)
        finally:
            connection.close()

    def _send_status(self, method: str, target: str, fault: Fault, *, injected: bool = True) -> None:
        self.proxy._record(method, target, fault.status, fault if injected else None)
        self.client.sendall(error_response(fault, head_only=method == "HEAD"))

    def _upstream(self) -> tuple[socket.socket, io.BufferedReader]:
        if self.up is not None and self.up_reader is not None and not _stale(self.up):
            return self.up, self.up_reader
        self._close_upstream()
        self.up = _open(self.proxy, socket.create_connection(self.proxy.upstream, timeout=60))
        self.up_reader = self.up.makefile("rb")
        return self.up, self.up_reader

    def _close_upstream(self) -> None:
        if self.up_reader is not None:
            self.up_reader.close()
        if self.up is not None:
            self.proxy._track(self.up, add=False)
            self.up.close()
        self.up, self.up_reader = None, None


def _open(proxy: FaultProxy, sock: socket.socket) -> socket.socket:
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    proxy._track(sock, add=True)
    return sock


def _stale(sock: socket.socket) -> bool:
    """An idle keep-alive connection that became readable has been closed (or misbehaves)."""
    readable, _, _ = select.select([sock], [], [], 0)
    return bool(readable)


def _sink_for(client: socket.socket, fault: Fault | None) -> Sink:
    if fault is None:
        return Sink(client)
    if fault.kind == "flip":
        return Sink(client, flip=fault.offset)
    if fault.kind == "rewrite":
        return Sink(client, rewrite=(fault.find, fault.replace))
    if fault.kind in ("truncate", "reset"):
        return Sink(client, limit=fault.after_bytes or 0)
    return Sink(client)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.infra.proxy", description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True, help="HOST:PORT of the plain-HTTP upstream")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every request")
    parser.add_argument("--port", type=int, default=0, help="listening port (0: any free one)")
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with FaultProxy(args.upstream, latency=args.latency, port=args.port, host=args.host) as proxy:
        print(f"proxy {proxy.url} -> {args.upstream} latency={args.latency}s", flush=True)
        stop.wait()


if __name__ == "__main__":
    main()
