"""Evidence bound to an image digest: keys, signatures, attestations and the reports behind them.

The pure primitives here read and write the formats cosign and in-toto use, without any registry or
network code, so they can be tested byte for byte against vectors produced by the real tools:

- :mod:`hoist.evidence.keys` — ECDSA P-256 public and private keys, cosign's encrypted private key format
  (scrypt + NaCl secretbox around PKCS#8), password resolution and key-pair generation.
- :mod:`hoist.evidence.simplesign` — cosign's legacy "simple signing" payload and its signature.
- :mod:`hoist.evidence.dsse` — DSSE envelopes: pre-authentication encoding, signing, verifying.
- :mod:`hoist.evidence.intoto` — in-toto Statements with the test-result and vulnerability-scan predicates.
- :mod:`hoist.evidence.reports` — Trivy JSON and SARIF 2.1.0 scanner reports as severity counts and findings.
- :mod:`hoist.evidence.junit` — JUnit XML as passed, failed and skipped test names.

Signatures are verified before the signed bytes are parsed. Malformed input raises
:class:`~hoist.errors.InputError` (keys and passwords :class:`~hoist.errors.ConfigError`); a signature that
does not verify is a ``False``/``None`` answer unless the caller asks to enforce it, which raises
:class:`~hoist.errors.IntegrityError`.
"""
