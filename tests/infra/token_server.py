"""A docker token-auth server (GET and OAuth2 POST ``/token``) issuing ES256 JWTs with an ``x5c`` chain.

Known users get every action they ask for, anonymous callers get an empty access list, wrong
credentials get 401. Every request is recorded (never a password) so tests can count token fetches.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.infra.pki import CertFiles


@dataclass(frozen=True)
class TokenRequest:
    """One call to the token endpoint, as seen by the server."""

    method: str
    path: str
    service: str | None
    scopes: tuple[str, ...]
    basic_auth: bool
    username: str | None
    grant_type: str | None
    access_type: str | None
    client_id: str | None
    status: int


def parse_scope(scope: str) -> tuple[str, str, list[str]]:
    """``repository:host:5000/app:pull,push`` -> (type, name, actions); the name may hold colons."""
    kind, _, rest = scope.partition(":")
    name, _, actions = rest.rpartition(":")
    return kind, name, [a for a in actions.split(",") if a]


class TokenServer:
    """Threaded HTTP token server on a loopback port; a context manager."""

    def __init__(
        self,
        *,
        signing: CertFiles,
        users: dict[str, str],
        service: str = "hoist-test-registry",
        issuer: str = "hoist-test-issuer",
        expires_in: int = 300,
    ) -> None:
        self.service = service
        self.issuer = issuer
        self.expires_in = expires_in
        #: JWT lifetime in seconds when set (negative mints already-expired tokens); else ``expires_in``.
        self.lifetime: int | None = None
        self._users = dict(users)
        key = serialization.load_pem_private_key(signing.key.read_bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        self._key: ec.EllipticCurvePrivateKey = key
        leaf = x509.load_pem_x509_certificate(signing.cert.read_bytes())
        self._x5c = [base64.b64encode(leaf.public_bytes(serialization.Encoding.DER)).decode()]
        self._lock = threading.Lock()
        self._log: list[TokenRequest] = []
        self._refresh: dict[str, str] = {}
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def realm(self) -> str:
        return f"{self.url}/token"

    @property
    def requests(self) -> list[TokenRequest]:
        """A copy of the request log, oldest first."""
        with self._lock:
            return list(self._log)

    def clear(self) -> None:
        """Forget the recorded requests."""
        with self._lock:
            self._log.clear()

    def start(self) -> TokenServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="token-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> TokenServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def mint(self, subject: str, scopes: list[str] | tuple[str, ...], *, service: str | None = None) -> str:
        """A signed JWT granting every action in ``scopes`` (no request is recorded)."""
        now = int(time.time())
        lifetime = self.expires_in if self.lifetime is None else self.lifetime
        access = []
        for scope in scopes:
            kind, name, actions = parse_scope(scope)
            access.append({"type": kind, "name": name, "actions": actions})
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": service or self.service,
            "exp": now + lifetime,
            "nbf": now - 1,
            "iat": now,
            "jti": secrets.token_hex(16),
            "access": access,
        }
        return jwt.encode(claims, self._key, algorithm="ES256", headers={"x5c": self._x5c})

    # -- request handling (called from handler threads) ---------------------------------------------

    def _record(self, entry: TokenRequest) -> None:
        with self._lock:
            self._log.append(entry)

    def _check_basic(self, header: str | None) -> tuple[bool, str | None, bool]:
        """(given, username, valid) for an Authorization header."""
        if not header or not header.lower().startswith("basic "):
            return False, None, False
        try:
            user, _, password = base64.b64decode(header[6:].strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return True, None, False
        return True, user, self._users.get(user) == password

    def _new_refresh(self, user: str) -> str:
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._refresh[token] = user
        return token

    def _refresh_user(self, token: str) -> str | None:
        with self._lock:
            return self._refresh.get(token)

    def _body(self, token: str, refresh: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "token": token,
            "access_token": token,
            "expires_in": self.expires_in,
            "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        if refresh:
            body["refresh_token"] = refresh
        return body

    def handle_get(self, path: str, query: dict[str, list[str]], auth: str | None) -> tuple[int, dict[str, Any]]:
        service, scopes = _first(query, "service"), _scopes(query)
        given, user, valid = self._check_basic(auth)
        access_type = _first(query, "access_type")
        status, body = 200, {}
        if given and not valid:
            status, body = 401, {"details": "incorrect username or password"}
        else:
            subject = user if valid and user else ""
            token = self.mint(subject, scopes if subject else [], service=service)
            refresh = self._new_refresh(subject) if subject and access_type == "offline" else None
            body = self._body(token, refresh)
        self._record(
            TokenRequest(
                "GET",
                path,
                service,
                scopes,
                given,
                user,
                None,
                access_type,
                _first(query, "client_id"),
                status,
            )
        )
        return status, body

    def handle_post(self, path: str, form: dict[str, list[str]], auth: str | None) -> tuple[int, dict[str, Any]]:
        service, scopes, grant = _first(form, "service"), _scopes(form), _first(form, "grant_type")
        client_id, access_type = _first(form, "client_id"), _first(form, "access_type")
        user: str | None = None
        status, body = 200, {}
        refresh: str | None = None
        if not client_id or grant not in ("password", "refresh_token"):
            status, body = 400, {"error": "invalid_request"}
        elif grant == "password":
            user = _first(form, "username")
            if user is None or user not in self._users or self._users[user] != _first(form, "password"):
                status, body = 401, {"error": "invalid_grant"}
            else:
                refresh = self._new_refresh(user)
        else:
            refresh = _first(form, "refresh_token") or ""
            user = self._refresh_user(refresh)
            if user is None:
                status, body = 401, {"error": "invalid_grant"}
        if status == 200 and user is not None:
            body = self._body(self.mint(user, scopes, service=service), refresh)
        self._record(
            TokenRequest("POST", path, service, scopes, bool(auth), user, grant, access_type, client_id, status)
        )
        return status, body


def _first(params: dict[str, list[str]], key: str) -> str | None:
    values = params.get(key)
    return values[0] if values else None


def _scopes(params: dict[str, list[str]]) -> tuple[str, ...]:
    return tuple(s for value in params.get("scope", []) for s in value.split(" ") if s)


def _make_handler(server: TokenServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path != "/token":
                self._send(404, {"error": "not found"})
                return
            query = parse_qs(parts.query, keep_blank_values=True)
            self._send(*server.handle_get(parts.path, query, self.headers.get("Authorization")))

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode()
            parts = urlsplit(self.path)
            if parts.path != "/token":
                self._send(404, {"error": "not found"})
                return
            form = parse_qs(raw, keep_blank_values=True)
            self._send(*server.handle_post(parts.path, form, self.headers.get("Authorization")))

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if status == 401:
                self.send_header("WWW-Authenticate", 'Basic realm="hoist-test"')
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            """Keep test output quiet."""

    return Handler
