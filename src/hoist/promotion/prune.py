"""Prune: remove history tags beyond the newest N (never the current image's), and record it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hoist.errors import DeleteUnsupported, InputError
from hoist.promotion.config import Config
from hoist.promotion.ledger import Ledger, View, subject_of
from hoist.promotion.provenance import actor, ci_info, git_info, timestamp
from hoist.promotion.record import Record
from hoist.store.session import Session


@dataclass
class PruneResult:
    environment: str
    keep: int
    dry_run: bool
    kept: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    record: str | None = None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def prune(
    config: Config,
    session: Session,
    name: str,
    *,
    keep: int,
    dry_run: bool = False,
    environ: Mapping[str, str] | None = None,
) -> PruneResult:
    if keep < 1:
        raise InputError("--keep must be at least 1 (the current image's history tag is always kept)")
    env = config.environment(name)
    store = session.open(env.image, push=not dry_run)
    ledger = Ledger(store, env.name)
    view = ledger.read()
    if view.head is None:
        raise InputError(f"{env.name} has no ledger in {store.location}: nothing to prune")
    entries = ledger.history(None, view=view)
    current = view.current
    ordered: list[tuple[str, str]] = []  # (history tag, digest), newest first
    for entry in entries:
        record = entry.record
        if record.kind == "promote" and record.history_tag and all(t != record.history_tag for t, _ in ordered):
            ordered.append((record.history_tag, record.digest))
    protected = {tag for tag, digest in ordered if digest == current}
    kept = [tag for tag, _ in ordered[:keep]] + [t for t in protected if t not in {x for x, _ in ordered[:keep]}]
    existing = set(store.tags())
    result = PruneResult(environment=env.name, keep=keep, dry_run=dry_run, kept=kept)
    for tag, _ in ordered:
        if tag in kept:
            continue
        (result.removed if tag in existing else result.missing).append(tag)
    if dry_run or not result.removed:
        return result
    blocked: DeleteUnsupported | None = None
    for index, tag in enumerate(list(result.removed)):
        try:
            store.delete_tag(tag)
        except DeleteUnsupported as exc:  # the registry cannot delete: say what is left and what can
            left, result.removed = result.removed[index:], result.removed[:index]
            blocked = DeleteUnsupported(
                f"this registry cannot delete tags ({exc}): {len(left)} history tag(s) left in place in "
                f"{store.location}: {', '.join(left)}; to remove them, {exc.hint}",
                hint=exc.hint,
                status=exc.status,
                code=exc.code,
                registry=exc.registry,
            )
            break
    if blocked is not None and not result.removed:
        raise blocked
    removed_digests = sorted({d for t, d in ordered if t in result.removed} - {d for t, d in ordered if t in kept})

    def build(latest: View) -> Record:
        head = latest.head
        assert head is not None
        media_type, size = subject_of(store, latest, head.record.current)
        return Record(
            seq=latest.next_seq,
            environment=env.name,
            kind="prune",
            digest=head.record.current,
            media_type=media_type,
            size=size,
            current=head.record.current,
            current_seq=head.record.current_seq,
            previous_digest=head.record.current,
            previous_record=str(head.manifest),
            actor=actor(environ),
            time=timestamp(),
            reason=f"keep the newest {keep} history tags",
            git=git_info(environ),
            ci=ci_info(environ),
            details={"removed": result.removed, "digests": removed_digests},
        )

    appended = ledger.append(build)  # a fresh view: deleting tags took time
    result.record = str(appended.entry.manifest)
    if blocked is not None:
        raise blocked
    return result
