"""Gates: evidence about the exact digest being promoted, checked before anything is copied.

- ``deployed``: the environment's ledger holds a deploy of this digest that passed its health checks.
- ``tests``: the newest valid test-result attestation on this digest says PASSED (or WARNED), and is not
  older than ``max_age``.
- ``signature``: a cosign signature (legacy ``.sig`` or an OCI 1.1 bundle) by one of the keys.
- ``scan``: the newest valid vulnerability attestation has no finding above ``max_severity``.
- ``provenance``, and ``signature`` with keyless ``identities``: Sigstore bundles, see
  :mod:`hoist.promotion.keyless_gates`.
- ``soak``: the digest has served healthy in an environment for a minimum time, see
  :mod:`hoist.promotion.soak`.

Evidence that is unreadable, for another digest, or whose signature does not verify (when keys are
configured) counts as absent. The newest valid piece decides.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from hoist.digest import Digest
from hoist.manifest import LEDGER_RECORD_TYPE
from hoist.ops.referrers import list_referrers
from hoist.promotion.artifact import ANNOTATION_ENV, ANNOTATION_KIND, ANNOTATION_SEQ
from hoist.promotion.config import Config, Environment
from hoist.promotion.context import Context
from hoist.promotion.ledger import Ledger
from hoist.promotion.record import Entry, GateResult, Kind
from hoist.ref import Reference

if TYPE_CHECKING:  # the evidence code (and cryptography) loads only when a gate looks at evidence
    from hoist.evidence.collect import Checked
    from hoist.evidence.keys import PublicKey

__all__ = ["GateResult", "Gates"]


def _age(seconds: float) -> str:
    return f"{seconds / 86400:.1f}d" if seconds >= 86400 else f"{seconds / 3600:.1f}h"


def _absent(checked: list[Checked], what: str) -> str:
    """Why no valid piece was found, from the invalid ones."""
    reasons = sorted({c.reason for c in checked if not c.valid})
    return f"no valid {what}" + (f" ({'; '.join(reasons)})" if reasons else "")


@dataclass(frozen=True)
class _Decisive:
    checked: Checked


class Gates:
    """The gates TO requires, evaluated on one digest coming from ``source``."""

    def __init__(self, ctx: Context, source: Environment, target: Environment, *, member: str | None = None) -> None:
        self.ctx = ctx
        self.source = source
        self.target = target
        self.member = member
        """For an environment of several images: the image whose digest is evaluated."""

    def _image(self, env: Environment) -> Reference:
        """Where the evaluated image lives in ``env`` (its member of a set, else the environment's image)."""
        if self.member is not None and self.member in env.member_names:
            return env.member(self.member).image
        return env.image

    def _result(
        self, gate: str, passed: bool, detail: str, environment: str, evidence: tuple[str, ...] = ()
    ) -> GateResult:
        return GateResult(
            gate=gate, passed=passed, detail=detail, environment=environment, evidence=evidence, member=self.member
        )

    def evaluate(self, digest: Digest) -> list[GateResult]:
        checks: dict[str, Callable[[Digest], GateResult]] = {
            "deployed": self.deployed,
            "tests": self.tests,
            "signature": self.signature,
            "scan": self.scan,
            "provenance": self.provenance,
            "soak": self.soak,
        }
        return [checks[name](digest) for name in self.target.gates.require]

    def _env(self, name: str | None) -> Environment:
        return self.ctx.environment(name or self.source.name)

    def deployed(self, digest: Digest) -> GateResult:
        env = self._env(self.target.gates.deployed_environment)
        ledger = self.ctx.ledger(env, push=False)
        deploys = ledger.read().deploys_of(digest, self.member)
        if not any(e.record.healthy_deploy for e in deploys):  # older than the head keeps: the referrers
            seen = {e.manifest for e in deploys}
            deploys += [e for e in _deploys_listed(ledger, digest) if e.manifest not in seen]
        healthy = [e for e in deploys if e.record.healthy_deploy]
        if healthy:
            newest = max(healthy, key=lambda e: e.record.seq)
            detail = f"deployed healthy to {env.name} (seq {newest.record.seq})"
            return self._result("deployed", True, detail, env.name, (str(newest.manifest),))
        if deploys:
            newest = max(deploys, key=lambda e: e.record.seq)
            detail = f"deployed to {env.name} but failed health checks (seq {newest.record.seq})"
            return self._result("deployed", False, detail, env.name)
        return self._result("deployed", False, f"never deployed to {env.name}", env.name)

    def _attested(self, env: Environment, digest: Digest, keys: list[PublicKey], kind: type) -> list[Checked]:
        store = self.ctx.open(self._image(env))
        from hoist.evidence.collect import check, collect

        checked = [check(item, digest, keys, require_signature=bool(keys)) for item in collect(store, digest)]
        return [c for c in checked if c.item.kind == "attestation" and (not c.valid or isinstance(c.evidence, kind))]

    def _too_old(self, newest: Checked, max_age: float | None) -> str | None:
        if max_age is None or newest.time is None:
            return None
        age = (self.ctx.now() - newest.time).total_seconds()
        return f"too old ({_age(age)}, the limit is {_age(max_age)})" if age > max_age else None

    def _decisive(
        self, gate: str, env: Environment, digest: Digest, keys: list[PublicKey], kind: type, max_age: float | None
    ) -> _Decisive | GateResult:
        """The newest valid attestation of ``kind`` that is young enough, or the refusal saying why not."""
        checked = self._attested(env, digest, keys, kind)
        valid = [c for c in checked if c.valid and c.evidence is not None]
        epoch = datetime.min.replace(tzinfo=UTC)
        newest = max(valid, key=lambda c: c.time or epoch, default=None)
        what = "test evidence" if gate == "tests" else "scan report"
        if newest is None:
            return self._result(gate, False, _absent(checked, f"{what} in {env.name}"), env.name)
        old = self._too_old(newest, max_age)
        if old is not None:
            return self._result(gate, False, f"the newest {what} is {old}", env.name, (newest.item.artifact,))
        return _Decisive(newest)

    def tests(self, digest: Digest) -> GateResult:
        from hoist.evidence.intoto import Outcome, TestResult  # the evidence code loads when a gate reads evidence

        gates = self.target.gates
        env = self._env(gates.tests_environment)
        keys = self.ctx.public_keys(gates.tests_keys)
        found = self._decisive("tests", env, digest, keys, TestResult, gates.tests_max_age)
        if isinstance(found, GateResult):
            return found
        evidence = found.checked.evidence
        assert isinstance(evidence, TestResult)
        used = (found.checked.item.artifact,)
        if evidence.result == Outcome.FAILED:
            failed = ", ".join(evidence.failed_tests[:5])
            detail = "the newest test run FAILED" + (f": {failed}" if failed else "")
            return self._result("tests", False, detail, env.name, used)
        detail = f"the newest test run {evidence.result} in {env.name}"
        return self._result("tests", True, detail, env.name, used)

    def signature(self, digest: Digest) -> GateResult:
        if self.target.gates.signature_identities:
            from hoist.promotion import keyless_gates

            return keyless_gates.signature(self.ctx, self.source, self.target, digest)
        from hoist.evidence.collect import check, collect

        keys = self.ctx.public_keys(self.target.gates.signature_keys)
        store = self.ctx.open(self._image(self.source))
        checked = [
            check(item, digest, keys, require_signature=True)
            for item in collect(store, digest)
            if item.kind in ("signature", "bundle")
        ]
        valid = [c for c in checked if c.valid]
        env = self.source.name
        if not valid:
            detail = _absent(checked, "signature") if checked else "not signed"
            return self._result("signature", False, detail, env)
        used = tuple(c.item.artifact for c in valid)
        detail = f"signed by key {valid[0].signed_by}"
        return self._result("signature", True, detail, env, used)

    def scan(self, digest: Digest) -> GateResult:
        from hoist.evidence.intoto import VulnScan
        from hoist.evidence.reports import Severity

        gates = self.target.gates
        env = self._env(gates.scan_environment)
        keys = self.ctx.public_keys(gates.scan_keys)
        found = self._decisive("scan", env, digest, keys, VulnScan, gates.scan_max_age)
        if isinstance(found, GateResult):
            return found
        evidence = found.checked.evidence
        assert isinstance(evidence, VulnScan)
        used = (found.checked.item.artifact,)
        limit = Severity.parse(gates.scan_max_severity) if gates.scan_max_severity != "none" else None
        counts = evidence.counts
        over = {
            s: counts[s]
            for s in Severity
            if s is not Severity.UNKNOWN and counts[s] and (limit is None or s.rank > limit.rank)
        }
        if over:
            found_text = ", ".join(f"{n} {s}" for s, n in over.items())
            detail = f"{found_text} above the limit ({gates.scan_max_severity.upper()})"
            return self._result("scan", False, detail, env.name, used)
        detail = f"nothing above {gates.scan_max_severity.upper()} ({counts.total} findings)"
        return self._result("scan", True, detail, env.name, used)

    def provenance(self, digest: Digest) -> GateResult:
        from hoist.promotion import keyless_gates

        return keyless_gates.provenance(self.ctx, self.source, self.target, digest)

    def soak(self, digest: Digest) -> GateResult:
        from hoist.promotion.soak import soak

        gates = self.target.gates
        env = self._env(gates.soak_environment)
        view = self.ctx.ledger(env, push=False).read()
        minimum = gates.soak_min or 0.0
        member = self.member if env.is_set else None
        return soak(view, environment=env.name, digest=digest, minimum=minimum, now=self.ctx.now(), member=member)


def posture(config: Config, env: Environment) -> list[str]:
    """What ``env``'s gates take on trust: evidence anyone who can push may have written."""
    gates, warnings = env.gates, []
    for gate, keys in (("tests", gates.tests_keys), ("scan", gates.scan_keys)):
        if gate in gates.require and not keys:
            warnings.append(f"the {gate} gate accepts unsigned evidence (anyone who can push can write it): set keys")
    if "deployed" in gates.require:
        source = config.environments.get(gates.deployed_environment or env.source or "")
        if source is not None and source.trust is None:
            warnings.append(
                f"the deployed gate reads {source.name}'s ledger, which has no trust: anyone who can push can "
                "write its records"
            )
    return warnings


def _deploys_listed(ledger: Ledger, digest: Digest) -> list[Entry]:
    """Deploy records of ``digest`` in ``ledger`` found through the image's referrers (each one read and
    checked: a listing is only a pointer)."""
    found: list[Entry] = []
    for descriptor in list_referrers(ledger.store, digest, LEDGER_RECORD_TYPE):
        labels = descriptor.annotations
        if labels.get(ANNOTATION_ENV) != ledger.environment or labels.get(ANNOTATION_KIND) != str(Kind.DEPLOY):
            continue
        if not labels.get(ANNOTATION_SEQ, "").isdigit():
            continue
        entry, _window = ledger.entry(descriptor.digest)
        record = entry.record
        if ledger.trust is not None and ledger.trust.problem(record, entry.signature) is not None:
            continue  # a listing any pusher could have written
        if record.environment == ledger.environment and record.kind is Kind.DEPLOY and record.digest == digest:
            found.append(entry)
    return found
