import base64
import json
import os
import stat
from pathlib import Path

import pytest

from hoist.errors import AuthenticationFailed, ConfigError
from hoist.store.registry.credentials import CredentialResolver


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def write(path: Path, doc: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


def test_docker_config_auths(tmp_path: Path) -> None:
    write(
        tmp_path / "docker" / "config.json",
        {
            "auths": {
                "https://index.docker.io/v1/": {"auth": b64("hubuser:hubpass")},
                "ghcr.io": {"auth": b64("gh:ghpass")},
                "https://reg.example:5000": {"identitytoken": "idtok"},
            }
        },
    )
    resolver = CredentialResolver(environ={"DOCKER_CONFIG": str(tmp_path / "docker")})
    hub = resolver.lookup("docker.io")
    assert hub is not None and hub.username == "hubuser" and hub.secret.reveal() == "hubpass"
    gh = resolver.lookup("ghcr.io")
    assert gh is not None and gh.username == "gh"
    token = resolver.lookup("reg.example:5000")
    assert token is not None and token.identity_token and token.secret.reveal() == "idtok"
    assert resolver.lookup("quay.io") is None
    assert "ghpass" not in repr(gh)


def test_auth_json_is_preferred_and_most_specific_key_wins(tmp_path: Path) -> None:
    write(
        tmp_path / "auth.json",
        {
            "auths": {
                "reg.example": {"auth": b64("broad:1111")},
                "reg.example/team/app": {"auth": b64("narrow:2222")},
            }
        },
    )
    write(tmp_path / ".docker" / "config.json", {"auths": {"reg.example": {"auth": b64("docker:3333")}}})
    resolver = CredentialResolver(environ={"REGISTRY_AUTH_FILE": str(tmp_path / "auth.json"), "HOME": str(tmp_path)})
    found = resolver.lookup("reg.example", "team/app")
    assert found is not None and found.username == "narrow"
    found = resolver.lookup("reg.example", "other")
    assert found is not None and found.username == "broad"


def test_credential_helper_protocol(tmp_path: Path) -> None:
    helper = tmp_path / "bin" / "docker-credential-fake"
    helper.parent.mkdir()
    helper.write_text(
        "#!/bin/sh\n"
        "read server\n"
        'if [ "$server" = "reg.example" ]; then\n'
        '  echo \'{"ServerURL":"reg.example","Username":"helperuser","Secret":"helper-secret"}\'\n'
        "else echo 'credentials not found in native keychain'; exit 1; fi\n"
    )
    helper.chmod(helper.stat().st_mode | stat.S_IEXEC)
    write(
        tmp_path / ".docker" / "config.json",
        {
            "credHelpers": {"reg.example": "fake"},
            "credsStore": "fake",
            "auths": {"other.example": {"auth": b64("o:p")}},
        },
    )
    env = {"HOME": str(tmp_path)}
    old = os.environ["PATH"]
    os.environ["PATH"] = f"{helper.parent}:{old}"
    try:
        resolver = CredentialResolver(environ=env)
        found = resolver.lookup("reg.example")
        assert found is not None and found.username == "helperuser" and found.secret.reveal() == "helper-secret"
        fallback = resolver.lookup("other.example")  # the store says "not found": auths still count
        assert fallback is not None and fallback.username == "o"
    finally:
        os.environ["PATH"] = old


def test_missing_helper_is_a_clear_error(tmp_path: Path) -> None:
    write(tmp_path / ".docker" / "config.json", {"credsStore": "does-not-exist"})
    with pytest.raises(AuthenticationFailed, match="docker-credential-does-not-exist"):
        CredentialResolver(environ={"HOME": str(tmp_path), "PATH": ""}).lookup("reg.example")


def test_github_token_for_ghcr() -> None:
    resolver = CredentialResolver(environ={"GITHUB_TOKEN": "ghs_abc123", "GITHUB_ACTOR": "octocat"})
    found = resolver.lookup("ghcr.io")
    assert found is not None and found.username == "octocat" and found.secret.reveal() == "ghs_abc123"
    assert resolver.lookup("docker.io") is None


def test_malformed_config_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / ".docker" / "config.json"
    path.parent.mkdir()
    path.write_text("{not json")
    with pytest.raises(ConfigError, match=str(path)):
        CredentialResolver(environ={"HOME": str(tmp_path)}).lookup("reg.example")
