"""One image of a promotion: resolved, copied (with its mirrors), its tags moved — or put back.

A :class:`~hoist.promotion.promote.Promotion` holds one :class:`MemberMove` per image that moves: the only
image of a single-image environment, or each member of a set.
"""

from __future__ import annotations

import json
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hoist.digest import Digest
from hoist.errors import HoistError, InputError, NotFound
from hoist.manifest import IMAGE_CONFIG_TYPES, Descriptor, Manifest, parse_manifest
from hoist.ops.carry import Carried, Found, carry_evidence, find_evidence
from hoist.ops.copy import CopyOptions, CopyResult, copy_image, put_tags
from hoist.ops.resolve import resolve
from hoist.promotion.config import Environment, Member
from hoist.promotion.context import Context
from hoist.promotion.publish import TagSet
from hoist.promotion.record import GateResult, MemberState
from hoist.promotion.templates import TemplateContext, render_tag
from hoist.ref import Reference
from hoist.store.base import Store

if TYPE_CHECKING:
    from hoist.promotion.promote import MemberPlan, MemberResult, MirrorResult

_MAX_CONFIG = 8 * 1024 * 1024


@dataclass
class MirrorMove:
    member: str
    reference: Reference
    store: Store
    digest: Digest
    tags: tuple[str, ...] = ()
    outcome: str = "not copied"
    """``copied``, or why the copy failed."""

    @property
    def copied(self) -> bool:
        return self.outcome == "copied"

    def result(self, errors: dict[str, str]) -> MirrorResult:
        from hoist.promotion.promote import MirrorResult

        error = None if self.copied else self.outcome
        error = errors.get(str(self.store.location), error)
        return MirrorResult(member=self.member, reference=self.reference, digest=self.digest, error=error)


def tag_needed(previous: Digest | None, digest: Digest) -> bool:
    """Whether the tag that moves to ``digest`` must be read first: the ledger's ``previous`` digest cannot
    say what it names (the environment's first image), or says it names ``digest`` already (a no-op?).
    Otherwise ``previous`` is what the tags are put back to if moving them fails."""
    return previous is None or previous == digest


@dataclass
class MemberMove:
    member: Member
    source: Member
    source_store: Store
    store: Store
    manifest: Manifest
    env: Environment
    at_tag: Descriptor | None = None
    """What TO's tag names now, when it was read (see :meth:`read_tag`)."""
    tag_read: bool = False
    tags: tuple[str, ...] = ()
    history_tag: str = ""
    previous: Digest | None = None
    copy: CopyResult | None = None
    evidence: Carried | None = None
    signature: str | None = None
    mirrors: list[MirrorMove] = field(default_factory=list)
    found: Found | None = None
    """The evidence found in FROM's repository and carried along (None when nothing was looked up)."""

    @property
    def digest(self) -> Digest:
        return self.manifest.digest

    @property
    def single(self) -> bool:
        return not self.env.is_set

    @property
    def already_there(self) -> bool:
        """The ledger says TO has this digest, and its tag agrees (no drift to repair)."""
        return self.previous == self.digest and self.at_tag is not None and self.at_tag.digest == self.digest

    @property
    def tag_needed(self) -> bool:
        return tag_needed(self.previous, self.digest)

    def read_tag(self) -> None:
        self.at_tag = self.store.head_manifest(self.member.tag)
        self.tag_read = True

    def render(self, ctx: Context, seq: int) -> None:
        """The image's tags (its own first, then the extra ones, without repeats) and its history tag."""
        env, member = self.env, self.member
        context = TemplateContext(digest=str(self.digest), seq=seq, tag=member.tag, environment=env.name, now=ctx.now())
        context.environ = ctx.environ
        tags = [member.tag]
        for template in env.tags:
            tag = render_tag(template, context)
            if tag not in tags:
                tags.append(tag)
        self.tags = tuple(tags)
        self.history_tag = render_tag(env.history_tag, context)
        for mirror in self.mirrors:
            own = mirror.reference.tag
            mirror.tags = tuple(dict.fromkeys([own, *tags[1:]] if own else tags[1:]))

    def state(self) -> MemberState:
        return MemberState(
            reference=self.member.image.name,
            digest=self.digest,
            media_type=self.manifest.media_type,
            size=len(self.manifest.raw),
            history_tag=self.history_tag or None,
        )

    def placed(self) -> Placed:
        before = (self.at_tag.digest if self.at_tag is not None else None) if self.tag_read else self.previous
        return Placed(store=self.store, digest=self.digest, tags=self.tags, before=before)

    def tagsets(self, is_set: bool) -> list[TagSet]:
        name = self.member.name if is_set else None
        own = [TagSet(store=self.store, image=self.manifest, tags=self.tags, member=name)]
        mirrors = [
            TagSet(store=m.store, image=self.manifest, tags=m.tags, member=name, mirror=True)
            for m in self.mirrors
            if m.copied and m.tags
        ]
        return own + mirrors

    def plan(self) -> MemberPlan:
        from hoist.promotion.promote import MemberPlan

        return MemberPlan(
            name=self.member.name,
            reference=self.member.image,
            digest=self.digest,
            previous=self.previous,
            tags=self.tags,
            history_tag=self.history_tag,
            noop=self.already_there,
        )

    def result(self) -> MemberResult:
        from hoist.promotion.promote import MemberResult

        return MemberResult(
            name=self.member.name,
            reference=self.member.image,
            digest=self.digest,
            previous_digest=self.previous,
            tags=self.tags,
            history_tag=self.history_tag or None,
            copy=self.copy,
            evidence=self.evidence,
            signature=self.signature,
        )


def plan_member(
    ctx: Context, source_env: Environment, target_env: Environment, member: Member, digest: Digest | None, dry_run: bool
) -> MemberMove:
    """Resolve ``member``'s image in FROM once (or take ``digest``)."""
    source = source_env.member(member.name) if target_env.is_set else source_env.members[0]
    source_store = ctx.open(source.image)
    store = ctx.open(member.image, push=not dry_run, absent_ok=dry_run)
    if digest is None:
        manifest = resolve(source_store, source.image)
    else:
        try:
            manifest = source_store.get_manifest(digest)
        except NotFound as exc:
            where = f"{source_env.name}'s repository {source_store.location}"
            raise InputError(f"{digest} is not in {where}: check the digest") from exc
    mirrors = [
        MirrorMove(
            member=member.name,
            reference=ref,
            store=ctx.open(ref, push=not dry_run, absent_ok=dry_run),
            digest=manifest.digest,
        )
        for ref in member.mirrors
    ]
    return MemberMove(
        member=member,
        source=source,
        source_store=source_store,
        store=store,
        manifest=manifest,
        env=target_env,
        mirrors=mirrors,
    )


def copy_member(ctx: Context, move: MemberMove, *, dry_run: bool, carry: bool) -> None:
    """The image by digest into TO's repository and every mirror (no tags yet), its evidence along."""
    same = move.source_store.location.same_repository(move.store.location)
    with ThreadPoolExecutor(max_workers=1 + len(move.mirrors), thread_name_prefix="hoist-copy-member") as pool:
        # one look for the evidence in FROM's repository, while the copies run, for TO and every mirror;
        # submitted first, so a mirror waiting for it never holds the worker it needs
        needed = carry and (not same or bool(move.mirrors))
        lookup = pool.submit(find_evidence, move.source_store, move.digest) if needed else None
        mirrors = [pool.submit(_mirror, ctx, move, mirror, dry_run=dry_run, lookup=lookup) for mirror in move.mirrors]
        move.copy = copy_image(
            source=move.source_store,
            destination=move.store,
            source_ref=move.source.image,
            destination_ref=move.member.image.with_digest(move.digest),
            manifest=move.manifest,
            observer=ctx.observer,
            options=CopyOptions(dry_run=dry_run, jobs=ctx.jobs),
        )
        if carry:
            move.found = lookup.result() if lookup is not None and not same else None
            move.evidence = carry_evidence(move.source_store, move.store, move.digest, jobs=ctx.jobs, found=move.found)
        for future in mirrors:
            future.result()


def _mirror(ctx: Context, move: MemberMove, mirror: MirrorMove, *, dry_run: bool, lookup: Future[Found] | None) -> None:
    """A mirror that cannot be reached is reported, never fatal: the environment itself still moves.
    ``lookup``: the evidence found in FROM's repository, to carry along (None: none is carried)."""
    try:
        copy_image(
            source=move.source_store,
            destination=mirror.store,
            source_ref=move.source.image,
            destination_ref=mirror.reference.with_digest(move.digest),
            manifest=move.manifest,
            options=CopyOptions(dry_run=dry_run, jobs=ctx.jobs),
        )
        if lookup is not None:
            carry_evidence(move.source_store, mirror.store, move.digest, jobs=ctx.jobs, found=lookup.result())
    except HoistError as exc:
        mirror.outcome = str(exc)
        return
    mirror.outcome = "copied"


@dataclass(frozen=True)
class Placed:
    """Tags hoist moved in one repository, and what the first of them named before."""

    store: Store
    digest: Digest
    tags: tuple[str, ...]
    before: Digest | None


def put_back(placed: list[Placed]) -> dict[str, str]:
    """Point every image's tags back where they were before (errors are collected, never raised)."""
    restored: dict[str, str] = {}
    for item in placed:
        where = str(item.store.location)
        try:
            if item.before is None:
                for tag in item.tags:
                    if item.store.head_manifest(tag) is not None:
                        item.store.delete_tag(tag)
                restored[where] = "untagged"
            elif item.before != item.digest:
                before = item.store.get_manifest(item.before)
                with ThreadPoolExecutor(max_workers=4) as pool:
                    put_tags(item.store, before, item.tags, pool)
                restored[where] = str(item.before)
        except HoistError as exc:
            restored[where] = f"could not be put back: {exc}"
    return restored


def same_labels(moves: list[MemberMove], env: Environment) -> list[GateResult]:
    """The ``same`` rule: every image carries one value for each label (built from one commit)."""
    results = []
    for label in env.same:
        values = {m.member.name: _label(m.source_store, m.manifest, label) for m in moves}
        distinct = set(values.values())
        short = label.rsplit(".", 1)[-1]
        if len(distinct) == 1 and None not in distinct:
            detail = f"every image has {short} {distinct.pop()}"
            results.append(GateResult(gate="same", passed=True, detail=detail, environment=env.name))
            continue
        listing = ", ".join(f"{name} {value or '(none)'}" for name, value in values.items())
        detail = f"the images differ in {short}: {listing}"
        results.append(GateResult(gate="same", passed=False, detail=detail, environment=env.name))
    return results


def _label(store: Store, manifest: Manifest, label: str) -> str | None:
    """A label of an image: its manifest's annotation, else its config's label (an index: its first image)."""
    parsed = parse_manifest(manifest)
    if label in parsed.annotations:
        return parsed.annotations[label]
    if parsed.children:
        return _label(store, store.get_manifest(parsed.children[0].digest), label)
    config = parsed.config
    if config is None or config.media_type not in IMAGE_CONFIG_TYPES or config.size > _MAX_CONFIG:
        return None
    try:
        doc: Any = json.loads(store.read_blob(config, max_size=_MAX_CONFIG))
    except (ValueError, HoistError):
        return None
    labels = (doc.get("config") or {}).get("Labels") if isinstance(doc, dict) else None
    value = labels.get(label) if isinstance(labels, dict) else None
    return str(value) if value is not None else None
