"""Credentials from docker's and containers' files, Basic and token auth, and TLS, on real registries."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from tests.infra.registry import RunningRegistry
from tests.infra.skopeo import skopeo_copy, skopeo_digest
from tests.support import Hoist, Seeded


def docker_config(directory: Path, registry: RunningRegistry, password: str | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    secret = password if password is not None else registry.password
    auth = base64.b64encode(f"{registry.username}:{secret}".encode()).decode()
    (directory / "config.json").write_text(json.dumps({"auths": {registry.host: {"auth": auth}}}))
    return directory


def seed(seeded: Seeded, registry: RunningRegistry, repo: str) -> str:
    target = f"{registry.host}/{repo}:v1"
    skopeo_copy(
        f"docker://{seeded.ref('index')}",
        f"docker://{target}",
        src_tls_verify=False,
        dest_creds=(registry.username, registry.password) if registry.username else None,
        dest_cert_dir=registry.ca_file.parent if registry.ca_file else None,
        dest_tls_verify=False if registry.ca_file is None else None,
    )
    return target


def test_htpasswd_registry_with_docker_config(
    hoist: Hoist,
    seeded: Seeded,
    auth_registry: RunningRegistry,
    unique_repo: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    anonymous = hoist("copy", seeded.ref("single"), f"{auth_registry.host}/{unique_repo}:prod")
    assert anonymous.code == 2
    assert f"docker login {auth_registry.host}" in anonymous.err
    monkeypatch.setenv("DOCKER_CONFIG", str(docker_config(tmp_path / "docker", auth_registry)))
    result = hoist.ok("copy", seeded.ref("single"), f"{auth_registry.host}/{unique_repo}:prod", "--json").json
    assert result["digest"] == seeded.images.single.digest
    assert (
        skopeo_digest(
            f"docker://{auth_registry.host}/{unique_repo}:prod",
            creds=(auth_registry.username, auth_registry.password),
            tls_verify=False,
        )
        == seeded.images.single.digest
    )


def test_wrong_password_is_a_one_line_error_without_the_password(
    hoist: Hoist,
    seeded: Seeded,
    auth_registry: RunningRegistry,
    token_registry: RunningRegistry,
    unique_repo: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    wrong = "Wr0ng-Pa55word-xyz"
    for registry in (auth_registry, token_registry):
        monkeypatch.setenv("DOCKER_CONFIG", str(docker_config(tmp_path / registry.variant, registry, wrong)))
        result = hoist("copy", seeded.ref("single"), f"{registry.host}/{unique_repo}:prod", "--verbose")
        assert result.code == 2, result
        assert wrong not in result.out + result.err
        assert base64.b64encode(f"{registry.username}:{wrong}".encode()).decode() not in result.err
        last = result.err.strip().splitlines()[-1]
        assert last.startswith("hoist: error:") and registry.host in last


def test_one_token_covers_pull_and_push_for_a_mount(
    hoist: Hoist,
    seeded: Seeded,
    token_registry: RunningRegistry,
    unique_repo: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = seed(seeded, token_registry, f"{unique_repo}-src")
    monkeypatch.setenv("DOCKER_CONFIG", str(docker_config(tmp_path / "docker", token_registry)))
    assert token_registry.token_server is not None
    token_registry.token_server.clear()
    destination = f"{token_registry.host}/{unique_repo}-dst:prod"
    result = hoist.ok("copy", source, destination, "--json").json
    assert result["mode"] == "mount"
    assert result["blobs"]["mounted"] == len(set(seeded.images.index.blobs))
    requests = token_registry.token_server.requests
    assert len(requests) == 1, requests
    assert requests[0].basic_auth
    scopes = {s.rsplit(":", 1)[0]: set(s.rsplit(":", 1)[1].split(",")) for s in requests[0].scopes}
    assert scopes[f"repository:{unique_repo}-dst"] == {"pull", "push"}
    assert scopes[f"repository:{unique_repo}-src"] == {"pull"}
    assert result["auth_requests"] == 1


def test_identity_token_from_docker_config_uses_the_refresh_grant(
    hoist: Hoist,
    seeded: Seeded,
    token_registry: RunningRegistry,
    unique_repo: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import httpx

    server = token_registry.token_server
    assert server is not None
    answer = httpx.post(
        server.realm,
        data={
            "grant_type": "password",
            "username": token_registry.username,
            "password": token_registry.password,
            "service": server.service,
            "client_id": "test",
            "access_type": "offline",
        },
    ).json()
    config = tmp_path / "docker"
    config.mkdir()
    (config / "config.json").write_text(
        json.dumps(
            {
                "auths": {
                    token_registry.host: {
                        "auth": base64.b64encode(b"<token>:").decode(),
                        "identitytoken": answer["refresh_token"],
                    }
                }
            }
        )
    )
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    server.clear()
    hoist.ok("copy", seeded.ref("single"), f"{token_registry.host}/{unique_repo}:prod")
    assert [r.grant_type for r in server.requests] == ["refresh_token"]
    assert answer["refresh_token"] not in json.dumps([r.__dict__ for r in server.requests])


def test_tls_registry_needs_its_ca(
    hoist: Hoist, seeded: Seeded, tls_registry: RunningRegistry, unique_repo: str
) -> None:
    destination = f"{tls_registry.host}/{unique_repo}:prod"
    untrusted = hoist("copy", seeded.ref("single"), destination)
    assert untrusted.code == 1
    assert "--ca-file" in untrusted.err and "Traceback" not in untrusted.err
    assert tls_registry.ca_file is not None
    result = hoist.ok("--ca-file", str(tls_registry.ca_file), "copy", seeded.ref("single"), destination, "--json").json
    assert result["digest"] == seeded.images.single.digest
    insecure = hoist.ok("--insecure", tls_registry.host, "inspect", destination, "--json").json
    assert insecure["digest"] == seeded.images.single.digest


def test_registry_auth_file_from_containers(
    hoist: Hoist,
    seeded: Seeded,
    auth_registry: RunningRegistry,
    unique_repo: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    authfile = tmp_path / "auth.json"
    auth = base64.b64encode(f"{auth_registry.username}:{auth_registry.password}".encode()).decode()
    authfile.write_text(json.dumps({"auths": {f"{auth_registry.host}/{unique_repo}": {"auth": auth}}}))
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(authfile))
    hoist.ok("copy", seeded.ref("single"), f"{auth_registry.host}/{unique_repo}:prod")
