"""Which Sigstore instance to trust: a trusted root (Fulcio CAs, transparency logs, CT logs, timestamp
authorities), loaded offline.

- :meth:`TrustRoot.from_file` — a ``trusted_root.json`` you keep (``sigstore`` and ``cosign`` write and read
  the same format; ``gh attestation trusted-root`` prints GitHub's).
- :meth:`TrustRoot.bundled` — the public-good (or staging) root shipped inside the installed ``sigstore``
  package, read in place: nothing is written to the user's cache or data directories.
- :meth:`TrustRoot.refresh` — the current root over TUF from Sigstore's repository. Only when asked: it
  needs the network and lets the library update its TUF cache (``~/.cache`` and ``~/.local/share``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from hoist.errors import InputError, TransportError
from hoist.evidence._util import read_capped

if TYPE_CHECKING:
    from sigstore.models import TrustedRoot

Instance = Literal["production", "staging"]
MAX_TRUSTED_ROOT = 4 * 1024 * 1024
_TUF_URLS = {"production": "https://tuf-repo-cdn.sigstore.dev", "staging": "https://tuf-repo-cdn.sigstage.dev"}


@dataclass(frozen=True)
class TrustRoot:
    """A Sigstore trusted root and where it came from (``source``, for messages and records)."""

    source: str
    root: TrustedRoot = field(repr=False, compare=False)

    @classmethod
    def from_file(cls, path: Path) -> TrustRoot:
        data = read_capped(path, limit=MAX_TRUSTED_ROOT, what="trusted root")
        return cls(str(path), _parse(data, what=f"trusted root {path}"))

    @classmethod
    def bundled(cls, instance: Instance = "production") -> TrustRoot:
        """The root embedded in the installed ``sigstore`` package (what its ``--offline`` mode starts from),
        read without touching the library's TUF cache."""
        from importlib import resources
        from urllib.parse import quote

        import sigstore

        url = _TUF_URLS[instance]
        try:
            data = resources.files("sigstore._store").joinpath(quote(url, safe=""), "trusted_root.json").read_bytes()
        except (FileNotFoundError, ModuleNotFoundError) as exc:  # the package moved its embedded copy
            raise InputError(
                f"sigstore {sigstore.__version__} ships no {instance} trusted root where hoist looks for it: "
                "give a trusted_root.json file instead"
            ) from exc
        return cls(f"{instance} root bundled with sigstore {sigstore.__version__}", _parse(data, what="bundled root"))

    @classmethod
    def refresh(cls, instance: Instance = "production") -> TrustRoot:
        """The current root of ``instance`` from Sigstore's TUF repository (network)."""
        from sigstore.errors import Error as SigstoreError
        from sigstore.models import ClientTrustConfig

        url = _TUF_URLS[instance]
        try:
            config = ClientTrustConfig.from_tuf(url, offline=False)
            return cls(f"{instance} root refreshed over TUF from {url}", config.trusted_root)
        except (SigstoreError, OSError) as exc:
            cause = f": {exc.__cause__}" if exc.__cause__ is not None else ""
            raise TransportError(
                f"could not refresh the Sigstore trusted root over TUF from {url}: {exc}{cause}"
            ) from exc


def _parse(data: bytes, *, what: str) -> TrustedRoot:
    from sigstore.errors import Error as SigstoreError
    from sigstore.models import TrustedRoot
    from sigstore_models.trustroot.v1 import TrustedRoot as TrustedRootMessage

    try:
        return TrustedRoot(TrustedRootMessage.from_json(data))
    except (SigstoreError, ValueError) as exc:
        first = " ".join(str(exc).split())[:300]
        raise InputError(f"{what} is not a Sigstore trusted root: {first}") from None
