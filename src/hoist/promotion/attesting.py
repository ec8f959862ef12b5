"""Evidence about the digest an environment runs: test results (``hoist test``) and scan reports
(``hoist attest --scan``), recorded as in-toto attestations on that exact digest.

The digest is the one asked for, else the environment's last healthy deploy, else what its tag names
now. Results are signed with the environment's ``key`` (or the key given) and attached as OCI referrers,
where the ``tests`` and ``scan`` gates of the next environment find them.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hoist.clock import format_time
from hoist.digest import Digest
from hoist.errors import InputError
from hoist.evidence.intoto import Outcome, TestResult, VulnScan
from hoist.evidence.reports import SeverityCounts
from hoist.manifest import Descriptor
from hoist.promotion.config import Environment
from hoist.promotion.context import Context
from hoist.promotion.ledger import Ledger
from hoist.promotion.provenance import ci_info
from hoist.store.base import Store

if TYPE_CHECKING:
    from hoist.evidence.keys import PrivateKey


@dataclass(kw_only=True)
class TestRun:
    environment: str
    digest: Digest
    outcome: Outcome
    exit_code: int
    attestation: Digest
    signed: bool
    passed: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()


@dataclass(kw_only=True)
class ScanRecorded:
    environment: str
    digest: Digest
    attestation: Digest
    counts: SeverityCounts
    signed: bool


def subject(ctx: Context, env: Environment, digest: Digest | None) -> tuple[Store, Descriptor]:
    """The store and the image evidence about ``env`` is recorded on (see the module docstring)."""
    store = ctx.open(env.image, push=True)
    chosen = digest
    if chosen is None:
        healthy = Ledger(store, env.name).read().last_healthy_deploy()
        chosen = healthy.record.digest if healthy is not None else None
    found = store.head_manifest(chosen or env.tag)
    if found is None:
        what = chosen or f"{env.image} (no deploy recorded)"
        raise InputError(f"{env.name} has nothing to attest about: {what} does not exist in {store.location}")
    return store, found


def _key(ctx: Context, env: Environment, key: Path | None) -> PrivateKey | None:
    chosen = key or env.key
    return ctx.private_key(chosen) if chosen is not None else None


def run_tests(
    ctx: Context,
    name: str,
    argv: Sequence[str],
    *,
    junit: Path | None = None,
    digest: Digest | None = None,
    key: Path | None = None,
    cwd: Path | None = None,
) -> TestRun:
    """Run ``argv`` against environment ``name`` and record the outcome; the command's output passes
    through (to stderr). It runs with ``HOIST_ENV``, ``HOIST_DIGEST``, ``HOIST_IMAGE`` and
    ``HOIST_HEALTH_URL`` set."""
    from hoist.evidence.junit import load_junit
    from hoist.evidence.sign import attest
    from hoist.process import run_passing_output

    if not argv:
        raise InputError("give the test command to run")
    env = ctx.environment(name)
    store, image = subject(ctx, env, digest)
    signer = _key(ctx, env, key)
    health = env.health.url if env.health and env.health.url else ""
    child_env = {
        **ctx.environ,
        "HOIST_ENV": env.name,
        "HOIST_DIGEST": str(image.digest),
        "HOIST_IMAGE": f"{env.image.name}@{image.digest}",
        "HOIST_HEALTH_URL": health,
    }
    started = ctx.now()
    code = run_passing_output(
        list(argv), env=child_env, cwd=str(cwd or os.getcwd()), timeout=None, what="the test command"
    )
    finished = ctx.now()
    report = load_junit(junit) if junit is not None and junit.exists() else None
    passed = tuple(report.passed) if report else ()
    failed = tuple(report.failed) if report else ()
    outcome = Outcome.PASSED if code == 0 and not failed else Outcome.FAILED
    result = TestResult(
        result=outcome,
        command=shlex.join(argv),
        url=(ci_info(ctx.environ) or {}).get("run_url"),
        passed_tests=passed,
        failed_tests=failed,
        started=started,
        finished=finished,
        exit_code=code,
    )
    descriptor = attest(store, image, result, key=signer, created=format_time(finished))
    return TestRun(
        environment=env.name,
        digest=image.digest,
        outcome=outcome,
        exit_code=code,
        attestation=descriptor.digest,
        signed=signer is not None,
        passed=passed,
        failed=failed,
    )


def record_scan(
    ctx: Context, name: str, report_path: Path, *, digest: Digest | None = None, key: Path | None = None
) -> ScanRecorded:
    """Record a scanner's report (Trivy JSON or SARIF) about environment ``name``'s digest: counts per
    severity, as cosign's vulnerability attestation."""
    from hoist.evidence.reports import load_report
    from hoist.evidence.sign import attest

    report = load_report(report_path)
    env = ctx.environment(name)
    store, image = subject(ctx, env, digest)
    signer = _key(ctx, env, key)
    now = ctx.now()
    scan = VulnScan.from_report(report, started=report.created or now, finished=report.created or now)
    descriptor = attest(store, image, scan, key=signer, created=format_time(now))
    return ScanRecorded(
        environment=env.name,
        digest=image.digest,
        attestation=descriptor.digest,
        counts=scan.counts,
        signed=signer is not None,
    )
