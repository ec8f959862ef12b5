"""hoist.toml's ``[notify]`` table: where to send notifications (sending is :mod:`hoist.promotion.notify`).

::

    [notify]
    timeout = "5s"                       # each request; connecting takes at most 3 s of it
    retries = 1                          # after a network error, a 429 or a 5xx

    [[notify.webhooks]]
    url_env = "SLACK_WEBHOOK_URL"        # or url = "https://…"; a Slack URL is a secret: keep it out of the file
    format = "slack"                     # {"text": …, "blocks": […]}
    events = ["promote", "rollback", "deploy-failed", "freeze"]

    [[notify.webhooks]]
    name = "ops"                         # how warnings name it (default: the URL's host)
    url = "https://ops.example.com/hoist"
    format = "json"                      # the event as JSON, signed when secret_env is set
    secret_env = "HOIST_WEBHOOK_SECRET"  # HMAC-SHA256 key, read from the environment, never from the file
    environments = ["production"]        # default: every environment
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from hoist.promotion.schema import Table

EventKind = Literal["promote", "rollback", "deploy", "deploy-failed", "freeze", "unfreeze"]
EVENT_KINDS: tuple[EventKind, ...] = ("promote", "rollback", "deploy", "deploy-failed", "freeze", "unfreeze")
DEFAULT_EVENTS: tuple[EventKind, ...] = ("promote", "rollback", "deploy-failed", "freeze", "unfreeze")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True, kw_only=True)
class Webhook:
    name: str
    """How messages name it: the ``name`` key, else the URL's host (never its path or query)."""
    url: str | None = None
    url_env: str | None = None
    format: Literal["slack", "json"] = "json"
    secret_env: str | None = None
    events: tuple[EventKind, ...] = DEFAULT_EVENTS
    environments: tuple[str, ...] = ()
    """Only these environments' events (empty: every environment)."""

    def wants(self, kind: str, environment: str) -> bool:
        return kind in self.events and (not self.environments or environment in self.environments)


@dataclass(frozen=True, kw_only=True)
class NotifyConfig:
    webhooks: tuple[Webhook, ...] = ()
    timeout: float = 5.0
    """Seconds for each request (connecting takes at most 3 of them)."""
    retries: int = 1
    """Further tries after a network error, a 429 or a 5xx answer."""


# --- hoist.toml ------------------------------------------------------------------------------------


def parse_notify(table: Table | None, *, environments: Mapping[str, object] | None = None) -> NotifyConfig:
    """The ``[notify]`` table (see the module docstring)."""
    if table is None:
        return NotifyConfig()
    table.check_keys(["webhooks", "timeout", "retries"])
    items = table.data.get("webhooks", [])
    if not isinstance(items, list):
        raise table.fail("webhooks", "expected a list of tables: [[notify.webhooks]]")
    hooks = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise table.fail(f"webhooks[{index}]", "expected a table with url or url_env")
        hooks.append(_webhook(type(table)(table.file, f"{table.path}.webhooks[{index}]", item), environments))
    return NotifyConfig(
        webhooks=tuple(hooks),
        timeout=table.duration("timeout", default=5.0) or 5.0,
        retries=table.integer("retries", default=1),
    )


def _webhook(table: Table, environments: Mapping[str, object] | None) -> Webhook:
    table.check_keys(["name", "url", "url_env", "format", "secret_env", "events", "environments"])
    url, url_env = table.string("url"), table.string("url_env")
    if (url is None) == (url_env is None):
        raise table.fail(None, "give either url or url_env (the name of a variable holding the URL)")
    if url is not None and not url.startswith(("http://", "https://")):
        raise table.fail("url", "expected an http:// or https:// URL")
    for key in ("url_env", "secret_env"):
        value = table.string(key)
        if value is not None and not _ENV_NAME.match(value):
            raise table.fail(key, "expected an environment variable name, such as HOIST_WEBHOOK_SECRET")
    form = table.string("format", default="json")
    if form not in ("slack", "json"):
        raise table.fail("format", 'expected "slack" or "json"')
    events = table.strings("events") if table.has("events") else list(DEFAULT_EVENTS)
    for index, kind in enumerate(events):
        if kind not in EVENT_KINDS:
            raise table.fail(f"events[{index}]", f"unknown event {kind!r} (expected one of: {', '.join(EVENT_KINDS)})")
    names = table.strings("environments")
    for index, name in enumerate(names):
        if environments is not None and name not in environments:
            raise table.fail(f"environments[{index}]", f"no environment named {name!r}")
    host = urlsplit(url).hostname if url else None
    return Webhook(
        name=table.string("name") or host or f"${url_env}",
        url=url,
        url_env=url_env,
        format="slack" if form == "slack" else "json",
        secret_env=table.string("secret_env"),
        events=tuple(k for k in EVENT_KINDS if k in events),
        environments=tuple(names),
    )
