"""``hoist copy SRC DST``: copy an image by digest, with extra tags, a platform, or as a dry run."""

from __future__ import annotations

import sys
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

import click

from hoist.cli import render
from hoist.cli.context import STATE, emit_json, human_size, is_terminal, note, say
from hoist.cli.options import dry_run_option, json_option

if TYPE_CHECKING:
    from hoist.ops.copy import CopyObserver, CopyResult


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
@click.option(
    "--key",
    "keys",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Public key to verify carried signatures with, at both ends (repeatable).",
)
@click.option(
    "--trusted-root",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Sigstore trusted_root.json for carried keyless bundles (default: the one sigstore ships).",
)
@dry_run_option
@json_option
def command(
    src: str,
    dst: str,
    tags: tuple[str, ...],
    platform: str,
    no_referrers: bool,
    keys: tuple[Path, ...],
    trusted_root: Path | None,
    dry_run: bool,
    json_out: bool,
) -> None:
    """Copy an image by digest: a retag, a cross-repository mount, or a parallel stream.

    The digest never changes; blobs go first, then child manifests, the top manifest and its tags,
    which are read back. Signatures and attestations carried along are checked again at the
    destination; one that no longer verifies there is a warning and exit 5.
    """
    import hoist

    with progress(enabled=not json_out and not dry_run) as observer:
        result = hoist.copy(
            src,
            dst,
            tags=tags,
            platform=platform,
            referrers=not no_referrers,
            dry_run=dry_run,
            keys=keys,
            trusted_root=trusted_root,
            options=STATE.options(observer=observer),
        )
    if json_out:
        emit_json(render.copy_result(result))
    else:
        _print(result)
        carried = result.evidence
        if carried is not None and (carried.referrers or carried.legacy):
            legacy = ", ".join(carried.legacy) or "no legacy tags"
            say(f"  evidence carried along: {len(carried.referrers)} referrer(s), {legacy}")
    _report_lost(result)


def _report_lost(result: CopyResult) -> None:
    """Evidence that verified at the source and no longer does at the destination: a warning per piece,
    and exit 5 (the image was copied; its evidence did not survive)."""
    checked = result.evidence_check
    if checked is None or checked.ok:
        return
    for piece in checked.lost:
        note(f"hoist: warning: carried evidence no longer verifies at {result.destination}: {piece.describe()}")
    note(f"hoist: {result.digest} was copied, but {len(checked.lost)} piece(s) of its evidence were lost (exit 5)")
    raise click.exceptions.Exit(5)


def progress(*, enabled: bool) -> AbstractContextManager[CopyObserver | None]:
    """Progress bars only on a terminal (rich is imported only then)."""
    if enabled and is_terminal(sys.stderr):
        from hoist.cli.progress import BarProgress

        return BarProgress()
    return nullcontext(None)


def _print(result: CopyResult) -> None:
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
        f"{result.requests} requests; {result.seconds:.2f}s"
    )
