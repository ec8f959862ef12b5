"""Identity and provenance policies as hoist.toml gives them."""

from __future__ import annotations

import tomllib

import pytest

from hoist.errors import ConfigError, InputError
from hoist.evidence.keyless.policy import (
    GITHUB_ISSUER,
    SLSA_PROVENANCE_V1,
    IdentityPolicy,
    ProvenancePolicy,
    parse_identity_policy,
    parse_provenance_policy,
)

WHERE = "hoist.toml [gates.production] signer"


def table(text: str) -> dict[str, object]:
    return tomllib.loads(f"policy = {text}")["policy"]  # type: ignore[no-any-return]


def test_identity_policy_from_toml() -> None:
    policy = parse_identity_policy(
        table(
            '{ issuer = "https://token.actions.githubusercontent.com", '
            'subject_regexp = "^https://github.com/acme/dotca/.github/workflows/staging.yml@refs/heads/main$" }'
        ),
        where=WHERE,
    )
    assert policy == IdentityPolicy(
        issuer=GITHUB_ISSUER,
        subject_regexp="^https://github.com/acme/dotca/.github/workflows/staging.yml@refs/heads/main$",
    )


def test_identity_policy_claim_shorthands() -> None:
    policy = parse_identity_policy(
        table(
            '{ issuer = "https://token.actions.githubusercontent.com", subject = "https://github.com/acme/dotca/'
            '.github/workflows/release.yml@refs/heads/main", repository = "acme/dotca", ref = "refs/heads/main", '
            'workflow = ".github/workflows/release.yml", trigger = "push", runner_environment = "github-hosted", '
            'claims = { source_repository_visibility = "private" } }'
        ),
        where=WHERE,
    )
    assert dict(policy.claims) == {
        "source_repository_uri": "https://github.com/acme/dotca",
        "source_repository_ref": "refs/heads/main",
        "build_config_uri": "https://github.com/acme/dotca/.github/workflows/release.yml@refs/heads/main",
        "build_trigger": "push",
        "runner_environment": "github-hosted",
        "source_repository_visibility": "private",
    }


def test_provenance_policy_from_toml() -> None:
    policy = parse_provenance_policy(
        table(
            '{ repository = "acme/dotca", workflow = ".github/workflows/staging.yml", ref = "refs/heads/main", '
            'predicate = "https://slsa.dev/provenance/v1" }'
        ),
        where=WHERE,
    )
    assert policy == ProvenancePolicy(
        repository="acme/dotca", workflow=".github/workflows/staging.yml", ref="refs/heads/main"
    )
    assert policy.predicate == SLSA_PROVENANCE_V1
    identity = policy.identity()
    assert identity.issuer == GITHUB_ISSUER
    assert identity.subject_regexp == r"^https://github\.com/"
    assert dict(identity.claims) == {
        "source_repository_uri": "https://github.com/acme/dotca",
        "source_repository_ref": "refs/heads/main",
        "build_config_uri": "https://github.com/acme/dotca/.github/workflows/staging.yml@refs/heads/main",
    }
    pinned = parse_provenance_policy(
        {"repository": "acme/dotca", "workflow": ".github/workflows/x.yml", "ref": "refs/tags/v1", "subject": "s"},
        where=WHERE,
    ).identity()
    assert pinned.subject == "s" and pinned.subject_regexp is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{ subject = "x" }', "give exactly one of issuer or issuer_regexp"),
        ('{ issuer = "i" }', "give exactly one of subject or subject_regexp"),
        ('{ issuer = "i", subject = "s", subject_regexp = "r" }', "give exactly one of subject or subject_regexp"),
        ('{ issuer = "i", subject_regexp = "(" }', "subject_regexp '(' is not a valid regular expression"),
        ('{ issuer = "i", issuer_regexp = "i", subject = "s" }', "give exactly one of issuer or issuer_regexp"),
        ('{ issuer = "", subject = "s" }', "issuer must be a non-empty string"),
        ('{ issuer = 1, subject = "s" }', "issuer must be a non-empty string"),
        ('{ issuer = "i", subject = "s", subjet = "t" }', "unknown key 'subjet'"),
        ('{ issuer = "i", subject = "s", repository = "acme" }', "repository 'acme' must be OWNER/NAME"),
        ('{ issuer = "i", subject = "s", workflow = "w.yml" }', "workflow needs repository and ref"),
        ('{ issuer = "i", subject = "s", claims = { colour = "blue" } }', "unknown certificate claim 'colour'"),
        ('{ issuer = "i", subject = "s", claims = "x" }', "claims must be a table"),
        ('"just text"', "expected a table"),
    ],
)
def test_bad_identity_policy_names_where_and_what(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_identity_policy(table(text), where=WHERE)
    assert caught.value.message.startswith(f"{WHERE}: ")
    assert message in caught.value.message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{ repository = "acme/dotca", workflow = ".github/workflows/x.yml" }', "missing ref"),
        ('{ repository = "acme", workflow = ".github/workflows/x.yml", ref = "refs/heads/main" }', "OWNER/NAME"),
        ('{ repository = "acme/dotca", workflow = "x.yml", ref = "refs/heads/main" }', "'.github/workflows/build.yml'"),
        ('{ repository = "acme/dotca", workflow = ".github/workflows/x.yml", ref = "main" }', "full git ref"),
        (
            '{ repository = "a/b", workflow = ".github/workflows/x.yml", ref = "refs/tags/v1", subject_regexp = "[" }',
            "not a valid regular expression",
        ),
        (
            '{ repository = "a/b", workflow = ".github/workflows/x.yml", ref = "refs/heads/main", key = 1 }',
            "unknown key",
        ),
    ],
)
def test_bad_provenance_policy(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_provenance_policy(table(text), where=WHERE)
    assert caught.value.message.startswith(f"{WHERE}: ") and message in caught.value.message


def test_policies_built_in_code_check_themselves() -> None:
    with pytest.raises(InputError, match="give exactly one of subject or subject_regexp"):
        IdentityPolicy(issuer="i")
    with pytest.raises(InputError, match="unknown certificate claim"):
        IdentityPolicy(issuer="i", subject="s", claims={"nope": "x"})
