"""Notifications: tell chat and other systems when an environment moves, in parallel, never failing the caller.

The webhooks come from hoist.toml's ``[notify]`` table (:mod:`hoist.promotion.notify_config`). The core
calls :func:`notify` once per event::

    deliveries = notify(config.notify, Event(kind="promote", environment="production", digest=..., seq=42))
    for failed in (d for d in deliveries if not d.ok):
        warn(failed.describe())      # the CLI prints these; nothing here raises

A signed body carries ``X-Hoist-Signature-256: sha256=<hex HMAC-SHA256 of the body>`` (GitHub's webhook
convention); the body holds a ``timestamp`` and a unique ``id`` so a receiver can refuse replays.
:func:`notify` returns one :class:`Delivery` per webhook and never raises: a webhook that is down is a
warning for the caller to print, not a failed promotion. Messages name a webhook by its ``name`` or its
URL's host, never by its path or query (Slack puts the token there).

At run time this module imports only the notify config, ``hoist.secret`` and the standard library (httpx
when something is sent), so the promotion and deploy layers may call it without an import cycle.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from hoist import __version__
from hoist.promotion.notify_config import EventKind, NotifyConfig, Webhook
from hoist.secret import Secret, redact

if TYPE_CHECKING:
    import httpx

__all__ = ["SIGNATURE_HEADER", "Delivery", "Event", "EventKind", "NotifyConfig", "Webhook", "notify", "sign"]

SIGNATURE_HEADER = "X-Hoist-Signature-256"
_RETRY_DELAY = 0.5


@dataclass(frozen=True, kw_only=True)
class Event:
    """Something that happened to an environment. Fields a kind does not use stay None."""

    kind: EventKind
    environment: str
    digest: str | None = None
    previous_digest: str | None = None
    seq: int | None = None
    """The ledger sequence of the record this event wrote (None when unknown)."""
    actor: str | None = None
    reason: str | None = None
    time: datetime = field(default_factory=lambda: datetime.now(UTC))
    image: str | None = None
    """``repository@digest``."""
    source: str | None = None
    """promote: the environment the digest came from."""
    automatic: bool = False
    """rollback: hoist rolled back on its own after a failed deploy."""
    failure: str | None = None
    """deploy-failed: why (the health check's last answer)."""
    restored: str | None = None
    """deploy-failed: the digest serving again after the automatic rollback (None: nothing restored)."""
    until: str | None = None
    """freeze: when the freeze ends (None: until lifted)."""
    url: str | None = None
    """A link for people: the CI run, the pull request."""
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "environment": self.environment,
            "digest": self.digest,
            "previous_digest": self.previous_digest,
            "seq": self.seq,
            "actor": self.actor,
            "reason": self.reason,
            "time": self.time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "image": self.image,
            "source": self.source,
            "automatic": self.automatic,
            "failure": self.failure,
            "restored": self.restored,
            "until": self.until,
            "url": self.url,
            "details": dict(self.details),
        }


@dataclass(frozen=True, kw_only=True)
class Delivery:
    webhook: str
    ok: bool
    status: int | None = None
    error: str | None = None
    attempts: int = 0
    seconds: float = 0.0

    def describe(self) -> str:
        """One line for the CLI: ``webhook ops.example.com: answered 500 (2 tries)``."""
        if self.ok:
            return f"webhook {self.webhook}: delivered ({self.status})"
        tries = f" ({self.attempts} tries)" if self.attempts > 1 else ""
        return f"webhook {self.webhook}: {self.error}{tries}"


# --- sending ---------------------------------------------------------------------------------------


def notify(
    config: NotifyConfig,
    event: Event,
    *,
    environ: Mapping[str, str] | None = None,
    transport: httpx.BaseTransport | None = None,
) -> list[Delivery]:
    """Send ``event`` to every webhook that wants it, in parallel; one Delivery each, never an exception."""
    hooks = [hook for hook in config.webhooks if hook.wants(event.kind, event.environment)]
    if not hooks:
        return []
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    environ = os.environ if environ is None else environ
    timeout = httpx.Timeout(config.timeout, connect=min(config.timeout, 3.0))
    with (
        httpx.Client(timeout=timeout, follow_redirects=False, transport=transport) as client,
        ThreadPoolExecutor(max_workers=min(8, len(hooks)), thread_name_prefix="hoist-notify") as pool,
    ):
        futures = [pool.submit(_deliver, client, hook, event, environ, config.retries) for hook in hooks]
        return [future.result() for future in futures]


def _deliver(client: httpx.Client, hook: Webhook, event: Event, environ: Mapping[str, str], retries: int) -> Delivery:
    started = time.monotonic()
    attempts = 0
    try:
        url = hook.url or environ.get(hook.url_env or "", "")
        if not url:
            return Delivery(webhook=hook.name, ok=False, error=f"${hook.url_env} is not set, so nothing was sent")
        Secret(url)  # a URL from the environment is a secret (Slack's holds its token): never print it
        secret = None
        if hook.secret_env:
            secret = environ.get(hook.secret_env, "")
            if not secret:
                return Delivery(
                    webhook=hook.name, ok=False, error=f"${hook.secret_env} is not set, so the body cannot be signed"
                )
            Secret(secret)
        body, headers = render(hook, event, secret=secret)
        status: int | None = None
        error = ""
        for attempt in range(retries + 1):
            if attempt:
                time.sleep(_RETRY_DELAY)
            attempts += 1
            status, error = _post(client, url, body, headers)
            if status is not None and 200 <= status < 300:
                return Delivery(
                    webhook=hook.name, ok=True, status=status, attempts=attempts, seconds=time.monotonic() - started
                )
            if status is not None and status != 429 and status < 500:
                break
        return Delivery(
            webhook=hook.name,
            ok=False,
            status=status,
            error=_clean(error, url),
            attempts=attempts,
            seconds=time.monotonic() - started,
        )
    except Exception as exc:  # noqa: BLE001 - a notification must never fail the promotion that sent it
        return Delivery(webhook=hook.name, ok=False, error=_clean(f"{type(exc).__name__}: {exc}", ""))


def _post(client: httpx.Client, url: str, body: bytes, headers: dict[str, str]) -> tuple[int | None, str]:
    import httpx

    try:
        response = client.post(url, content=body, headers=headers)
    except httpx.TimeoutException:
        return None, f"no answer within {client.timeout.read:g}s"
    except httpx.HTTPError as exc:
        return None, f"cannot reach it ({type(exc).__name__}: {exc})"
    if 300 <= response.status_code < 400:
        return response.status_code, f"answered {response.status_code} (redirects are not followed: use the final URL)"
    return response.status_code, f"answered {response.status_code}"


def _clean(text: str, url: str) -> str:
    if url:
        text = text.replace(url, "<webhook URL>")
    return redact(text)


# --- bodies ----------------------------------------------------------------------------------------


def render(
    hook: Webhook, event: Event, *, secret: str | None, now: float | None = None
) -> tuple[bytes, dict[str, str]]:
    """The body and headers for one webhook; signed with ``secret`` (HMAC-SHA256) when given."""
    stamp = int(time.time() if now is None else now)
    delivery = str(uuid.uuid4())
    data = slack_message(event) if hook.format == "slack" else json_message(event, stamp=stamp, delivery=delivery)
    body = json.dumps(data, separators=(",", ":"), sort_keys=True, default=str).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"hoist/{__version__}",
        "X-Hoist-Event": event.kind,
        "X-Hoist-Delivery": delivery,
        "X-Hoist-Timestamp": str(stamp),
    }
    if secret:
        headers[SIGNATURE_HEADER] = sign(body, secret)
    return body, headers


def sign(body: bytes, secret: str) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of the exact body bytes, as GitHub signs its webhooks."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def json_message(event: Event, *, stamp: int, delivery: str) -> dict[str, Any]:
    return {"hoist": __version__, "id": delivery, "timestamp": stamp, "event": event.to_json()}


_VERBS = {
    "promote": ":rocket: promoted",
    "rollback": ":rewind: rolled back to",
    "deploy": ":white_check_mark: deployed",
    "deploy-failed": ":x: deploy failed for",
    "freeze": ":snowflake: froze",
    "unfreeze": ":sunny: unfroze",
}


def summary(event: Event) -> str:
    """One line for chat, such as ``production: promoted sha256:3f1c…9a0b from staging (seq 42) by alice``."""
    parts = [f"*{_escape(event.environment)}*: {_VERBS[event.kind]}"]
    if event.digest and event.kind not in ("freeze", "unfreeze"):
        parts.append(f"`{_short(event.digest)}`")
    if event.source:
        parts.append(f"from {_escape(event.source)}")
    if event.automatic:
        parts.append("automatically")
    if event.seq is not None:
        parts.append(f"(seq {event.seq})")
    if event.actor:
        parts.append(f"by {_escape(event.actor)}")
    line = " ".join(parts)
    if event.kind == "deploy-failed":
        restored = f"rolled back, `{_short(event.restored)}` serves again" if event.restored else "nothing restored"
        line += f": {_escape(event.failure or 'not healthy')}; {restored}"
    if event.until:
        line += f" until {_escape(event.until)}"
    if event.reason:
        line += f" — {_escape(event.reason)}"
    return line


def slack_message(event: Event) -> dict[str, Any]:
    facts = [f"*digest* `{event.digest}`"] if event.digest else []
    if event.previous_digest:
        facts.append(f"*previous* `{event.previous_digest}`")
    if event.url:
        facts.append(f"<{_escape(event.url)}|details>")
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": summary(event)}}]
    if facts:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": "  ".join(facts)}]})
    return {"text": summary(event), "blocks": blocks}


def _short(digest: str | None) -> str:
    text = digest or ""
    algorithm, _, hex_part = text.partition(":")
    return f"{algorithm}:{hex_part[:12]}" if hex_part else text


def _escape(text: str) -> str:
    """Slack's mrkdwn control characters (https://api.slack.com/reference/surfaces/formatting#escaping)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
