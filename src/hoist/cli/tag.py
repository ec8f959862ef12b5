"""``hoist tag REF TAG...``: add tags to REF's digest in the same repository."""

from __future__ import annotations

import click

from hoist.cli.context import STATE, emit_json, reference, say
from hoist.cli.options import json_option


@click.command("tag")
@click.argument("ref", metavar="REF")
@click.argument("tags", metavar="TAG...", nargs=-1, required=True)
@json_option
def command(ref: str, tags: tuple[str, ...], json_out: bool) -> None:
    """Point more tags at REF's digest: a manifest GET, a PUT per tag, and a read-back."""
    from hoist.ops.copy import CopyOptions, copy_image

    source_ref = reference(ref)
    session = STATE.session()
    store = session.open(source_ref, push=True)
    result = copy_image(
        source=store,
        destination=store,
        source_ref=source_ref,
        destination_ref=source_ref.with_tag(None),
        options=CopyOptions(tags=tags, jobs=STATE.jobs),
    )
    requests, auth = session.stats.snapshot()
    if json_out:
        emit_json(
            {
                "reference": str(source_ref),
                "digest": str(result.digest),
                "tags": result.tags,
                "requests": requests,
                "auth_requests": auth,
                "seconds": round(result.seconds, 3),
            }
        )
        return
    say(f"tagged {result.digest} as {', '.join(result.tags)} in {store.location}")
