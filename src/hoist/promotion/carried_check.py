"""After a promotion carries the digest's evidence to TO's repository, check it there: every piece that
verified in FROM's repository must verify in TO's, with the keys and keyless policies TO's gates use (any
keyless signer, under TO's trust root, when no gate names one).

A piece that no longer verifies — the registry dropped it from the referrers, rewrote or corrupted it —
stops the promotion with :class:`~hoist.errors.EvidenceLost` *before* any tag moves or the ledger records
anything: production would otherwise run an image whose provenance and signatures its own registry no
longer holds (an admission policy that checks them would refuse it at the next deploy). The image sits in
TO's repository by digest only; carrying it again with the registry fixed, or without its evidence, is the
way on.
"""

from __future__ import annotations

from hoist.digest import Digest
from hoist.errors import EvidenceLost
from hoist.evidence.carried import EvidenceCheck
from hoist.evidence.reverify import Checker, reverify
from hoist.ops.carry import Found
from hoist.promotion.config import Environment
from hoist.promotion.context import Context
from hoist.promotion.keyless_gates import keyless_checker
from hoist.store.base import Store


def check_carried(
    ctx: Context, *, source: Store, destination: Store, target: Environment, digest: Digest, found: Found
) -> EvidenceCheck:
    """The evidence ``found`` in ``source``, checked there and again in ``destination``; raises
    :class:`EvidenceLost` when a piece that verified at the source does not at the destination."""
    gates = target.gates
    paths = tuple(dict.fromkeys((*gates.signature_keys, *gates.tests_keys, *gates.scan_keys)))
    checker = Checker(keys=ctx.public_keys(paths), keyless=keyless_checker(ctx, target))
    checked = reverify(source, destination, digest, checker=checker, found=found, jobs=ctx.jobs)
    if not checked.ok:
        count = len(checked.lost)
        raise EvidenceLost(
            f"{count} piece(s) of evidence that verified in {source.location} no longer verify in "
            f"{destination.location}, where they were carried: {checked.summary()}; nothing was tagged "
            f"or recorded",
            check=checked,
        )
    return checked
