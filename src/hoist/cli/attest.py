"""``hoist attest ENV --scan REPORT`` and ``hoist test ENV -- CMD``: evidence about the digest ENV runs."""

from __future__ import annotations

from pathlib import Path

import click

from hoist.cli.context import STATE, emit_json, say
from hoist.cli.options import json_option


@click.command("attest")
@click.argument("environment", metavar="ENV")
@click.option(
    "--scan",
    "report_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    required=True,
    help="A scanner report: Trivy JSON or SARIF.",
)
@click.option("--digest", metavar="DIGEST", help="The digest the report is about (default: what ENV runs).")
@click.option(
    "--key",
    "key_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Sign the attestation (default: the environment's 'key').",
)
@json_option
def attest_command(
    environment: str, report_path: Path, digest: str | None, key_path: Path | None, json_out: bool
) -> None:
    """Record a vulnerability scan report about ENV's digest (counts per severity), as an attestation."""
    recorded = STATE.project().record_scan(environment, report_path, digest=digest, key=key_path)
    counts = recorded.counts.to_json()
    if json_out:
        emit_json(
            {
                "environment": environment,
                "digest": str(recorded.digest),
                "attestation": str(recorded.attestation),
                "counts": counts,
                "signed": recorded.signed,
            }
        )
        return
    listing = ", ".join(f"{k} {v}" for k, v in counts.items() if v) or "no findings"
    say(f"recorded the scan of {recorded.digest} in {environment}: {listing} ({recorded.attestation})")


@click.command("test", context_settings={"ignore_unknown_options": True})
@click.argument("environment", metavar="ENV")
@click.argument("argv", metavar="-- CMD [ARGS]...", nargs=-1, required=True, type=click.UNPROCESSED)
@click.option("--junit", type=click.Path(dir_okay=False, path_type=Path), help="JUnit XML the tests write.")
@click.option("--digest", metavar="DIGEST", help="The digest under test (default: what ENV runs).")
@click.option(
    "--key",
    "key_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Sign the result (default: the environment's 'key').",
)
@click.option("--only", multiple=True, metavar="NAME", help="For a set: record on this image only (repeatable).")
@json_option
def test_command(
    environment: str,
    argv: tuple[str, ...],
    junit: Path | None,
    digest: str | None,
    key_path: Path | None,
    only: tuple[str, ...],
    json_out: bool,
) -> None:
    """Run CMD against ENV and record the outcome as a test-result attestation; exit with CMD's code."""
    run = STATE.project().test(environment, argv, junit=junit, digest=digest, key=key_path, only=only)
    if json_out:
        emit_json(
            {
                "environment": environment,
                "digest": str(run.digest),
                "result": str(run.outcome),
                "exit_code": run.exit_code,
                "attestation": str(run.attestation),
                "signed": run.signed,
                "passed": len(run.passed),
                "failed": len(run.failed),
            }
        )
    else:
        say(f"tests {run.outcome} for {run.digest} in {environment} (exit {run.exit_code}); recorded {run.attestation}")
    if run.exit_code != 0:
        raise click.exceptions.Exit(run.exit_code)
