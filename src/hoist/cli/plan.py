"""``hoist plan [FROM TO]``: what a release would do, without changing anything (exit 3: it would be refused)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import TYPE_CHECKING

import click

from hoist.cli import github, render
from hoist.cli.context import STATE, emit_json, say
from hoist.cli.options import json_option
from hoist.errors import GateRefused, InputError

if TYPE_CHECKING:
    from hoist.promotion.plan import ImagePlan, ReleasePlan

EXIT_REFUSED = GateRefused.exit_code


@click.command("plan")
@click.argument("source", metavar="[FROM]", required=False)
@click.argument("target", metavar="[TO]", required=False)
@json_option
def command(source: str | None, target: str | None, json_out: bool) -> None:
    """Show what 'hoist release FROM TO' would do (every environment with a 'from' when none are named).

    Reads only: current and candidate digests, the commits between them, every gate with its evidence,
    freezes, mirrors behind, and the writes the release would make. Exit 0 when the release would go
    through, 3 when a gate or freeze would refuse it.
    """
    if source is not None and target is None:
        raise InputError("name both environments of the release (FROM TO), or neither")
    project = STATE.project()
    plans = project.plan(source, target)
    now = project.options.now()()
    methods = Counter(method for method, _path, _status in project.stats.log)
    if json_out:
        emit_json(
            {
                "would_release": all(p.would_release for p in plans),
                "plans": [render.plan(p, now) for p in plans],
                "reads": {"requests": sum(methods.values()), "methods": dict(methods)},
            }
        )
    else:
        for item in plans:
            _print(item, now)
        say(f"({sum(methods.values())} requests made: {', '.join(f'{n} {m}' for m, n in sorted(methods.items()))})")
    _github(plans)
    if not all(p.would_release for p in plans):
        raise click.exceptions.Exit(EXIT_REFUSED)


def _github(plans: list[ReleasePlan]) -> None:
    github.write_outputs({"would-release": str(all(p.would_release for p in plans)).lower()})
    rows = [
        [
            f"{p.source} → {p.environment}",
            "would go through" if p.would_release else "refused",
            "; ".join(f"{g.gate}: {g.detail}" for g in p.refusals) or "-",
        ]
        for p in plans
    ]
    github.write_summary("### hoist plan\n\n" + github.table(["release", "verdict", "refusals"], rows))


def _print(item: ReleasePlan, now: datetime) -> None:
    verdict = "would go through" if item.would_release else f"REFUSED by {len(item.refusals)} rule(s)"
    if item.noop:
        verdict += f"; {item.environment} has it already: nothing to promote"
    say(f"release {item.source} -> {item.environment} (seq {item.seq}): {verdict}")
    for freeze in item.freezes:
        say(f"  FROZEN: {freeze.describe(now)}")
    for image in item.images:
        _image(image)
    for gate in item.gates:
        mark = "pass" if gate.passed else "REFUSE"
        member = f" [{gate.member}]" if gate.member else ""
        evidence = f" (evidence: {', '.join(e[:19] for e in gate.evidence)})" if gate.evidence else ""
        say(f"  {gate.gate}{member}: {mark}: {gate.detail}{evidence}")
    for mirror in item.mirrors:
        state = "level" if not mirror.behind else f"BEHIND (holds {mirror.found or 'nothing'})"
        say(f"  mirror {mirror.reference}: {state}" + (f": {mirror.error}" if mirror.error else ""))
    say(f"  deploy: {item.deploy or 'no deploy settings: the release would stop after the promotion'}")
    if item.requests:
        counts = Counter(r.action for r in item.requests)
        say(f"  writes ({len(item.requests)}): {', '.join(f'{n} {a}' for a, n in counts.items())}")
        for request in item.requests:
            say(f"    {request.action}: {request.where}: {request.what}")


def _image(image: ImagePlan) -> None:
    current = image.current or "nothing"
    say(f"  {image.name}: {current} -> {image.candidate}" + ("" if image.changes else " (unchanged)"))
    say(f"    {image.source} -> {image.reference}")
    if image.copy is not None:
        say(f"    copy: {image.copy}, {image.bytes} bytes to upload; tags: {', '.join(image.tags)}")
    commits = image.commits
    if commits.log:
        verb = "adds" if commits.direction == "ahead" else "goes back over"
        more = f" (and {commits.truncated} more)" if commits.truncated else ""
        say(f"    commits: {verb} {len(commits.log)}{more} ({commits.current} -> {commits.candidate})")
        for line in commits.log:
            say(f"      {line}")
    elif commits.direction == "same":
        say(f"    commits: none (revision {commits.candidate})")
    elif commits.detail:
        say(f"    commits: unknown: {commits.detail}")
