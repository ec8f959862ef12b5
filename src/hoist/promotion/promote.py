"""Promote: the digest one environment has, copied by digest to the next, tagged, verified and recorded.

Order (each step only after the one before succeeded):
resolve FROM once → check the tag templates → gates → copy by digest (no tags yet) → read TO's ledger
→ write the record → move TO's tag and extra tags → confirm the record survived any race → read the
tags back, settling them with a racing promotion → the immutable history tag → list the record under
the image's referrers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from hoist.digest import Digest
from hoist.errors import InputError, NotFound
from hoist.evidence.keys import PrivateKey
from hoist.evidence.sign import sign_image
from hoist.manifest import Manifest
from hoist.ops.carry import carry_evidence
from hoist.ops.copy import CopyObserver, CopyOptions, CopyResult, copy_image, put_tags, read_back, write_tags
from hoist.ops.resolve import resolve
from hoist.promotion.config import Config, Environment
from hoist.promotion.ledger import Appended, Ledger, View
from hoist.promotion.provenance import actor, ci_info, git_info, timestamp
from hoist.promotion.record import Record
from hoist.promotion.templates import TemplateContext, render_tag
from hoist.store.base import Store
from hoist.store.session import Session


class Timer:
    """Wall time per stage, in seconds."""

    def __init__(self) -> None:
        self.stages: dict[str, float] = {}
        self._started = time.monotonic()

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            self.stages[name] = round(self.stages.get(name, 0.0) + time.monotonic() - started, 4)

    @property
    def total(self) -> float:
        return round(time.monotonic() - self._started, 4)


@dataclass(frozen=True, kw_only=True)
class PromoteOptions:
    digest: Digest | None = None
    reason: str | None = None
    force: bool = False
    dry_run: bool = False
    jobs: int = 8
    referrers: bool = True
    """Carry the digest's signatures, attestations and SBOMs to TO's repository."""
    signer: PrivateKey | None = None
    """Sign the promoted digest in TO's repository (the environment's ``gates.sign_with``)."""


@dataclass
class PromoteResult:
    source: str
    environment: str
    reference: str
    digest: Digest
    previous_digest: str | None
    noop: bool = False
    dry_run: bool = False
    seq: int | None = None
    tags: list[str] = field(default_factory=list)
    history_tag: str | None = None
    record: str | None = None
    copy: CopyResult | None = None
    timings: dict[str, float] = field(default_factory=dict)
    gates: list[dict[str, Any]] = field(default_factory=list)
    forced: bool = False
    reason: str | None = None
    evidence: dict[str, Any] | None = None
    signature: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "source": self.source,
            "reference": self.reference,
            "digest": str(self.digest),
            "previous_digest": self.previous_digest,
            "noop": self.noop,
            "dry_run": self.dry_run,
            "seq": self.seq,
            "tags": self.tags,
            "history_tag": self.history_tag,
            "record": self.record,
            "forced": self.forced,
            "reason": self.reason,
            "gates": self.gates,
            "copy": self.copy.to_json() if self.copy else None,
            "evidence": self.evidence,
            "signature": self.signature,
            "timings": self.timings,
        }


GateCheck = Callable[[Manifest], list[dict[str, Any]]]


def promote(
    config: Config,
    session: Session,
    source_name: str,
    target_name: str,
    *,
    options: PromoteOptions = PromoteOptions(),
    gates: GateCheck | None = None,
    observer: CopyObserver | None = None,
    environ: Mapping[str, str] | None = None,
    on_copied: Callable[[Manifest], None] | None = None,
    while_confirming: Callable[[Manifest], None] | None = None,
) -> PromoteResult:
    """Promote. ``on_copied`` runs once the image is in TO's repository; ``while_confirming`` after the
    record is written and the tags moved, during the settle delay before the record is confirmed
    (release starts the engine's pull in the first and the deploy in the second)."""
    timer = Timer()
    source_env, target = _route(config, source_name, target_name, force=options.force)
    source = session.open(source_env.image)
    destination = session.open(target.image, push=not options.dry_run)
    with timer.stage("resolve"):
        manifest = _resolve(source, source_env, options.digest)
    _render_extra(target, manifest.digest, 0, environ)  # unknown template values stop us before any change
    _history_tag(target, manifest.digest, 0, environ)
    result = PromoteResult(
        source=str(source_env.image),
        environment=target.name,
        reference=str(target.image),
        digest=manifest.digest,
        previous_digest=None,
        dry_run=options.dry_run,
        forced=options.force,
        reason=options.reason,
    )
    if gates is not None:
        with timer.stage("gates"):
            result.gates = gates(manifest)
    _copy(source, destination, source_env, target, manifest, options, result, timer, observer)
    if on_copied is not None and not options.dry_run:
        on_copied(manifest)
    ledger = Ledger(destination, target.name)
    with timer.stage("ledger"):
        view = ledger.read()  # read right before the record is written: the race check needs it fresh
    result.previous_digest = view.current
    if not options.force and _already_there(destination, target, view, manifest):
        result.noop = True
        result.seq = view.entries[0].record.current_seq if view.entries else None
        result.timings = {**timer.stages, "total": timer.total}
        return result
    extra = _render_extra(target, manifest.digest, view.next_seq, environ)
    tags = [target.tag, *[t for t in extra if t != target.tag]]
    result.tags = tags
    if options.dry_run:
        result.seq = view.next_seq
        result.history_tag = _history_tag(target, manifest.digest, view.next_seq, environ)
        result.timings = {**timer.stages, "total": timer.total}
        return result

    def build(current: View) -> Record:
        return _record(current, target, source_env, manifest, tags, options, result, timer, environ)

    with ThreadPoolExecutor(max_workers=max(options.jobs, 4), thread_name_prefix="hoist-tags") as pool:
        move = TagMove(destination, manifest, tags, pool, timer)

        def between() -> None:
            move()
            if while_confirming is not None:
                with timer.stage("nested"):  # the caller's own stages; not part of this record's time
                    while_confirming(manifest)

        with timer.stage("ledger"):
            appended = ledger.append(build, view=view, between=between)
        finish(ledger, appended, move)
    if options.signer is not None:
        with timer.stage("sign"):
            result.signature = sign_image(destination, manifest.descriptor, options.signer)[0]
    record = appended.entry.record
    result.seq = record.seq
    result.history_tag = record.history_tag
    result.record = str(appended.entry.manifest)
    result.timings = {**timer.stages, "total": timer.total}
    return result


def _copy(
    source: Store,
    destination: Store,
    source_env: Environment,
    target: Environment,
    manifest: Manifest,
    options: PromoteOptions,
    result: PromoteResult,
    timer: Timer,
    observer: CopyObserver | None,
) -> None:
    """The image by digest into TO's repository (no tags yet), and its evidence along with it."""
    with timer.stage("copy"):
        result.copy = copy_image(
            source=source,
            destination=destination,
            source_ref=source_env.image,
            destination_ref=target.image.with_digest(manifest.digest),
            manifest=manifest,
            observer=observer,
            options=CopyOptions(dry_run=options.dry_run, jobs=options.jobs),
        )
        if options.referrers and not options.dry_run:
            result.evidence = carry_evidence(source, destination, manifest.digest, jobs=options.jobs).to_json()


def _route(config: Config, source_name: str, target_name: str, *, force: bool) -> tuple[Environment, Environment]:
    source_env = config.environment(source_name)
    target = config.environment(target_name)
    if target.source is not None and target.source != source_name and not force:
        raise InputError(
            f"{target_name} promotes from {target.source} (its 'from' in {config.path}), not {source_name}: "
            "use --force to promote anyway"
        )
    return source_env, target


def _already_there(store: Store, env: Environment, view: View, manifest: Manifest) -> bool:
    """The ledger says the environment has this digest, and its tag agrees (no drift to repair)."""
    if view.current != str(manifest.digest):
        return False
    current = store.head_manifest(env.tag)
    return current is not None and current.digest == manifest.digest


class TagMove:
    """Moves an environment's tags as the step between writing a record and confirming it.

    The tags are read back only in :func:`finish`, after the record is confirmed (and the settle delay
    has passed), so the read-back also catches a racing promotion's late writes.
    """

    def __init__(self, store: Store, manifest: Manifest, tags: list[str], pool: ThreadPoolExecutor, timer: Timer):
        self.store = store
        self.manifest = manifest
        self.tags = tags
        self.pool = pool
        self.timer = timer

    def __call__(self) -> None:
        with self.timer.stage("tags"):
            put_tags(self.store, self.manifest, self.tags, self.pool)


def _record(
    current: View,
    target: Environment,
    source_env: Environment,
    manifest: Manifest,
    tags: list[str],
    options: PromoteOptions,
    result: PromoteResult,
    timer: Timer,
    environ: Mapping[str, str] | None,
) -> Record:
    return Record(
        seq=current.next_seq,
        environment=target.name,
        kind="promote",
        digest=str(manifest.digest),
        media_type=manifest.media_type,
        size=len(manifest.raw),
        current=str(manifest.digest),
        current_seq=current.next_seq,
        previous_digest=current.current,
        previous_record=str(current.head.manifest) if current.head else None,
        source={
            "environment": source_env.name,
            "reference": str(source_env.image),
            "digest": str(manifest.digest),
        },
        tags=tags,
        history_tag=_history_tag(target, manifest.digest, current.next_seq, environ),
        actor=actor(environ),
        time=timestamp(),
        reason=options.reason,
        forced=options.force,
        git=git_info(environ),
        ci=ci_info(environ),
        timings=dict(timer.stages),
        gates=result.gates or None,
    )


def finish(ledger: Ledger, appended: Appended, move: TagMove) -> None:
    """After a record is confirmed: read the tags back and settle them with any racing writer, then the
    history tag and the referrers.

    The newest record wins the tags: when this record is the newest, tags found elsewhere are written
    again (and a second miss is an error); when a later record exists, the tags both wrote are pointed
    at its digest.
    """
    store, manifest, pool, timer = move.store, move.manifest, move.pool, move.timer
    head = appended.view.head
    with timer.stage("readback"):
        if head is None or head.manifest == appended.entry.manifest:
            moved = [tag for tag, _ in read_back(store, manifest.digest, move.tags, pool)]
            if moved:
                write_tags(store, manifest, moved, pool, write_manifest=False)
        elif head.record.current != str(manifest.digest):
            winner = next((e.record for e in appended.view.entries if e.record.seq == head.record.current_seq), None)
            shared = [t for t in move.tags if winner is None or t in winner.tags] or move.tags[:1]
            newest = store.get_manifest(Digest.parse(head.record.current))
            put_tags(store, newest, shared, pool)
        history = appended.entry.record.history_tag
        if history:
            write_tags(store, manifest, [history], pool, write_manifest=False)
    with timer.stage("referrers"):
        ledger.index(appended)


def _resolve(store: Store, env: Environment, digest: Digest | None) -> Manifest:
    if digest is None:
        return resolve(store, env.image)
    try:
        return store.get_manifest(digest)
    except NotFound as exc:
        raise InputError(f"{digest} is not in {env.name}'s repository {store.location}: check the digest") from exc


def _context(env: Environment, digest: Digest, seq: int, environ: Mapping[str, str] | None) -> TemplateContext:
    context = TemplateContext(digest=str(digest), seq=seq, tag=env.tag, environment=env.name)
    if environ is not None:
        context.environ = environ
    return context


def _render_extra(env: Environment, digest: Digest, seq: int, environ: Mapping[str, str] | None) -> list[str]:
    context = _context(env, digest, seq, environ)
    rendered: list[str] = []
    for template in env.tags:
        tag = render_tag(template, context)
        if tag not in rendered:
            rendered.append(tag)
    return rendered


def _history_tag(env: Environment, digest: Digest, seq: int, environ: Mapping[str, str] | None) -> str:
    return render_tag(env.history_tag, _context(env, digest, seq, environ))
