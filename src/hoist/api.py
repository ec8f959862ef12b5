"""The image operations of the public API: copy, tag, inspect and verify.

Each call opens what it needs, does one job and closes it again; references may be given as text
(``ghcr.io/acme/app:staging``, ``oci:build:v1``) or as parsed :data:`hoist.Reference` values.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hoist.digest import Digest
from hoist.errors import InputError
from hoist.manifest import Platform
from hoist.options import Options
from hoist.ref import LayoutRef, Reference, parse_reference
from hoist.store.session import Session

if TYPE_CHECKING:
    from hoist.evidence.carried import EvidenceCheck
    from hoist.evidence.keyless.trust import TrustRoot
    from hoist.evidence.keys import PublicKey
    from hoist.ops.carry import Found
    from hoist.ops.copy import CopyResult
    from hoist.ops.inspect import Inspection
    from hoist.ops.verify import Verification
    from hoist.store.base import Store

_DEFAULT = Options()


@dataclass(kw_only=True)
class TagResult:
    reference: Reference
    digest: Digest
    tags: tuple[str, ...]
    requests: int = 0
    auth_requests: int = 0
    seconds: float = 0.0


def _ref(value: str | Reference) -> Reference:
    return parse_reference(value) if isinstance(value, str) else value


@contextmanager
def _session(options: Options) -> Iterator[Session]:
    session = Session(options.registry_options())
    try:
        yield session
    finally:
        session.close()


def _platform(value: str | Platform | None) -> Platform | None:
    if value is None or isinstance(value, Platform) or value == "all":
        return value if isinstance(value, Platform) else None
    try:
        return Platform.parse(value)
    except ValueError as exc:
        raise InputError(f"{exc}, or 'all'") from exc


def copy(
    source: str | Reference,
    destination: str | Reference,
    *,
    tags: Sequence[str] = (),
    platform: str | Platform | None = None,
    referrers: bool = True,
    dry_run: bool = False,
    keys: Sequence[str | Path] = (),
    trusted_root: str | Path | None = None,
    options: Options = _DEFAULT,
) -> CopyResult:
    """Copy ``source``'s digest to ``destination``: a retag, a cross-repository mount, or a parallel stream.

    The digest never changes. Blobs go first, then child manifests, the top manifest and its tags, which
    are read back; if anything fails no destination tag has moved. ``tags`` adds tags at the destination;
    ``platform`` (``"linux/arm64"``) copies that one image of a multi-arch index instead of the index;
    ``referrers`` carries the digest's signatures, attestations and SBOMs along, and checks them at the
    source and again at the destination: ``result.evidence_check`` lists each piece, and
    ``result.evidence_check.lost`` those that no longer verify where they were carried. Signatures are
    verified with ``keys`` (public key files), keyless bundles under ``trusted_root`` (a Sigstore
    ``trusted_root.json``; by default the public-good root the ``sigstore`` package ships, offline).
    """
    from hoist.ops.copy import CopyOptions, copy_image, destination_tags
    from hoist.ops.resolve import resolve

    source_ref, destination_ref = _ref(source), _ref(destination)
    if isinstance(destination_ref, LayoutRef) and destination_ref.tag is None and destination_ref.digest is None:
        destination_ref = destination_ref.with_tag("latest")
    chosen = _platform(platform)
    destination_tags(destination_ref, tags)  # bad tags are input errors, found before any request
    public, root = _evidence_inputs(keys, trusted_root)  # bad keys and roots too
    copy_options = CopyOptions(tags=tuple(tags), platform=chosen, dry_run=dry_run, jobs=options.jobs)
    with _session(options) as session:
        src = session.open(source_ref)
        dst = session.open(destination_ref, push=not dry_run)
        carry = referrers and not dry_run and not src.location.same_repository(dst.location)
        if carry:  # a retag carries nothing: the evidence is in the repository already
            from hoist.ops.carry import carry_evidence, find_evidence
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="hoist-evidence") as background:
            manifest = resolve(src, source_ref)
            # With the digest known, the evidence lookups go out while the image copies.
            same_digest = chosen is None or not manifest.is_index  # else a child's digest is copied
            lookup = background.submit(find_evidence, src, manifest.digest) if carry and same_digest else None
            result = copy_image(
                source=src,
                destination=dst,
                source_ref=source_ref,
                destination_ref=destination_ref,
                options=copy_options,
                observer=options.observer,
                manifest=manifest,
            )
            if carry:
                found = lookup.result() if lookup is not None else find_evidence(src, result.digest)
                result.evidence = carry_evidence(src, dst, result.digest, jobs=options.jobs, found=found)
                result.evidence_check = _reverify(src, dst, result.digest, found, public, root, options.jobs)
        result.requests, result.auth_requests = session.stats.snapshot()
    return result


def _evidence_inputs(
    keys: Sequence[str | Path], trusted_root: str | Path | None
) -> tuple[list[PublicKey], Path | None]:
    """The keys and trusted root carried evidence is checked with, checked before anything is copied."""
    public = []
    if keys:
        from hoist.evidence.keys import load_public_key

        public = [load_public_key(Path(k)) for k in keys]
    root = Path(trusted_root) if trusted_root is not None else None
    if root is not None and not root.is_file():
        raise InputError(f"trusted root {root} does not exist: give the path of a Sigstore trusted_root.json")
    return public, root


def _reverify(
    source: Store, destination: Store, digest: Digest, found: Found, keys: list[PublicKey], root: Path | None, jobs: int
) -> EvidenceCheck:
    """The carried evidence checked at the source and again at the destination: signatures with ``keys``,
    keyless bundles under ``root`` (read only when a keyless bundle is there to check). Nothing found,
    nothing to check: the key code is not even loaded."""
    from hoist.evidence.carried import EvidenceCheck

    if found.empty:
        return EvidenceCheck(digest=digest, destination=str(destination.location))
    from hoist.evidence.keyless.check import KeylessChecker
    from hoist.evidence.reverify import Checker, reverify

    def trust() -> TrustRoot:
        from hoist.evidence.keyless.trust import TrustRoot

        return TrustRoot.from_file(root) if root is not None else TrustRoot.bundled()

    checker = Checker(keys=keys, keyless=KeylessChecker(trust=trust))
    return reverify(source, destination, digest, checker=checker, found=found, jobs=jobs)


def tag(reference: str | Reference, *tags: str, options: Options = _DEFAULT) -> TagResult:
    """Point more tags at ``reference``'s digest in the same repository: a GET, a PUT per tag, a read-back."""
    from hoist.ops.copy import CopyOptions, copy_image

    if not tags:
        raise InputError("give at least one tag")
    ref = _ref(reference)
    started = time.monotonic()
    with _session(options) as session:
        store = session.open(ref, push=True)
        result = copy_image(
            source=store,
            destination=store,
            source_ref=ref,
            destination_ref=ref.with_tag(None),
            options=CopyOptions(tags=tags, jobs=options.jobs),
        )
        requests, auth = session.stats.snapshot()
    return TagResult(
        reference=ref,
        digest=result.digest,
        tags=result.tags,
        requests=requests,
        auth_requests=auth,
        seconds=time.monotonic() - started,
    )


def inspect(reference: str | Reference, *, options: Options = _DEFAULT) -> Inspection:
    """Digest, media type, platforms, layers and total size of ``reference``."""
    from hoist.ops.inspect import inspect_image

    ref = _ref(reference)
    with _session(options) as session:
        return inspect_image(session.open(ref), ref, jobs=options.jobs)


def verify(
    reference: str | Reference,
    *,
    deep: bool = False,
    against: str | Reference | None = None,
    options: Options = _DEFAULT,
) -> Verification:
    """Every manifest matches its digest and every blob is present with its size; ``deep`` downloads and
    re-hashes every blob; ``against`` also requires another reference to have the same digest."""
    from hoist.ops.verify import verify_image

    ref = _ref(reference)
    with _session(options) as session:
        other = None
        if against is not None:
            against_ref = _ref(against)
            other = (session.open(against_ref), against_ref)
        return verify_image(session.open(ref), ref, against=other, deep=deep, jobs=options.jobs)
