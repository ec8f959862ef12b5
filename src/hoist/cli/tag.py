"""``hoist tag REF TAG...``: add tags to REF's digest in the same repository."""

from __future__ import annotations

from typing import Annotated

import typer

from hoist.cli.context import STATE, emit_json, reference, say
from hoist.ops.copy import CopyOptions, copy_image


def tag(
    ref: Annotated[str, typer.Argument(metavar="REF", help="The image: registry reference or oci:PATH:TAG.")],
    tags: Annotated[list[str], typer.Argument(metavar="TAG...", help="Tags to point at REF's digest.")],
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Point more tags at REF's digest (a manifest GET, PUT per tag, and a read-back)."""
    source_ref = reference(ref)
    session = STATE.session()
    store = session.open(source_ref, push=True)
    target = source_ref.with_tag(None)
    result = copy_image(
        source=store,
        destination=store,
        source_ref=source_ref,
        destination_ref=target,
        options=CopyOptions(tags=tuple(tags), jobs=STATE.jobs),
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


def register(app: typer.Typer) -> None:
    app.command("tag")(tag)
