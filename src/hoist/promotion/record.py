"""Ledger records: what happened to an environment, as typed values.

A record is stored as canonical JSON inside a small OCI artifact (see :mod:`hoist.promotion.entry`).
Parsing keeps fields this version does not know in :attr:`Record.extra`, so a record written by a newer
hoist round-trips unchanged (its canonical form, which audits compare, stays the same).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hoist import __version__
from hoist.clock import parse_time_or_none
from hoist.digest import Digest
from hoist.errors import HoistError, IntegrityError
from hoist.manifest import Descriptor

if TYPE_CHECKING:
    from hoist.promotion.signing import RecordSignature


class Kind(enum.StrEnum):
    PROMOTE = "promote"
    ROLLBACK = "rollback"
    DEPLOY = "deploy"
    PRUNE = "prune"
    SYNC = "sync"
    """Mirrors brought level with the environment."""
    FREEZE = "freeze"
    """Changes to the environment stop until a time (``details.until``), or until an unfreeze."""
    UNFREEZE = "unfreeze"
    """The freeze in force was lifted before its end."""

    @property
    def moves_tags(self) -> bool:
        """Promotions and rollbacks set the environment's digest; other kinds only report on it."""
        return self in (Kind.PROMOTE, Kind.ROLLBACK)


class DeployOutcome(enum.StrEnum):
    HEALTHY = "healthy"
    FAILED = "failed"
    RESTORED = "restored"
    """The previous image, put back and healthy again after a failed deploy."""
    PROPOSED = "proposed"
    """Offered for review rather than deployed (a GitOps branch for a pull request)."""


@dataclass(frozen=True, kw_only=True)
class Source:
    """Where a promoted digest came from (a promotion) or which record it returns to (a rollback)."""

    environment: str | None = None
    reference: str | None = None
    digest: Digest | None = None
    seq: int | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.environment is not None:
            out["environment"] = self.environment
        if self.reference is not None:
            out["reference"] = self.reference
        if self.digest is not None:
            out["digest"] = str(self.digest)
        if self.seq is not None:
            out["seq"] = self.seq
        return out

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Source:
        digest = doc.get("digest")
        return cls(
            environment=doc.get("environment"),
            reference=doc.get("reference"),
            digest=Digest.parse(digest) if digest else None,
            seq=doc.get("seq"),
        )


@dataclass(frozen=True, kw_only=True)
class DeployInfo:
    """What a deploy record says about the deploy: its outcome, where, which image, the health result."""

    result: DeployOutcome
    target: str = ""
    image: str = ""
    health: Mapping[str, Any] | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    """Target-specific facts (a container id, a commit), kept as they came."""

    def to_json(self) -> dict[str, Any]:
        return {
            "result": str(self.result),
            "target": self.target,
            "image": self.image,
            "health": dict(self.health) if self.health is not None else None,
            **self.details,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> DeployInfo:
        known = {"result", "target", "image", "health"}
        return cls(
            result=DeployOutcome(doc["result"]),
            target=str(doc.get("target") or ""),
            image=str(doc.get("image") or ""),
            health=doc.get("health"),
            details={k: v for k, v in doc.items() if k not in known},
        )


@dataclass(frozen=True, kw_only=True)
class GateResult:
    """One gate's decision about one digest, and the evidence it used."""

    gate: str
    passed: bool
    detail: str
    environment: str
    evidence: tuple[str, ...] = ()
    overridden: bool = False
    member: str | None = None
    """For an environment of several images: the image the decision is about."""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "gate": self.gate,
            "passed": self.passed,
            "detail": self.detail,
            "environment": self.environment,
            "evidence": list(self.evidence),
            "overridden": self.overridden,
        }
        if self.member is not None:
            out["member"] = self.member
        return out

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> GateResult:
        return cls(
            gate=str(doc["gate"]),
            passed=bool(doc["passed"]),
            detail=str(doc.get("detail", "")),
            environment=str(doc.get("environment", "")),
            evidence=tuple(str(e) for e in doc.get("evidence") or ()),
            overridden=bool(doc.get("overridden", False)),
            member=doc.get("member"),
        )


@dataclass(frozen=True, kw_only=True)
class OverrideInfo:
    """An override as the ledger keeps it: why, and which rules it set aside."""

    reason: str
    rules: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"reason": self.reason, "rules": list(self.rules)}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> OverrideInfo:
        return cls(reason=str(doc["reason"]), rules=tuple(str(r) for r in doc.get("rules") or ()))


@dataclass(frozen=True, kw_only=True)
class MemberState:
    """One image of a set as a record leaves it: where it lives, its digest, its history tag."""

    reference: str
    """The member's repository (``registry/repository``), without tag."""
    digest: Digest
    media_type: str
    size: int
    history_tag: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "reference": self.reference,
            "digest": str(self.digest),
            "media_type": self.media_type,
            "size": self.size,
        }
        if self.history_tag:
            out["history_tag"] = self.history_tag
        return out

    def descriptor(self) -> Descriptor:
        return Descriptor(self.media_type, self.digest, self.size)

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> MemberState:
        return cls(
            reference=str(doc["reference"]),
            digest=Digest.parse(str(doc["digest"])),
            media_type=str(doc["media_type"]),
            size=int(doc["size"]),
            history_tag=doc.get("history_tag"),
        )


def _members_json(members: Mapping[str, MemberState]) -> dict[str, Any]:
    return {name: state.to_json() for name, state in members.items()}


@dataclass(frozen=True, kw_only=True)
class StackItem:
    """A state the environment can roll back to (a digest, or each member's digest), and its record."""

    digest: Digest
    seq: int
    history_tag: str | None = None
    members: Mapping[str, Digest] | None = None
    """For a set: every member's digest in that state."""

    @property
    def state(self) -> object:
        """What identifies the state: the digest, or the members' digests."""
        return tuple(sorted(self.members.items())) if self.members is not None else self.digest

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"digest": str(self.digest), "seq": self.seq}
        if self.history_tag:
            out["history_tag"] = self.history_tag
        if self.members is not None:
            out["members"] = {name: str(digest) for name, digest in self.members.items()}
        return out

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> StackItem:
        members = doc.get("members")
        return cls(
            digest=Digest.parse(str(doc["digest"])),
            seq=int(doc["seq"]),
            history_tag=doc.get("history_tag"),
            members={str(k): Digest.parse(str(v)) for k, v in members.items()} if isinstance(members, dict) else None,
        )


STACK_DEPTH = 10
"""How many rollback targets a record keeps: undo steps without reading older records (as many as a
Kubernetes Deployment keeps revisions by default; ``rollback --to`` reaches any earlier promotion). Every
record and every copy of it carries the stack, so its depth sets the size of what each promotion reads
and writes."""


@dataclass(frozen=True, kw_only=True)
class Provenance:
    """Who wrote a record, when, and from which commit and CI run."""

    actor: str
    time: str
    git: Mapping[str, str] | None = None
    ci: Mapping[str, str] | None = None


@dataclass(frozen=True, kw_only=True)
class Record:
    seq: int
    environment: str
    kind: Kind
    digest: Digest
    """The image this record is about (the record manifest's subject)."""
    media_type: str
    size: int
    current: Digest
    """The environment's promoted digest after this record."""
    current_seq: int
    """The record that set :attr:`current`."""
    previous_digest: Digest | None = None
    previous_record: Digest | None = None
    """The manifest digest of the record before this one (the hash chain); None for the first."""
    source: Source | None = None
    tags: tuple[str, ...] = ()
    history_tag: str | None = None
    actor: str = ""
    time: str = ""
    reason: str | None = None
    forced: bool = False
    override: OverrideInfo | None = None
    git: Mapping[str, str] | None = None
    ci: Mapping[str, str] | None = None
    timings: Mapping[str, float] = field(default_factory=dict)
    gates: tuple[GateResult, ...] = ()
    deploy: DeployInfo | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    stack: tuple[StackItem, ...] | None = None
    """The environment's rollback stack after this record, oldest first (None in records that predate it)."""
    members: Mapping[str, MemberState] | None = None
    """For an environment of several images: each member's state after this record (what a deploy
    deployed). ``digest`` is then the primary member's."""
    only: tuple[str, ...] = ()
    """The members a promotion moved on purpose when not all of them (``--only``)."""
    mirrors: Mapping[str, str] = field(default_factory=dict)
    """Each mirror this record's image was copied to, and how that went (``copied`` or the error)."""
    hoist: str = __version__
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Fields written by another hoist version, kept so the record round-trips."""

    # -- questions about one record ------------------------------------------------------------------

    @property
    def moment(self) -> datetime | None:
        """:attr:`time` as a datetime (None when unreadable)."""
        return parse_time_or_none(self.time)

    @property
    def outcome(self) -> DeployOutcome | None:
        return self.deploy.result if self.deploy is not None else None

    @property
    def healthy_deploy(self) -> bool:
        """A deploy that left a healthy service: the new image passed, or the previous one was restored."""
        return self.kind is Kind.DEPLOY and self.outcome in (DeployOutcome.HEALTHY, DeployOutcome.RESTORED)

    def digest_of(self, member: str | None) -> Digest:
        """The digest this record gives ``member`` (the record's own digest for a single image)."""
        if member is not None and self.members is not None and member in self.members:
            return self.members[member].digest
        return self.digest

    def names(self, digest: Digest, member: str | None = None) -> bool:
        """The record is about ``digest`` (as ``member``'s digest, for a set)."""
        if self.members is not None and member is not None:
            return member in self.members and self.members[member].digest == digest
        return self.digest == digest

    @property
    def automatic(self) -> bool:
        """A rollback hoist made itself after a failed deploy."""
        return self.kind is Kind.ROLLBACK and bool(self.details.get("automatic"))

    # -- JSON ----------------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "seq": self.seq,
            "environment": self.environment,
            "kind": str(self.kind),
            "digest": str(self.digest),
            "media_type": self.media_type,
            "size": self.size,
            "current": str(self.current),
            "current_seq": self.current_seq,
            "previous_digest": str(self.previous_digest) if self.previous_digest else None,
            "previous_record": str(self.previous_record) if self.previous_record else None,
            "source": self.source.to_json() if self.source else None,
            "tags": list(self.tags),
            "history_tag": self.history_tag,
            "actor": self.actor,
            "time": self.time,
            "reason": self.reason,
            "forced": self.forced,
            "override": self.override.to_json() if self.override else None,
            "git": dict(self.git) if self.git else None,
            "ci": dict(self.ci) if self.ci else None,
            "timings": dict(self.timings),
            "gates": [g.to_json() for g in self.gates],
            "deploy": self.deploy.to_json() if self.deploy else None,
            "details": dict(self.details),
            "stack": [item.to_json() for item in self.stack] if self.stack is not None else None,
            "members": _members_json(self.members) if self.members is not None else None,
            "only": list(self.only),
            "mirrors": dict(self.mirrors),
            "hoist": self.hoist,
        }
        # Empty values are left out (older records were written so), except the chain link.
        out = {k: v for k, v in out.items() if v not in (None, [], {}) or k == "previous_record"}
        return {**self.extra, **out}

    def canonical(self) -> str:
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Record:
        try:
            return _parse(doc)
        except (KeyError, TypeError, ValueError, HoistError) as exc:
            raise IntegrityError(f"ledger record is malformed: {exc}") from exc

    def evolve(self, **changes: Any) -> Record:
        return replace(self, **changes)


_KNOWN = frozenset(f.name for f in fields(Record)) - {"extra"}


def _digest(value: Any) -> Digest | None:
    return Digest.parse(str(value)) if value else None


def _parse(doc: Mapping[str, Any]) -> Record:
    digest = Digest.parse(str(doc["digest"]))
    source = doc.get("source")
    deploy = doc.get("deploy")
    override = doc.get("override")
    return Record(
        seq=int(doc["seq"]),
        environment=str(doc["environment"]),
        kind=Kind(doc["kind"]),
        digest=digest,
        media_type=str(doc["media_type"]),
        size=int(doc["size"]),
        current=_digest(doc.get("current")) or digest,
        current_seq=int(doc.get("current_seq", doc["seq"])),
        previous_digest=_digest(doc.get("previous_digest")),
        previous_record=_digest(doc.get("previous_record")),
        source=Source.from_json(source) if isinstance(source, Mapping) else None,
        tags=tuple(str(t) for t in doc.get("tags") or ()),
        history_tag=doc.get("history_tag"),
        actor=str(doc.get("actor") or ""),
        time=str(doc.get("time") or ""),
        reason=doc.get("reason"),
        forced=bool(doc.get("forced", False)),
        override=OverrideInfo.from_json(override) if isinstance(override, Mapping) else None,
        git=doc.get("git"),
        ci=doc.get("ci"),
        timings=dict(doc.get("timings") or {}),
        gates=tuple(GateResult.from_json(g) for g in doc.get("gates") or ()),
        deploy=DeployInfo.from_json(deploy) if isinstance(deploy, Mapping) else None,
        details=dict(doc.get("details") or {}),
        stack=tuple(StackItem.from_json(i) for i in doc["stack"]) if isinstance(doc.get("stack"), list) else None,
        members=_parse_members(doc.get("members")),
        only=tuple(str(m) for m in doc.get("only") or ()),
        mirrors={str(k): str(v) for k, v in (doc.get("mirrors") or {}).items()},
        hoist=str(doc.get("hoist") or ""),
        extra={k: v for k, v in doc.items() if k not in _KNOWN},
    )


def _parse_members(value: Any) -> dict[str, MemberState] | None:
    if not isinstance(value, Mapping):
        return None
    return {str(name): MemberState.from_json(state) for name, state in value.items()}


@dataclass(frozen=True)
class Entry:
    """A record, the digest of the manifest that holds it, and the record's signature (when signed)."""

    manifest: Digest
    record: Record
    signature: RecordSignature | None = field(default=None, compare=False)
