"""Prune: remove history tags beyond the newest N (never the current image's), and record it."""

from __future__ import annotations

from dataclasses import dataclass, field

from hoist.digest import Digest
from hoist.errors import DeleteUnsupported, InputError
from hoist.promotion.context import Context
from hoist.promotion.history import new_record
from hoist.promotion.ledger import View, subject_of
from hoist.promotion.record import Entry, Kind, Record
from hoist.store.base import Store


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
    """Remove each image's history tags beyond its newest ``keep`` (never the one naming the digest the
    environment runs). In an environment holding several images each is pruned in its own repository,
    and its tags are named ``member:tag``."""
    if keep < 1:
        raise InputError("keep at least 1 history tag (the current image's history tag is always kept)")
    env = ctx.environment(name)
    store = ctx.open(env.image, push=not dry_run)
    ledger = ctx.ledger(env, push=not dry_run)
    view = ledger.read()
    if view.head is None:
        raise InputError(f"{env.name} has no ledger in {store.location}: nothing to prune")
    entries = ledger.history(None, view=view)
    result = PruneResult(environment=env.name, keep=keep, dry_run=dry_run)
    plans: list[_Plan] = []
    for member in env.members:
        member_store = store if not env.is_set else ctx.open(member.image, push=not dry_run)
        label = f"{member.name}:" if env.is_set else ""
        if env.is_set:
            state = (view.current_members or {}).get(member.name)
            current = state.digest if state is not None else None
        else:
            current = view.current
        plan = _Plan(member_store, label, _history_tags(entries, member.name if env.is_set else None))
        plan.decide(keep, current)
        plans.append(plan)
        result.kept += [label + tag for tag in plan.kept]
        result.removed += [label + tag for tag in plan.removed]
        result.missing += [label + tag for tag in plan.missing]
    if dry_run or not result.removed:
        return result
    blocked: DeleteUnsupported | None = None
    removed: list[str] = []
    for plan in plans:
        for index, tag in enumerate(list(plan.removed)):
            try:
                plan.store.delete_tag(tag)
            except DeleteUnsupported as exc:  # the registry cannot delete: say what is left and what can
                left, plan.removed = plan.removed[index:], plan.removed[:index]
                blocked = DeleteUnsupported(
                    f"this registry cannot delete tags ({exc}): {len(left)} history tag(s) left in place in "
                    f"{plan.store.location}: {', '.join(left)}; to remove them, {exc.hint}",
                    hint=exc.hint,
                    status=exc.status,
                    code=exc.code,
                    registry=exc.registry,
                )
                break
            removed.append(plan.label + tag)
        if blocked is not None:
            break
    result.removed = removed
    if blocked is not None and not result.removed:
        raise blocked
    removed_digests = sorted({d for plan in plans for d in plan.removed_digests()})

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


def _history_tags(entries: list[Entry], member: str | None) -> list[tuple[str, Digest]]:
    """(history tag, digest) of each promotion, newest first: the record's own, or ``member``'s in a set."""
    ordered: list[tuple[str, Digest]] = []
    for entry in entries:
        record = entry.record
        if record.kind is not Kind.PROMOTE:
            continue
        if member is None:
            tag, digest = record.history_tag, record.digest
        else:
            state = (record.members or {}).get(member)
            if state is None:
                continue
            tag, digest = state.history_tag, state.digest
        if tag and all(t != tag for t, _ in ordered):
            ordered.append((tag, digest))
    return ordered


@dataclass
class _Plan:
    """One repository's history tags: which stay, which go, which were gone already."""

    store: Store
    label: str
    ordered: list[tuple[str, Digest]]
    kept: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def decide(self, keep: int, current: Digest | None) -> None:
        protected = [tag for tag, digest in self.ordered if digest == current]
        newest = [tag for tag, _ in self.ordered[:keep]]
        self.kept = newest + [t for t in protected if t not in newest]
        existing = set(self.store.tags())
        for tag, _ in self.ordered:
            if tag not in self.kept:
                (self.removed if tag in existing else self.missing).append(tag)

    def removed_digests(self) -> set[Digest]:
        """Digests only removed tags named (a digest a kept tag names stays)."""
        gone = {d for t, d in self.ordered if t in self.removed}
        return gone - {d for t, d in self.ordered if t in self.kept}
