"""The registry client against real servers: token refresh mid-copy, tag pages, waits shown to an
observer, and the requests a retag costs where tags may be immutable."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from hoist.ops.copy import copy_image
from hoist.ref import parse_reference
from hoist.store import RegistryOptions, Session
from hoist.store.registry.answers import Wait
from hoist.store.registry.credentials import CredentialResolver
from hoist.store.registry.store import RegistryStore
from tests.infra import emulations as doc
from tests.infra.emulate import Emulator
from tests.infra.emulations import Behaviour
from tests.infra.proxy import FaultProxy
from tests.infra.registry import RunningRegistry
from tests.infra.skopeo import skopeo_copy, skopeo_digest
from tests.infra.token_server import TokenServer
from tests.support import Hoist, Seeded


def docker_config(tmp_path: Path, host: str, user: str, password: str) -> Path:
    config = tmp_path / "docker"
    config.mkdir(exist_ok=True)
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    (config / "config.json").write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    return config


@pytest.fixture
def short_tokens(token_registry: RunningRegistry) -> Iterator[TokenServer]:
    """Tokens that die about 3 s after they are minted (distribution accepts 60 s of clock skew)."""
    server = token_registry.token_server
    assert server is not None
    server.lifetime = -57
    server.clear()
    yield server
    server.lifetime = None
    server.expires_in = 300


@pytest.mark.parametrize("honest", [False, True], ids=["expiry-unannounced", "expiry-announced"])
def test_tokens_expiring_mid_copy_are_refreshed(
    honest: bool,
    short_tokens: TokenServer,
    hoist: Hoist,
    seeded: Seeded,
    token_registry: RunningRegistry,
    unique_repo: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Tokens from a real token server expire while a slow copy runs. Announced (``expires_in: 3``),
    hoist fetches a new one before the registry refuses the old; unannounced (``expires_in: 300``), the
    registry's 401 is the only notice, even in the middle of an upload, and the copy goes on."""
    short_tokens.expires_in = 3 if honest else 300
    assert token_registry.username is not None and token_registry.password is not None
    with FaultProxy(token_registry.host, latency=0.12) as proxy:
        config = docker_config(tmp_path, proxy.host, token_registry.username, token_registry.password)
        monkeypatch.setenv("DOCKER_CONFIG", str(config))
        destination = f"{proxy.host}/{unique_repo}:v1"
        r = hoist("copy", seeded.ref("index"), destination, "--jobs", "1", "--json", "-v")
        import sys

        sys.__stderr__.write(r.err[-6000:])
        sys.__stderr__.write(repr([(x.method, x.status) for x in short_tokens.requests]))
        result = r.json
        refused = [r for r in proxy.requests if r.status == 401]
    assert result["digest"] == seeded.images.index.digest
    digest = skopeo_digest(
        f"docker://{token_registry.host}/{unique_repo}:v1",
        creds=(token_registry.username, token_registry.password),
        tls_verify=False,
    )
    assert digest == seeded.images.index.digest
    fetched = [r for r in short_tokens.requests if r.status == 200]
    assert len(fetched) >= 3, "the copy outlived several tokens"
    if honest:
        assert len(refused) == 1, "only the first request met a challenge"
    else:
        assert len(refused) >= 2, "the registry refused tokens that had died"


def test_tag_list_pages_are_followed(
    seeded: Seeded, registry2: RunningRegistry, unique_repo: str, tmp_path: Path
) -> None:
    """``Link: <...>; rel="next"`` pages (GHCR, Quay, distribution 3) from a server paging by 3."""
    tags = [f"t{i:02d}" for i in range(8)]
    for tag in tags:
        skopeo_copy(
            f"docker://{seeded.ref('single')}",
            f"docker://{registry2.host}/{unique_repo}:{tag}",
            src_tls_verify=False,
            dest_tls_verify=False,
        )
    with Emulator(registry2.host, Behaviour("pages", tag_page=3)) as emu, Session() as session:
        store = session.open(parse_reference(f"{emu.host}/{unique_repo}"))
        assert sorted(store.tags()) == tags
        assert len([s for s in emu.requests if "/tags/list" in s.target]) == 3


def test_waits_are_reported_to_an_observer(seeded: Seeded, registry2: RunningRegistry, unique_repo: str) -> None:
    """Every wait a registry asks for (429 with Retry-After) reaches ``RegistryOptions.on_wait`` before
    hoist sleeps, as a line a progress display can show."""
    waits: list[Wait] = []
    with Emulator(registry2.host, doc.THROTTLED) as emu:
        options = RegistryOptions(on_wait=waits.append, credentials=CredentialResolver(environ={}))
        with Session(options) as session:
            source_ref = parse_reference(seeded.ref("single"))
            destination_ref = parse_reference(f"{emu.host}/{unique_repo}:v1")
            source, destination = session.open(source_ref), session.open(destination_ref, push=True)
            copy_image(source=source, destination=destination, source_ref=source_ref, destination_ref=destination_ref)
        throttled, host = emu.emulated(429), emu.host
    assert throttled and len(waits) == len(throttled)
    assert {w.reason for w in waits} == {"rate limited"} and {w.seconds for w in waits} == {1.0}
    assert str(waits[0]) == f"waiting 1s for {host} (rate limited)"
    assert all("_state" not in w.url and "?" not in w.url for w in waits)


def test_tag_writes_where_tags_may_be_immutable(
    hoist: Hoist,
    seeded: Seeded,
    registry2: RunningRegistry,
    unique_repo: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On ECR (recognised by its Basic challenge) a tag is read before it is written: a retag costs the
    manifest GET, the tag HEAD, the PUT and the read-back; retagging to the digest the tag holds costs no
    PUT, its HEAD answers for the read-back's question too. Each command also meets one 401 challenge."""
    behaviour = doc.ECR_BASIC.but(users={"AWS": "pw-ecr-1"}, immutable=None)
    with Emulator(registry2.host, behaviour) as emu:
        monkeypatch.setenv("DOCKER_CONFIG", str(docker_config(tmp_path, emu.host, "AWS", "pw-ecr-1")))
        repo = f"{emu.host}/{unique_repo}"
        hoist.ok("copy", seeded.ref("single"), f"{repo}:v1")
        first = hoist.ok("tag", f"{repo}:v1", "prod", "--json").json
        again = hoist.ok("tag", f"{repo}:v1", "prod", "--json").json
        puts = [s for s in emu.requests if s.method == "PUT" and s.target.endswith("/manifests/prod")]
    assert first["requests"] == 1 + 4  # challenge, GET, HEAD (absent), PUT, read-back HEAD
    assert again["requests"] == 1 + 3  # challenge, GET, HEAD (same digest), read-back HEAD
    assert len(puts) == 1


def test_retag_on_an_unknown_registry_is_still_three_requests(hoist: Hoist, seeded: Seeded, unique_repo: str) -> None:
    """Where tags are not known to be immutable nothing is read first: GET, PUT, read-back."""
    repo = f"{seeded.registry.host}/{unique_repo}"
    hoist.ok("copy", seeded.ref("single"), f"{repo}:v1")
    assert hoist.ok("tag", f"{repo}:v1", "prod", "--json").json["requests"] == 3
    assert hoist.ok("tag", f"{repo}:v1", "prod", "--json").json["requests"] == 3


def test_errors_carry_their_context(seeded: Seeded, unique_repo: str) -> None:
    """A registry error names status, code, method and a URL without query or credentials."""
    from hoist.errors import NotFound, RegistryError

    with Session() as session:
        store = session.open(parse_reference(f"{seeded.registry.host}/{unique_repo}"))
        assert isinstance(store, RegistryStore)
        with pytest.raises(NotFound) as info:
            store.get_manifest("nope")
        upload = store.client.request(
            "POST", f"/v2/{unique_repo}/blobs/uploads/", scopes=[], what="upload", ok=(202,)
        ).headers["location"]
        with pytest.raises(RegistryError) as bad:
            store.client.request("PUT", f"{upload}&digest=sha256:{'0' * 64}", scopes=[], what="commit", ok=(201,))
    error = info.value
    assert (error.status, error.code, error.method) == (404, "MANIFEST_UNKNOWN", "GET")
    assert error.url == f"http://{seeded.registry.host}/v2/{unique_repo}/manifests/nope"
    assert error.registry == seeded.registry.host
    assert bad.value.status == 400 and bad.value.code == "DIGEST_INVALID" and bad.value.method == "PUT"
    assert bad.value.url is not None and "_state" not in bad.value.url and "?" not in bad.value.url
    assert "_state" in upload  # the URL the registry gave does carry it
