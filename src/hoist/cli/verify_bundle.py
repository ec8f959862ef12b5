"""``hoist verify-bundle BUNDLE``: check a keyless Sigstore bundle about a digest or a file, in cosign's terms."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from hoist.cli.context import STATE, emit_json, say
from hoist.cli.options import json_option


@click.command("verify-bundle")
@click.argument("bundle_path", metavar="BUNDLE", type=click.Path(path_type=Path))
@click.option("--digest", metavar="DIGEST", help="The digest the bundle must be about (sha256:…), e.g. an image's.")
@click.option("--file", "file_path", type=click.Path(path_type=Path), help="The signed file, instead of --digest.")
@click.option("--certificate-identity", metavar="SAN", help="The exact signer (certificate SAN).")
@click.option("--certificate-identity-regexp", metavar="RE", help="A regular expression the signer must match.")
@click.option("--certificate-oidc-issuer", metavar="ISSUER", help="The exact OIDC issuer of the signer.")
@click.option("--certificate-oidc-issuer-regexp", metavar="RE", help="A regular expression the issuer must match.")
@click.option("--certificate-github-workflow-repository", metavar="OWNER/REPO", help="Required workflow repository.")
@click.option("--certificate-github-workflow-ref", metavar="REF", help="Required workflow ref (refs/heads/main).")
@click.option("--certificate-github-workflow-trigger", metavar="EVENT", help="Required trigger (push, …).")
@click.option("--certificate-github-workflow-sha", metavar="SHA", help="Required commit of the workflow run.")
@click.option("--certificate-github-workflow-name", metavar="NAME", help="Required workflow name.")
@click.option("--type", "predicate_type", metavar="PREDICATE_TYPE", help="Required in-toto predicate type (DSSE).")
@click.option("--trusted-root", type=click.Path(path_type=Path), help="trusted_root.json to verify against.")
@click.option("--staging", is_flag=True, help="Trust Sigstore's staging instance instead of public-good.")
@click.option("--refresh-trusted-root", is_flag=True, help="Fetch the current root over TUF first (network).")
@json_option
def command(
    bundle_path: Path,
    digest: str | None,
    file_path: Path | None,
    certificate_identity: str | None,
    certificate_identity_regexp: str | None,
    certificate_oidc_issuer: str | None,
    certificate_oidc_issuer_regexp: str | None,
    certificate_github_workflow_repository: str | None,
    certificate_github_workflow_ref: str | None,
    certificate_github_workflow_trigger: str | None,
    certificate_github_workflow_sha: str | None,
    certificate_github_workflow_name: str | None,
    predicate_type: str | None,
    trusted_root: Path | None,
    staging: bool,
    refresh_trusted_root: bool,
    json_out: bool,
) -> None:
    """Verify a Sigstore BUNDLE (cosign, sigstore, actions/attest-build-provenance; also the JSON Lines of
    'gh attestation download') about --digest or --file, signed by the given identity. Offline unless
    --refresh-trusted-root. Exit 0 verified, 1 not verified, 2 bad input."""
    from hoist.digest import Digest
    from hoist.evidence._util import read_capped
    from hoist.evidence.keyless.bundle import MAX_BUNDLE
    from hoist.evidence.keyless.policy import IdentityPolicy
    from hoist.evidence.keyless.trust import Instance, TrustRoot
    from hoist.evidence.keyless.verify import verify_bundle

    _exactly_one(("--digest", digest), ("--file", file_path))
    _exactly_one(
        ("--certificate-identity", certificate_identity), ("--certificate-identity-regexp", certificate_identity_regexp)
    )
    _exactly_one(
        ("--certificate-oidc-issuer", certificate_oidc_issuer),
        ("--certificate-oidc-issuer-regexp", certificate_oidc_issuer_regexp),
    )
    if trusted_root is not None and (refresh_trusted_root or staging):
        raise click.UsageError("--trusted-root names the root: give it without --refresh-trusted-root or --staging")
    claims = {
        name: value
        for name, value in (
            ("github_workflow_repository", certificate_github_workflow_repository),
            ("github_workflow_ref", certificate_github_workflow_ref),
            ("github_workflow_trigger", certificate_github_workflow_trigger),
            ("github_workflow_sha", certificate_github_workflow_sha),
            ("github_workflow_name", certificate_github_workflow_name),
        )
        if value is not None
    }
    policy = IdentityPolicy(
        issuer=certificate_oidc_issuer,
        issuer_regexp=certificate_oidc_issuer_regexp,
        subject=certificate_identity,
        subject_regexp=certificate_identity_regexp,
        claims=claims,
    )
    subject = Digest.parse(digest) if digest is not None else read_capped(_path(file_path), limit=1 << 31, what="file")
    data = read_capped(bundle_path, limit=MAX_BUNDLE, what="bundle")
    instance: Instance = "staging" if staging else "production"
    if trusted_root is not None:
        trust = TrustRoot.from_file(trusted_root)
    elif refresh_trusted_root:
        trust = TrustRoot.refresh(instance)
    else:
        trust = TrustRoot.bundled(instance)
    if not STATE.verbose:  # the library's warnings are not hoist's output; --verbose shows them
        logging.getLogger("sigstore").setLevel(logging.ERROR)
    verified = verify_bundle(data, subject=subject, policy=policy, trust=trust, predicate_type=predicate_type)
    if json_out:
        emit_json(verified.to_json())
        return
    what = f"attestation {verified.predicate_type}" if verified.predicate_type else "signature"
    logged = f", log index {verified.log_index}" if verified.log_index is not None else ""
    say(f"verified: {what} on {verified.digest} by {verified.identity} (issuer {verified.issuer}{logged})")


def _exactly_one(*options: tuple[str, object]) -> None:
    given = [name for name, value in options if value is not None]
    if len(given) != 1:
        names = " or ".join(name for name, _ in options)
        raise click.UsageError(f"give exactly one of {names}" + (f" (got {', '.join(given)})" if given else ""))


def _path(path: Path | None) -> Path:
    assert path is not None
    return path
