"""Gates: evidence about the exact digest being promoted, checked before anything is copied.

- ``deployed``: the environment's ledger holds a deploy of this digest that passed its health checks.
- ``tests``: the newest valid test-result attestation on this digest says PASSED (or WARNED), and is not
  older than ``max_age``.
- ``signature``: a cosign signature (legacy ``.sig`` or an OCI 1.1 bundle) by one of the keys.
- ``scan``: the newest valid vulnerability attestation has no finding above ``max_severity``.

Evidence that is unreadable, for another digest, or whose signature does not verify (when keys are
configured) counts as absent. The newest valid piece decides.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hoist.digest import Digest
from hoist.errors import GateRefused, InputError
from hoist.evidence.collect import Checked, check, collect
from hoist.evidence.intoto import Outcome, TestResult, VulnScan
from hoist.evidence.keys import PublicKey, load_public_key
from hoist.evidence.reports import Severity
from hoist.manifest import Manifest
from hoist.promotion.config import Config, Environment
from hoist.promotion.ledger import Ledger
from hoist.store.session import Session

DEPLOY_SCAN = 500


@dataclass
class GateResult:
    gate: str
    passed: bool
    detail: str
    environment: str
    evidence: list[str] = field(default_factory=list)
    overridden: bool = False

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _keys(paths: Sequence[Any]) -> list[PublicKey]:
    return [load_public_key(path) for path in paths]


def _age(seconds: float) -> str:
    return f"{seconds / 86400:.1f}d" if seconds >= 86400 else f"{seconds / 3600:.1f}h"


def _absent(checked: list[Checked], what: str) -> str:
    """Why no valid piece was found, from the invalid ones."""
    reasons = sorted({c.reason for c in checked if not c.valid})
    return f"no valid {what}" + (f" ({'; '.join(reasons)})" if reasons else "")


class Gates:
    def __init__(self, config: Config, session: Session, source: Environment, target: Environment, *, now: datetime):
        self.config = config
        self.session = session
        self.source = source
        self.target = target
        self.now = now

    def evaluate(self, digest: Digest) -> list[GateResult]:
        checks: dict[str, Callable[[Digest], GateResult]] = {
            "deployed": self.deployed,
            "tests": self.tests,
            "signature": self.signature,
            "scan": self.scan,
        }
        return [checks[name](digest) for name in self.target.gates.require]

    def _env(self, name: str | None) -> Environment:
        return self.config.environment(name or self.source.name)

    def deployed(self, digest: Digest) -> GateResult:
        env = self._env(self.target.gates.deployed_environment)
        entries = Ledger(self.session.open(env.image), env.name).history(DEPLOY_SCAN)
        deploys = [e for e in entries if e.record.kind == "deploy" and e.record.digest == str(digest)]
        healthy = [e for e in deploys if (e.record.deploy or {}).get("result") in ("healthy", "restored")]
        if healthy:
            record = healthy[0].record
            return GateResult(
                "deployed",
                True,
                f"deployed healthy to {env.name} (seq {record.seq})",
                env.name,
                [str(healthy[0].manifest)],
            )
        if deploys:
            return GateResult(
                "deployed",
                False,
                f"deployed to {env.name} but failed health checks (seq {deploys[0].record.seq})",
                env.name,
            )
        return GateResult("deployed", False, f"never deployed to {env.name}", env.name)

    def _attested(self, env: Environment, digest: Digest, keys: list[PublicKey], kind: type) -> list[Checked]:
        store = self.session.open(env.image)
        checked = [check(item, digest, keys, require_signature=bool(keys)) for item in collect(store, digest)]
        return [c for c in checked if c.item.kind == "attestation" and (not c.valid or isinstance(c.evidence, kind))]

    def _newest(self, checked: list[Checked]) -> Checked | None:
        valid = [c for c in checked if c.valid and c.evidence is not None]
        epoch = datetime.min.replace(tzinfo=UTC)
        return max(valid, key=lambda c: c.time or epoch, default=None)

    def _too_old(self, newest: Checked, max_age: float | None) -> str | None:
        if max_age is None or newest.time is None:
            return None
        age = (self.now - newest.time).total_seconds()
        return f"too old ({_age(age)}, the limit is {_age(max_age)})" if age > max_age else None

    def _decisive(
        self, gate: str, env: Environment, digest: Digest, keys: list[PublicKey], kind: type, max_age: float | None
    ) -> Checked | GateResult:
        """The newest valid attestation of ``kind`` that is young enough, or the refusal saying why not."""
        checked = self._attested(env, digest, keys, kind)
        newest = self._newest(checked)
        what = "test evidence" if kind is TestResult else "scan report"
        if newest is None:
            return GateResult(gate, False, _absent(checked, f"{what} in {env.name}"), env.name)
        old = self._too_old(newest, max_age)
        if old is not None:
            return GateResult(gate, False, f"the newest {what} is {old}", env.name, [newest.item.artifact])
        return newest

    def tests(self, digest: Digest) -> GateResult:
        gates = self.target.gates
        env = self._env(gates.tests_environment)
        newest = self._decisive("tests", env, digest, _keys(gates.tests_keys), TestResult, gates.tests_max_age)
        if isinstance(newest, GateResult):
            return newest
        assert isinstance(newest.evidence, TestResult)
        used = [newest.item.artifact]
        if newest.evidence.result == Outcome.FAILED:
            failed = ", ".join(newest.evidence.failed_tests[:5])
            detail = "the newest test run FAILED" + (f": {failed}" if failed else "")
            return GateResult("tests", False, detail, env.name, used)
        return GateResult("tests", True, f"the newest test run {newest.evidence.result} in {env.name}", env.name, used)

    def signature(self, digest: Digest) -> GateResult:
        keys = _keys(self.target.gates.signature_keys)
        store = self.session.open(self.source.image)
        checked = [
            check(item, digest, keys, require_signature=True)
            for item in collect(store, digest)
            if item.kind in ("signature", "bundle")
        ]
        valid = [c for c in checked if c.valid]
        if not valid:
            detail = _absent(checked, "signature") if checked else "not signed"
            return GateResult("signature", False, detail, self.source.name)
        return GateResult(
            "signature", True, f"signed by key {valid[0].signed_by}", self.source.name, [c.item.artifact for c in valid]
        )

    def scan(self, digest: Digest) -> GateResult:
        gates = self.target.gates
        env = self._env(gates.scan_environment)
        newest = self._decisive("scan", env, digest, _keys(gates.scan_keys), VulnScan, gates.scan_max_age)
        if isinstance(newest, GateResult):
            return newest
        assert isinstance(newest.evidence, VulnScan)
        used = [newest.item.artifact]
        limit = Severity.parse(gates.scan_max_severity) if gates.scan_max_severity != "none" else None
        counts = newest.evidence.counts
        over = {
            s: counts[s]
            for s in Severity
            if s is not Severity.UNKNOWN and counts[s] and (limit is None or s.rank > limit.rank)
        }
        if over:
            found = ", ".join(f"{n} {s}" for s, n in over.items())
            return GateResult(
                "scan", False, f"{found} above the limit ({gates.scan_max_severity.upper()})", env.name, used
            )
        return GateResult(
            "scan", True, f"nothing above {gates.scan_max_severity.upper()} ({counts.total} findings)", env.name, used
        )


def gate_check(
    config: Config,
    session: Session,
    source: str,
    target: str,
    *,
    force: bool,
    reason: str | None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Callable[[Manifest], list[dict[str, Any]]]:
    """The callable promote() runs before copying: evaluate, refuse (exit 3) or record an override."""
    gates = Gates(config, session, config.environment(source), config.environment(target), now=now())

    def run(manifest: Manifest) -> list[dict[str, Any]]:
        results = gates.evaluate(manifest.digest)
        refused = [r for r in results if not r.passed]
        if refused and not force:
            listing = "; ".join(f"{r.gate}: {r.detail}" for r in refused)
            raise GateRefused(
                f"promotion of {manifest.digest} to {target} refused by {len(refused)} of {len(results)} gate(s): "
                f"{listing} (override with --force --reason TEXT)",
                details=[r.to_json() for r in results],
            )
        if refused and not reason:
            raise InputError("--force overrides refused gates only with --reason TEXT, which the ledger keeps")
        for result in refused:
            result.overridden = True
        return [r.to_json() for r in results]

    return run
