"""Registry authentication: challenges, Basic, and docker's Bearer token flow.

One :class:`Authenticator` per registry host. It learns the scheme from the first 401, asks the token
server once for *every* scope the operation declared (so a cross-repository mount's pull on the source
and push on the destination share one token), and reuses tokens until shortly before they expire.
Holders of an identity token use the OAuth2 ``POST`` form (``grant_type=refresh_token``) and fall back
to ``GET`` when the server does not support it.
"""

from __future__ import annotations

import base64
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import httpx

from hoist.errors import AuthenticationFailed, RegistryError, TransportError
from hoist.secret import Secret, current_scope, use_scope
from hoist.store.registry.answers import safe_url
from hoist.store.registry.credentials import Credentials

_PARAM = re.compile(r'([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))')
_DEFAULT_EXPIRY = 60.0
_EXPIRY_MARGIN = 10.0
_CLIENT_ID = "hoist"


@dataclass(frozen=True, slots=True, order=True)
class Scope:
    """``repository:<name>:<actions>`` as the token server understands it."""

    repository: str
    actions: tuple[str, ...]

    @classmethod
    def pull(cls, repository: str) -> Scope:
        return cls(repository, ("pull",))

    @classmethod
    def push(cls, repository: str) -> Scope:
        return cls(repository, ("pull", "push"))

    def __str__(self) -> str:
        return f"repository:{self.repository}:{','.join(self.actions)}"


def merge_scopes(scopes: Iterable[Scope]) -> list[Scope]:
    """One scope per repository with the union of actions, in first-seen order with the repositories
    written to first: some token servers read only the first scope (PROTOCOL.md), so the repository a
    push or mount writes to leads, and the one it reads from follows."""
    actions: dict[str, set[str]] = {}
    for scope in scopes:
        actions.setdefault(scope.repository, set()).update(scope.actions)
    merged = [Scope(repo, tuple(sorted(acts))) for repo, acts in actions.items()]
    return sorted(merged, key=lambda s: "push" not in s.actions)  # stable: first-seen order otherwise


@dataclass(frozen=True, slots=True)
class Challenge:
    scheme: str
    params: dict[str, str]

    @property
    def realm(self) -> str | None:
        return self.params.get("realm")


def parse_challenge(header: str) -> Challenge | None:
    """Parse ``WWW-Authenticate``; returns the Bearer challenge when offered, else Basic, else None."""
    found: list[Challenge] = []
    for match in re.finditer(r"(?:^|,)\s*(Bearer|Basic)\b", header, flags=re.IGNORECASE):
        start = match.end()
        nxt = re.search(r",\s*(Bearer|Basic)\b", header[start:], flags=re.IGNORECASE)
        body = header[start : start + nxt.start()] if nxt else header[start:]
        params = {
            m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3)) for m in _PARAM.finditer(body)
        }
        found.append(Challenge(match.group(1).lower(), {k: v.replace('\\"', '"') for k, v in params.items()}))
    for scheme in ("bearer", "basic"):
        for challenge in found:
            if challenge.scheme == scheme:
                return challenge
    return None


@dataclass(slots=True)
class _Token:
    value: Secret
    scopes: frozenset[Scope]
    expires_at: float

    def covers(self, needed: Iterable[Scope]) -> bool:
        granted: dict[str, set[str]] = {}
        for scope in self.scopes:
            granted.setdefault(scope.repository, set()).update(scope.actions)
        return all(set(s.actions) <= granted.get(s.repository, set()) for s in needed)


CredentialLookup = Callable[[str | None], Credentials | None]
"""Credentials for this host, given the repository an operation writes to (or reads)."""
Sender = Callable[[httpx.Request], httpx.Response]


class Authenticator:
    """Authorization headers for one registry host, thread-safe."""

    def __init__(self, host: str, lookup: CredentialLookup, send: Sender) -> None:
        self.host = host
        self._lookup = lookup
        self._send = send
        self._lock = threading.Lock()
        self._challenge: Challenge | None = None
        self._tokens: list[_Token] = []
        self._declared: set[Scope] = set()
        self._credentials: Credentials | None = None
        self._basic: Secret | None = None
        self._looked_up = False
        # secrets are read from whichever thread meets the 401: register them in the creator's scope
        self._secrets = current_scope()

    def declare(self, scopes: Iterable[Scope]) -> None:
        """Scopes the current operation will need; token requests ask for all of them at once."""
        with self._lock:
            self._declared.update(scopes)

    def header(self, needed: Iterable[Scope]) -> str | None:
        """The Authorization header to send now: None until the first challenge, then Basic, or a Bearer
        token covering ``needed`` (fetched now when none does)."""
        needed = list(needed)
        with self._lock:
            challenge = self._challenge
            if challenge is None:
                return None
            if challenge.scheme == "basic":
                return self._basic_header()
            now = time.monotonic()
            self._tokens = [t for t in self._tokens if t.expires_at > now]
            for token in reversed(self._tokens):
                if token.covers(needed):
                    return f"Bearer {token.value.reveal()}"
            # the challenge is known: ask the token server now instead of letting the registry refuse
            # the request first (a token about to expire is renewed without a 401 round trip)
            token = self._fetch(challenge, merge_scopes([*needed, *sorted(self._declared)]))
            self._tokens.append(token)
            return f"Bearer {token.value.reveal()}"

    def challenged(self, response: httpx.Response, needed: Iterable[Scope], used: str | None) -> str:
        """Handle a 401: learn the challenge, fetch a token covering ``needed``; return the new header.

        ``used`` is the header the refused request carried: when another thread has fetched a fresh
        token meanwhile, that one is returned instead of asking the token server again.
        """
        needed = list(needed)
        header = response.headers.get("www-authenticate", "")
        challenge = parse_challenge(header)
        if challenge is None:
            raise AuthenticationFailed(
                f"{self.host} refused the request (401) without a usable authentication challenge",
                registry=self.host,
                reason="denied",
                status=401,
            )
        with self._lock:
            self._challenge = challenge
            if challenge.scheme == "basic":
                creds = self._creds()
                if creds is None:
                    raise self._missing()
                return self._basic_header() or ""
            now = time.monotonic()
            refused = next((i for i, t in enumerate(self._tokens) if f"Bearer {t.value.reveal()}" == used), None)
            if refused is not None:
                # the registry refused this token: it and every token fetched before it are stale (a
                # token server may announce a longer life than the registry grants); tokens another
                # thread fetched since are newer and may serve
                del self._tokens[: refused + 1]
            for token in reversed(self._tokens):
                if token.expires_at > now and token.covers(needed):
                    return f"Bearer {token.value.reveal()}"
            offered = [_parse_scope(s) for s in (challenge.params.get("scope") or "").split()]
            requested = [*needed, *(s for s in offered if s is not None), *sorted(self._declared)]
            scopes = merge_scopes(requested)
            token = self._fetch(challenge, scopes)
            self._tokens.append(token)
            return f"Bearer {token.value.reveal()}"

    # -- internals (call with the lock held) -------------------------------------------------------

    def _creds(self) -> Credentials | None:
        if not self._looked_up:
            pushed = sorted(s.repository for s in self._declared if "push" in s.actions)
            pulled = sorted(s.repository for s in self._declared)
            repository = pushed[0] if pushed else pulled[0] if pulled else None
            with use_scope(self._secrets):
                self._credentials = self._lookup(repository)
            self._looked_up = True
        return self._credentials

    @property
    def anonymous(self) -> bool:
        """No credentials were found for this registry (a token server may still hand out tokens)."""
        with self._lock:
            return self._creds() is None

    def missing(self) -> AuthenticationFailed:
        """The error for a registry that wants credentials the user has not given."""
        return self._missing()

    def _basic_header(self) -> str | None:
        creds = self._creds()
        if creds is None:
            return None
        if self._basic is None:
            raw = f"{creds.username}:{creds.secret.reveal()}".encode()
            with use_scope(self._secrets):  # the encoded form is as secret as the password
                self._basic = Secret(base64.b64encode(raw).decode("ascii"))
        return "Basic " + self._basic.reveal()

    def _missing(self) -> AuthenticationFailed:
        return AuthenticationFailed(
            f"{self.host} requires authentication and no credentials for it were found "
            "(docker's config.json, containers' auth.json or a credential helper)",
            registry=self.host,
            reason="no-credentials",
            status=401,
        )

    def _fetch(self, challenge: Challenge, scopes: list[Scope]) -> _Token:
        realm = challenge.realm
        if not realm:
            raise AuthenticationFailed(f"{self.host} sent a Bearer challenge without a realm", registry=self.host)
        creds = self._creds()
        service = challenge.params.get("service")
        scope_list = [str(s) for s in scopes]
        if creds is not None and creds.identity_token:
            form = {
                "grant_type": "refresh_token",
                "refresh_token": creds.secret.reveal(),
                "client_id": _CLIENT_ID,
            }
            if service:
                form["service"] = service
            if scope_list:
                form["scope"] = " ".join(scope_list)
            response = self._send(httpx.Request("POST", realm, data=form))
            if response.status_code not in (404, 405):
                return self._token_from(response, scopes, creds)
        params: list[tuple[str, str | int | float | bool | None]] = []
        if service:
            params.append(("service", service))
        params += [("scope", s) for s in scope_list]
        headers = {}
        basic = self._basic_header()
        if basic is not None:
            headers["Authorization"] = basic
        response = self._send(httpx.Request("GET", realm, params=params, headers=headers))
        return self._token_from(response, scopes, creds)

    def _token_from(self, response: httpx.Response, scopes: list[Scope], creds: Credentials | None) -> _Token:
        if response.status_code in (401, 403):
            if creds is None:
                raise self._missing()
            raise AuthenticationFailed(
                f"{self.host} rejected the credentials from {creds.source or 'the credential store'} "
                f"for user {creds.username!r}",
                registry=self.host,
                reason="rejected",
                status=response.status_code,
                method=response.request.method,
                url=safe_url(response.request.url),
            )
        if response.status_code >= 400:
            raise RegistryError(
                f"token server for {self.host} answered {response.status_code}",
                status=response.status_code,
                method=response.request.method,
                url=safe_url(response.request.url),
                registry=self.host,
            )
        try:
            doc = response.json()
            value = doc.get("token") or doc.get("access_token")
            raw_expiry = doc.get("expires_in")
            expires_in = _DEFAULT_EXPIRY if raw_expiry is None else float(raw_expiry)
        except (ValueError, AttributeError) as exc:
            raise TransportError(f"token server for {self.host} sent a malformed answer") from exc
        if not isinstance(value, str) or not value:
            raise TransportError(f"token server for {self.host} sent no token")
        lifetime = max(expires_in - _EXPIRY_MARGIN, expires_in / 2)
        with use_scope(self._secrets):
            secret = Secret(value)
        return _Token(secret, frozenset(scopes), time.monotonic() + lifetime)


def _parse_scope(text: str) -> Scope | None:
    kind, _, rest = text.partition(":")
    if kind != "repository" or not rest:
        return None
    name, _, actions = rest.rpartition(":")
    if not name:
        return None
    return Scope(name, tuple(sorted(a for a in actions.split(",") if a and a != "*") or ("pull",)))
