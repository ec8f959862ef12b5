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
from dataclasses import dataclass, field
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
    attestations: dict[str, Digest] = field(default_factory=dict)
    """For an environment of several images: the attestation recorded on each image."""


@dataclass(kw_only=True)
class ScanRecorded:
    environment: str
    digest: Digest
    attestation: Digest
    counts: SeverityCounts
    signed: bool


def subject(ctx: Context, env: Environment, digest: Digest | None) -> tuple[Store, Descriptor]:
    """The store and the image evidence about ``env`` is recorded on (see the module docstring)."""
    _name, store, descriptor = subjects(ctx, env, digest)[0]
    return store, descriptor


def subjects(
    ctx: Context, env: Environment, digest: Digest | None, only: Sequence[str] = ()
) -> list[tuple[str, Store, Descriptor]]:
    """Each image evidence about ``env`` is recorded on (every member of a set, or those ``only`` names):
    its name, its store and its descriptor."""
    if digest is not None and env.is_set and len(only) != 1:
        raise InputError(f"{env.name} holds several images: name the one the digest is for (only)")
    for name in only:
        env.member(name)
    healthy = ctx.ledger(env, push=False).read().last_healthy_deploy() if digest is None else None
    found: list[tuple[str, Store, Descriptor]] = []
    for member in env.members:
        if only and member.name not in only:
            continue
        store = ctx.open(member.image, push=True)
        chosen = digest
        if chosen is None and healthy is not None:
            chosen = healthy.record.digest_of(member.name if env.is_set else None)
        descriptor = store.head_manifest(chosen or member.tag)
        if descriptor is None:
            what = chosen or f"{member.image} (no deploy recorded)"
            raise InputError(f"{env.name} has nothing to attest about: {what} does not exist in {store.location}")
        found.append((member.name, store, descriptor))
    return found


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
    only: Sequence[str] = (),
) -> TestRun:
    """Run ``argv`` against environment ``name`` and record the outcome; the command's output passes
    through (to stderr). It runs with ``HOIST_ENV``, ``HOIST_DIGEST``, ``HOIST_IMAGE`` and
    ``HOIST_HEALTH_URL`` set."""
    from hoist.evidence.junit import load_junit
    from hoist.evidence.sign import attest
    from hoist.process import child_environment, run_passing_output

    if not argv:
        raise InputError("give the test command to run")
    env = ctx.environment(name)
    images = subjects(ctx, env, digest, only)
    _member_name, _store, image = images[0]
    signer = _key(ctx, env, key)
    health = env.health.url if env.health and env.health.url else ""
    extra = {
        "HOIST_ENV": env.name,
        "HOIST_DIGEST": str(image.digest),
        "HOIST_IMAGE": f"{env.image.name}@{image.digest}",
        "HOIST_HEALTH_URL": health,
        **{
            f"HOIST_IMAGE_{member.upper().replace('-', '_')}": f"{env.member(member).image.name}@{d.digest}"
            for member, _s, d in images
            if env.is_set
        },
    }
    child_env = child_environment(ctx.environ, pass_env=env.pass_env, extra=extra)
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
    recorded = {
        member: attest(store, described, result, key=signer, created=format_time(finished)).digest
        for member, store, described in images
    }
    return TestRun(
        environment=env.name,
        digest=image.digest,
        outcome=outcome,
        exit_code=code,
        attestation=next(iter(recorded.values())),
        signed=signer is not None,
        passed=passed,
        failed=failed,
        attestations=recorded if env.is_set else {},
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
