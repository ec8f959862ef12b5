"""Loopback ports and waiting for a server to answer HTTP."""

from __future__ import annotations

import socket
import ssl
import subprocess
import time

import httpx


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_http(
    url: str,
    timeout: float = 10.0,
    *,
    verify: ssl.SSLContext | bool = True,
    process: subprocess.Popen[bytes] | None = None,
) -> httpx.Response:
    """Poll ``url`` until any HTTP answer arrives; fail fast if ``process`` exits meanwhile."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    with httpx.Client(verify=verify, timeout=1.0) as client:
        while time.monotonic() < deadline:
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"process exited with {process.returncode} before {url} answered")
            try:
                return client.get(url)
            except httpx.TransportError as exc:
                last = exc
                time.sleep(0.02)
    raise TimeoutError(f"{url} did not answer within {timeout}s (last error: {last!r})")
