"""Self-tests of the registry test infrastructure: real distribution 2.8 variants, token server, proxy."""

from __future__ import annotations

import base64
import hashlib
import http.client
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from tests.infra.ports import free_port, wait_http
from tests.infra.proxy import Fault, FaultProxy
from tests.infra.registry import RunningRegistry, parse_challenge

OCTET = {"Content-Type": "application/octet-stream"}


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _push_blob(client: httpx.Client, repo: str, data: bytes) -> str:
    """Monolithic upload: POST, then PUT ``<Location>&digest=`` (the Location's query is kept)."""
    start = client.post(f"/v2/{repo}/blobs/uploads/")
    assert start.status_code == 202, start.text
    url = httpx.URL(start.headers["Location"]).copy_merge_params({"digest": _digest(data)})
    done = client.put(url, content=data, headers=OCTET)
    assert done.status_code == 201, done.text
    return _digest(data)


# -- registry variants -----------------------------------------------------------------------------


def test_plain_registry_answers_v2(registry: RunningRegistry) -> None:
    resp = httpx.get(f"{registry.url}/v2/")
    assert resp.status_code == 200
    assert resp.headers["Docker-Distribution-Api-Version"] == "registry/2.0"
    assert registry.host.startswith("127.0.0.1:")
    assert registry.storage_dir.is_dir()
    assert registry.log_file.exists()


def test_htpasswd_registry_needs_basic_credentials(auth_registry: RunningRegistry) -> None:
    assert auth_registry.username == "hoist-user"
    assert auth_registry.password
    anonymous = httpx.get(f"{auth_registry.url}/v2/")
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"] == 'Basic realm="hoist-test"'
    wrong = httpx.get(f"{auth_registry.url}/v2/", auth=(auth_registry.username, "nope"))
    assert wrong.status_code == 401
    right = httpx.get(f"{auth_registry.url}/v2/", auth=(auth_registry.username, auth_registry.password))
    assert right.status_code == 200


def test_token_registry_challenge_then_push_and_pull(token_registry: RunningRegistry, unique_repo: str) -> None:
    server = token_registry.token_server
    assert server is not None
    assert token_registry.username is not None
    assert token_registry.password is not None
    server.clear()
    with httpx.Client(base_url=token_registry.url) as client:
        challenge = client.post(f"/v2/{unique_repo}/blobs/uploads/")
        assert challenge.status_code == 401
        params = parse_challenge(challenge.headers["WWW-Authenticate"])
        assert (params["realm"], params["service"]) == (server.realm, server.service)
        # distribution lists the actions in random order (a Go map): "pull,push" or "push,pull"
        assert params["scope"] in (
            f"repository:{unique_repo}:pull,push",
            f"repository:{unique_repo}:push,pull",
        )
        answer = httpx.get(
            params["realm"],
            params={"service": params["service"], "scope": params["scope"]},
            auth=(token_registry.username, token_registry.password),
        )
        assert answer.status_code == 200
        body = answer.json()
        assert body["token"] == body["access_token"]
        assert body["expires_in"] == 300
        assert "refresh_token" not in body
        client.headers["Authorization"] = f"Bearer {body['token']}"
        data = os.urandom(1000)
        digest = _push_blob(client, unique_repo, data)
        pulled = client.get(f"/v2/{unique_repo}/blobs/{digest}")
        assert pulled.status_code == 200
        assert pulled.content == data
    [request] = server.requests
    assert (request.method, request.basic_auth, request.username) == ("GET", True, token_registry.username)
    assert request.scopes == (params["scope"],)


def test_token_is_es256_jwt_with_x5c_chained_to_the_ca(token_registry: RunningRegistry) -> None:
    server = token_registry.token_server
    assert server is not None
    token = server.mint("someone", ["repository:a/b:pull,push", "repository:h:5000/c:pull"])
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "ES256"
    leaf = x509.load_der_x509_certificate(base64.b64decode(header["x5c"][0]))
    leaf.verify_directly_issued_by(_ca(token_registry.config_file.parent / "pki" / "ca.pem"))
    public_key = leaf.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    claims = jwt.decode(token, public_key, algorithms=["ES256"], audience=server.service)
    assert claims["iss"] == server.issuer
    assert claims["sub"] == "someone"
    assert claims["exp"] - claims["iat"] == 300
    assert claims["access"] == [
        {"type": "repository", "name": "a/b", "actions": ["pull", "push"]},
        {"type": "repository", "name": "h:5000/c", "actions": ["pull"]},
    ]


def _ca(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_token_anonymous_and_wrong_credentials(token_registry: RunningRegistry, unique_repo: str) -> None:
    server = token_registry.token_server
    assert server is not None
    scope = {"service": server.service, "scope": f"repository:{unique_repo}:pull"}
    anonymous = httpx.get(server.realm, params=scope)
    assert anonymous.status_code == 200
    assert jwt.decode(anonymous.json()["token"], options={"verify_signature": False})["access"] == []
    denied = httpx.get(
        f"{token_registry.url}/v2/{unique_repo}/tags/list",
        headers={"Authorization": f"Bearer {anonymous.json()['token']}"},
    )
    assert denied.status_code == 401
    assert 'error="insufficient_scope"' in denied.headers["WWW-Authenticate"]
    wrong = httpx.get(server.realm, params=scope, auth=("hoist-user", "wrong"))
    assert wrong.status_code == 401


def test_token_post_password_then_refresh_token(token_registry: RunningRegistry, unique_repo: str) -> None:
    server = token_registry.token_server
    assert server is not None
    assert token_registry.password is not None
    server.clear()
    scope = f"repository:{unique_repo}:pull,push"
    form = {"service": server.service, "scope": scope, "client_id": "hoist", "access_type": "offline"}
    first = httpx.post(
        server.realm,
        data={
            **form,
            "grant_type": "password",
            "username": "hoist-user",
            "password": token_registry.password,
        },
    )
    assert first.status_code == 200
    refresh = first.json()["refresh_token"]
    again = httpx.post(server.realm, data={**form, "grant_type": "refresh_token", "refresh_token": refresh})
    assert again.status_code == 200
    assert again.json()["refresh_token"] == refresh
    with httpx.Client(base_url=token_registry.url) as client:
        client.headers["Authorization"] = f"Bearer {again.json()['access_token']}"
        _push_blob(client, unique_repo, b"refreshed")
    bad = httpx.post(server.realm, data={**form, "grant_type": "refresh_token", "refresh_token": "forged"})
    assert bad.status_code == 401
    no_client = httpx.post(server.realm, data={"grant_type": "refresh_token", "refresh_token": refresh})
    assert no_client.status_code == 400
    assert [(r.method, r.grant_type, r.status) for r in server.requests] == [
        ("POST", "password", 200),
        ("POST", "refresh_token", 200),
        ("POST", "refresh_token", 401),
        ("POST", "refresh_token", 400),
    ]


def test_tls_registry_verifies_with_the_ca_only(tls_registry: RunningRegistry) -> None:
    assert tls_registry.url.startswith("https://")
    assert tls_registry.ca_file is not None
    assert httpx.get(f"{tls_registry.url}/v2/", verify=tls_registry.ssl_context()).status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{tls_registry.url}/v2/")  # system CAs do not know the test CA
    plain = httpx.get(f"http://{tls_registry.host}/v2/")  # Go answers plain HTTP with a 400
    assert plain.status_code == 400
    assert "HTTPS" in plain.text


def test_client_helper_has_full_access_on_every_variant(
    registry: RunningRegistry,
    auth_registry: RunningRegistry,
    token_registry: RunningRegistry,
    tls_registry: RunningRegistry,
    unique_repo: str,
) -> None:
    for running in (registry, auth_registry, token_registry, tls_registry):
        with running.client() as client:
            digest = _push_blob(client, unique_repo, running.variant.encode())
            assert client.get(f"/v2/{unique_repo}/blobs/{digest}").content == running.variant.encode()


# -- distribution 2.8 behaviour that hoist relies on ---------------------------------------------


def test_distribution_protocol_facts(registry: RunningRegistry, unique_repo: str) -> None:
    data = os.urandom(4096)
    with registry.client() as client:
        start = client.post(f"/v2/{unique_repo}/blobs/uploads/", headers={"Host": "far.example:1234"})
        assert start.headers["Location"].startswith(f"http://far.example:1234/v2/{unique_repo}/blobs/uploads/")
        assert start.headers["Range"] == "0-0"  # even before any byte arrived
        location = client.post(f"/v2/{unique_repo}/blobs/uploads/").headers["Location"]
        patched = client.patch(location, content=data[:1000], headers=OCTET)
        assert patched.status_code == 202
        assert patched.headers["Range"] == "0-999"
        status = client.get(patched.headers["Location"])
        assert (status.status_code, status.headers["Range"]) == (204, "0-999")
        assert client.get(location).status_code == 404  # a stale _state is refused
        rest = iter([data[1000:3000], data[3000:]])  # a generator body goes out chunked
        final = httpx.URL(patched.headers["Location"]).copy_merge_params({"digest": _digest(data)})
        assert client.put(final, content=rest, headers=OCTET).status_code == 201
        part = client.get(f"/v2/{unique_repo}/blobs/{_digest(data)}", headers={"Range": "bytes=10-19"})
        assert part.status_code == 206
        assert part.headers["Content-Range"] == f"bytes 10-19/{len(data)}"
        assert part.content == data[10:20]


def _stream_until_error(url: str) -> tuple[bytes, Exception | None]:
    """The body bytes that arrived (after a 200 with the full Content-Length) and the error that ended it."""
    received = bytearray()
    try:
        with httpx.stream("GET", url) as resp:
            assert resp.status_code == 200
            assert int(resp.headers["Content-Length"]) > 0
            for chunk in resp.iter_raw():
                received += chunk
    except httpx.TransportError as exc:
        return bytes(received), exc
    return bytes(received), None


# -- fault proxy -----------------------------------------------------------------------------------


def test_proxy_forwards_host_so_locations_point_at_the_proxy(fault_proxy: FaultProxy, unique_repo: str) -> None:
    with httpx.Client(base_url=fault_proxy.url) as client:
        start = client.post(f"/v2/{unique_repo}/blobs/uploads/")
        assert start.headers["Location"].startswith(f"{fault_proxy.url}/v2/")
        client.delete(start.headers["Location"])
        digest = _push_blob(client, unique_repo, b"through the proxy")
        assert client.head(f"/v2/{unique_repo}/blobs/{digest}").status_code == 200
    assert [(r.method, r.status) for r in fault_proxy.requests] == [
        ("POST", 202),
        ("DELETE", 204),
        ("POST", 202),
        ("PUT", 201),
        ("HEAD", 200),
    ]


def test_proxy_streams_large_chunked_and_sized_bodies(
    fault_proxy: FaultProxy, proxied_registry: RunningRegistry, unique_repo: str
) -> None:
    data = os.urandom(20 * 1024 * 1024)
    with httpx.Client(base_url=fault_proxy.url, timeout=30) as client:
        start = client.post(f"/v2/{unique_repo}/blobs/uploads/")
        url = httpx.URL(start.headers["Location"]).copy_merge_params({"digest": _digest(data)})
        chunks = (data[i : i + 1_000_003] for i in range(0, len(data), 1_000_003))
        assert client.put(url, content=chunks, headers=OCTET).status_code == 201
        digest = hashlib.sha256()
        with client.stream("GET", f"/v2/{unique_repo}/blobs/{_digest(data)}") as resp:
            for chunk in resp.iter_raw():
                digest.update(chunk)
    assert "sha256:" + digest.hexdigest() == _digest(data)


def test_proxy_keeps_connections_alive(fault_proxy: FaultProxy) -> None:
    conn = http.client.HTTPConnection(fault_proxy.host)
    try:
        conn.request("GET", "/v2/")
        assert conn.getresponse().read() == b"{}"
        first = conn.sock
        for _ in range(3):
            conn.request("GET", "/v2/")
            assert conn.getresponse().read() == b"{}"
            assert conn.sock is first
    finally:
        conn.close()


def test_proxy_status_fault_then_success(fault_proxy: FaultProxy) -> None:
    fault = fault_proxy.add_fault(Fault(kind="status", status=503, method="GET", path_regex=r"^/v2/$"))
    first = httpx.get(f"{fault_proxy.url}/v2/")
    assert first.status_code == 503
    assert first.json()["errors"][0]["code"] == "UNAVAILABLE"
    assert httpx.get(f"{fault_proxy.url}/v2/").status_code == 200
    assert fault.fired == 1
    assert [(r.status, r.fault) for r in fault_proxy.requests] == [(503, "status"), (200, None)]


def test_proxy_429_with_retry_after(fault_proxy: FaultProxy) -> None:
    fault_proxy.add_fault(Fault(kind="status", status=429, headers={"Retry-After": "1"}, times=2))
    with httpx.Client(base_url=fault_proxy.url) as client:
        answers = [client.get("/v2/") for _ in range(3)]
    assert [a.status_code for a in answers] == [429, 429, 200]
    assert answers[0].headers["Retry-After"] == "1"


def test_proxy_forwarded_status_fault_loses_only_the_answer(
    fault_proxy: FaultProxy, proxied_registry: RunningRegistry, unique_repo: str
) -> None:
    fault_proxy.add_fault(Fault(kind="status", status=500, method="PUT", forward=True))
    with httpx.Client(base_url=fault_proxy.url) as client:
        start = client.post(f"/v2/{unique_repo}/blobs/uploads/")
        url = httpx.URL(start.headers["Location"]).copy_merge_params({"digest": _digest(b"lost")})
        assert client.put(url, content=b"lost", headers=OCTET).status_code == 500
    with proxied_registry.client() as direct:
        assert direct.head(f"/v2/{unique_repo}/blobs/{_digest(b'lost')}").status_code == 200


def test_proxy_flip_changes_the_digest(fault_proxy: FaultProxy, unique_repo: str) -> None:
    data = os.urandom(10_000)
    with httpx.Client(base_url=fault_proxy.url) as client:
        digest = _push_blob(client, unique_repo, data)
        fault = fault_proxy.add_fault(Fault(kind="flip", path_regex="/blobs/sha256:", offset=5000))
        flipped = client.get(f"/v2/{unique_repo}/blobs/{digest}").content
        assert client.get(f"/v2/{unique_repo}/blobs/{digest}").content == data
    assert len(flipped) == len(data)
    assert _digest(flipped) != digest
    assert [i for i, (a, b) in enumerate(zip(flipped, data, strict=True)) if a != b] == [5000]
    assert fault.fired == 1


def test_proxy_truncate_gives_a_short_body(fault_proxy: FaultProxy, unique_repo: str) -> None:
    data = os.urandom(100_000)
    with httpx.Client(base_url=fault_proxy.url) as client:
        digest = _push_blob(client, unique_repo, data)
    fault_proxy.add_fault(Fault(kind="truncate", method="GET", after_bytes=1234))
    received, error = _stream_until_error(f"{fault_proxy.url}/v2/{unique_repo}/blobs/{digest}")
    assert isinstance(error, httpx.RemoteProtocolError)
    assert bytes(received) == data[:1234]


def test_proxy_reset_before_and_during_the_answer(fault_proxy: FaultProxy, unique_repo: str) -> None:
    data = os.urandom(100_000)
    with httpx.Client(base_url=fault_proxy.url) as client:
        digest = _push_blob(client, unique_repo, data)
    url = f"{fault_proxy.url}/v2/{unique_repo}/blobs/{digest}"
    fault_proxy.add_fault(Fault(kind="reset", method="GET"))
    with pytest.raises(httpx.TransportError):
        httpx.get(url)
    fault_proxy.add_fault(Fault(kind="reset", method="GET", after_bytes=500))
    received, error = _stream_until_error(url)
    assert isinstance(error, httpx.TransportError)
    assert bytes(received) == data[:500]
    assert httpx.get(url).content == data
    assert [(r.status, r.fault) for r in fault_proxy.requests][-3:] == [
        (None, "reset"),
        (200, "reset"),
        (200, None),
    ]


def test_proxy_latency_global_and_per_rule(fault_proxy: FaultProxy) -> None:
    with httpx.Client(base_url=fault_proxy.url) as client:
        client.get("/v2/")
        fault_proxy.latency = 0.1
        started = time.monotonic()
        client.get("/v2/")
        assert time.monotonic() - started >= 0.1
        fault_proxy.latency = 0.0
        fault_proxy.add_fault(Fault(kind="latency", delay=0.2, path_regex="^/v2/$"))
        started = time.monotonic()
        assert client.get("/v2/").status_code == 200
        assert time.monotonic() - started >= 0.2


def test_proxy_serves_connections_concurrently(fault_proxy: FaultProxy) -> None:
    fault_proxy.latency = 0.3
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda _: httpx.get(f"{fault_proxy.url}/v2/").status_code, range(8)))
    assert codes == [200] * 8
    assert time.monotonic() - started < 1.5


def test_proxy_command_line(proxied_registry: RunningRegistry) -> None:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "tests.infra.proxy",
        "--upstream",
        proxied_registry.host,
        "--port",
        str(port),
    ]
    root = Path(__file__).resolve().parent.parent
    process = subprocess.Popen([*command, "--latency", "0.05"], cwd=root, stdout=subprocess.PIPE)
    try:
        assert wait_http(f"http://127.0.0.1:{port}/v2/", 10, process=process).status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=5)
    assert process.returncode == 0


def test_unique_repo_is_a_valid_fresh_name(unique_repo: str) -> None:
    assert unique_repo.startswith("t/test-unique-repo-is-a-valid-fresh-name-")
    assert unique_repo == unique_repo.lower()


def test_proxy_answers_502_when_the_upstream_is_down() -> None:
    with FaultProxy(f"127.0.0.1:{free_port()}") as proxy:
        resp = httpx.get(f"{proxy.url}/v2/")
    assert resp.status_code == 502
    assert proxy.requests[0].status == 502
