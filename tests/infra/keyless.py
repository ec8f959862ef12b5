"""A staging → production project whose images carry keyless evidence from the test Sigstore instance.

Bundles are attached as OCI 1.1 referrers the way ``actions/attest-build-provenance`` (``push-to-registry:
true``) and cosign 3 attach them: an artifact manifest whose ``artifactType`` and one layer are the bundle
media type, ``subject`` the image, and the ``dev.sigstore.bundle.*`` annotations (cosign
specs/BUNDLE_SPEC.md); on distribution 2.8, which has no referrers API, listed in the ``sha256-<hex>``
fallback index.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path

from hoist.digest import Digest
from hoist.evidence.attach import BUNDLE_TYPE, attach
from hoist.manifest import Descriptor
from hoist.ref import parse_reference
from hoist.store import Session
from tests.infra.images import ImageInfo, make_image
from tests.infra.sigstore_root import TestSigstore
from tests.support import Hoist, HoistResult

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
STAGING_SAN = "https://github.com/acme/dotca/.github/workflows/staging.yml@refs/heads/main"

# The configuration of the gates exactly as the README shows it (TOML 1.1: inline tables over lines).
README_GATES = """
signature  = { identities = [{ issuer = "https://token.actions.githubusercontent.com",
               subject_regexp = "^https://github.com/acme/dotca/.github/workflows/staging.yml@refs/heads/main$" }] }
provenance = { repository = "acme/dotca", workflow = ".github/workflows/staging.yml", ref = "refs/heads/main",
               predicate = "https://slsa.dev/provenance/v1" }
"""


def attach_bundle(ref: str, digest: Digest | str, bundle: bytes) -> Descriptor:
    """Attach ``bundle`` to the image ``ref``'s repository holds at ``digest``."""
    wanted = digest if isinstance(digest, Digest) else Digest.parse(digest)
    try:
        doc = json.loads(bundle)
    except ValueError:  # not JSON: attached as it is (a test of unreadable evidence)
        doc = {}
    dsse = isinstance(doc, dict) and "dsseEnvelope" in doc
    annotations = {"dev.sigstore.bundle.content": "dsse-envelope" if dsse else "message-signature"}
    if dsse:
        statement = json.loads(base64.b64decode(doc["dsseEnvelope"]["payload"]))
        annotations["dev.sigstore.bundle.predicateType"] = statement["predicateType"]
    session = Session()
    try:
        store = session.open(parse_reference(ref), push=True)
        subject = store.head_manifest(wanted)
        assert subject is not None, f"{wanted} is not in {ref}"
        return attach(
            store, subject, bundle, artifact_type=BUNDLE_TYPE, media_type=BUNDLE_TYPE, annotations=annotations
        )
    finally:
        session.close()


@dataclass
class KeylessProject:
    """hoist.toml for staging → production, a layout of test images and the test Sigstore's trusted root."""

    tmp: Path
    staging: str
    production: str
    instance: TestSigstore
    images: dict[str, ImageInfo] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.layout = self.tmp / "build"
        self.root = self.instance.write_trusted_root(self.tmp / "trusted_root.json")
        self.config = self.tmp / "hoist.toml"
        for name in "ABC":
            self.images[name] = make_image(self.layout, tag=name, layers=1, layer_size=2048, seed=f"keyless-{name}")

    def write(self, require: str, gates: str = README_GATES, *, extra: str = "") -> None:
        self.config.write_text(f"""
[settings]
trusted_root = "{self.root}"

[environments.staging]
image = "{self.staging}"

[environments.production]
image = "{self.production}"
from = "staging"
require = [{require}]
{extra}
[environments.production.gates]
{gates}
""")

    def stage(self, hoist: Hoist, name: str) -> Digest:
        """Image ``name`` pushed to staging's tag."""
        hoist.ok("copy", f"oci:{self.layout}:{name}", self.staging)
        return Digest.parse(self.images[name].digest)

    def attach(self, digest: Digest, bundle: bytes) -> Descriptor:
        return attach_bundle(self.staging, digest, bundle)

    def run(self, hoist: Hoist, *args: str) -> HoistResult:
        return hoist("--config", str(self.config), *args)


def refused(result: HoistResult, *words: str) -> str:
    """Exit 3, and the one-line refusal names each of ``words``."""
    assert result.code == 3, result
    line = result.err.strip().splitlines()[-1]
    for word in words:
        assert word in line, (word, line)
    return line
