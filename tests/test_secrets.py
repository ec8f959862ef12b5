"""Secrets stay out of everything hoist prints, on real registries (htpasswd Basic, docker token auth).

Each test searches hoist's whole stdout and stderr for the exact secret strings — the password, the
``user:password`` Basic value, every token the token server issued (recorded at the server, not taken
from hoist) — and also checks that the output it searched holds what ``--verbose`` promises (request
lines, the 401 challenge), so that an empty log cannot pass for a clean one.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.infra.registry import RunningRegistry
from tests.infra.skopeo import skopeo_copy
from tests.support import Hoist, HoistResult, Seeded


def docker_config(directory: Path, host: str, entry: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps({"auths": {host: entry}}))
    return directory


def basic_entry(registry: RunningRegistry) -> dict[str, str]:
    return {"auth": base64.b64encode(f"{registry.username}:{registry.password}".encode()).decode()}


def assert_absent(result: HoistResult, *secrets: str) -> None:
    shown = result.out + result.err
    for secret in secrets:
        assert secret, "an empty secret proves nothing"
        assert secret not in shown, f"a secret ({len(secret)} characters) appears in hoist's output"


def forms(registry: RunningRegistry) -> list[str]:
    """The password and what carries it: ``user:password`` and its base64 (the Basic header's value)."""
    assert registry.username and registry.password
    pair = f"{registry.username}:{registry.password}"
    return [registry.password, pair, base64.b64encode(pair.encode()).decode()]


def assert_verbose_log(result: HoistResult, registry: RunningRegistry, repo: str) -> None:
    """The log that was searched is there: the challenge met, and the tag written with credentials."""
    assert f"http://{registry.host}/v2/" in result.err
    assert "-> 401" in result.err, "hoist met the registry's challenge"
    assert f"PUT http://{registry.host}/v2/{repo}/manifests/prod -> 201" in result.err


def test_verbose_with_basic_credentials_shows_no_password(
    hoist: Hoist,
    seeded: Seeded,
    auth_registry: RunningRegistry,
    unique_repo: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "DOCKER_CONFIG", str(docker_config(tmp_path / "docker", auth_registry.host, basic_entry(auth_registry)))
    )
    destination = f"{auth_registry.host}/{unique_repo}:prod"
    copied = hoist.ok("--verbose", "copy", seeded.ref("single"), destination)
    assert_verbose_log(copied, auth_registry, unique_repo)
    assert_absent(copied, *forms(auth_registry))
    for args in (("inspect", destination), ("verify", "--deep", destination), ("inspect", destination, "--json")):
        assert_absent(hoist.ok("--verbose", *args), *forms(auth_registry))
    with auth_registry.client() as client:  # the copy happened: the registry holds the tag
        answer = client.head(
            f"/v2/{unique_repo}/manifests/prod", headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}
        )
    assert answer.headers["Docker-Content-Digest"] == seeded.images.single.digest


@pytest.fixture
def issued(token_registry: RunningRegistry, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every token the token server signs from now on, recorded at the server."""
    server = token_registry.token_server
    assert server is not None
    tokens: list[str] = []
    mint: Callable[..., str] = server.mint

    def recording(*args: Any, **kwargs: Any) -> str:
        token = mint(*args, **kwargs)
        tokens.append(token)
        return token

    monkeypatch.setattr(server, "mint", recording)
    return tokens


def token_forms(tokens: list[str]) -> list[str]:
    """Each token, and each of its three JWT parts (a log line cut in the middle still leaks the rest)."""
    return [*tokens, *(part for token in tokens for part in token.split(".") if len(part) > 16)]


def test_verbose_with_bearer_tokens_shows_no_token_and_no_password(
    hoist: Hoist,
    seeded: Seeded,
    token_registry: RunningRegistry,
    issued: list[str],
    unique_repo: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = docker_config(tmp_path / "docker", token_registry.host, basic_entry(token_registry))
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    destination = f"{token_registry.host}/{unique_repo}:prod"
    copied = hoist.ok("--verbose", "copy", seeded.ref("single"), destination)
    inspected = hoist.ok("--verbose", "inspect", destination, "--json")
    assert issued, "hoist authenticated with tokens from the token server"
    assert_verbose_log(copied, token_registry, unique_repo)
    for result in (copied, inspected):
        assert_absent(result, *forms(token_registry), *token_forms(issued))
        assert "eyJ" not in result.out + result.err, "no JWT-shaped text at all"


def test_verbose_with_an_identity_token_shows_neither_it_nor_the_tokens_it_buys(
    hoist: Hoist,
    seeded: Seeded,
    token_registry: RunningRegistry,
    issued: list[str],
    unique_repo: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
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
    refresh = answer["refresh_token"]
    entry = {"auth": base64.b64encode(b"<token>:").decode(), "identitytoken": refresh}
    monkeypatch.setenv("DOCKER_CONFIG", str(docker_config(tmp_path / "docker", token_registry.host, entry)))
    issued.clear()
    copied = hoist.ok("--verbose", "copy", seeded.ref("single"), f"{token_registry.host}/{unique_repo}:prod")
    assert [r.grant_type for r in server.requests][-1] == "refresh_token"
    assert issued
    assert_verbose_log(copied, token_registry, unique_repo)
    assert_absent(copied, refresh, *token_forms(issued))


def test_a_wrong_password_is_not_shown_even_with_verbose(
    hoist: Hoist,
    seeded: Seeded,
    token_registry: RunningRegistry,
    unique_repo: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    wrong = "Not-The-Password-7261"
    entry = {"auth": base64.b64encode(f"{token_registry.username}:{wrong}".encode()).decode()}
    monkeypatch.setenv("DOCKER_CONFIG", str(docker_config(tmp_path / "docker", token_registry.host, entry)))
    result = hoist("--verbose", "copy", seeded.ref("single"), f"{token_registry.host}/{unique_repo}:prod")
    assert result.code == 2, result
    assert "-> 401" in result.err and "Traceback" in result.err, "the verbose log and traceback were searched"
    assert_absent(result, wrong, entry["auth"], f"{token_registry.username}:{wrong}")


def test_a_test_command_printing_its_environment_shows_no_secret_hoist_read(
    hoist: Hoist,
    seeded: Seeded,
    auth_registry: RunningRegistry,
    unique_repo: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``hoist test`` passes the command's output through; like GitHub Actions with registered secrets, the
    values hoist read in this command (the key password, the registry credentials a command reads through
    a variable ``pass_env`` lets through) are masked in it. The key password itself is never passed on."""
    key_password = "key-pass-4471-quux"
    monkeypatch.setenv("HOIST_KEY_PASSWORD", key_password)
    docker = docker_config(tmp_path / "docker", auth_registry.host, basic_entry(auth_registry))
    monkeypatch.setenv("DOCKER_CONFIG", str(docker))
    image = f"{auth_registry.host}/{unique_repo}:staging"
    skopeo_copy(
        f"docker://{seeded.ref('single')}",
        f"docker://{image}",
        src_tls_verify=False,
        dest_tls_verify=False,
        dest_creds=(str(auth_registry.username), str(auth_registry.password)),
    )
    keys = tmp_path / "keys"
    keys.mkdir()
    hoist.ok("keygen", "--output-prefix", str(keys / "staging"))
    config = tmp_path / "hoist.toml"
    config.write_text(
        f'[environments.staging]\nimage = "{image}"\nkey = "{keys}/staging.key"\npass_env = ["DOCKER_CONFIG"]\n'
    )
    script = 'env; echo "config: $(cat "$DOCKER_CONFIG/config.json")"; echo "the end"'
    result = hoist(
        "--config", str(config), "test", "staging", "--digest", seeded.images.single.digest, "--", "sh", "-c", script
    )
    assert result.code == 0, result
    assert "the end" in result.err and "HOIST_ENV=staging" in result.err, "the output was passed through"
    assert "HOIST_KEY_PASSWORD" not in result.err  # withheld from the command, not only masked
    assert '"auths"' in result.err  # the command did read the credentials (pass_env) ...
    assert_absent(result, key_password, *forms(auth_registry))
