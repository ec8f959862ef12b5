"""What the command line adds to a library error: the flag or command that fixes it.

Library messages never name hoist's flags; the CLI reads the error's attributes and appends a hint.
"""

from __future__ import annotations

from hoist.errors import AuthenticationFailed, HoistError, Remedy, TransportError

_REMEDIES = {
    Remedy.FORCE: ": use --force to go ahead anyway",
    Remedy.OVERRIDE: " (override with --force --reason TEXT)",
    Remedy.CONFIG: " or pass --config PATH",
}


def hint(exc: HoistError) -> str:
    """A suffix for the one-line error message, or ``""``."""
    if exc.remedy is not None:
        return _REMEDIES.get(exc.remedy, "")
    if isinstance(exc, TransportError) and exc.cause == "untrusted-certificate":
        return " (use --ca-file with the registry's CA, or --insecure HOST)"
    if isinstance(exc, AuthenticationFailed) and exc.registry:
        if exc.reason == "no-credentials":
            return f": log in with 'docker login {exc.registry}' or 'podman login {exc.registry}'"
        if exc.reason == "rejected":
            return f": log in again with 'docker login {exc.registry}'"
    return ""
