"""``hoist copy SRC DST``: copy an image by digest, with extra tags, a platform, or as a dry run."""

from __future__ import annotations

from typing import Annotated

import typer

from hoist.cli.context import STATE, emit_json, human_size, reference, say
from hoist.cli.progress import observer
from hoist.errors import InputError
from hoist.manifest import Platform
from hoist.ops.copy import CopyOptions, CopyResult, copy_image
from hoist.ref import LayoutRef


def parse_platform(text: str) -> Platform | None:
    if text == "all":
        return None
    try:
        return Platform.parse(text)
    except ValueError as exc:
        raise InputError(f"{exc}, or 'all'") from exc


def copy(
    src: Annotated[str, typer.Argument(metavar="SRC", help="Source: registry reference or oci:PATH[:TAG|@DIGEST].")],
    dst: Annotated[str, typer.Argument(metavar="DST", help="Destination: registry reference or oci:PATH[:TAG].")],
    tag: Annotated[
        list[str] | None, typer.Option("--tag", "-t", help="Extra tag at the destination (repeatable).")
    ] = None,
    platform: Annotated[
        str,
        typer.Option(
            "--platform", help="'all' copies a multi-arch index whole; OS/ARCH[/VARIANT] picks one image."
        ),
    ] = "all",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the plan; change nothing.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Copy an image by digest: a retag, a cross-repository mount, or a parallel stream."""
    source_ref = reference(src)
    destination_ref = reference(dst)
    if (
        isinstance(destination_ref, LayoutRef)
        and destination_ref.tag is None
        and destination_ref.digest is None
    ):
        destination_ref = destination_ref.with_tag("latest")
    options = CopyOptions(
        tags=tuple(tag or ()), platform=parse_platform(platform), dry_run=dry_run, jobs=STATE.jobs
    )
    session = STATE.session()
    source = session.open(source_ref)
    destination = session.open(destination_ref, push=not dry_run)
    with observer(enabled=not json_out and not dry_run) as progress:
        result = copy_image(
            source=source,
            destination=destination,
            source_ref=source_ref,
            destination_ref=destination_ref,
            options=options,
            observer=progress,
        )
    requests, auth = session.stats.snapshot()
    if json_out:
        emit_json(
            {
                **result.to_json(),
                "requests": requests,
                "auth_requests": auth,
                **({"plan": result.plan.to_json()} if dry_run and result.plan else {}),
            }
        )
        return
    _print(result, requests)


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
    blobs = (
        f"{result.blobs_mounted} mounted, {result.blobs_streamed} streamed, {result.blobs_skipped} skipped"
    )
    tags = ", ".join(result.tags) if result.tags else "(by digest)"
    say(f"copied {result.digest}")
    say(f"  {result.source} -> {result.destination}  [{result.mode}]")
    say(
        f"  tags: {tags}; blobs: {blobs}; {human_size(result.bytes_moved)} moved; "
        f"{requests} requests; {result.seconds:.2f}s"
    )


def register(app: typer.Typer) -> None:
    app.command("copy")(copy)
