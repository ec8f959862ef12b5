"""An :class:`IdentityPolicy` as sigstore-python's ``VerificationPolicy``, naming the check that failed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hoist.evidence.keyless.certificate import extension, issuer, sans
from hoist.evidence.keyless.policy import CLAIMS, IdentityPolicy, compile_pattern
from hoist.evidence.keyless.reasons import Reason

if TYPE_CHECKING:
    from cryptography.x509 import Certificate


class Refused(Exception):
    """Raised through sigstore's verifier by :class:`LibraryPolicy`; carries the check that failed."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class LibraryPolicy:
    """The :class:`IdentityPolicy` as the library's ``VerificationPolicy``: issuer, then subject, then
    claims; a mismatch raises :class:`Refused` naming the check."""

    def __init__(self, policy: IdentityPolicy) -> None:
        self.policy = policy

    def verify(self, cert: Certificate) -> None:
        from sigstore.errors import VerificationError
        from sigstore.verify import policy as checks

        policy = self.policy
        found = issuer(cert)
        if policy.issuer is not None and found != policy.issuer:
            raise Refused(Reason.ISSUER, f"the certificate's OIDC issuer is {found!r}, not {policy.issuer!r}")
        pattern = policy.issuer_regexp
        if pattern is not None and (found is None or not compile_pattern(pattern, what="issuer").search(found)):
            raise Refused(Reason.ISSUER, f"the certificate's OIDC issuer {found!r} does not match /{pattern}/")
        if policy.subject is not None:
            try:
                checks.Identity(identity=policy.subject).verify(cert)
            except VerificationError as exc:
                raise Refused(Reason.IDENTITY, str(exc)) from None
        elif policy.subject_regexp is not None:
            names = sans(cert)
            if not any(compile_pattern(policy.subject_regexp, what="subject").search(san) for san in names):
                raise Refused(
                    Reason.IDENTITY, f"no certificate SAN matches /{policy.subject_regexp}/; actual SANs: {names}"
                )
        for name, value in sorted(policy.claims.items(), key=_claim_order):
            try:
                getattr(checks, CLAIMS[name].check)(value).verify(cert)
            except VerificationError as exc:
                raise Refused(Reason.IDENTITY, f"certificate claim {name}: {exc}") from None
        for name, pattern in sorted(policy.claim_patterns.items(), key=_claim_order):
            claim = CLAIMS[name]
            found_value = extension(cert, claim.oid, der=claim.der)
            if found_value is None or not compile_pattern(pattern, what=name).search(found_value):
                raise Refused(Reason.IDENTITY, f"certificate claim {name}: {found_value!r} does not match /{pattern}/")


_FIRST_CLAIMS = ("source_repository_uri", "source_repository_ref", "build_config_uri")


def _claim_order(item: tuple[str, str]) -> tuple[int, int]:
    """Repository, then ref, then workflow, then the rest as Fulcio numbers them: the first mismatch named is
    the most telling one."""
    name = item[0]
    first = _FIRST_CLAIMS.index(name) if name in _FIRST_CLAIMS else len(_FIRST_CLAIMS)
    return first, list(CLAIMS).index(name)
