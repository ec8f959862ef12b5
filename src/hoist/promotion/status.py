"""Where each environment stands: current digest, sequence, age, rollback readiness, drift, last deploy."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hoist.digest import Digest
from hoist.errors import HoistError
from hoist.promotion.config import Config, Environment
from hoist.promotion.ledger import Ledger
from hoist.promotion.provenance import now, parse_time
from hoist.promotion.rollback import previous_target
from hoist.store.base import Store
from hoist.store.session import Session


@dataclass
class EnvironmentStatus:
    environment: str
    reference: str
    tag_digest: str | None
    digest: str | None
    seq: int | None
    since: str | None
    age_seconds: float | None
    drift: bool
    rollback_ready: bool
    rollback_to: str | None
    rollback_detail: str
    deployed: str | None
    deployed_at: str | None
    deploy_result: str | None
    records: int
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def environment_status(store: Store, env: Environment, *, at: datetime | None = None) -> EnvironmentStatus:
    """Three requests: the tag, the ledger head, and the rollback target's history tag."""
    ledger = Ledger(store, env.name)
    view = ledger.read()
    tag = store.head_manifest(env.tag)
    tag_digest = str(tag.digest) if tag is not None else None
    head = view.head
    current_record = next(
        (e.record for e in view.entries if e.record.seq == (head.record.current_seq if head else -1)), None
    )
    deploy = next((e.record for e in view.entries if e.record.kind == "deploy"), None)
    has_promotions = any(e.record.kind in ("promote", "rollback") for e in view.entries)
    since = current_record.time if current_record else None
    moment = at or now()
    status = EnvironmentStatus(
        environment=env.name,
        reference=str(env.image),
        tag_digest=tag_digest,
        digest=view.current if has_promotions else tag_digest,
        seq=head.record.current_seq if head and has_promotions else None,
        since=since,
        age_seconds=round((moment - parse_time(since)).total_seconds(), 1) if since else None,
        drift=has_promotions and tag_digest != view.current,
        rollback_ready=False,
        rollback_to=None,
        rollback_detail="no earlier promotion",
        deployed=deploy.digest if deploy else None,
        deployed_at=deploy.time if deploy else None,
        deploy_result=(deploy.deploy or {}).get("result") if deploy else None,
        records=head.record.seq if head else 0,
    )
    target = previous_target(view.entries)
    if target is not None:
        digest, seq = target
        status.rollback_to = digest
        record = next((e.record for e in view.entries if e.record.seq == seq), None)
        history_tag = record.history_tag if record else None
        found = store.head_manifest(history_tag or Digest.parse(digest))
        if found is not None and str(found.digest) == digest:
            status.rollback_ready = True
            status.rollback_detail = f"seq {seq} ({history_tag or digest})"
        else:
            status.rollback_detail = f"seq {seq}: {history_tag or digest} is gone (pruned?)"
    return status


def status(config: Config, session: Session, names: list[str] | None = None) -> list[EnvironmentStatus]:
    out = []
    for name in names or list(config.environments):
        env = config.environment(name)
        try:
            out.append(environment_status(session.open(env.image), env))
        except HoistError as exc:
            if names:
                raise
            out.append(_failed(env, str(exc)))
    return out


def _failed(env: Environment, message: str) -> EnvironmentStatus:
    return EnvironmentStatus(
        environment=env.name,
        reference=str(env.image),
        tag_digest=None,
        digest=None,
        seq=None,
        since=None,
        age_seconds=None,
        drift=False,
        rollback_ready=False,
        rollback_to=None,
        rollback_detail="",
        deployed=None,
        deployed_at=None,
        deploy_result=None,
        records=0,
        error=message,
    )
