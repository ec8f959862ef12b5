"""The ``--json`` contract: every result of the public API as the JSON object the commands print.

The library's results are typed values (digests, references, enums); turning them into JSON is the
command line's business, and happens here only, so the shapes scripts depend on are in one place.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hoist.digest import Digest
from hoist.ref import LayoutRef, RegistryRef

if TYPE_CHECKING:
    from hoist.api import TagResult
    from hoist.deploy.deploy import DeployResult
    from hoist.deploy.release import ReleaseResult
    from hoist.deploy.set_deploy import SetDeployResult
    from hoist.ops.copy import CopyResult
    from hoist.ops.inspect import Inspection
    from hoist.ops.verify import Verification
    from hoist.promotion.audit import Audit
    from hoist.promotion.freeze import FreezeResult
    from hoist.promotion.frozen import Freeze
    from hoist.promotion.plan import ReleasePlan
    from hoist.promotion.promote import PromoteResult
    from hoist.promotion.publish import FollowUp
    from hoist.promotion.record import Entry
    from hoist.promotion.rollback import RollbackResult
    from hoist.promotion.status import EnvironmentStatus


def jsonable(value: Any) -> Any:
    """Plain JSON values from typed ones: digests and references as text, dataclasses as objects."""
    if isinstance(value, enum.Enum):
        value = value.value
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Digest | RegistryRef | LayoutRef | Path):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    return _composite(value)


def _composite(value: Any) -> Any:
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    to_json = getattr(value, "to_json", None)
    if callable(to_json):  # values with a stored form (records, gate results, health results)
        return to_json()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value) if f.repr}
    raise TypeError(f"no JSON form for {type(value).__name__}")


def follow_ups(failed: tuple[FollowUp, ...]) -> list[dict[str, str]]:
    return [{"step": f.step, "error": f.error} for f in failed]


def copy_result(result: CopyResult) -> dict[str, Any]:
    out: dict[str, Any] = {
        "source": str(result.source),
        "digest": str(result.digest),
        "media_type": result.media_type,
        "destination": str(result.destination),
        "destinations": [str(d) for d in result.destinations],
        "tags": list(result.tags),
        "mode": str(result.mode),
        "dry_run": result.dry_run,
        "blobs": {"mounted": result.blobs_mounted, "streamed": result.blobs_streamed, "skipped": result.blobs_skipped},
        "bytes_moved": result.bytes_moved,
        "manifests_written": result.manifests_written,
        "seconds": round(result.seconds, 3),
        "requests": result.requests,
        "auth_requests": result.auth_requests,
    }
    if result.dry_run and result.plan is not None:
        out["plan"] = result.plan.to_json()
    if result.evidence is not None:
        out["evidence"] = result.evidence.to_json()
    if result.evidence_check is not None:
        out["evidence_check"] = result.evidence_check.to_json()
    return out


def tag_result(result: TagResult) -> dict[str, Any]:
    return {
        "reference": str(result.reference),
        "digest": str(result.digest),
        "tags": list(result.tags),
        "requests": result.requests,
        "auth_requests": result.auth_requests,
        "seconds": round(result.seconds, 3),
    }


def inspection(result: Inspection) -> dict[str, Any]:
    return {
        "reference": str(result.reference),
        "digest": str(result.digest),
        "media_type": result.media_type,
        "manifest_size": result.manifest_size,
        "total_size": result.total_size,
        "artifact_type": result.artifact_type,
        "subject": jsonable(result.subject),
        "annotations": result.annotations,
        "platforms": result.platforms,
        "images": [{k: v for k, v in jsonable(i).items() if v is not None} for i in result.images],
    }


def verification(result: Verification) -> dict[str, Any]:
    return {
        "reference": str(result.reference),
        "digest": str(result.digest),
        "ok": result.ok,
        "deep": result.deep,
        "manifests": result.manifests,
        "blobs": result.blobs,
        "bytes_hashed": result.bytes_hashed,
        "checks": [{"check": c.name, "ok": c.ok, "detail": c.detail} for c in result.checks],
    }


def promotion(result: PromoteResult) -> dict[str, Any]:
    return {
        "environment": result.environment,
        "source": str(result.source),
        "reference": str(result.reference),
        "digest": str(result.digest),
        "previous_digest": jsonable(result.previous_digest),
        "noop": result.noop,
        "dry_run": result.dry_run,
        "seq": result.seq,
        "tags": list(result.tags),
        "history_tag": result.history_tag,
        "record": jsonable(result.record),
        "forced": result.forced,
        "override": jsonable(result.override),
        "reason": result.reason,
        "gates": [g.to_json() for g in result.gates],
        "copy": copy_result(result.copy) if result.copy else None,
        "evidence": result.evidence.to_json() if result.evidence else None,
        "evidence_check": result.evidence_check.to_json() if result.evidence_check else None,
        "signature": result.signature,
        "members": [
            {
                "name": m.name,
                "reference": str(m.reference),
                "digest": str(m.digest),
                "previous_digest": jsonable(m.previous_digest),
                "tags": list(m.tags),
                "history_tag": m.history_tag,
            }
            for m in result.members
        ],
        "only": list(result.only),
        "mirrors": [
            {"member": m.member, "reference": str(m.reference), "digest": str(m.digest), "error": m.error}
            for m in result.mirrors
        ],
        "follow_ups_failed": follow_ups(result.follow_ups_failed),
        "timings": result.timings,
    }


def rollback(result: RollbackResult) -> dict[str, Any]:
    out = jsonable(result)
    out["follow_ups_failed"] = follow_ups(result.follow_ups_failed)
    return dict(out)


def deployment(result: DeployResult) -> dict[str, Any]:
    out = jsonable(result)
    out["health"] = result.health.to_json() if result.health else None
    out["follow_ups_failed"] = follow_ups(result.follow_ups_failed)
    return dict(out)


def deployments(result: DeployResult | SetDeployResult) -> dict[str, Any]:
    """A deploy, or a set's deploys (``members``, one object each)."""
    from hoist.deploy.set_deploy import SetDeployResult

    if isinstance(result, SetDeployResult):
        return {
            "environment": result.environment,
            "healthy": result.healthy,
            "rolled_back": result.rolled_back,
            "members": [deployment(m) for m in result.members],
        }
    return deployment(result)


def release(result: ReleaseResult) -> dict[str, Any]:
    return {
        "promotion": promotion(result.promotion),
        "deploy": deployments(result.deployment) if result.deployment else None,
        "stages": result.stages,
    }


def status(result: EnvironmentStatus) -> dict[str, Any]:
    out = jsonable(result)
    out["members"] = [{**jsonable(m), "drift": m.drift} for m in result.members]
    out["mirrors"] = [{**jsonable(m), "behind": m.behind} for m in result.mirrors]
    out["freezes"] = [{**jsonable(f), "rule": f.rule} for f in result.freezes]
    return dict(out)


def utc(moment: datetime | None) -> str:
    """``2026-12-27 09:00 UTC`` (``-`` for no time)."""
    from hoist.promotion.frozen import utc as text

    return text(moment) if moment is not None else "-"


def freeze_state(item: Freeze, now: datetime) -> dict[str, Any]:
    return {**jsonable(item), "rule": item.rule, "detail": item.describe(now)}


def freeze(result: FreezeResult) -> dict[str, Any]:
    out = jsonable(result)
    out["replaced"] = freeze_state(result.replaced, result.time) if result.replaced else None
    out["windows"] = freeze_state(result.windows, result.time) if result.windows else None
    return dict(out)


def plan(item: ReleasePlan, now: datetime) -> dict[str, Any]:
    return {
        "source": item.source,
        "environment": item.environment,
        "would_release": item.would_release,
        "noop": item.noop,
        "seq": item.seq,
        "images": [{**jsonable(i), "changes": i.changes} for i in item.images],
        "gates": [g.to_json() for g in item.gates],
        "refusals": [g.to_json() for g in item.refusals],
        "freezes": [freeze_state(f, now) for f in item.freezes],
        "mirrors": [{**jsonable(m), "behind": m.behind} for m in item.mirrors],
        "mirrors_behind": [str(m.reference) for m in item.mirrors_behind],
        "deploy": item.deploy,
        "requests": jsonable(item.requests),
    }


def entry(item: Entry) -> dict[str, Any]:
    return {**item.record.to_json(), "record": str(item.manifest)}


def audit(result: Audit) -> dict[str, Any]:
    return dict(result.to_json())


def value(result: Any) -> Any:
    """Any other result, field by field."""
    return jsonable(result)
