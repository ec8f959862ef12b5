"""``hoist attest ENV --scan REPORT`` and ``hoist test ENV -- CMD``: evidence about the digest ENV runs."""

from __future__ import annotations

import os
import shlex
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from hoist.cli.context import STATE, emit_json, say
from hoist.cli.keys import private_key
from hoist.cli.options import json_option
from hoist.digest import Digest

if TYPE_CHECKING:
    from hoist.evidence.keys import PrivateKey
    from hoist.manifest import Descriptor
    from hoist.promotion.config import Environment
    from hoist.store.base import Store


def _digest_of(environment: str, digest: str | None) -> tuple[Environment, Store, Descriptor]:
    """(config environment, store, digest): ``--digest``, else the last healthy deploy, else the tag's."""
    from hoist.errors import InputError
    from hoist.promotion.ledger import Ledger

    config = STATE.load_config()
    env = config.environment(environment)
    store = STATE.session().open(env.image, push=True)
    chosen: Digest | str | None = Digest.parse(digest) if digest else None
    if chosen is None:
        for entry in Ledger(store, env.name).history(50):
            deploy = entry.record.deploy or {}
            if entry.record.kind == "deploy" and deploy.get("result") in ("healthy", "restored"):
                chosen = Digest.parse(entry.record.digest)
                break
    found = store.head_manifest(chosen or env.tag)
    if found is None:
        what = chosen or f"{env.image} (no deploy recorded)"
        raise InputError(f"{env.name} has nothing to attest about: {what} does not exist in {store.location}")
    return env, store, found


def _now() -> datetime:
    return datetime.now(UTC)


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
    from hoist.evidence.intoto import VulnScan
    from hoist.evidence.reports import load_report
    from hoist.evidence.sign import attest

    report = load_report(report_path)
    env, store, subject = _digest_of(environment, digest)
    subject_digest = subject.digest
    key = _key(key_path, env)
    now = _now()
    scan = VulnScan.from_report(report, started=report.created or now, finished=report.created or now)
    descriptor = attest(store, subject, scan, key=key, created=_stamp(now))
    counts = scan.counts.to_json()
    if json_out:
        emit_json(
            {
                "environment": environment,
                "digest": str(subject_digest),
                "attestation": str(descriptor.digest),
                "counts": counts,
                "signed": key is not None,
            }
        )
        return
    listing = ", ".join(f"{k} {v}" for k, v in counts.items() if v) or "no findings"
    say(f"recorded the scan of {subject_digest} in {environment}: {listing} ({descriptor.digest})")


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
@json_option
def test_command(
    environment: str,
    argv: tuple[str, ...],
    junit: Path | None,
    digest: str | None,
    key_path: Path | None,
    json_out: bool,
) -> None:
    """Run CMD against ENV and record the outcome as a test-result attestation; exit with CMD's code."""
    from hoist.evidence.intoto import Outcome, TestResult
    from hoist.evidence.junit import load_junit
    from hoist.evidence.sign import attest
    from hoist.process import run_passing_output
    from hoist.promotion.provenance import ci_info

    env, store, subject = _digest_of(environment, digest)
    subject_digest = subject.digest
    key = _key(key_path, env)
    health = env.health.url if env.health and env.health.url else ""
    child_env = {
        **os.environ,
        "HOIST_ENV": environment,
        "HOIST_DIGEST": str(subject_digest),
        "HOIST_IMAGE": f"{env.image.name}@{subject_digest}",
        "HOIST_HEALTH_URL": health,
    }
    started = _now()
    code = run_passing_output(list(argv), env=child_env, cwd=os.getcwd(), timeout=None, what="the test command")
    finished = _now()
    report = load_junit(junit) if junit is not None and junit.exists() else None
    passed = tuple(report.passed) if report else ()
    failed = tuple(report.failed) if report else ()
    outcome = Outcome.PASSED if code == 0 and not failed else Outcome.FAILED
    result = TestResult(
        result=outcome,
        command=shlex.join(argv),
        url=(ci_info() or {}).get("run_url"),
        passed_tests=passed,
        failed_tests=failed,
        started=started,
        finished=finished,
        exit_code=code,
    )
    descriptor = attest(store, subject, result, key=key, created=_stamp(finished))
    if json_out:
        emit_json(
            {
                "environment": environment,
                "digest": str(subject_digest),
                "result": str(outcome),
                "exit_code": code,
                "attestation": str(descriptor.digest),
                "signed": key is not None,
                "passed": len(passed),
                "failed": len(failed),
            }
        )
    else:
        say(f"tests {outcome} for {subject_digest} in {environment} (exit {code}); recorded {descriptor.digest}")
    if code != 0:
        raise click.exceptions.Exit(code)


def _key(path: Path | None, env: Environment) -> PrivateKey | None:
    chosen = path or env.key
    return private_key(chosen) if chosen is not None else None


def _stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
