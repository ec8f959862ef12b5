"""``sync``: bring an environment's mirrors level with it — each mirror gets the digest the environment
has (with its signatures and attestations) and the same tags, and the ledger records it."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from hoist.digest import Digest
from hoist.errors import HoistError, InputError
from hoist.ops.carry import carry_evidence
from hoist.ops.copy import CopyOptions, copy_image, write_tags
from hoist.promotion.config import Environment, Member
from hoist.promotion.context import Context
from hoist.promotion.history import new_record
from hoist.promotion.ledger import View, subject_of
from hoist.promotion.record import Kind, Record
from hoist.promotion.rollback import static_tags
from hoist.ref import Reference


@dataclass(kw_only=True)
class MirrorState:
    member: str
    reference: Reference
    digest: Digest
    """What the environment has (what the mirror should hold)."""
    found: Digest | None
    """What the mirror's tag names now."""
    synced: bool = False
    error: str | None = None

    @property
    def behind(self) -> bool:
        return self.found != self.digest


@dataclass(kw_only=True)
class SyncResult:
    environment: str
    mirrors: list[MirrorState] = field(default_factory=list)
    record: Digest | None = None
    dry_run: bool = False

    @property
    def failed(self) -> list[MirrorState]:
        return [m for m in self.mirrors if m.error is not None]


def wanted(view: View, env: Environment) -> dict[str, Digest]:
    """Each member's digest as the ledger says (what its mirrors must hold)."""
    state = view.current_members
    if state is not None:
        return {name: member.digest for name, member in state.items()}
    if view.current is None:
        return {}
    return {env.members[0].name: view.current}


def mirror_states(ctx: Context, env: Environment, digests: dict[str, Digest]) -> list[MirrorState]:
    """Every mirror of every member, and what its tag names now (one HEAD each, in parallel)."""
    pairs: list[tuple[Member, Reference]] = [
        (member, mirror) for member in env.members if member.name in digests for mirror in member.mirrors
    ]

    def look(pair: tuple[Member, Reference]) -> MirrorState:
        member, mirror = pair
        state = MirrorState(member=member.name, reference=mirror, digest=digests[member.name], found=None)
        try:
            found = ctx.open(mirror).head_manifest(mirror.tag or "latest")
            state.found = found.digest if found is not None else None
        except HoistError as exc:
            state.error = str(exc)
        return state

    with ThreadPoolExecutor(max_workers=max(1, min(8, len(pairs)))) as pool:
        return list(pool.map(look, pairs))


def sync(ctx: Context, name: str, *, dry_run: bool = False) -> SyncResult:
    env = ctx.environment(name)
    if not env.mirrors:
        raise InputError(f"{env.name} has no mirrors (mirrors = [...] in hoist.toml)")
    store = ctx.open(env.image, push=not dry_run)
    ledger = ctx.ledger(env, push=not dry_run)
    view = ledger.read()
    digests = wanted(view, env)
    if not digests:
        raise InputError(f"{env.name} has no promotion recorded yet: nothing to sync")
    result = SyncResult(environment=env.name, dry_run=dry_run, mirrors=mirror_states(ctx, env, digests))
    behind = [m for m in result.mirrors if m.behind]
    if dry_run or not behind:
        return result
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(behind)))) as pool:
        list(pool.map(lambda m: _bring(ctx, env, m), behind))
    synced = [m for m in behind if m.synced]
    if synced:

        def build(latest: View) -> Record:
            return new_record(
                latest,
                kind=Kind.SYNC,
                environment=env.name,
                subject=subject_of(store, latest, latest.current or synced[0].digest),
                provenance=ctx.provenance(),
                mirrors={str(m.reference): "copied" if m.synced else str(m.error) for m in behind},
            )

        result.record = ledger.append(build).entry.manifest
    return result


def _bring(ctx: Context, env: Environment, mirror: MirrorState) -> None:
    member = env.member(mirror.member)
    source = ctx.open(member.image)
    target = ctx.open(mirror.reference, push=True)
    tags = tuple(dict.fromkeys([mirror.reference.tag or "latest", *static_tags(env)]))
    try:
        copied = copy_image(
            source=source,
            destination=target,
            source_ref=member.image.with_digest(mirror.digest),
            destination_ref=mirror.reference.with_digest(mirror.digest),
            options=CopyOptions(jobs=ctx.jobs),
        )
        carry_evidence(source, target, mirror.digest, jobs=ctx.jobs)
        assert copied.plan is not None
        with ThreadPoolExecutor(max_workers=4) as pool:
            write_tags(target, copied.plan.top.manifest, tags, pool, write_manifest=False)
    except HoistError as exc:
        mirror.error = str(exc)
        return
    mirror.synced = True
    mirror.found = mirror.digest
    mirror.error = None
