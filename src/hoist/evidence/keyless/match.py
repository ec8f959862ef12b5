"""Which checks of a policy a signer fails, each one named: what a refusing gate says.

A gate verifies a bundle's cryptography first (chain, transparency log, signature, digest) and then
holds the signer the certificate names — its SAN, OIDC issuer and claims — against its policies here,
so that a refusal names *every* check that failed ("repository: acme/other, not acme/dotca; branch:
refs/heads/dev, not refs/heads/main") rather than the first. The decisions are the ones
:class:`~hoist.evidence.keyless.identity.LibraryPolicy` makes (``tests/test_keyless_evidence.py`` holds the
two side by side).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from hoist.evidence.keyless.policy import GITHUB_SERVER, IdentityPolicy, ProvenancePolicy, compile_pattern

_CHECKS = {
    "source_repository_uri": "repository",
    "github_workflow_repository": "repository",
    "build_config_uri": "workflow",
    "source_repository_ref": "ref",
    "github_workflow_ref": "ref",
    "build_trigger": "trigger",
    "github_workflow_trigger": "trigger",
    "runner_environment": "runner environment",
    "source_repository_digest": "commit",
    "github_workflow_sha": "commit",
}


@dataclass(frozen=True, kw_only=True)
class Signer:
    """Who a verified certificate names: its (first) SAN, its OIDC issuer and its claims by hoist's names."""

    identity: str
    issuer: str
    claims: Mapping[str, str]


@dataclass(frozen=True)
class Mismatch:
    check: str
    """What failed: issuer, identity, repository, workflow, branch (or tag, ref), trigger, …"""
    detail: str

    def __str__(self) -> str:
        return f"{self.check}: {self.detail}"


def identity_mismatches(policy: IdentityPolicy, signer: Signer) -> list[Mismatch]:
    """Every check of ``policy`` that ``signer`` fails (none: it is the signer the policy names)."""
    found = _issuer(signer, exact=policy.issuer, pattern=policy.issuer_regexp)
    if policy.subject is not None and signer.identity != policy.subject:
        found.append(Mismatch("identity", f"signed by {signer.identity}, not {policy.subject}"))
    pattern = policy.subject_regexp
    if pattern is not None and not compile_pattern(pattern, what="subject_regexp").search(signer.identity):
        found.append(Mismatch("identity", f"signed by {signer.identity}, which does not match /{pattern}/"))
    for name, value in policy.claims.items():
        actual = signer.claims.get(name)
        if actual != value:
            found.append(Mismatch(_check(name, value), f"{_show(name, actual)}, not {_show(name, value)}"))
    for name, pattern in policy.claim_patterns.items():
        actual = signer.claims.get(name)
        if actual is None or not compile_pattern(pattern, what=name).search(actual):
            found.append(Mismatch(_check(name, actual), f"{_show(name, actual)}, which does not match /{pattern}/"))
    return found


def provenance_mismatches(policy: ProvenancePolicy, signer: Signer) -> list[Mismatch]:
    """Every check of ``policy`` that the certificate of a provenance attestation fails: issuer, the signing
    workflow (when pinned), repository, workflow, ref, trigger, runner environment."""
    found = _issuer(signer, exact=policy.issuer, pattern=None)
    identity = policy.identity()
    found += [m for m in identity_mismatches(identity, signer) if m.check == "identity"]
    claims = signer.claims
    repository = claims.get("source_repository_uri")
    if repository != f"{GITHUB_SERVER}/{policy.repository}":
        found.append(
            Mismatch("repository", f"built in {_show('source_repository_uri', repository)}, not {policy.repository}")
        )
    config = claims.get("build_config_uri") or ""
    path, _, config_ref = config.partition("@")
    if path != policy.workflow_path:
        found.append(Mismatch("workflow", f"built by {_workflow(path, policy)}, not {policy.workflow}"))
    ref = claims.get("source_repository_ref")
    if policy.ref is not None:
        if ref != policy.ref or config_ref != policy.ref:
            found.append(Mismatch(_ref_check(policy.ref), f"built from {ref or 'no ref'}, not {policy.ref}"))
    else:
        assert policy.ref_regexp is not None
        matches = compile_pattern(policy.ref_regexp, what="ref_regexp").search
        if ref is None or not matches(ref) or config_ref != ref:
            detail = f"built from {ref or 'no ref'}, which does not match /{policy.ref_regexp}/"
            found.append(Mismatch(_ref_check(ref or ""), detail))
    for name, wanted in (("build_trigger", policy.trigger), ("runner_environment", policy.runner_environment)):
        if wanted is not None and claims.get(name) != wanted:
            found.append(Mismatch(_CHECKS[name], f"{claims.get(name) or 'none'}, not {wanted}"))
    return found


def _issuer(signer: Signer, *, exact: str | None, pattern: str | None) -> list[Mismatch]:
    if exact is not None and signer.issuer != exact:
        return [Mismatch("issuer", f"certified by {signer.issuer or 'no issuer'}, not {exact}")]
    if pattern is not None and not compile_pattern(pattern, what="issuer_regexp").search(signer.issuer):
        return [Mismatch("issuer", f"certified by {signer.issuer or 'no issuer'}, which does not match /{pattern}/")]
    return []


def _check(claim: str, value: str | None) -> str:
    name = _CHECKS.get(claim, claim)
    return _ref_check(value or "") if name == "ref" else name


def _ref_check(ref: str) -> str:
    """``branch`` for ``refs/heads/…``, ``tag`` for ``refs/tags/…``, else ``ref``."""
    if ref.startswith("refs/heads/"):
        return "branch"
    return "tag" if ref.startswith("refs/tags/") else "ref"


def _show(claim: str, value: str | None) -> str:
    if value is None:
        return "none"
    if claim == "source_repository_uri":
        return value.removeprefix(f"{GITHUB_SERVER}/")
    return value


def _workflow(path: str, policy: ProvenancePolicy) -> str:
    """The workflow a certificate names, as short as it can be said: its path when the repository is the
    policy's, else the whole URI."""
    if not path:
        return "no workflow"
    prefix = f"{GITHUB_SERVER}/{policy.repository}/"
    return path.removeprefix(prefix) if path.startswith(prefix) else path.removeprefix(f"{GITHUB_SERVER}/")
