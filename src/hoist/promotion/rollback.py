"""Roll an environment back to an earlier promoted digest: a same-repository retag, recorded.

Without ``--to`` the target is the digest promoted before the current one, with "undo" semantics:
after A, B, C and a rollback to B, the next rollback goes to A.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from hoist.digest import Digest
from hoist.errors import InputError, InvalidDigest, NotFound, OperationError
from hoist.promotion.config import Config, Environment
from hoist.promotion.ledger import Ledger, View
from hoist.promotion.promote import TagMove, Timer, finish
from hoist.promotion.provenance import actor, ci_info, git_info, timestamp
from hoist.promotion.record import Entry, Record
from hoist.store.session import Session

HISTORY_SCAN = 500


@dataclass
class RollbackResult:
    environment: str
    reference: str
    digest: str
    previous_digest: str | None
    seq: int | None = None
    target_seq: int | None = None
    noop: bool = False
    dry_run: bool = False
    tags: list[str] = field(default_factory=list)
    record: str | None = None
    reason: str | None = None
    forced: bool = False
    timings: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def promoted_stack(entries: list[Entry]) -> list[tuple[str, int]]:
    """The digests an environment can roll back through, oldest first, with the seq that set each."""
    stack: list[tuple[str, int]] = []
    for entry in reversed(entries):
        record = entry.record
        if record.kind == "promote":
            stack.append((record.digest, record.seq))
        elif record.kind == "rollback":
            digests = [d for d, _ in stack]
            if record.digest in digests:
                del stack[digests.index(record.digest) + 1 :]
            else:
                stack.append((record.digest, record.seq))
    return stack


def previous_target(entries: list[Entry]) -> tuple[str, int] | None:
    stack = promoted_stack(entries)
    return stack[-2] if len(stack) >= 2 else None


def choose_target(env: Environment, entries: list[Entry], to: str | None, *, force: bool) -> tuple[str, int | None]:
    if not entries:
        raise InputError(f"{env.name} has no ledger yet: nothing to roll back to (promote something first)")
    if to is None:
        target = previous_target(entries)
        if target is None:
            raise InputError(f"{env.name} has no earlier promoted image to roll back to")
        return target
    if to.isdigit():
        for entry in entries:
            if entry.record.seq == int(to) and entry.record.kind in ("promote", "rollback"):
                return entry.record.digest, entry.record.seq
        raise InputError(f"{env.name} has no promotion or rollback with sequence {to} (see 'hoist history {env.name}')")
    try:
        digest = str(Digest.parse(to))
    except InvalidDigest as exc:
        raise InputError(f"--to {to!r}: expected a sequence number or a digest (sha256:…)") from exc
    for entry in entries:
        if entry.record.digest == digest and entry.record.kind in ("promote", "rollback"):
            return digest, entry.record.seq
    if not force:
        raise InputError(f"{env.name} never had {digest}: use --force to roll back to it anyway")
    return digest, None


def static_tags(env: Environment) -> list[str]:
    """Extra tags that name no per-image field (such as ``latest``): they move back on a rollback."""
    return [t for t in env.tags if "{" not in t]


def rollback(
    config: Config,
    session: Session,
    name: str,
    *,
    to: str | None = None,
    reason: str | None = None,
    force: bool = False,
    dry_run: bool = False,
    jobs: int = 8,
    environ: Mapping[str, str] | None = None,
    details: dict[str, Any] | None = None,
    automatic: bool = False,
) -> RollbackResult:
    """Roll back; ``automatic`` (a deploy that failed its health checks) may go to any digest the
    environment served, and is recorded as such rather than as a forced rollback."""
    timer = Timer()
    env = config.environment(name)
    store = session.open(env.image, push=not dry_run)
    ledger = Ledger(store, env.name)
    with timer.stage("resolve"):
        view = ledger.read()
        try:
            digest_text, target_seq = choose_target(env, view.entries, to, force=force or automatic)
        except InputError:
            oldest = view.entries[-1].record if view.entries else None
            if oldest is None or oldest.previous_record is None:
                raise
            entries = ledger.history(HISTORY_SCAN, view=view)  # look past the head's window
            digest_text, target_seq = choose_target(env, entries, to, force=force or automatic)
        try:
            manifest = store.get_manifest(Digest.parse(digest_text))
        except NotFound as exc:
            raise OperationError(
                f"cannot roll {env.name} back to {digest_text}: it no longer exists in {store.location} "
                "(pruned or garbage-collected)"
            ) from exc
    tags = [env.tag, *static_tags(env)]
    result = RollbackResult(
        environment=env.name,
        reference=str(env.image),
        digest=digest_text,
        previous_digest=view.current,
        target_seq=target_seq,
        dry_run=dry_run,
        tags=tags,
        reason=reason,
        forced=force,
    )
    if digest_text == view.current and not force:
        current = store.head_manifest(env.tag)
        if current is not None and str(current.digest) == digest_text:
            result.noop = True
            return result
    if dry_run:
        return result

    def build(current: View) -> Record:
        return Record(
            seq=current.next_seq,
            environment=env.name,
            kind="rollback",
            digest=digest_text,
            media_type=manifest.media_type,
            size=len(manifest.raw),
            current=digest_text,
            current_seq=current.next_seq,
            previous_digest=current.current,
            previous_record=str(current.head.manifest) if current.head else None,
            source={"environment": env.name, "seq": target_seq} if target_seq else None,
            tags=tags,
            actor=actor(environ),
            time=timestamp(),
            reason=reason,
            forced=force,
            git=git_info(environ),
            ci=ci_info(environ),
            timings=dict(timer.stages),
            details={**(details or {}), **({"automatic": True} if automatic else {})},
        )

    with ThreadPoolExecutor(max_workers=max(jobs, 4), thread_name_prefix="hoist-tags") as pool:
        move = TagMove(store, manifest, tags, pool, timer)
        with timer.stage("ledger"):
            appended = ledger.append(build, view=view, between=move)
        finish(ledger, appended, move)
    result.seq = appended.entry.record.seq
    result.record = str(appended.entry.manifest)
    result.timings = {**timer.stages, "total": timer.total}
    return result
