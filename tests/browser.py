"""A real headless Chromium driven over the DevTools protocol through a pipe (stdlib only).

``--remote-debugging-pipe`` makes Chromium read protocol messages from fd 3 and write them to fd 4, each
a JSON document ended by a NUL byte: no port, no websocket client. Commands for a page go through a
flattened session (``Target.attachToTarget`` with ``flatten``), identified by ``sessionId``.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Any

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--remote-debugging-pipe",
)


def _high_pipe() -> tuple[int, int]:
    """A close-on-exec pipe whose ends are above fd 10, so that dup2 onto 3 and 4 cannot clobber them."""
    ends = []
    for fd in os.pipe():
        ends.append(fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10))
        os.close(fd)
    return ends[0], ends[1]


class BrowserError(Exception):
    pass


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Chromium:
    """``with Chromium(profile) as browser: page = browser.open(url)``; every call has a deadline."""

    def __init__(self, profile: Path, *, timeout: float = 30.0) -> None:
        self.profile = profile
        self.timeout = timeout
        self._next = 0
        self._buffer = b""
        self._events: list[dict[str, Any]] = []
        self._process: subprocess.Popen[bytes] | None = None
        self.log = profile / "chromium.log"

    def __enter__(self) -> Chromium:
        executable = chromium_path()
        if executable is None:
            raise BrowserError("chromium is not installed (Debian package: chromium)")
        to_child, self._writer = _high_pipe()  # Chromium reads commands on its fd 3
        self._reader, from_child = _high_pipe()  # and writes answers on its fd 4

        def wire_fds() -> None:  # in the child: dup2 leaves the copies inheritable, the originals close
            os.dup2(to_child, 3)
            os.dup2(from_child, 4)

        self.profile.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as log:
            self._process = subprocess.Popen(
                [executable, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                preexec_fn=wire_fds,  # noqa: PLW1509 - only dup2 runs between fork and exec
                close_fds=False,  # would close fds 3 and 4 after wire_fds; Python's own fds are close-on-exec
            )
        os.close(to_child)
        os.close(from_child)
        return self

    def __exit__(self, *exc: object | TracebackType) -> None:
        self.close()

    def close(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(BrowserError, OSError):
            self.call("Browser.close")
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        for fd in (self._writer, self._reader):
            os.close(fd)

    # -- protocol --------------------------------------------------------------------------------------

    def call(self, method: str, params: dict[str, Any] | None = None, *, session: str | None = None) -> Any:
        self._next += 1
        message: dict[str, Any] = {"id": self._next, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        os.write(self._writer, json.dumps(message).encode() + b"\0")
        answer = self._receive(lambda m: m.get("id") == self._next, f"the answer to {method}")
        if "error" in answer:
            raise BrowserError(f"{method}: {answer['error']}")
        return answer.get("result", {})

    def wait_event(self, method: str, *, session: str | None = None) -> dict[str, Any]:
        def wanted(m: dict[str, Any]) -> bool:
            return m.get("method") == method and (session is None or m.get("sessionId") == session)

        for index, event in enumerate(self._events):
            if wanted(event):
                return self._events.pop(index)
        return self._receive(wanted, f"the event {method}")

    def events(self, method: str, session: str) -> list[dict[str, Any]]:
        """The events of ``method`` received so far for ``session`` (taken from the queue)."""
        taken = [e for e in self._events if e.get("method") == method and e.get("sessionId") == session]
        self._events = [e for e in self._events if not any(e is t for t in taken)]
        return taken

    def _receive(self, wanted: Any, what: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                message = json.loads(raw)
                if wanted(message):
                    return message  # type: ignore[no-any-return]
                if "method" in message:
                    self._events.append(message)
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError(f"no {what} from chromium within {self.timeout:g}s (log: {self.log})")
            ready, _, _ = select.select([self._reader], [], [], left)
            if ready:
                chunk = os.read(self._reader, 1 << 20)
                if not chunk:
                    raise BrowserError(f"chromium exited while waiting for {what} (log: {self.log})")
                self._buffer += chunk

    # -- pages -----------------------------------------------------------------------------------------

    def open(self, url: str, *, width: int = 1280, height: int = 2000) -> Page:
        targets = self.call("Target.getTargets")["targetInfos"]
        page = next((t for t in targets if t["type"] == "page"), None)
        target = page["targetId"] if page else self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.call("Page.enable", session=session)
        self.call("Network.enable", session=session)  # to list every request the page makes
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            session=session,
        )
        self.call("Page.navigate", {"url": url}, session=session)
        self.wait_event("Page.loadEventFired", session=session)
        return Page(self, session, width)


class Page:
    def __init__(self, browser: Chromium, session: str, width: int) -> None:
        self.browser = browser
        self.session = session
        self.width = width

    def requests(self) -> list[str]:
        """The URLs the page requested so far (``Network.requestWillBeSent``)."""
        return [e["params"]["request"]["url"] for e in self.browser.events("Network.requestWillBeSent", self.session)]

    def evaluate(self, expression: str) -> Any:
        """The JSON value of a JavaScript expression in the page."""
        result = self.browser.call(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=self.session
        )
        if "exceptionDetails" in result:
            raise BrowserError(f"script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path: Path, *, top: float = 0, height: float | None = None) -> None:
        """The page as PNG: all of it (not only the window), or ``height`` pixels from ``top``."""
        if height is None:
            metrics = self.browser.call("Page.getLayoutMetrics", session=self.session)
            height = metrics["cssContentSize"]["height"] - top
        shot = self.browser.call(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {"x": 0, "y": top, "width": self.width, "height": height, "scale": 1},
            },
            session=self.session,
        )
        path.write_bytes(base64.b64decode(shot["data"]))
