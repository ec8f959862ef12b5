import time

import httpx
import pytest

from hoist.digest import Digest
from hoist.errors import DigestMismatch, ManifestTooLarge, NotFound, RateLimited, RegistryError, TransportError
from hoist.manifest import MAX_MANIFEST_BYTES
from hoist.ref import RegistryRef
from hoist.store.registry import profile
from hoist.store.registry.answers import Wait, safe_url
from hoist.store.registry.auth import Scope
from hoist.store.registry.store import RegistryStore
from hoist.store.registry.transport import RegistryClient, RegistryOptions, RequestStats

MANIFEST = b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}'


def make_client(handler, **options) -> RegistryClient:  # type: ignore[no-untyped-def]
    opts = RegistryOptions(transport=httpx.MockTransport(handler), backoff=0.001, **options)
    return RegistryClient("reg.example", opts, RequestStats())


def store_for(client: RegistryClient) -> RegistryStore:
    return RegistryStore(client, RegistryRef("reg.example", "o/app"))


def test_retries_503_and_429_honouring_retry_after() -> None:
    answers = [httpx.Response(503), httpx.Response(429, headers={"retry-after": "0.2"}), httpx.Response(200)]
    client = make_client(lambda request: answers.pop(0))
    started = time.monotonic()
    response = client.request("GET", "/v2/", scopes=[], what="ping")
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.2
    assert client.stats.retries == 2


def test_gives_up_after_the_retry_budget() -> None:
    client = make_client(lambda request: httpx.Response(500, json={"errors": [{"code": "UNKNOWN", "message": "boom"}]}))
    with pytest.raises(RegistryError) as info:
        client.request("GET", "/v2/", scopes=[], what="ping")
    assert info.value.status == 500
    assert "UNKNOWN: boom" in str(info.value)
    assert client.stats.requests == 6


def test_dropped_connections_are_retried_only_when_safe() -> None:
    calls = {"n": 0}

    def flaky(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] == 1:
            raise httpx.RemoteProtocolError("peer closed connection", request=request)
        return httpx.Response(200)

    assert make_client(flaky).request("GET", "/v2/", scopes=[], what="ping").status_code == 200
    calls["n"] = 0
    with pytest.raises(TransportError, match="connection dropped"):
        make_client(flaky).request("PUT", "/v2/x", scopes=[], what="push", retry=False)


def test_manifest_digest_is_checked_against_what_was_asked() -> None:
    digest = Digest.of(MANIFEST)
    tampered = MANIFEST.replace(b"[]", b"[ ]")

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, content=tampered, headers={"content-type": "application/vnd.oci.image.manifest.v1+json"}
        )

    with pytest.raises(DigestMismatch):
        store_for(make_client(handler)).get_manifest(digest)

    def lying(request: httpx.Request) -> httpx.Response:
        headers = {
            "content-type": "application/vnd.oci.image.manifest.v1+json",
            "docker-content-digest": str(digest),
        }
        return httpx.Response(200, content=tampered, headers=headers)

    with pytest.raises(DigestMismatch):
        store_for(make_client(lying)).get_manifest("latest")


def test_manifest_size_is_capped() -> None:
    big = b"{" + b" " * MAX_MANIFEST_BYTES + b"}"
    client = make_client(lambda request: httpx.Response(200, content=big))
    with pytest.raises(ManifestTooLarge):
        store_for(client).get_manifest("latest")


def test_accept_header_lists_all_four_types() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["accept"])
        return httpx.Response(
            200, content=MANIFEST, headers={"content-type": "application/vnd.oci.image.manifest.v1+json"}
        )

    store_for(make_client(handler)).get_manifest("latest")
    for media_type in (
        "oci.image.index",
        "oci.image.manifest",
        "manifest.list.v2",
        "distribution.manifest.v2",
    ):
        assert media_type in seen[0]


def test_missing_manifest_is_not_found() -> None:
    client = make_client(lambda r: httpx.Response(404, json={"errors": [{"code": "MANIFEST_UNKNOWN"}]}))
    with pytest.raises(NotFound, match="MANIFEST_UNKNOWN"):
        store_for(client).get_manifest("nope")
    assert store_for(client).head_manifest("nope") is None


def test_blob_redirect_drops_the_registry_authorization() -> None:
    seen: dict[str, str | None] = {}  # host -> Authorization of the last request there
    blob = b"hello blob"
    digest = Digest.of(blob)

    def handler(request: httpx.Request) -> httpx.Response:
        seen[request.url.host] = request.headers.get("authorization")
        if request.url.host == "reg.example":
            if request.url.path == "/token":
                return httpx.Response(200, json={"token": "T"})
            if "authorization" not in request.headers:
                return httpx.Response(401, headers={"www-authenticate": 'Bearer realm="https://reg.example/token"'})
            return httpx.Response(307, headers={"location": "https://storage.example/blob?sig=abc"})
        return httpx.Response(200, content=blob)

    client = make_client(handler)
    client.auth._lookup = lambda _repository: None
    client.request("GET", "/v2/", scopes=[Scope.pull("o/app")], what="ping", ok=(200, 307))
    from hoist.manifest import Descriptor

    data = store_for(client).read_blob(Descriptor("application/octet-stream", digest, len(blob)), max_size=100)
    assert data == blob
    assert seen["storage.example"] is None
    assert seen["reg.example"] == "Bearer T"  # the registry itself did get the token


def test_tag_list_follows_link_pagination() -> None:
    pages = {
        "/v2/o/app/tags/list": ({"tags": ["a", "b"]}, '</v2/o/app/tags/list?n=2&last=b>; rel="next"'),
    }

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("last") == "b":
            return httpx.Response(200, json={"tags": ["c"]})
        body, link = pages[request.url.path]
        return httpx.Response(200, json=body, headers={"link": link})

    assert store_for(make_client(handler)).tags() == ["a", "b", "c"]


def test_a_wait_longer_than_the_budget_fails_at_once_with_the_wait_in_the_error() -> None:
    calls: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(time.monotonic())
        return httpx.Response(429, headers={"retry-after": "600"}, json={"errors": [{"code": "TOOMANYREQUESTS"}]})

    client = make_client(handler)
    started = time.monotonic()
    with pytest.raises(RateLimited) as info:
        client.request("GET", "/v2/o/app/manifests/v1", scopes=[], what="manifest")
    assert time.monotonic() - started < 5 and len(calls) == 1
    assert info.value.retry_after == 600 and info.value.status == 429 and info.value.code == "TOOMANYREQUESTS"
    assert "600s" in str(info.value)


def test_docker_hub_quota_used_up_fails_without_waiting() -> None:
    """RateLimit-Remaining: 0 with a six-hour window (docs.docker.com/docker-hub/usage/pulls/)."""
    headers = {"ratelimit-limit": "100;w=21600", "ratelimit-remaining": "0;w=21600"}
    client = make_client(lambda request: httpx.Response(429, headers=headers))
    with pytest.raises(RateLimited, match="quota of 100 pulls per 6 h is used up"):
        client.request("GET", "/v2/o/app/manifests/v1", scopes=[], what="manifest")
    assert client.stats.requests == 1


def test_waits_follow_retry_after_and_are_reported() -> None:
    seen: list[Wait] = []
    answers = [httpx.Response(503, headers={"retry-after": "0.3"}), httpx.Response(200)]
    opts = RegistryOptions(transport=httpx.MockTransport(lambda r: answers.pop(0)), backoff=0.001, on_wait=seen.append)
    client = RegistryClient("reg.example", opts, RequestStats())
    client.request("GET", "/v2/", scopes=[], what="ping")
    assert [(w.seconds, w.reason, w.registry) for w in seen] == [(0.3, "unavailable", "reg.example")]


def test_urls_in_errors_carry_no_secrets() -> None:
    assert safe_url("https://user:pw@reg.example:5000/v2/x/blobs/uploads/u?_state=abc&digest=sha256:1#f") == (
        "https://reg.example:5000/v2/x/blobs/uploads/u"
    )
    client = make_client(lambda r: httpx.Response(500, json={"errors": [{"code": "UNKNOWN", "message": "boom"}]}))
    with pytest.raises(RegistryError) as info:
        client.request(
            "PUT", "https://reg.example/v2/x/blobs/uploads/u?_state=s3cr3t", scopes=[], what="x", retry=False
        )
    assert (info.value.method, info.value.url, info.value.registry) == (
        "PUT",
        "https://reg.example/v2/x/blobs/uploads/u",
        "reg.example",
    )
    assert "s3cr3t" not in str(info.value)


def test_profiles_by_host_and_by_challenge() -> None:
    assert profile.for_host("ghcr.io") is profile.GHCR
    assert profile.for_host("registry-1.docker.io") is profile.DOCKER_HUB
    assert profile.for_host("123456789012.dkr.ecr.eu-west-1.amazonaws.com") is profile.ECR
    assert profile.for_host("europe-docker.pkg.dev") is profile.ARTIFACT_REGISTRY
    assert profile.for_host("gcr.io") is profile.ARTIFACT_REGISTRY
    assert profile.for_host("myreg.azurecr.io") is profile.ACR
    assert profile.for_host("quay.io") is profile.QUAY
    assert profile.for_host("127.0.0.1:5000") is profile.GENERIC
    assert profile.for_challenge({"realm": "https://harbor.example/service/token", "service": "x"}) is profile.HARBOR
    assert profile.for_challenge({"service": "ecr.amazonaws.com"}) is profile.ECR
    assert profile.stated_limit("exceeds the maximum permissible limit of 4.00MiB") == 4 * 1024 * 1024


def test_no_http_library_is_imported_with_the_store_or_the_cli() -> None:
    import subprocess
    import sys

    code = "import sys, hoist.cli.app, hoist.store; print('httpx' in sys.modules, 'httpcore' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_importing_the_registry_store_changes_no_global_state() -> None:
    import subprocess
    import sys

    code = (
        "import sys, httpcore; before = httpcore.HTTP11Connection.READ_NUM_BYTES; "
        "import hoist.store.registry.store, hoist.store.registry.transport; "
        "print(httpcore.HTTP11Connection.READ_NUM_BYTES == before, 'httpx._main' not in sys.modules or "
        "sys.modules['httpx._main'] is not None)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "True"]
