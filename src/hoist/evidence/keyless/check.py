"""Check keyless evidence found on an image (Sigstore bundles among its referrers) for one digest.

A bundle is either a **signature** — a message signature over the digest (``cosign sign`` before cosign 3,
``cosign sign-blob``) or cosign 3's DSSE statement ``https://sigstore.dev/cosign/sign/v1`` about the image —
or an **attestation**: a DSSE statement with another predicate, such as the SLSA provenance
``actions/attest-build-provenance`` pushes next to the image.

Each is verified offline against the trust root (certificate chain and SCT, transparency-log entry,
signature, the statement naming this digest), then its signer is held against the policies, and every
check that fails is named. The result is a :class:`~hoist.evidence.collect.Checked` like key-based
evidence gets: a piece that does not verify counts as absent, and says why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hoist.digest import Digest
from hoist.errors import BundleRejected, InputError
from hoist.evidence.collect import Checked, Item
from hoist.evidence.keyless.bundle import claimed_predicate
from hoist.evidence.keyless.match import Signer, identity_mismatches, provenance_mismatches
from hoist.evidence.keyless.policy import IdentityPolicy, ProvenancePolicy

if TYPE_CHECKING:
    from hoist.evidence.keyless.trust import TrustRoot
    from hoist.evidence.keyless.verify import Verified

COSIGN_SIGN_V1 = "https://sigstore.dev/cosign/sign/v1"
ANYONE = IdentityPolicy(issuer_regexp="^", subject_regexp="^")
"""Verifies the cryptography only; the signer is then held against the policies (see match.py)."""


def role(bundle: dict[str, object]) -> str:
    """``"signature"`` (a message signature, or cosign 3's sign/v1 statement) or ``"attestation"``."""
    if "dsseEnvelope" not in bundle:
        return "signature"
    return "signature" if claimed_predicate(bundle) == COSIGN_SIGN_V1 else "attestation"


@dataclass
class KeylessChecker:
    """Keyless checks under one trust root, loaded on first use (``trust`` is called at most once)."""

    trust: Callable[[], TrustRoot]
    identities: tuple[IdentityPolicy, ...] = ()
    provenance: ProvenancePolicy | None = None
    _root: TrustRoot | None = field(default=None, repr=False)

    def root(self) -> TrustRoot:
        if self._root is None:
            self._root = self.trust()
        return self._root

    def check(self, item: Item, digest: Digest) -> Checked:
        """A keyless bundle as what it is: a signature held against the identities, an attestation against
        the provenance policy (when its predicate is the policy's), or — without a policy for it — only
        verified."""
        assert item.bundle is not None
        if role(item.bundle) == "signature":
            return self.signature(item, digest)
        return self.attestation(item, digest)

    def signature(self, item: Item, digest: Digest) -> Checked:
        verified = self._verify(item, digest, predicate_type=None)
        if isinstance(verified, Checked):
            return verified
        statement = verified.statement
        if statement is not None and statement.predicate_type != COSIGN_SIGN_V1:
            return _invalid(item, f"predicate: {statement.predicate_type} is not a signature ({COSIGN_SIGN_V1})")
        signer = _signer(verified)
        who = f"{verified.identity} (issuer {verified.issuer})"
        if not self.identities:
            return Checked(item, True, f"keyless signature by {who} verifies", verified.identity, COSIGN_SIGN_V1)
        refusals = [identity_mismatches(policy, signer) for policy in self.identities]
        if any(not found for found in refusals):
            return Checked(item, True, f"keyless signature by {who}", verified.identity, COSIGN_SIGN_V1)
        reasons = "; ".join(map(str, refusals[0]))
        if len(refusals) > 1:
            reasons = f"none of the {len(refusals)} identities allows {who} (the first: {reasons})"
        return Checked(item, False, reasons, verified.identity, COSIGN_SIGN_V1)

    def attestation(self, item: Item, digest: Digest) -> Checked:
        policy = self.provenance
        wanted = policy.predicate if policy is not None else None
        claimed = claimed_predicate(item.bundle or {})
        if wanted is not None and claimed != wanted:  # another kind of attestation: checked for itself only
            wanted = None
        verified = self._verify(item, digest, predicate_type=wanted)
        if isinstance(verified, Checked):
            return verified
        built = _built(verified)
        if policy is None or verified.predicate_type != policy.predicate:
            reason = f"keyless attestation by {verified.identity} verifies"
            return Checked(item, True, reason, verified.identity, verified.predicate_type)
        refused = provenance_mismatches(policy, _signer(verified))
        if refused:
            return Checked(item, False, "; ".join(map(str, refused)), verified.identity, verified.predicate_type)
        return Checked(item, True, built, verified.identity, verified.predicate_type)

    def _verify(self, item: Item, digest: Digest, *, predicate_type: str | None) -> Verified | Checked:
        from hoist.evidence.keyless.verify import verify_bundle

        assert item.bundle is not None
        trust = self.root()  # a root that cannot be read is bad input, not a bundle's fault
        try:
            return verify_bundle(item.bundle, subject=digest, policy=ANYONE, trust=trust, predicate_type=predicate_type)
        except BundleRejected as refused:
            return _invalid(item, refused.message.removeprefix("bundle rejected: "), claimed_predicate(item.bundle))
        except InputError as exc:
            return _invalid(item, f"bundle: {exc}", claimed_predicate(item.bundle))


def _invalid(item: Item, reason: str, predicate: str | None = None) -> Checked:
    return Checked(item, False, reason, None, predicate)


def _signer(verified: Verified) -> Signer:
    return Signer(identity=verified.identity, issuer=verified.issuer, claims=verified.claims)


def _built(verified: Verified) -> str:
    """What a verified provenance certificate says about the build, in one phrase."""
    claims = verified.claims
    repository = claims.get("source_repository_uri", "").removeprefix("https://github.com/")
    workflow = claims.get("build_config_uri", "").rpartition("@")[0].removeprefix(f"https://github.com/{repository}/")
    commit = claims.get("source_repository_digest", "")[:7]
    parts = [f"built by {repository} {workflow} at {claims.get('source_repository_ref', '?')}"]
    if commit:
        parts.append(f"commit {commit}")
    if verified.log_index is not None:
        parts.append(f"log index {verified.log_index}")
    return ", ".join(parts)
