"""Keyless trust: Sigstore bundles (Fulcio certificate, transparency-log entry, optional RFC 3161 timestamps)
verified offline against a trusted root, for the exact digest and the signer a policy names.

- :mod:`hoist.evidence.keyless.policy` — :class:`IdentityPolicy` and :class:`ProvenancePolicy`, and their
  hoist.toml form (:func:`parse_identity_policy`, :func:`parse_provenance_policy`).
- :mod:`hoist.evidence.keyless.trust` — :class:`TrustRoot`: a trusted_root.json file, the root shipped
  with the ``sigstore`` package, or (when asked) a refresh over TUF.
- :mod:`hoist.evidence.keyless.verify` — :func:`verify_bundle` → :class:`Verified`, or
  :class:`~hoist.errors.BundleRejected` naming the check that refused.

Example (a gate checking the provenance attached to the image it promotes)::

    from hoist.evidence.keyless.policy import parse_provenance_policy
    from hoist.evidence.keyless.trust import TrustRoot
    from hoist.evidence.keyless.verify import verify_bundle

    wanted = parse_provenance_policy(table, where="hoist.toml [gates.production] provenance")
    verified = verify_bundle(
        bundle_bytes, subject=digest, policy=wanted.identity(), trust=TrustRoot.bundled(),
        predicate_type=wanted.predicate,
    )

``sigstore`` is imported only when a bundle is verified or a root loaded: importing these modules is cheap.
"""
