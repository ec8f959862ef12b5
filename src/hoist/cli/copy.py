"""``hoist copy SRC DST``: copy an image by digest, with extra tags, a platform, or as a dry run."""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING

import click

from hoist.cli.context import STATE, emit_json, human_size, is_terminal, reference, say
from hoist.cli.options import dry_run_option, json_option
from hoist.errors import InputError
from hoist.manifest import Platform
from hoist.ref import LayoutRef

if TYPE_CHECKING:
    from hoist.ops.copy import CopyObserver, CopyResult


def parse_platform(text: str) -> Platform | None:
    if text == "all":
        return None
    try:
        return Platform.parse(text)
    except ValueError as exc:
        raise InputError(f"{exc}, or 'all'") from exc


@click.command("copy")
@click.argument("src", metavar="SRC")
@click.argument("dst", metavar="DST")
@click.option("-t", "--tag", "tags", multiple=True, metavar="TAG", help="Extra tag at the destination (repeatable).")
@click.option(
    "--platform",
    default="all",
    show_default=True,
    metavar="all|OS/ARCH[/VARIANT]",
    help="'all' copies a multi-arch index whole; OS/ARCH picks one image and promotes its digest.",
)
@click.option("--no-referrers", is_flag=True, help="Do not carry signatures, attestations and SBOMs along.")
@dry_run_option
@json_option
def command(
    src: str, dst: str, tags: tuple[str, ...], platform: str, no_referrers: bool, dry_run: bool, json_out: bool
) -> None:
    """Copy an image by digest: a retag, a cross-repository mount, or a parallel stream.

    The digest never changes; blobs go first, then child manifests, the top manifest and its tags,
    which are read back.
    """
    from hoist.ops.carry import carry_evidence, find_evidence
    from hoist.ops.copy import CopyOptions, copy_image, destination_tags
    from hoist.ops.resolve import resolve

    source_ref = reference(src)
    destination_ref = reference(dst)
    if isinstance(destination_ref, LayoutRef) and destination_ref.tag is None and destination_ref.digest is None:
        destination_ref = destination_ref.with_tag("latest")
    options = CopyOptions(tags=tags, platform=parse_platform(platform), dry_run=dry_run, jobs=STATE.jobs)
    destination_tags(destination_ref, tags)  # bad tags are input errors, found before any request
    session = STATE.session()
    source = session.open(source_ref)
    destination = session.open(destination_ref, push=not dry_run)
    carry = not dry_run and not no_referrers and not source.location.same_repository(destination.location)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="hoist-evidence") as background:
        manifest = resolve(source, source_ref)
        # With the digest known, the evidence lookups go out while the image copies.
        same_digest = options.platform is None or not manifest.is_index  # else a child's digest is copied
        lookup = background.submit(find_evidence, source, manifest.digest) if carry and same_digest else None
        with _observer(enabled=not json_out and not dry_run) as progress:
            result = copy_image(
                source=source,
                destination=destination,
                source_ref=source_ref,
                destination_ref=destination_ref,
                options=options,
                observer=progress,
                manifest=manifest,
            )
        carried = None
        if carry:
            found = lookup.result() if lookup is not None else None
            carried = carry_evidence(source, destination, result.digest, jobs=STATE.jobs, found=found)
    requests, auth = session.stats.snapshot()
    if json_out:
        plan = {"plan": result.plan.to_json()} if dry_run and result.plan else {}
        evidence = {"evidence": carried.to_json()} if carried is not None else {}
        emit_json({**result.to_json(), "requests": requests, "auth_requests": auth, **plan, **evidence})
        return
    _print(result, requests)
    if carried is not None and (carried.referrers or carried.legacy):
        legacy = ", ".join(carried.legacy) or "no legacy tags"
        say(f"  evidence carried along: {len(carried.referrers)} referrer(s), {legacy}")


def _observer(*, enabled: bool) -> AbstractContextManager[CopyObserver | None]:
    """Progress bars only on a terminal (rich is imported only then)."""
    if enabled and is_terminal(sys.stderr):
        from hoist.cli.progress import BarProgress

        return BarProgress()
    return nullcontext(None)


def _print(result: CopyResult, requests: int) -> None:
    if result.dry_run:
        assert result.plan is not None
        plan = result.plan
        say(f"plan: {plan.mode} {result.source} -> {result.destination}  ({result.digest})")
        for step in plan.blobs:
            say(f"  {step.action:<6} blob {step.descriptor.digest}  {human_size(step.descriptor.size)}")
        for manifest in plan.manifests:
            say(f"  write  manifest {manifest.digest}")
        targets = ", ".join(plan.tags) if plan.tags else "(by digest only)"
        say(f"  write  {result.digest} as {targets}")
        say("dry run: nothing was changed")
        return
    blobs = f"{result.blobs_mounted} mounted, {result.blobs_streamed} streamed, {result.blobs_skipped} skipped"
    tags = ", ".join(result.tags) if result.tags else "(by digest)"
    say(f"copied {result.digest}")
    say(f"  {result.source} -> {result.destination}  [{result.mode}]")
    say(
        f"  tags: {tags}; blobs: {blobs}; {human_size(result.bytes_moved)} moved; "
        f"{requests} requests; {result.seconds:.2f}s"
    )
