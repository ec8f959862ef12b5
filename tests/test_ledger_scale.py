"""The ledger after many releases, on a real registry: bounded referrers indexes, flat request counts,
other tools' entries left alone, and a full referrers index reported as what it is."""

from __future__ import annotations

import base64
import json
import statistics
from collections.abc import Callable
from pathlib import Path

import pytest

import hoist
from hoist.digest import Digest
from hoist.evidence.attach import BUNDLE_TYPE, attach
from hoist.evidence.keys import PrivateKey
from hoist.manifest import OCI_INDEX, OCI_MANIFEST
from tests.infra.images import make_image
from tests.infra.registry import RunningRegistry
from tests.infra.skopeo import skopeo_digest
from tests.support import Hoist

INDEX_LIMIT = 256 * 1024
HEAD_LIMIT = 64 * 1024


def _index(registry: RunningRegistry, repository: str, digest: str) -> bytes:
    """An image's referrers fallback index, as the registry serves it (not read through hoist)."""
    with registry.client() as client:
        answer = client.get(f"/v2/{repository}/manifests/{digest.replace(':', '-')}", headers={"Accept": OCI_INDEX})
    assert answer.status_code == 200, answer.text
    return answer.content


def _manifest(registry: RunningRegistry, repository: str, reference: str) -> bytes:
    with registry.client() as client:
        answer = client.get(f"/v2/{repository}/manifests/{reference}", headers={"Accept": OCI_MANIFEST})
    assert answer.status_code == 200, answer.text
    return answer.content


def _bundle(key: PrivateKey, digest: str, manifest: bytes) -> bytes:
    """A key-signed cosign 3 style bundle over the image's manifest."""
    signed = {"algorithm": "SHA2_256", "digest": base64.b64encode(bytes.fromhex(digest[7:])).decode()}
    return json.dumps(
        {
            "mediaType": BUNDLE_TYPE,
            "verificationMaterial": {"publicKey": {"hint": "k"}},
            "messageSignature": {"messageDigest": signed, "signature": base64.b64encode(key.sign(manifest)).decode()},
        }
    ).encode()


@pytest.mark.timeout(900)
def test_three_hundred_records_stay_small_and_cost_the_same(
    cli: Hoist, registry: RunningRegistry, unique_repo: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOIST_LEDGER_SETTLE", "0.01")
    monkeypatch.setenv("HOIST_ACTOR", "scale")
    layout = tmp_path / "build"
    images = {n: make_image(layout, tag=n, layers=1, layer_size=1024, seed=f"scale-{n}") for n in "AB"}
    repo = f"{registry.host}/{unique_repo}"
    for name in "AB":
        cli.ok("copy", f"oci:{layout}:{name}", f"{repo}:build-{name}")
    cli.ok("copy", f"oci:{layout}:A", f"{repo}:staging")
    key = PrivateKey.generate()
    (tmp_path / "cosign.pub").write_bytes(key.public_key().pem())
    a = images["A"].digest
    with hoist.Project.from_dict({"environments": {"build": {"image": f"{repo}:build-A"}}}) as signer:
        store = signer.context.open(hoist.parse_reference(f"{repo}:build-A"), push=True)
        manifest = store.get_manifest(Digest.parse(a))
        attach(store, manifest.descriptor, _bundle(key, a, manifest.raw), artifact_type=BUNDLE_TYPE,
               media_type=BUNDLE_TYPE, annotations={"dev.sigstore.bundle.content": "message-signature"})  # fmt: skip
    config = tmp_path / "hoist.toml"
    config.write_text(f"""
[environments.staging]
image = "{repo}:staging"

[environments.production]
image = "{repo}:main"
from = "staging"
tags = ["latest"]

[environments.production.deploy]
target = "command"
run = "true"

[environments.production.health]
tcp = "{registry.host}"
""")
    requests: dict[int, int] = {}
    deploys: dict[int, int] = {}
    with hoist.Project.load(config) as project:

        def cost(action: Callable[[], object]) -> int:
            before = project.stats.requests
            action()
            return project.stats.requests - before

        def reads() -> tuple[int, int, int]:
            """Requests of status, history --limit 20 and an undo rollback, as the ledger stands (the fewest
            of three tries: a write may read the head again when the machine is slow, see below)."""
            return (
                min(cost(lambda: project.status("production")) for _ in range(3)),
                min(cost(lambda: project.history("production", limit=20)) for _ in range(3)),
                min(undo() for _ in range(3)),
            )

        def undo() -> int:
            """A and B promoted, then the requests of rolling back (to A): three records."""
            for name in "AB":
                project.promote("staging", "production", digest=images[name].digest, force=True)
            return cost(lambda: project.rollback("production"))

        seq, early_reads = 0, None
        while seq < 300:
            name = "AB"[seq % 2]
            before = project.stats.requests
            promoted = project.promote("staging", "production", digest=images[name].digest, force=True)
            assert not promoted.follow_ups_failed, promoted.follow_ups_failed
            seq = promoted.seq or 0
            requests[seq] = project.stats.requests - before
            if name == "A" and seq % 3 == 1:
                before = project.stats.requests
                deployed = project.deploy("production")
                assert deployed.healthy
                seq = seq + 1
                deploys[seq] = project.stats.requests - before
            if early_reads is None and seq >= 12:
                early_reads, seq = reads(), seq + 9  # the undos are records too
        late_reads = reads()
        project.promote("staging", "production", digest=images["B"].digest, force=True)
        back = project.rollback("production", to=1)  # A, far past the head's window and the names it holds
        assert back.digest == Digest.parse(a) and back.seq is not None
        seq = back.seq
    assert skopeo_digest(f"docker://{repo}:main", tls_verify=False) == a
    # flat in the ledger's length. A write reads the head again when its view grew older than a third of
    # the settle delay (0.01 s here: a moment's delay on a busy machine), so compare the usual counts
    early = [n for s, n in requests.items() if 10 <= s <= 20]
    late = [n for s, n in requests.items() if s >= 280]
    assert early and late and statistics.mode(late) == statistics.mode(early), (early, late)
    early_deploys = [n for s, n in deploys.items() if s <= 30]
    late_deploys = [n for s, n in deploys.items() if s >= 250]
    assert early_deploys and late_deploys, deploys
    assert statistics.mode(late_deploys) == statistics.mode(early_deploys), (early_deploys, late_deploys)
    assert early_reads is not None and late_reads == early_reads, (early_reads, late_reads)

    for name in "AB":
        index = _index(registry, unique_repo, images[name].digest)
        assert len(index) < INDEX_LIMIT, (name, len(index))
    head = _manifest(registry, unique_repo, "hoist-ledger.production")
    assert len(head) < HEAD_LIMIT, len(head)  # the newest record: copies of 19, digests of 30, a stack of 10
    listed = json.loads(_index(registry, unique_repo, a))["manifests"]
    assert any(e.get("artifactType") == BUNDLE_TYPE for e in listed)  # the other tool's entry stays
    evidence = cli.ok("evidence", f"{repo}@{a}", "--key", str(tmp_path / "cosign.pub"), "--json").json
    assert any(e["kind"] == "bundle" and e["valid"] for e in evidence["evidence"]), evidence
    listing = cli.ok("--config", str(config), "history", "production", "--limit", "120", "--json")
    assert [r["seq"] for r in listing.json] == list(range(seq, seq - 120, -1))  # past the head's window
    audit = cli.ok("--config", str(config), "audit", "verify", "production", "--json").json
    assert audit["ok"] and audit["records"] >= 300, audit


def test_a_full_referrers_index_is_a_follow_up_failure_not_a_failed_promotion(
    cli: Hoist, registry: RunningRegistry, unique_repo: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another tool filled the image's fallback index to the registry's 4 MiB manifest limit: the
    promotion happens (the tags move), the listing cannot, and hoist says exactly that (exit 5)."""
    monkeypatch.setenv("HOIST_LEDGER_SETTLE", "0.01")
    layout = tmp_path / "build"
    image = make_image(layout, tag="C", layers=1, layer_size=1024, seed="scale-full")
    repo = f"{registry.host}/{unique_repo}"
    cli.ok("copy", f"oci:{layout}:C", f"{repo}:staging")
    foreign = {
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": image.digest,  # any manifest in the repository
        "size": 100,
        "artifactType": "application/vnd.example.sbom",
        "annotations": {"example.filler": "x" * (4 * 1024 * 1024 - 600)},
    }
    raw = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [foreign]}).encode()
    with registry.client() as client:
        answer = client.put(
            f"/v2/{unique_repo}/manifests/{image.digest.replace(':', '-')}",
            content=raw,
            headers={"Content-Type": OCI_INDEX},
        )
    assert answer.status_code == 201, answer.text
    config = tmp_path / "hoist.toml"
    config.write_text(
        f'[environments.staging]\nimage = "{repo}:staging"\n\n'
        f'[environments.production]\nimage = "{repo}:main"\nfrom = "staging"\n'
    )
    result = cli("--config", str(config), "promote", "staging", "production", "--json")
    assert result.code == 5, result
    assert "referrers step failed" in result.err and "the next run repairs it" in result.err
    assert result.json["follow_ups_failed"][0]["step"] == "referrers"
    assert skopeo_digest(f"docker://{repo}:main", tls_verify=False) == image.digest  # promoted
    history = cli.ok("--config", str(config), "history", "production", "--json").json
    assert history[0]["seq"] == 1 and history[0]["digest"] == image.digest  # and recorded
    assert json.loads(_index(registry, unique_repo, image.digest))["manifests"] == [foreign]  # left alone
