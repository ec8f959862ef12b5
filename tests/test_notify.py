"""Webhook notifications against real HTTP servers on loopback: Slack-shaped and signed JSON bodies,
servers that are down, fail or hang, and hoist.toml's [notify] table."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from hoist.errors import ConfigError
from hoist.promotion.config import load_config
from hoist.promotion.notify import Event, NotifyConfig, Webhook, notify
from tests.infra.ports import free_port

SECRET = "whsec-test-4f2a9c"
DIGEST = "sha256:" + "3f" * 32
PREVIOUS = "sha256:" + "a0" * 32


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Server:
    """A loopback HTTP server answering ``status`` (after ``delay`` seconds) and keeping what it got."""

    status: int = 200
    delay: float = 0.0
    received: list[Received] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/hoist?token=pathsecret"


@pytest.fixture
def serve() -> Iterator[type[Server] | object]:
    running: list[ThreadingHTTPServer] = []

    def start(status: int = 200, delay: float = 0.0) -> Server:
        state = Server(status=status, delay=delay)

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                state.received.append(Received(self.path, dict(self.headers.items()), body))
                time.sleep(state.delay)
                self.send_response(state.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        state.port = server.server_address[1]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        running.append(server)
        return state

    yield start
    for server in running:
        server.shutdown()
        server.server_close()


def event(kind: str = "promote", **extra: object) -> Event:
    values: dict[str, object] = {
        "environment": "production",
        "digest": DIGEST,
        "previous_digest": PREVIOUS,
        "seq": 42,
        "actor": "alice",
        "reason": "ship <the> login fix & more",
        "time": datetime(2026, 11, 25, 20, 30, tzinfo=UTC),
        "source": "staging",
    }
    values.update(extra)
    return Event(kind=kind, **values)  # type: ignore[arg-type]


def hook(url: str, **options: object) -> Webhook:
    return Webhook(name=str(options.pop("name", "test")), url=url, **options)  # type: ignore[arg-type]


def test_signed_json_body_verifies_with_the_shared_secret(serve) -> None:  # type: ignore[no-untyped-def]
    server = serve()
    config = NotifyConfig(webhooks=(hook(server.url, format="json", secret_env="HOIST_WEBHOOK_SECRET"),))
    before = int(time.time())
    deliveries = notify(config, event(), environ={"HOIST_WEBHOOK_SECRET": SECRET})
    assert [(d.ok, d.status, d.attempts) for d in deliveries] == [(True, 200, 1)]
    (got,) = server.received
    assert got.path == "/hooks/hoist?token=pathsecret"
    expected = "sha256=" + hmac.new(SECRET.encode(), got.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(got.headers["X-Hoist-Signature-256"], expected)
    wrong = "sha256=" + hmac.new(b"another secret", got.body, hashlib.sha256).hexdigest()
    assert got.headers["X-Hoist-Signature-256"] != wrong
    data = json.loads(got.body)
    assert (
        before <= data["timestamp"] <= int(time.time()) and str(data["timestamp"]) == got.headers["X-Hoist-Timestamp"]
    )
    assert data["id"] == got.headers["X-Hoist-Delivery"] and got.headers["X-Hoist-Event"] == "promote"
    assert data["event"] == {
        "kind": "promote",
        "environment": "production",
        "digest": DIGEST,
        "previous_digest": PREVIOUS,
        "seq": 42,
        "actor": "alice",
        "reason": "ship <the> login fix & more",
        "time": "2026-11-25T20:30:00Z",
        "image": None,
        "source": "staging",
        "automatic": False,
        "failure": None,
        "restored": None,
        "until": None,
        "url": None,
        "details": {},
    }
    assert got.headers["Content-Type"] == "application/json"

    second = serve()
    notify(
        NotifyConfig(webhooks=(hook(second.url, secret_env="HOIST_WEBHOOK_SECRET"),)),
        event(),
        environ={"HOIST_WEBHOOK_SECRET": SECRET},
    )
    (again,) = second.received
    assert json.loads(again.body)["id"] != data["id"]  # each delivery is unique: a replay can be refused


def test_slack_format(serve) -> None:  # type: ignore[no-untyped-def]
    server = serve()
    config = NotifyConfig(webhooks=(hook(server.url, format="slack"),))
    failed = event(
        "deploy-failed", failure="GET /health answered 500", restored=PREVIOUS, source=None, reason=None, seq=43
    )
    (delivery,) = notify(config, failed, environ={})
    assert delivery.ok
    body = json.loads(server.received[0].body)
    text = body["text"]
    assert text == (
        f"*production*: :x: deploy failed for `sha256:{'3f' * 6}` (seq 43) by alice: GET /health answered 500; "
        f"rolled back, `sha256:{'a0' * 6}` serves again"
    )
    assert body["blocks"][0] == {"type": "section", "text": {"type": "mrkdwn", "text": text}}
    assert DIGEST in body["blocks"][1]["elements"][0]["text"]
    assert "X-Hoist-Signature-256" not in server.received[0].headers  # no secret configured

    notify(config, event(), environ={})
    assert "ship &lt;the&gt; login fix &amp; more" in json.loads(server.received[1].body)["text"]


def test_failing_webhooks_are_reported_and_never_raise(serve) -> None:  # type: ignore[no-untyped-def]
    good, broken, slow, slower = serve(), serve(status=500), serve(delay=3), serve(delay=3)
    down = f"http://127.0.0.1:{free_port()}/hook"
    config = NotifyConfig(
        webhooks=(
            hook(good.url, name="good"),
            hook(broken.url, name="broken"),
            hook(down, name="down"),
            hook(slow.url, name="slow"),
            hook(slower.url, name="slower"),
            hook("http://127.0.0.1:1:2/", name="malformed"),
            hook(good.url, name="unsigned", secret_env="UNSET_SECRET"),
            Webhook(name="$SLACK_URL", url_env="SLACK_URL", format="slack"),
        ),
        timeout=1.0,
        retries=1,
    )
    started = time.monotonic()
    deliveries = {d.webhook: d for d in notify(config, event("rollback", automatic=True), environ={})}
    elapsed = time.monotonic() - started
    assert deliveries["good"].ok
    assert not deliveries["broken"].ok and deliveries["broken"].status == 500 and deliveries["broken"].attempts == 2
    assert len(broken.received) == 2  # one retry after a 5xx
    assert deliveries["broken"].describe() == "webhook broken: answered 500 (2 tries)"
    assert not deliveries["down"].ok and "cannot reach it" in (deliveries["down"].error or "")
    assert not deliveries["slow"].ok and "no answer within 1s" in (deliveries["slow"].error or "")
    assert deliveries["unsigned"].error == "$UNSET_SECRET is not set, so the body cannot be signed"
    assert deliveries["$SLACK_URL"].error == "$SLACK_URL is not set, so nothing was sent"
    assert len(good.received) == 1  # the unsigned one never sent anything
    assert not deliveries["malformed"].ok and "InvalidURL" in (deliveries["malformed"].error or "")
    assert elapsed < 4.0, elapsed  # in parallel: one slow webhook's two tries (2.5 s) bound the whole call
    for delivery in deliveries.values():
        assert "pathsecret" not in delivery.describe()


def test_client_errors_are_not_retried_and_urls_from_the_environment_stay_secret(serve) -> None:  # type: ignore[no-untyped-def]
    gone = serve(status=404)
    config = NotifyConfig(webhooks=(Webhook(name="$HOOK_URL", url_env="HOOK_URL"),), retries=3)
    (delivery,) = notify(config, event(), environ={"HOOK_URL": gone.url})
    assert (delivery.ok, delivery.status, delivery.attempts, len(gone.received)) == (False, 404, 1, 1)
    assert gone.url not in delivery.describe() and "pathsecret" not in delivery.describe()


def test_events_and_environments_filter(serve) -> None:  # type: ignore[no-untyped-def]
    server = serve()
    config = NotifyConfig(webhooks=(hook(server.url, events=("freeze",), environments=("production",)),))
    assert notify(config, event("promote"), environ={}) == []
    assert notify(config, event("freeze", environment="staging"), environ={}) == []
    (delivery,) = notify(config, event("freeze", until="2026-12-01T00:00:00Z"), environ={})
    assert delivery.ok and json.loads(server.received[0].body)["event"]["until"] == "2026-12-01T00:00:00Z"


CONFIG = """
[environments.staging]
image = "ghcr.io/acme/dotca:staging"

[environments.production]
image = "ghcr.io/acme/dotca:main"
from = "staging"

[notify]
timeout = "2s"
{extra}
"""


def test_notify_table_in_hoist_toml(tmp_path: Path) -> None:
    path = tmp_path / "hoist.toml"
    path.write_text(
        CONFIG.format(
            extra="""
[[notify.webhooks]]
url_env = "SLACK_WEBHOOK_URL"
format = "slack"
events = ["promote", "rollback"]

[[notify.webhooks]]
name = "ops"
url = "https://ops.example.com/hoist"
secret_env = "HOIST_WEBHOOK_SECRET"
environments = ["production"]
"""
        )
    )
    config = load_config(path).notify
    assert config.timeout == 2.0
    slack, ops = config.webhooks
    assert (slack.name, slack.url_env, slack.format, slack.events) == (
        "$SLACK_WEBHOOK_URL",
        "SLACK_WEBHOOK_URL",
        "slack",
        ("promote", "rollback"),
    )
    assert (ops.name, ops.format, ops.secret_env, ops.environments) == (
        "ops",
        "json",
        "HOIST_WEBHOOK_SECRET",
        ("production",),
    )
    assert ops.events == ("promote", "rollback", "deploy-failed", "freeze", "unfreeze")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('[[notify.webhooks]]\nformat = "slack"', r"notify\.webhooks\[0\]: give either url or url_env"),
        ('[[notify.webhooks]]\nurl = "ftp://x"', r"notify\.webhooks\[0\]\.url: expected an http"),
        ('[[notify.webhooks]]\nurl = "https://x"\nformat = "xml"', r"format: expected \"slack\" or \"json\""),
        ('[[notify.webhooks]]\nurl = "https://x"\nevents = ["deploy-ok"]', r"events\[0\]: unknown event 'deploy-ok'"),
        ('[[notify.webhooks]]\nurl = "https://x"\nsecret = "inline"', r"secret: unknown key"),
        ('[[notify.webhooks]]\nurl = "https://x"\nsecret_env = "a-b"', r"secret_env: expected an environment"),
        ('[[notify.webhooks]]\nurl = "https://x"\nenvironments = ["qa"]', r"no environment named 'qa'"),
        ("webhooks = 3", r"notify\.webhooks: expected a list of tables"),
    ],
)
def test_bad_notify_tables(tmp_path: Path, extra: str, message: str) -> None:
    path = tmp_path / "hoist.toml"
    path.write_text(CONFIG.format(extra=extra))
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_the_documented_receiver_accepts_a_delivery_once_and_refuses_tampering(serve) -> None:  # type: ignore[no-untyped-def]
    """Runs the verification code from docs/gitops.md on a real delivery."""
    docs = (Path(__file__).parent.parent / "docs" / "gitops.md").read_text()
    code = docs.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, object] = {}
    exec(code, namespace)
    verify = namespace["verify"]
    server = serve()
    config = NotifyConfig(webhooks=(hook(server.url, secret_env="HOIST_WEBHOOK_SECRET"),))
    notify(config, event(), environ={"HOIST_WEBHOOK_SECRET": SECRET})
    (got,) = server.received
    signature = got.headers["X-Hoist-Signature-256"]
    seen: set[str] = set()
    assert verify(got.body, signature, SECRET, seen)["digest"] == DIGEST  # type: ignore[operator]
    with pytest.raises(PermissionError, match="replay"):
        verify(got.body, signature, SECRET, seen)  # type: ignore[operator]
    with pytest.raises(PermissionError, match="bad signature"):
        verify(got.body.replace(b"alice", b"mallory"), signature, SECRET, set())  # type: ignore[operator]
