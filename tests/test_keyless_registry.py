"""Keyless bundles on images in a real registry (distribution 2.8, which has no referrers API: the
``sha256-<hex>`` fallback index lists them): attached as OCI 1.1 referrers the way cosign and
actions/attest-build-provenance attach them, found again by hoist's evidence collection, verified for the
image's digest, and still valid after hoist copies the image with its referrers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hoist.digest import Digest
from hoist.errors import BundleRejected
from hoist.evidence.attach import BUNDLE_TYPE, attach
from hoist.evidence.collect import collect
from hoist.evidence.keyless.policy import ProvenancePolicy
from hoist.evidence.keyless.trust import TrustRoot
from hoist.evidence.keyless.verify import verify_bundle
from hoist.manifest import Descriptor
from hoist.ref import parse_reference
from hoist.store import Session
from hoist.store.base import Store
from tests.infra.registry import RunningRegistry
from tests.infra.sigstore_root import SLSA_PROVENANCE_V1, TestSigstore
from tests.infra.skopeo import layout_ref, skopeo_copy
from tests.support import Hoist, Images

STAGING = ProvenancePolicy(repository="acme/dotca", workflow=".github/workflows/staging.yml", ref="refs/heads/main")
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


@pytest.fixture(scope="module")
def instance() -> TestSigstore:
    return TestSigstore()


@pytest.fixture(scope="module")
def trust(instance: TestSigstore, tmp_path_factory: pytest.TempPathFactory) -> TrustRoot:
    return TrustRoot.from_file(instance.write_trusted_root(tmp_path_factory.mktemp("root") / "trusted_root.json"))


@pytest.fixture
def session() -> Iterator[Session]:
    opened = Session()
    yield opened
    opened.close()


def push(registry: RunningRegistry, images: Images, kind: str, repository: str) -> str:
    """A test image pushed by skopeo into a repository of its own (the shared seeded images stay bare)."""
    ref = f"{registry.host}/{repository}:v1"
    skopeo_copy(layout_ref(images.layout, kind), f"docker://{ref}", dest_tls_verify=False)
    return ref


def image(session: Session, ref: str) -> tuple[Store, Descriptor]:
    store = session.open(parse_reference(ref), push=True)
    found = store.head_manifest(ref.rsplit(":", 1)[1])
    assert found is not None
    return store, found


def attach_bundle(store: Store, subject: Descriptor, bundle: bytes, *, dsse: bool) -> None:
    """As cosign's verify_oci_test / attest-build-provenance lay a bundle out (cosign specs/BUNDLE_SPEC.md)."""
    annotations = {"dev.sigstore.bundle.content": "dsse-envelope" if dsse else "message-signature"}
    if dsse:
        annotations["dev.sigstore.bundle.predicateType"] = SLSA_PROVENANCE_V1
    attach(store, subject, bundle, artifact_type=BUNDLE_TYPE, media_type=BUNDLE_TYPE, annotations=annotations)


def bundles_over_http(registry_url: str, repository: str, digest: Digest) -> list[bytes]:
    """The bundle layers listed in the referrers fallback index, read with plain HTTP (not through hoist)."""
    with httpx.Client(base_url=f"{registry_url}/v2/{repository}", timeout=10) as http:
        index = http.get(f"/manifests/{digest.fallback_tag}", headers={"Accept": OCI_INDEX}).raise_for_status().json()
        found = []
        for entry in index["manifests"]:
            if entry.get("artifactType") != BUNDLE_TYPE:
                continue
            manifest = http.get(f"/manifests/{entry['digest']}", headers={"Accept": entry["mediaType"]}).json()
            found.append(http.get(f"/blobs/{manifest['layers'][0]['digest']}").raise_for_status().content)
        return found


def test_bundles_attached_to_an_image_verify_for_its_digest(
    registry: RunningRegistry,
    images: Images,
    session: Session,
    instance: TestSigstore,
    trust: TrustRoot,
    hoist: Hoist,
    unique_repo: str,
) -> None:
    ref = push(registry, images, "single", f"{unique_repo}/built")
    store, subject = image(session, ref)
    digest = subject.digest
    attach_bundle(store, subject, instance.provenance(digest), dsse=True)
    attach_bundle(store, subject, instance.sign_digest(digest), dsse=False)

    stored = bundles_over_http(registry.url, f"{unique_repo}/built", digest)
    assert len(stored) == 2
    for raw in stored:
        verify_bundle(raw, subject=digest, policy=STAGING.identity(), trust=trust)

    items = [item for item in collect(store, digest) if item.kind == "bundle"]
    assert len(items) == 2
    kinds = set()
    for item in items:
        assert item.bundle is not None
        verified = verify_bundle(item.bundle, subject=digest, policy=STAGING.identity(), trust=trust)
        kinds.add(verified.kind)
    assert kinds == {"dsse", "message-signature"}
    (provenance,) = [i for i in items if i.bundle and "dsseEnvelope" in i.bundle]
    assert provenance.bundle is not None
    verified = verify_bundle(
        provenance.bundle, subject=digest, policy=STAGING.identity(), trust=trust, predicate_type=STAGING.predicate
    )
    assert verified.statement is not None and verified.statement.names(digest)

    # promoted by hoist: the copy keeps the digest and carries the referrers, so the bundles still verify
    destination = f"{registry.host}/{unique_repo}/promoted:v1"
    copied = hoist.ok("copy", ref, destination, "--json").json
    assert copied["digest"] == str(digest)
    again = bundles_over_http(registry.url, f"{unique_repo}/promoted", digest)
    assert sorted(again) == sorted(stored)
    dst_store, _ = image(session, destination)
    for item in collect(dst_store, digest):
        if item.kind == "bundle" and item.bundle is not None:
            verify_bundle(item.bundle, subject=digest, policy=STAGING.identity(), trust=trust)


def test_a_bundle_replayed_onto_another_image_is_refused(
    registry: RunningRegistry,
    images: Images,
    session: Session,
    instance: TestSigstore,
    trust: TrustRoot,
    tmp_path: Path,
    hoist: Hoist,
    unique_repo: str,
) -> None:
    """Image A's provenance and signature attached as referrers of image B: found on B, refused for B."""
    _, a = image(session, push(registry, images, "docker", f"{unique_repo}/a"))
    store_b, b = image(session, push(registry, images, "index", f"{unique_repo}/b"))
    attach_bundle(store_b, b, instance.provenance(a.digest), dsse=True)
    attach_bundle(store_b, b, instance.sign_digest(a.digest), dsse=False)
    replayed = [item for item in collect(store_b, b.digest) if item.kind == "bundle"]
    assert len(replayed) == 2
    for item in replayed:
        assert item.bundle is not None
        with pytest.raises(BundleRejected) as caught:
            verify_bundle(item.bundle, subject=b.digest, policy=STAGING.identity(), trust=trust)
        assert caught.value.reason == "digest"
        # the same bytes do verify for the image they were made for
        verify_bundle(item.bundle, subject=a.digest, policy=STAGING.identity(), trust=trust)

    # and through the command line, on the bytes read back from the registry
    raw = bundles_over_http(registry.url, f"{unique_repo}/b", b.digest)[0]
    (tmp_path / "bundle.json").write_bytes(raw)
    (tmp_path / "root.json").write_text(json.dumps(instance.trusted_root()))
    policy = (
        "--certificate-identity-regexp",
        "^https://github.com/acme/dotca/",
        "--certificate-oidc-issuer-regexp",
        ".",
    )
    common = ("verify-bundle", tmp_path / "bundle.json", "--trusted-root", tmp_path / "root.json", *policy)
    result = hoist(*common, "--digest", str(b.digest))
    assert result.code == 1 and "bundle rejected: digest: " in result.err
    assert hoist(*common, "--digest", str(a.digest)).code == 0
