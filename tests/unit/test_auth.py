import json

import httpx
import pytest

from hoist.errors import AuthenticationFailed
from hoist.secret import Secret
from hoist.store.registry.auth import Scope, merge_scopes, parse_challenge
from hoist.store.registry.credentials import CredentialResolver, Credentials
from hoist.store.registry.transport import RegistryClient, RegistryOptions, RequestStats


def test_parse_bearer_challenge() -> None:
    header = (
        'Bearer realm="https://auth.example.com/token",service="registry.example.com",'
        'scope="repository:o/a:pull,push repository:o/b:pull",error="insufficient_scope"'
    )
    challenge = parse_challenge(header)
    assert challenge is not None
    assert challenge.scheme == "bearer"
    assert challenge.realm == "https://auth.example.com/token"
    assert challenge.params["scope"] == "repository:o/a:pull,push repository:o/b:pull"
    assert challenge.params["error"] == "insufficient_scope"


def test_parse_basic_and_mixed_challenges() -> None:
    basic = parse_challenge('Basic realm="Registry Realm"')
    assert basic is not None and basic.scheme == "basic"
    mixed = parse_challenge('Basic realm="x", Bearer realm="https://t/token",service="s"')
    assert mixed is not None and mixed.scheme == "bearer" and mixed.params["service"] == "s"
    assert parse_challenge("Negotiate") is None


def test_merge_scopes_puts_push_first() -> None:
    merged = merge_scopes([Scope.pull("src"), Scope.push("dst"), Scope.pull("dst")])
    assert [str(s) for s in merged] == ["repository:dst:pull,push", "repository:src:pull"]


class FakeRegistry:
    """A registry + token server in one MockTransport, recording what hoist sends."""

    def __init__(self, *, expires_in: int = 300, post_tokens: bool = False) -> None:
        self.expires_in = expires_in
        self.post_tokens = post_tokens
        self.token_requests: list[httpx.Request] = []
        self.requests: list[httpx.Request] = []
        self.issued = 0

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            self.token_requests.append(request)
            if request.method == "POST" and not self.post_tokens:
                return httpx.Response(404)
            self.issued += 1
            return httpx.Response(200, json={"token": f"tok{self.issued}", "expires_in": self.expires_in})
        self.requests.append(request)
        if request.headers.get("authorization", "").startswith("Bearer tok"):
            return httpx.Response(200, content=b"{}", headers={"content-type": "application/json"})
        return httpx.Response(
            401,
            headers={"www-authenticate": 'Bearer realm="https://reg.example/token",service="reg.example"'},
        )


def client_for(fake: FakeRegistry, creds: Credentials | None) -> RegistryClient:
    resolver = CredentialResolver(environ={}, run_helper=lambda *_: None)
    options = RegistryOptions(transport=httpx.MockTransport(fake.handler), credentials=resolver, backoff=0.001)
    client = RegistryClient("reg.example", options, RequestStats())
    client.auth._lookup = lambda _repository: creds  # the resolver is tested on its own
    return client


def test_one_token_covers_all_declared_scopes_and_is_reused() -> None:
    fake = FakeRegistry()
    client = client_for(fake, Credentials("u", Secret("s3cret-pass")))
    client.auth.declare([Scope.pull("src"), Scope.push("dst")])
    for _ in range(3):
        client.request("GET", "/v2/src/manifests/x", scopes=[Scope.pull("src")], what="t")
    client.request("POST", "/v2/dst/blobs/uploads/", scopes=[Scope.push("dst"), Scope.pull("src")], what="t")
    assert len(fake.token_requests) == 1
    scopes = fake.token_requests[0].url.params.get_list("scope")
    assert scopes == ["repository:dst:pull,push", "repository:src:pull"]
    assert fake.token_requests[0].headers["authorization"].startswith("Basic ")
    assert client.stats.auth_requests == 1


def test_expired_token_is_refreshed() -> None:
    fake = FakeRegistry(expires_in=0)
    client = client_for(fake, None)
    client.request("GET", "/v2/a/tags/list", scopes=[Scope.pull("a")], what="t")
    client.request("GET", "/v2/a/tags/list", scopes=[Scope.pull("a")], what="t")
    assert len(fake.token_requests) == 2
    assert "authorization" not in fake.token_requests[0].headers


def test_identity_token_uses_post_then_falls_back_to_get() -> None:
    fake = FakeRegistry(post_tokens=True)
    client = client_for(fake, Credentials("<token>", Secret("refresh-xyz-123"), identity_token=True))
    client.request("GET", "/v2/a/tags/list", scopes=[Scope.pull("a")], what="t")
    post = fake.token_requests[0]
    assert post.method == "POST"
    form = dict(httpx.QueryParams(post.content.decode()))
    assert form["grant_type"] == "refresh_token"
    assert form["refresh_token"] == "refresh-xyz-123"
    assert form["scope"] == "repository:a:pull"

    fallback = FakeRegistry(post_tokens=False)
    client = client_for(fallback, Credentials("<token>", Secret("refresh-xyz-123"), identity_token=True))
    client.request("GET", "/v2/a/tags/list", scopes=[Scope.pull("a")], what="t")
    assert [r.method for r in fallback.token_requests] == ["POST", "GET"]


def test_rejected_credentials_are_a_clear_error_without_the_password() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            return httpx.Response(401, json={"details": "bad"})
        return httpx.Response(401, headers={"www-authenticate": 'Bearer realm="https://reg.example/token"'})

    options = RegistryOptions(transport=httpx.MockTransport(handler), backoff=0.001)
    client = RegistryClient("reg.example", options, RequestStats())
    client.auth._lookup = lambda _repository: Credentials("bob", Secret("hunter2-password"), source="config.json")
    with pytest.raises(AuthenticationFailed) as info:
        client.request("GET", "/v2/a/tags/list", scopes=[Scope.pull("a")], what="t")
    assert "hunter2-password" not in str(info.value)
    assert "'bob'" in str(info.value) and "config.json" in str(info.value)
    assert "docker login" not in str(info.value)  # library messages name no commands; the CLI adds the hint
    assert (info.value.registry, info.value.reason, info.value.status) == ("reg.example", "rejected", 401)
    assert info.value.url == "https://reg.example/token"


def test_basic_auth_registry() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization", ""))
        if request.headers.get("authorization", "").startswith("Basic "):
            return httpx.Response(200, content=json.dumps({"tags": []}).encode())
        return httpx.Response(401, headers={"www-authenticate": 'Basic realm="r"'})

    options = RegistryOptions(transport=httpx.MockTransport(handler))
    client = RegistryClient("reg.example", options, RequestStats())
    client.auth._lookup = lambda _repository: Credentials("u", Secret("p4ssword"))
    client.request("GET", "/v2/a/tags/list", scopes=[Scope.pull("a")], what="t")
    client.request("GET", "/v2/a/tags/list", scopes=[Scope.pull("a")], what="t")
    assert seen[0] == "" and seen[1].startswith("Basic ") and seen[2].startswith("Basic ")
    assert len(seen) == 3  # preemptive after the first challenge
