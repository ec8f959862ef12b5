"""hoist: promote the exact container image you tested, by digest.

The public API is what this package exports (``__all__``); its submodules are internal and may change.
Everything is importable from ``hoist`` itself::

    import hoist

    # Image operations: references are text or parsed values.
    result = hoist.copy("ghcr.io/acme/app:staging", "ghcr.io/acme/app:main", tags=["latest"])
    print(result.digest, [str(d) for d in result.destinations])

    # Environments from hoist.toml; the rules (gates, signing) are enforced here as on the command line.
    with hoist.Project.load("hoist.toml") as project:
        try:
            project.promote("staging", "production", reason="release 1.4")
        except hoist.GateRefused as refused:
            for gate in refused.results:
                print(gate.gate, gate.passed, gate.detail)
            project.promote("staging", "production", override=hoist.Override("hotfix for the outage"))
        print(project.status("production")[0].digest)

Every error is a :class:`HoistError` with a one-line message and an ``exit_code``; see ``docs/library.md``.
Names load on first use, so importing hoist costs almost nothing.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing itself is not imported: `hoist --version` and `import hoist` stay instant

__version__ = "0.1.0"

# public name -> the internal module that defines it
_EXPORTS: dict[str, str] = {
    # image operations
    "copy": "hoist.api",
    "tag": "hoist.api",
    "inspect": "hoist.api",
    "verify": "hoist.api",
    "TagResult": "hoist.api",
    "CopyResult": "hoist.ops.copy",
    "CopyObserver": "hoist.ops.copy",
    "Inspection": "hoist.ops.inspect",
    "ImageSummary": "hoist.ops.inspect",
    "Verification": "hoist.ops.verify",
    "Carried": "hoist.ops.carry",
    "EvidenceCheck": "hoist.evidence.carried",
    "Options": "hoist.options",
    # values
    "Digest": "hoist.digest",
    "Reference": "hoist.ref",
    "RegistryRef": "hoist.ref",
    "LayoutRef": "hoist.ref",
    "parse_reference": "hoist.ref",
    "Platform": "hoist.manifest",
    # environments, promotion, deploys
    "Project": "hoist.project",
    "Override": "hoist.promotion.rules",
    "Promotion": "hoist.promotion.promote",
    "PromotionPlan": "hoist.promotion.promote",
    "PromoteResult": "hoist.promotion.promote",
    "FollowUp": "hoist.promotion.publish",
    "RollbackResult": "hoist.promotion.rollback",
    "Deployment": "hoist.deploy.deploy",
    "DeployResult": "hoist.deploy.deploy",
    "ReleaseResult": "hoist.deploy.release",
    "EnvironmentStatus": "hoist.promotion.status",
    "Audit": "hoist.promotion.audit",
    "PruneResult": "hoist.promotion.prune",
    "TestRun": "hoist.promotion.attesting",
    "ScanRecorded": "hoist.promotion.attesting",
    "Freeze": "hoist.promotion.frozen",
    "FreezeResult": "hoist.promotion.freeze",
    "ReleasePlan": "hoist.promotion.plan",
    # the ledger
    "Record": "hoist.promotion.record",
    "Entry": "hoist.promotion.record",
    "Kind": "hoist.promotion.record",
    "DeployOutcome": "hoist.promotion.record",
    "GateResult": "hoist.promotion.record",
    "OverrideInfo": "hoist.promotion.record",
    # errors
    "HoistError": "hoist.errors",
    "InputError": "hoist.errors",
    "InvalidReference": "hoist.errors",
    "InvalidDigest": "hoist.errors",
    "ConfigError": "hoist.errors",
    "ReferenceNotFound": "hoist.errors",
    "AuthenticationFailed": "hoist.errors",
    "UnsupportedManifest": "hoist.errors",
    "OperationError": "hoist.errors",
    "RegistryError": "hoist.errors",
    "NotFound": "hoist.errors",
    "ManifestTooLarge": "hoist.errors",
    "TransportError": "hoist.errors",
    "IntegrityError": "hoist.errors",
    "DigestMismatch": "hoist.errors",
    "TagRaced": "hoist.errors",
    "LedgerConflict": "hoist.errors",
    "Cancelled": "hoist.errors",
    "BundleRejected": "hoist.errors",
    "EvidenceLost": "hoist.errors",
    "GateRefused": "hoist.errors",
    "DeployFailed": "hoist.errors",
    "Remedy": "hoist.errors",
}

__all__ = [
    "Audit",
    "AuthenticationFailed",
    "BundleRejected",
    "Cancelled",
    "Carried",
    "ConfigError",
    "CopyObserver",
    "CopyResult",
    "DeployFailed",
    "DeployOutcome",
    "DeployResult",
    "Deployment",
    "Digest",
    "DigestMismatch",
    "Entry",
    "EnvironmentStatus",
    "EvidenceCheck",
    "EvidenceLost",
    "FollowUp",
    "Freeze",
    "FreezeResult",
    "GateRefused",
    "GateResult",
    "HoistError",
    "ImageSummary",
    "InputError",
    "Inspection",
    "IntegrityError",
    "InvalidDigest",
    "InvalidReference",
    "Kind",
    "LayoutRef",
    "LedgerConflict",
    "ManifestTooLarge",
    "NotFound",
    "OperationError",
    "Options",
    "Override",
    "OverrideInfo",
    "Platform",
    "Project",
    "PromoteResult",
    "Promotion",
    "PromotionPlan",
    "PruneResult",
    "Record",
    "Reference",
    "ReferenceNotFound",
    "RegistryError",
    "RegistryRef",
    "ReleasePlan",
    "ReleaseResult",
    "Remedy",
    "RollbackResult",
    "ScanRecorded",
    "TagRaced",
    "TagResult",
    "TestRun",
    "TransportError",
    "UnsupportedManifest",
    "Verification",
    "__version__",
    "copy",
    "inspect",
    "parse_reference",
    "tag",
    "verify",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hoist' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:
    from typing import Any

    from hoist.api import TagResult, copy, inspect, tag, verify
    from hoist.deploy.deploy import Deployment, DeployResult
    from hoist.deploy.release import ReleaseResult
    from hoist.digest import Digest
    from hoist.errors import (
        AuthenticationFailed,
        BundleRejected,
        Cancelled,
        ConfigError,
        DeployFailed,
        DigestMismatch,
        EvidenceLost,
        GateRefused,
        HoistError,
        InputError,
        IntegrityError,
        InvalidDigest,
        InvalidReference,
        LedgerConflict,
        ManifestTooLarge,
        NotFound,
        OperationError,
        ReferenceNotFound,
        RegistryError,
        Remedy,
        TagRaced,
        TransportError,
        UnsupportedManifest,
    )
    from hoist.evidence.carried import EvidenceCheck
    from hoist.manifest import Platform
    from hoist.ops.carry import Carried
    from hoist.ops.copy import CopyObserver, CopyResult
    from hoist.ops.inspect import ImageSummary, Inspection
    from hoist.ops.verify import Verification
    from hoist.options import Options
    from hoist.project import Project
    from hoist.promotion.attesting import ScanRecorded, TestRun
    from hoist.promotion.audit import Audit
    from hoist.promotion.freeze import FreezeResult
    from hoist.promotion.frozen import Freeze
    from hoist.promotion.plan import ReleasePlan
    from hoist.promotion.promote import PromoteResult, Promotion, PromotionPlan
    from hoist.promotion.prune import PruneResult
    from hoist.promotion.publish import FollowUp
    from hoist.promotion.record import DeployOutcome, Entry, GateResult, Kind, OverrideInfo, Record
    from hoist.promotion.rollback import RollbackResult
    from hoist.promotion.rules import Override
    from hoist.promotion.status import EnvironmentStatus
    from hoist.ref import LayoutRef, Reference, RegistryRef, parse_reference
