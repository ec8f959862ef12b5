"""Who must have signed: identity policies for keyless (Sigstore) signatures, and their hoist.toml form.

A Fulcio certificate names the signer in its subject alternative name (for GitHub Actions, the workflow
URI ``https://github.com/OWNER/REPO/.github/workflows/FILE@REF``), the OIDC issuer that vouched for it,
and the claims of the token in extensions under ``1.3.6.1.4.1.57264.1`` (the source repository, the
workflow that ran, the branch, the trigger, the runner). An :class:`IdentityPolicy` says which values are
required: an issuer (exact or a regular expression), a subject (exact or a regular expression) and any
claims. A :class:`ProvenancePolicy` is the question a promotion asks of a SLSA provenance attestation —
"built by this workflow of this repository on this ref" — and turns into an identity policy plus the
predicate type the attestation must have.

Regular expressions are searched, as cosign's ``--certificate-identity-regexp`` is (not implicitly
anchored): anchor them with ``^…$``.

Nothing here imports sigstore; :mod:`hoist.evidence.keyless.verify` turns a policy into the library's checks.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from hoist.errors import ConfigError, InputError

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
GITHUB_SERVER = "https://github.com"
SLSA_PROVENANCE_V1 = "https://slsa.dev/provenance/v1"


@dataclass(frozen=True, slots=True)
class Claim:
    """A Fulcio certificate extension: its OID, whether its value is DER-encoded (the ``1.8`` and later
    extensions) and the name of the ``sigstore.verify.policy`` class that checks it."""

    oid: str
    der: bool
    check: str


#: The claims a policy can require, by hoist's name (Fulcio's docs/oid-info.md names them).
CLAIMS: Mapping[str, Claim] = {
    "github_workflow_trigger": Claim("1.3.6.1.4.1.57264.1.2", False, "GitHubWorkflowTrigger"),
    "github_workflow_sha": Claim("1.3.6.1.4.1.57264.1.3", False, "GitHubWorkflowSHA"),
    "github_workflow_name": Claim("1.3.6.1.4.1.57264.1.4", False, "GitHubWorkflowName"),
    "github_workflow_repository": Claim("1.3.6.1.4.1.57264.1.5", False, "GitHubWorkflowRepository"),
    "github_workflow_ref": Claim("1.3.6.1.4.1.57264.1.6", False, "GitHubWorkflowRef"),
    "build_signer_uri": Claim("1.3.6.1.4.1.57264.1.9", True, "OIDCBuildSignerURI"),
    "build_signer_digest": Claim("1.3.6.1.4.1.57264.1.10", True, "OIDCBuildSignerDigest"),
    "runner_environment": Claim("1.3.6.1.4.1.57264.1.11", True, "OIDCRunnerEnvironment"),
    "source_repository_uri": Claim("1.3.6.1.4.1.57264.1.12", True, "OIDCSourceRepositoryURI"),
    "source_repository_digest": Claim("1.3.6.1.4.1.57264.1.13", True, "OIDCSourceRepositoryDigest"),
    "source_repository_ref": Claim("1.3.6.1.4.1.57264.1.14", True, "OIDCSourceRepositoryRef"),
    "source_repository_identifier": Claim("1.3.6.1.4.1.57264.1.15", True, "OIDCSourceRepositoryIdentifier"),
    "source_repository_owner_uri": Claim("1.3.6.1.4.1.57264.1.16", True, "OIDCSourceRepositoryOwnerURI"),
    "source_repository_owner_identifier": Claim("1.3.6.1.4.1.57264.1.17", True, "OIDCSourceRepositoryOwnerIdentifier"),
    "build_config_uri": Claim("1.3.6.1.4.1.57264.1.18", True, "OIDCBuildConfigURI"),
    "build_config_digest": Claim("1.3.6.1.4.1.57264.1.19", True, "OIDCBuildConfigDigest"),
    "build_trigger": Claim("1.3.6.1.4.1.57264.1.20", True, "OIDCBuildTrigger"),
    "run_invocation_uri": Claim("1.3.6.1.4.1.57264.1.21", True, "OIDCRunInvocationURI"),
    "source_repository_visibility": Claim("1.3.6.1.4.1.57264.1.22", True, "OIDCSourceRepositoryVisibility"),
}
ISSUER_V1_OID = "1.3.6.1.4.1.57264.1.1"
ISSUER_OID = "1.3.6.1.4.1.57264.1.8"

_REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


@dataclass(frozen=True, kw_only=True)
class IdentityPolicy:
    """The signer a keyless signature must come from. Exactly one of ``issuer``/``issuer_regexp`` and one
    of ``subject``/``subject_regexp``; ``claims`` maps names of :data:`CLAIMS` to the exact value required,
    ``claim_patterns`` to a regular expression the value must match (searched, like the others)."""

    issuer: str | None = None
    issuer_regexp: str | None = None
    subject: str | None = None
    subject_regexp: str | None = None
    claims: Mapping[str, str] = field(default_factory=dict)
    claim_patterns: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _one_of(self.issuer, self.issuer_regexp, "issuer", "issuer_regexp")
        _one_of(self.subject, self.subject_regexp, "subject", "subject_regexp")
        for name, pattern in (("issuer_regexp", self.issuer_regexp), ("subject_regexp", self.subject_regexp)):
            if pattern is not None:
                compile_pattern(pattern, what=name)
        for name, value in self.claims.items():
            if name not in CLAIMS:
                raise InputError(f"unknown certificate claim {name!r} (known: {', '.join(sorted(CLAIMS))})")
            if not isinstance(value, str) or not value:
                raise InputError(f"certificate claim {name!r} must be a non-empty string")
        for name, pattern in self.claim_patterns.items():
            if name not in CLAIMS:
                raise InputError(f"unknown certificate claim {name!r} (known: {', '.join(sorted(CLAIMS))})")
            compile_pattern(pattern, what=f"certificate claim {name}")

    def describe(self) -> str:
        who = self.subject if self.subject is not None else f"/{self.subject_regexp}/"
        by = self.issuer if self.issuer is not None else f"/{self.issuer_regexp}/"
        extra = "".join(f", {k}={v}" for k, v in sorted(self.claims.items()))
        extra += "".join(f", {k}=/{v}/" for k, v in sorted(self.claim_patterns.items()))
        return f"{who} (issuer {by}{extra})"


@dataclass(frozen=True, kw_only=True)
class ProvenancePolicy:
    """A provenance attestation must be made by ``workflow`` of ``repository`` running on ``ref`` (GitHub
    Actions), with predicate type ``predicate``. ``subject``/``subject_regexp`` pin the signing workflow
    (the certificate's subject); by default any GitHub workflow may sign, so a reusable workflow (the
    SLSA generator, GitHub's attest workflows) that the repository's own workflow called is accepted —
    the repository, workflow and ref are checked in the certificate's build claims either way.

    ``ref_regexp`` instead of ``ref`` accepts every ref it matches: a workflow that builds pull requests
    runs on ``refs/pull/<number>/merge``."""

    repository: str
    workflow: str
    ref: str | None = None
    ref_regexp: str | None = None
    predicate: str = SLSA_PROVENANCE_V1
    issuer: str = GITHUB_ISSUER
    subject: str | None = None
    subject_regexp: str | None = None
    trigger: str | None = None
    runner_environment: str | None = None

    def __post_init__(self) -> None:
        if not _REPOSITORY.match(self.repository):
            raise InputError(f"repository {self.repository!r} must be OWNER/NAME, e.g. 'acme/dotca'")
        if not self.workflow.startswith(".github/workflows/") or self.workflow.endswith("/"):
            raise InputError(f"workflow {self.workflow!r} must be a path such as '.github/workflows/build.yml'")
        if (self.ref is None) == (self.ref_regexp is None):
            raise InputError("give exactly one of ref or ref_regexp")
        if self.ref is not None and not self.ref.startswith("refs/"):
            raise InputError(f"ref {self.ref!r} must be a full git ref such as 'refs/heads/main'")
        if self.ref_regexp is not None:
            compile_pattern(self.ref_regexp, what="ref_regexp")
        if self.subject is not None and self.subject_regexp is not None:
            raise InputError("give either subject or subject_regexp, not both")
        self.identity()  # validates the regular expression

    @property
    def workflow_path(self) -> str:
        """``https://github.com/OWNER/REPO/PATH``: the certificate's ``build_config_uri`` before its ``@REF``."""
        return f"{GITHUB_SERVER}/{self.repository}/{self.workflow}"

    @property
    def workflow_uri(self) -> str:
        """The certificate's ``build_config_uri`` for this workflow run: ``…/OWNER/REPO/PATH@REF``."""
        return f"{self.workflow_path}@{self.ref if self.ref is not None else '…'}"

    def identity(self) -> IdentityPolicy:
        """The whole policy as certificate checks (what ``verify_bundle`` enforces)."""
        claims = {"source_repository_uri": f"{GITHUB_SERVER}/{self.repository}"}
        patterns = {}
        if self.ref is not None:
            claims["source_repository_ref"] = self.ref
            claims["build_config_uri"] = self.workflow_uri
        else:
            assert self.ref_regexp is not None
            patterns["source_repository_ref"] = self.ref_regexp
            patterns["build_config_uri"] = f"^{re.escape(self.workflow_path)}@"
        if self.trigger is not None:
            claims["build_trigger"] = self.trigger
        if self.runner_environment is not None:
            claims["runner_environment"] = self.runner_environment
        default = None if self.subject is not None else f"^{re.escape(GITHUB_SERVER)}/"
        return IdentityPolicy(
            issuer=self.issuer,
            subject=self.subject,
            subject_regexp=self.subject_regexp if self.subject_regexp is not None else default,
            claims=claims,
            claim_patterns=patterns,
        )


def compile_pattern(pattern: str, *, what: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise InputError(f"{what} {pattern!r} is not a valid regular expression: {exc}") from None


def _one_of(exact: str | None, pattern: str | None, name: str, regexp_name: str) -> None:
    if (exact is None) == (pattern is None):
        raise InputError(f"give exactly one of {name} or {regexp_name}")
    value = exact if exact is not None else pattern
    if not isinstance(value, str) or not value:
        raise InputError(f"{name if exact is not None else regexp_name} must be a non-empty string")


# --- hoist.toml ------------------------------------------------------------------------------------

_SHORTHANDS = {
    "trigger": "build_trigger",
    "runner_environment": "runner_environment",
    "commit": "source_repository_digest",
}
_IDENTITY_KEYS = {"issuer", "issuer_regexp", "subject", "subject_regexp", "repository", "ref", "workflow", "claims"}
_PROVENANCE_KEYS = {
    "repository",
    "workflow",
    "ref",
    "ref_regexp",
    "predicate",
    "issuer",
    "subject",
    "subject_regexp",
    "trigger",
    "runner_environment",
}


def parse_identity_policy(doc: Mapping[str, object], *, where: str) -> IdentityPolicy:
    """An identity policy from its hoist.toml table, e.g. ``{ issuer = "https://token.actions.githubusercontent.com",
    subject_regexp = "^https://github.com/acme/dotca/.github/workflows/staging.yml@refs/heads/main$" }``.

    Shorthands for GitHub claims: ``repository = "OWNER/NAME"`` (source repository), ``ref = "refs/heads/main"``
    (source ref), ``workflow = ".github/workflows/x.yml"`` (the workflow that ran; needs repository and ref),
    ``trigger``, ``runner_environment``, ``commit``; any claim of :data:`CLAIMS` under ``claims = { … }``.
    Errors are :class:`ConfigError` naming ``where`` and the key."""
    table = _table(doc, where=where, known=_IDENTITY_KEYS | set(_SHORTHANDS))
    try:
        claims = {str(k): _text(v, where=where, key=f"claims.{k}") for k, v in _sub(table, "claims", where).items()}
        for key, claim in _SHORTHANDS.items():
            if key in table:
                claims[claim] = _text(table[key], where=where, key=key)
        repository = _opt(table, "repository", where)
        ref = _opt(table, "ref", where)
        workflow = _opt(table, "workflow", where)
        if repository is not None:
            if not _REPOSITORY.match(repository):
                raise ConfigError(f"repository {repository!r} must be OWNER/NAME, e.g. 'acme/dotca'")
            claims["source_repository_uri"] = f"{GITHUB_SERVER}/{repository}"
        if ref is not None:
            claims["source_repository_ref"] = ref
        if workflow is not None:
            if repository is None or ref is None:
                raise ConfigError("workflow needs repository and ref as well (the workflow URI names all three)")
            claims["build_config_uri"] = f"{GITHUB_SERVER}/{repository}/{workflow}@{ref}"
        return IdentityPolicy(
            issuer=_opt(table, "issuer", where),
            issuer_regexp=_opt(table, "issuer_regexp", where),
            subject=_opt(table, "subject", where),
            subject_regexp=_opt(table, "subject_regexp", where),
            claims=claims,
        )
    except InputError as exc:
        raise _located(exc, where) from None


def parse_provenance_policy(doc: Mapping[str, object], *, where: str) -> ProvenancePolicy:
    """A provenance policy from its hoist.toml table, e.g. ``{ repository = "acme/dotca", workflow =
    ".github/workflows/staging.yml", ref = "refs/heads/main", predicate = "https://slsa.dev/provenance/v1" }``."""
    table = _table(doc, where=where, known=_PROVENANCE_KEYS)
    try:
        missing = [key for key in ("repository", "workflow") if key not in table]
        if "ref" not in table and "ref_regexp" not in table:
            missing.append("ref")
        if missing:
            raise ConfigError(f"missing {', '.join(missing)}")
        return ProvenancePolicy(
            repository=_text(table["repository"], where=where, key="repository"),
            workflow=_text(table["workflow"], where=where, key="workflow"),
            ref=_opt(table, "ref", where),
            ref_regexp=_opt(table, "ref_regexp", where),
            predicate=_opt(table, "predicate", where) or SLSA_PROVENANCE_V1,
            issuer=_opt(table, "issuer", where) or GITHUB_ISSUER,
            subject=_opt(table, "subject", where),
            subject_regexp=_opt(table, "subject_regexp", where),
            trigger=_opt(table, "trigger", where),
            runner_environment=_opt(table, "runner_environment", where),
        )
    except InputError as exc:
        raise _located(exc, where) from None


def _table(doc: object, *, where: str, known: set[str]) -> Mapping[str, object]:
    if not isinstance(doc, Mapping):
        raise ConfigError(f'{where}: expected a table such as {{ issuer = "…", subject = "…" }}')
    unknown = sorted(str(k) for k in doc if k not in known)
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(known))})")
    return doc


def _sub(table: Mapping[str, object], key: str, where: str) -> Mapping[str, object]:
    value = table.get(key, {})
    if not isinstance(value, Mapping):
        raise ConfigError(f'{key} must be a table of claim = "value"')
    return value


def _opt(table: Mapping[str, object], key: str, where: str) -> str | None:
    return None if key not in table else _text(table[key], where=where, key=key)


def _text(value: object, *, where: str, key: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{key} must be a non-empty string")
    return value


def _located(exc: InputError, where: str) -> ConfigError:
    return ConfigError(exc.message if exc.message.startswith(f"{where}:") else f"{where}: {exc.message}")
