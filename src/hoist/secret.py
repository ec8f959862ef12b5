"""Secrets: one type that never shows its value, and one redactor for everything hoist prints or logs.

First line of defence: every password, token and key password is wrapped in :class:`Secret` where it is
read, and only ``reveal()`` gives the value back — where it goes on the wire or into a key derivation.
``str``, ``repr`` and f-strings show ``***``, so a secret formatted into a message by mistake shows
nothing.

Second line: :func:`redact` masks what looks like a credential — ``Authorization`` headers, ``token`` /
``access_token`` / ``refresh_token`` / ``password`` fields of JSON bodies, credential query parameters
(including object-storage signatures), passwords in URLs, JWTs — and, as GitHub Actions masks the
secrets it knows, the exact values of the secrets read in the current **scope**. A scope is a block::

    with secrets_scope():
        ...  # every Secret constructed here is masked by redact() until the block ends

The CLI opens one per command; a :class:`~hoist.store.session.Session` uses the scope it was created in,
or its own until it is closed. Nested scopes see the values of the scopes around them. Outside any scope
a :class:`Secret` is remembered nowhere, so a long-lived process does not accumulate every secret it
ever held, and one caller's secrets never mask another caller's output. Worker threads do not inherit
the scope (threads start with an empty context): code that creates secrets there captures
:func:`current_scope` in the creating thread and enters it with :func:`use_scope`.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

MASK = "***"
_MIN_SECRET = 4  # shorter values would mask ordinary words

_HEADER_NAMES = r"authorization|proxy-authorization|x-registry-auth|x-auth-token|private-token"
_FIELD_NAMES = "|".join(
    (
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "identitytoken",
        "identity_token",
        "registrytoken",
        "password",
        "passwd",
        "secret",
        "client_secret",
        "auth",
    )
)
_QUERY_NAMES = "|".join(
    (
        "password",
        "passwd",
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "client_secret",
        "x-amz-signature",
        "x-amz-credential",
        "x-amz-security-token",
        "x-goog-signature",
        "x-goog-credential",
        "signature",
        "sig",
        "validate_token",
    )
)


@functools.cache
def _patterns() -> tuple[re.Pattern[str], ...]:
    """Compiled on first use: a command that prints nothing does not pay for them."""
    return (
        # an Authorization-like header in any rendering ("Authorization: Bearer x", "'authorization':
        # 'Basic x'", "authorization=x"): the scheme word stays visible, the credential goes
        re.compile(
            rf"(?i)\b({_HEADER_NAMES})([\"']?\s*[:=]\s*[\"']?)(?:(basic|bearer|token|negotiate)\s+)?"
            r"[^\s\"',;}\]]+"
        ),
        # a scheme followed by a credential-shaped word anywhere ("Bearer eyJ…" logged on its own)
        re.compile(r"(?i)\b(bearer|basic)\s+([A-Za-z0-9._~+/-]{16,}=*)"),
        # "token": "…" in JSON (and 'token': '…' in Python reprs); only string values
        re.compile(rf"(?i)([\"'])({_FIELD_NAMES})\1(\s*:\s*)([\"'])((?:\\.|(?!\4).)*)\4"),
        # credentials and object-storage signatures in query strings and form bodies
        re.compile(rf"(?i)(?<![A-Za-z0-9_-])({_QUERY_NAMES})=[^&\s\"'#]+"),
        re.compile(r"(://[^/:@\s]+:)[^@\s/]+@"),  # a password in a URL
        re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"),  # a JWT
    )


class SecretScope:
    """The secret values known while one command or API call runs; see :func:`secrets_scope`."""

    __slots__ = ("_closed", "_lock", "_values", "parent")

    def __init__(self, parent: SecretScope | None = None) -> None:
        self.parent = parent
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._closed = False

    def remember(self, value: str) -> None:
        """Mask ``value`` (and its URL- and JSON-escaped forms) in this scope and the ones inside it."""
        if len(value) < _MIN_SECRET:
            return
        from urllib.parse import quote

        forms = {value, quote(value, safe=""), json.dumps(value)[1:-1]}
        with self._lock:
            if not self._closed:
                self._values.update(forms)

    def known(self) -> list[str]:
        """Every value this scope masks, its own and its parents', longest first."""
        values: set[str] = set()
        scope: SecretScope | None = self
        while scope is not None:
            with scope._lock:
                values |= scope._values
            scope = scope.parent
        return sorted(values, key=len, reverse=True)

    def close(self) -> None:
        """Forget every value; later ones are not remembered either."""
        with self._lock:
            self._values.clear()
            self._closed = True

    def __repr__(self) -> str:
        with self._lock:
            count = len(self._values)
        return f"SecretScope({count} value(s){', closed' if self._closed else ''})"


_current: ContextVar[SecretScope | None] = ContextVar("hoist_secret_scope", default=None)


def current_scope() -> SecretScope | None:
    """The innermost open scope of this thread's context, if any."""
    return _current.get()


@contextmanager
def secrets_scope() -> Iterator[SecretScope]:
    """Open a scope inside the current one: secrets constructed in the block are masked until it ends."""
    scope = SecretScope(_current.get())
    token = _current.set(scope)
    try:
        yield scope
    finally:
        _current.reset(token)
        scope.close()


@contextmanager
def use_scope(scope: SecretScope | None) -> Iterator[None]:
    """Make ``scope`` (captured in another thread) current for the block; ``None`` changes nothing."""
    if scope is None:
        yield
        return
    token = _current.set(scope)
    try:
        yield
    finally:
        _current.reset(token)


class Secret:
    """A secret value. ``reveal()`` is the only way to read it; constructing one registers it with the
    current scope (if any) for masking."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        scope = _current.get()
        if scope is not None:
            scope.remember(value)

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return f"Secret('{MASK}')"

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        return format(MASK, spec)

    def __eq__(self, other: object) -> bool:
        import hmac

        return isinstance(other, Secret) and hmac.compare_digest(other._value.encode(), self._value.encode())

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a Secret cannot be pickled")


def _auth_header(match: re.Match[str]) -> str:
    scheme = f"{match.group(3)} " if match.group(3) else ""
    return f"{match.group(1)}{match.group(2)}{scheme}{MASK}"


def _scheme_credential(match: re.Match[str]) -> str:
    word = match.group(2)
    if not any(c.isdigit() or c.isupper() for c in word[1:]):
        return match.group(0)  # an ordinary word ("Basic authentication-required"), not a credential
    return f"{match.group(1)} {MASK}"


def redact(text: str, *, scope: SecretScope | None = None) -> str:
    """``text`` with credentials masked: the known values of ``scope`` (default: the current scope),
    then Authorization headers, token and password fields, credential query parameters, URL
    passwords and JWTs."""
    scope = scope if scope is not None else _current.get()
    if scope is not None:
        for value in scope.known():
            if value in text:
                text = text.replace(value, MASK)
    header, scheme, field, query, url_password, jwt = _patterns()
    text = header.sub(_auth_header, text)
    text = scheme.sub(_scheme_credential, text)
    text = field.sub(rf"\1\2\1\3\4{MASK}\4", text)
    text = query.sub(rf"\1={MASK}", text)
    text = url_password.sub(rf"\1{MASK}@", text)
    return jwt.sub(MASK, text)


class RedactingFilter(logging.Filter):
    """Renders each record (its exception too) and redacts it before any handler formats it.

    ``scope`` binds the filter to one scope, so records logged from worker threads (which have no
    current scope) are masked with the values of the command that installed it.
    """

    def __init__(self, scope: SecretScope | None = None) -> None:
        super().__init__()
        self.scope = scope

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
            record.exc_text = None
        record.msg = redact(message, scope=self.scope)
        record.args = None
        return True
