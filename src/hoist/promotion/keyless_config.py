"""hoist.toml's keyless settings: who must have signed (``signature.identities``), the ``provenance`` an
image must carry, and the Sigstore trusted root they are checked under (``trusted_root``, per environment
or under ``[settings]``; by default the public-good root shipped with the ``sigstore`` package, offline)::

    [environments.production.gates]
    signature  = { identities = [{ issuer = "https://token.actions.githubusercontent.com",
                   subject_regexp = "^https://github.com/acme/dotca/.github/workflows/staging.yml@refs/heads/main$" }] }
    provenance = { repository = "acme/dotca", workflow = ".github/workflows/staging.yml", ref = "refs/heads/main",
                   predicate = "https://slsa.dev/provenance/v1" }

Nothing here imports sigstore: the policies are plain values until a gate verifies a bundle.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from hoist.promotion.schema import Table

if TYPE_CHECKING:  # the policies load when a configuration names one: most hoist.toml files do not
    from hoist.evidence.keyless.policy import IdentityPolicy, ProvenancePolicy

IDENTITY_EXAMPLE = '[{ issuer = "https://token.actions.githubusercontent.com", subject_regexp = "^https://…$" }]'


def parse_identities(table: Table) -> tuple[IdentityPolicy, ...]:
    """``identities = [{ issuer = …, subject = … | subject_regexp = … }, …]`` of a ``signature`` table."""
    value = table.data.get("identities")
    if value is None:
        return ()
    from hoist.evidence.keyless.policy import parse_identity_policy

    if not isinstance(value, list) or not value:
        raise table.fail("identities", f"expected a list of identities, such as {IDENTITY_EXAMPLE}")
    where = f"{table.file}: {table.path}.identities"
    return tuple(parse_identity_policy(item, where=f"{where}[{index}]") for index, item in enumerate(value))


def parse_provenance(table: Table) -> ProvenancePolicy:
    """The ``provenance`` table: ``repository``, ``workflow``, ``ref`` (or ``ref_regexp``), ``predicate``…"""
    from hoist.evidence.keyless.policy import parse_provenance_policy

    return parse_provenance_policy(table.data, where=f"{table.file}: {table.path}")


def parse_trusted_root(table: Table, base: Path) -> Path | None:
    """``trusted_root = "path/to/trusted_root.json"`` (relative to the configuration file)."""
    text = table.string("trusted_root")
    if text is None:
        return None
    if not text.strip():
        raise table.fail("trusted_root", "expected the path of a Sigstore trusted_root.json")
    path = Path(text).expanduser()
    return path if path.is_absolute() else base / path
