"""Prune: remove history tags beyond the newest N (never the current image's), and record it."""

from __future__ import annotations

from dataclasses import dataclass, field

from hoist.digest import Digest
from hoist.errors import DeleteUnsupported, InputError
from hoist.promotion.context import Context
from hoist.promotion.history import new_record
from hoist.promotion.ledger import View, subject_of
from hoist.promotion.record import Kind, Record


@dataclass(kw_only=True)
class PruneResult:
    environment: str
    keep: int
    dry_run: bool
    kept: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    record: Digest | None = None


def prune(ctx: Context, name: str, *, keep: int, dry_run: bool = False) -> PruneResult:
    if keep < 1:
        raise InputError("keep at least 1 history tag (the current image's history tag is always kept)")
    env = ctx.environment(name)
    store = ctx.open(env.image, push=not dry_run)
    ledger = ctx.ledger(env, push=not dry_run)
    view = ledger.read()
    if view.head is None:
        raise InputError(f"{env.name} has no ledger in {store.location}: nothing to prune")
    entries = ledger.history(None, view=view)
    current = view.current
    ordered: list[tuple[str, Digest]] = []  # (history tag, digest), newest first
    for entry in entries:
        record = entry.record
        if record.kind is Kind.PROMOTE and record.history_tag and all(t != record.history_tag for t, _ in ordered):
            ordered.append((record.history_tag, record.digest))
    protected = {tag for tag, digest in ordered if digest == current}
    newest = {tag for tag, _ in ordered[:keep]}
    kept = [tag for tag, _ in ordered[:keep]] + [t for t in protected if t not in newest]
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
        return new_record(
            latest,
            kind=Kind.PRUNE,
            environment=env.name,
            subject=subject_of(store, latest, head.record.current),
            provenance=ctx.provenance(),
            reason=f"keep the newest {keep} history tags",
            details={"removed": result.removed, "digests": [str(d) for d in removed_digests]},
        )

    appended = ledger.append(build)  # a fresh view: deleting tags took time
    result.record = appended.entry.manifest
    if blocked is not None:
        raise blocked
    return result
