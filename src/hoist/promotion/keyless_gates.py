"""The gates on keyless evidence: Sigstore bundles found on the exact digest in FROM's repository (its
referrers, or the ``sha256-<hex>`` fallback tag on registries without the referrers API).

- ``signature`` with ``identities``: a keyless signature — a message signature over the digest, or cosign
  3's DSSE statement ``https://sigstore.dev/cosign/sign/v1`` naming it — by a signer one of the identities
  allows; key-based signatures by one of ``keys`` count beside them.
- ``provenance``: an attestation whose predicate is the policy's (SLSA provenance v1 by default), whose
  statement names this digest, signed by a certificate that says this repository's workflow built it on
  the ref asked for.

Every bundle is verified offline under the environment's trust root, loaded once for the promotion
(:meth:`~hoist.promotion.context.Context.trust_root`). A bundle that is unreadable or does not verify
counts as absent, and the refusal names each check it failed (identity, issuer, repository, workflow,
branch, digest, predicate, signature, transparency log, …).
"""

from __future__ import annotations

from pathlib import Path

from hoist.digest import Digest
from hoist.evidence.attach import BUNDLE_TYPE
from hoist.evidence.collect import Checked, Item, check, collect
from hoist.evidence.keyless.bundle import claimed_predicate, is_keyless
from hoist.evidence.keyless.check import KeylessChecker, role
from hoist.promotion.config import Environment
from hoist.promotion.context import Context
from hoist.promotion.record import GateResult


def trusted_root_path(ctx: Context, env: Environment) -> Path | None:
    """The trusted root ``env`` names, else ``[settings]``'s, else ``None`` (the bundled public-good one)."""
    return env.gates.trusted_root or ctx.config.trusted_root


def keyless_checker(ctx: Context, target: Environment) -> KeylessChecker:
    """The target environment's keyless policies under its trust root (read when first needed)."""
    path = trusted_root_path(ctx, target)
    gates = target.gates
    return KeylessChecker(
        trust=lambda: ctx.trust_root(path), identities=gates.signature_identities, provenance=gates.provenance
    )


def _keyless(item: Item) -> bool:
    return item.kind == "bundle" and item.bundle is not None and is_keyless(item.bundle)


def _unreadable_bundles(items: list[Item]) -> list[Checked]:
    return [Checked(i, False, i.problem) for i in items if i.problem is not None and i.artifact_type == BUNDLE_TYPE]


def signature(ctx: Context, source: Environment, target: Environment, digest: Digest) -> GateResult:
    """Keyless signatures by an allowed identity, or key-based ones by a configured key."""
    keys = ctx.public_keys(target.gates.signature_keys)
    items = collect(ctx.open(source.image), digest, jobs=ctx.jobs)
    checker = keyless_checker(ctx, target)
    checked = _unreadable_bundles(items)
    for item in items:
        if _keyless(item):
            assert item.bundle is not None
            if role(item.bundle) == "signature":
                checked.append(checker.signature(item, digest))
        elif item.kind in ("signature", "bundle"):
            checked.append(check(item, digest, keys, require_signature=True))
    valid = [c for c in checked if c.valid]
    if not valid:
        reasons = sorted({c.reason for c in checked})
        detail = f"no valid signature ({'; '.join(reasons)})" if reasons else "not signed"
        return GateResult(gate="signature", passed=False, detail=detail, environment=source.name)
    first = valid[0]
    detail = f"signed by {first.signed_by}" if _keyless(first.item) else f"signed by key {first.signed_by}"
    used = tuple(c.item.artifact for c in valid)
    return GateResult(gate="signature", passed=True, detail=detail, environment=source.name, evidence=used)


def provenance(ctx: Context, source: Environment, target: Environment, digest: Digest) -> GateResult:
    """A provenance attestation for this digest that the policy's repository, workflow and ref made."""
    policy = target.gates.provenance
    assert policy is not None  # the configuration requires the table with the gate
    items = collect(ctx.open(source.image), digest, jobs=ctx.jobs)
    checker = keyless_checker(ctx, target)
    checked = _unreadable_bundles(items)
    others: set[str] = set()
    for item in items:
        if not _keyless(item):
            continue
        assert item.bundle is not None
        if role(item.bundle) != "attestation":
            continue
        claimed = claimed_predicate(item.bundle)
        if claimed == policy.predicate:
            checked.append(checker.attestation(item, digest))
        else:
            others.add(claimed or "no in-toto statement")
    valid = [c for c in checked if c.valid]
    where = source.name
    if valid:
        used = tuple(c.item.artifact for c in valid)
        return GateResult(gate="provenance", passed=True, detail=valid[0].reason, environment=where, evidence=used)
    reasons = sorted({c.reason for c in checked})
    reasons += [f"predicate: {other}, not {policy.predicate}" for other in sorted(others)]
    if reasons:
        detail = f"no valid provenance in {where} ({'; '.join(reasons)})"
    else:
        detail = f"no provenance attestation ({policy.predicate}) on this digest in {where}"
    return GateResult(gate="provenance", passed=False, detail=detail, environment=where)
