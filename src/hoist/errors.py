"""The one exception tree of hoist.

Every error a user can meet is a :class:`HoistError` whose ``str()`` is a one-line message that names
what was wrong and what to do. The CLI maps the class to an exit code and never prints a traceback
unless asked (``--verbose``). Layers below the CLI raise these and never print.

::

    HoistError
    ├── InputError                    exit 2: the input is wrong; retrying will not help
    │   ├── InvalidReference          a reference that does not parse
    │   ├── InvalidDigest
    │   ├── ConfigError               hoist.toml: names the file, the key and what is expected
    │   ├── ReferenceNotFound         the reference names nothing (unknown tag, repository, layout path)
    │   ├── AuthenticationFailed      credentials missing, wrong, or without the needed access (+ HTTP context)
    │   └── UnsupportedManifest       schema1, unknown top-level media types
    ├── OperationError                exit 1: the operation failed; the destination is unchanged
    │   ├── RegistryError             the registry answered with an error (status, code, method, URL)
    │   │   ├── NotFound              a manifest or blob the operation needed is missing
    │   │   ├── ManifestTooLarge
    │   │   ├── RateLimited           the registry asked to wait longer than hoist may
    │   │   ├── TagImmutable          the tag holds another digest and the registry will not move it
    │   │   └── DeleteUnsupported     the registry cannot delete manifests or tags through its API
    │   ├── TransportError            network: refused, reset, timed out, TLS (``cause`` says which)
    │   ├── IntegrityError            content does not match its digest, or a tag did not read back
    │   │   ├── DigestMismatch
    │   │   ├── TagRaced              a tag points elsewhere after it was written
    │   │   ├── EvidenceLost          evidence that verified at the source does not where it was carried
    │   │   └── UntrustedLedger       a ledger record no trusted writer signed, where hoist needs it
    │   ├── LedgerConflict            the ledger moved under us more times than we retry
    │   ├── Cancelled                 the caller cancelled, or the call's timeout passed
    │   └── BundleRejected            a Sigstore bundle did not verify (``reason``: the check that failed)
    ├── GateRefused                   exit 3: a gate or another promotion rule refused
    └── DeployFailed                  exit 4: the deploy failed health checks (and was rolled back)
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hoist.evidence.carried import EvidenceCheck
    from hoist.promotion.record import GateResult


class Remedy(enum.StrEnum):
    """What the caller can do about an error, for front ends to turn into their own hint (the CLI names
    its flags; the library's messages never do)."""

    FORCE = "force"
    """Repeat with ``force=True`` (the command line's ``--force``)."""
    OVERRIDE = "override"
    """Set the refusing rules aside with an ``Override`` and a reason (``--force --reason TEXT``)."""
    CONFIG = "config"
    """Name the configuration file (``--config PATH``)."""


class HoistError(Exception):
    """Base of every error hoist raises on purpose; ``remedy`` says what the caller can do, if anything."""

    exit_code = 1

    def __init__(self, message: str, *, remedy: Remedy | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.remedy = remedy

    def __str__(self) -> str:
        return self.message


# --- exit 2: bad input ----------------------------------------------------------------------------


class InputError(HoistError):
    exit_code = 2


class InvalidReference(InputError):
    pass


class InvalidDigest(InputError):
    pass


class ConfigError(InputError):
    pass


class ReferenceNotFound(InputError):
    pass


class AuthenticationFailed(InputError):
    """Credentials are missing, wrong, or lack the access needed.

    ``registry`` is the host; ``reason`` is ``"no-credentials"``, ``"rejected"`` (the token server or
    registry refused them) or ``"denied"`` (valid, but without the access); the HTTP context is as on
    :class:`RegistryError` when a registry answer caused it.
    """

    def __init__(
        self,
        message: str,
        *,
        registry: str | None = None,
        reason: str | None = None,
        status: int | None = None,
        code: str | None = None,
        method: str | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message)
        self.registry = registry
        self.reason = reason
        self.status = status
        self.code = code
        self.method = method
        self.url = url


class UnsupportedManifest(InputError):
    pass


# --- exit 1: the operation failed -----------------------------------------------------------------


class OperationError(HoistError):
    exit_code = 1


class RegistryError(OperationError):
    """An error answer from a registry, with its context as go-containerregistry's ``transport.Error``.

    ``status``: the HTTP status; ``code``: the first distribution error code the registry sent
    (``MANIFEST_UNKNOWN``, ``TAG_INVALID``, ...); ``method`` and ``url``: the request, the URL without
    userinfo, query or fragment (upload URLs and signed storage URLs carry tokens there);
    ``registry``: the host; ``retry_after``: seconds the registry asked to wait, when it did.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        method: str | None = None,
        url: str | None = None,
        registry: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.method = method
        self.url = url
        self.registry = registry
        self.retry_after = retry_after


class NotFound(RegistryError):
    pass


class ManifestTooLarge(RegistryError):
    pass


class RateLimited(RegistryError):
    """The registry rate-limited a request and asked for a longer wait than hoist's retry budget."""


class TagImmutable(RegistryError):
    """A tag already holds another digest and the registry refuses to move it (immutable tags)."""


class DeleteUnsupported(RegistryError):
    """The registry cannot delete through its API (``405 UNSUPPORTED``); ``hint`` says what can."""

    def __init__(
        self,
        message: str,
        *,
        hint: str = "",
        status: int | None = None,
        code: str | None = None,
        method: str | None = None,
        url: str | None = None,
        registry: str | None = None,
    ) -> None:
        super().__init__(message, status=status, code=code, method=method, url=url, registry=registry)
        self.hint = hint


class TransportError(OperationError):
    """The network failed: ``cause`` is ``"timeout"``, ``"connect"``, ``"untrusted-certificate"``,
    ``"dropped"`` or None; ``registry``, ``method`` and ``url`` as on :class:`RegistryError`."""

    def __init__(
        self,
        message: str,
        *,
        cause: str | None = None,
        registry: str | None = None,
        method: str | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message)
        self.cause = cause
        self.registry = registry
        self.method = method
        self.url = url


class IntegrityError(OperationError):
    pass


class DigestMismatch(IntegrityError):
    pass


class TagRaced(IntegrityError):
    pass


class EvidenceLost(IntegrityError):
    """Signatures or attestations that verified at the source no longer verify where they were carried (the
    registry dropped or rewrote them); ``check`` holds every piece with both outcomes."""

    def __init__(self, message: str, *, check: EvidenceCheck) -> None:
        super().__init__(message)
        self.check = check


class LedgerConflict(OperationError):
    pass


class UntrustedLedger(IntegrityError):
    """A ledger record no trusted writer signed, where hoist would have to rely on it."""


class Cancelled(OperationError):
    """The caller cancelled the call, or its timeout passed."""


class BundleRejected(OperationError):
    """A Sigstore bundle did not verify; ``reason`` names the check that refused it (identity, issuer,
    digest, predicate, signature, root, transparency log, timestamp, bundle)."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


# --- exit 3 and 4 ---------------------------------------------------------------------------------


class GateRefused(HoistError):
    """A gate or another promotion rule refused; ``results`` holds every rule's decision."""

    exit_code = 3

    def __init__(self, message: str, *, results: tuple[GateResult, ...] = (), subject: str | None = None) -> None:
        super().__init__(message, remedy=Remedy.OVERRIDE)
        self.results = results
        self.subject = subject
        """The digest refused, when one was."""


class DeployFailed(HoistError):
    exit_code = 4
