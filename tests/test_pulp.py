"""hoist against Pulp (``pulp-container``): a second, independent registry implementation, token auth on.

Pulp is started once per session by :func:`tests.infra.fixtures.pulp_registry` (see
:mod:`tests.infra.pulp` for how, and for the record of how it answers, which
``tests/test_pulp_protocol.py`` keeps honest). Credentials reach hoist the way a user's would: a
containers ``auth.json`` named by ``$REGISTRY_AUTH_FILE``. Every effect is checked independently:
skopeo, Pulp's registry and REST APIs (:class:`RunningPulp`'s oracle methods), its nginx access log,
its database and its blob storage on disk.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from tests.infra.images import blob_path, make_image
from tests.infra.proxy import Fault, FaultProxy
from tests.infra.pulp import RunningPulp
from tests.infra.registry import RunningRegistry
from tests.infra.skopeo import skopeo_copy, skopeo_digest, skopeo_inspect_raw
from tests.support import KINDS, Hoist, Images, Seeded


@pytest.fixture
def pulp(hoist: Hoist, pulp_registry: RunningPulp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RunningPulp:
    """The session's Pulp, with its admin's credentials in ``$REGISTRY_AUTH_FILE`` for this test
    (after the ``hoist`` fixture, which clears that variable)."""
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(pulp_registry.auth_file(tmp_path / "auth.json")))
    return pulp_registry


def creds(pulp: RunningPulp) -> tuple[str, str]:
    return (pulp.username, pulp.password)


def pulp_digest(pulp: RunningPulp, ref: str) -> str:
    """What skopeo reads at ``HOST/REPO:TAG`` in Pulp: sha256 of the raw manifest."""
    return skopeo_digest(f"docker://{ref}", creds=creds(pulp), tls_verify=False)


def sha256(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


# -- hoist against Pulp -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_push_from_an_oci_layout(hoist: Hoist, pulp: RunningPulp, images: Images, unique_repo: str, kind: str) -> None:
    expected = images.info(kind)
    destination = f"{pulp.host}/{unique_repo}:v1"
    result = hoist.ok("copy", f"oci:{images.layout}:{kind}", destination, "--tag", "extra", "--json").json
    assert result["digest"] == expected.digest
    assert result["mode"] == "stream"
    assert result["blobs"]["streamed"] + result["blobs"]["skipped"] == len(set(expected.blobs))
    assert pulp.manifest(unique_repo, expected.digest) == expected.manifest_bytes
    for child in expected.children:
        assert pulp.manifest(unique_repo, child.digest) == child.manifest_bytes
    assert pulp.tags(unique_repo) == {"v1", "extra"}
    assert pulp_digest(pulp, destination) == expected.digest
    held = pulp.latest_content(unique_repo)
    assert held["container.tag"] == 2 and held["container.manifest"] == 1 + len(expected.children)
    assert held["container.blob"] == len(set(expected.blobs))


@pytest.mark.parametrize("kind", ["index", "docker"])
def test_copy_from_distribution_streams(
    hoist: Hoist, pulp: RunningPulp, seeded: Seeded, unique_repo: str, kind: str
) -> None:
    expected = seeded.images.info(kind)
    destination = f"{pulp.host}/{unique_repo}:prod"
    result = hoist.ok("copy", seeded.ref(kind), destination, "--json").json
    assert result["digest"] == expected.digest and result["mode"] == "stream"
    assert result["blobs"]["streamed"] == len(set(expected.blobs))
    assert pulp_digest(pulp, destination) == expected.digest
    assert pulp.manifest(unique_repo, "prod") == expected.manifest_bytes


def test_copy_from_pulp_follows_its_redirects(
    hoist: Hoist, pulp: RunningPulp, images: Images, registry2: RunningRegistry, unique_repo: str
) -> None:
    source = f"{pulp.host}/{unique_repo}:v1"
    hoist.ok("copy", f"oci:{images.layout}:docker_index", source)
    destination = f"{registry2.host}/{unique_repo}:from-pulp"
    result = hoist.ok("copy", source, destination, "--json").json
    assert result["mode"] == "stream" and result["blobs"]["streamed"] == len(set(images.docker_index.blobs))
    assert skopeo_digest(f"docker://{destination}", tls_verify=False) == images.docker_index.digest
    blob_gets = [
        line for line in pulp.log_text("access").splitlines() if line.startswith(f"GET /v2/{unique_repo}/blobs/")
    ]
    assert len(blob_gets) == len(set(images.docker_index.blobs)) and all(" 302 " in line for line in blob_gets)
    again = hoist.ok("copy", f"oci:{images.layout}:docker_index", f"{pulp.host}/{unique_repo}:v2", "--json").json
    assert again["mode"] == "present" and again["bytes_moved"] == 0
    assert pulp_digest(pulp, f"{pulp.host}/{unique_repo}:v2") == images.docker_index.digest


@pytest.mark.parametrize("kind", ["single", "docker_index"])
def test_copy_between_pulp_repositories_mounts(
    hoist: Hoist, pulp: RunningPulp, images: Images, unique_repo: str, kind: str
) -> None:
    expected = images.info(kind)
    source = f"{pulp.host}/{unique_repo}-src:v1"
    hoist.ok("copy", f"oci:{images.layout}:{kind}", source)
    destination = f"{pulp.host}/{unique_repo}-dst:prod"
    result = hoist.ok("copy", source, destination, "--json").json
    assert result["digest"] == expected.digest
    assert result["mode"] == "mount"
    assert result["blobs"]["mounted"] == len(set(expected.blobs))
    assert result["bytes_moved"] == 0
    assert pulp_digest(pulp, destination) == expected.digest
    mounts = [line for line in pulp.log_text("access").splitlines() if f"/v2/{unique_repo}-dst/blobs/uploads/?" in line]
    assert len(mounts) == len(set(expected.blobs)) and all(" 201 " in line for line in mounts), mounts


def test_retag_in_pulp(hoist: Hoist, pulp: RunningPulp, images: Images, unique_repo: str) -> None:
    repo = f"{pulp.host}/{unique_repo}"
    hoist.ok("copy", f"oci:{images.layout}:index", f"{repo}:v1")
    tagged = hoist.ok("tag", f"{repo}:v1", "prod", "stable", "--json").json
    assert tagged["digest"] == images.index.digest
    copied = hoist.ok("copy", f"{repo}:v1", f"{repo}:prod2", "--json").json
    # distribution's three requests (GET, PUT, read-back), and Pulp's 401 challenge and one token fetch
    assert copied["mode"] == "retag" and copied["requests"] == 5 and copied["auth_requests"] == 1
    assert pulp.tags(unique_repo) == {"v1", "prod", "stable", "prod2"}
    for tag in ("prod", "prod2", "stable"):
        assert pulp_digest(pulp, f"{repo}:{tag}") == images.index.digest


def test_one_platform_of_a_pulp_index(hoist: Hoist, pulp: RunningPulp, images: Images, unique_repo: str) -> None:
    index = json.loads(images.index.manifest_bytes)
    arm = next(m for m in index["manifests"] if m["platform"]["architecture"] == "arm64")
    source = f"{pulp.host}/{unique_repo}:v1"
    hoist.ok("copy", f"oci:{images.layout}:index", source)
    destination = f"{pulp.host}/{unique_repo}-arm:prod"
    result = hoist.ok("copy", source, destination, "--platform", "linux/arm64", "--json").json
    assert result["digest"] == arm["digest"]
    assert pulp_digest(pulp, destination) == arm["digest"]


def test_chunked_upload_resumes_from_the_range_pulp_reports(
    hoist: Hoist, pulp: RunningPulp, unique_repo: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = tmp_path / "layout"
    image = make_image(layout, tag="v1", layers=1, layer_size=96 * 1024, seed=f"chunks-{unique_repo}")
    chunks = -(-blob_path(layout, image.layers[0]).stat().st_size // (16 * 1024))
    monkeypatch.setenv("HOIST_CHUNK_SIZE", "16k")
    with FaultProxy(pulp.host) as proxy:
        monkeypatch.setenv("REGISTRY_AUTH_FILE", str(pulp.auth_file(tmp_path / "proxied.json", also=(proxy.host,))))
        # Pulp takes the first chunk, then the connection drops before hoist hears the answer.
        fault = proxy.add_fault(Fault("reset", method="PATCH", path_regex=r"/blobs/uploads/", forward=True))
        destination = f"{proxy.host}/{unique_repo}:v1"
        result = hoist("copy", f"oci:{layout}:v1", destination, "--jobs", "1", "--json")
        assert result.code == 0, result
        assert fault.fired == 1
        uploads = [r for r in proxy.requests if "/blobs/uploads/" in r.path]
    methods = [r.method for r in uploads]
    assert methods.count("POST") == len(image.blobs)  # no upload was started again
    assert "GET" in methods  # hoist asked Pulp how much it holds (Range: 0-16383)...
    assert methods.count("PATCH") == chunks  # ...and went on from there: no chunk was sent twice
    assert pulp_digest(pulp, f"{pulp.host}/{unique_repo}:v1") == image.digest
    assert sha256(pulp.artifact_path(image.layers[0]).read_bytes()) == image.layers[0]


def test_verify_deep_finds_a_corrupted_blob(hoist: Hoist, pulp: RunningPulp, unique_repo: str, tmp_path: Path) -> None:
    image = make_image(tmp_path / "layout", tag="v1", layers=2, layer_size=8192, seed=f"corrupt-{unique_repo}")
    ref = f"{pulp.host}/{unique_repo}:v1"
    hoist.ok("copy", f"oci:{tmp_path}/layout:v1", ref)
    verified = hoist.ok("verify", ref, "--deep", "--json").json
    assert verified["ok"] and verified["digest"] == image.digest
    stored = pulp.artifact_path(image.layers[1])
    data = bytearray(stored.read_bytes())
    data[100] ^= 0xFF  # same size: only re-hashing can tell
    stored.write_bytes(bytes(data))
    assert hoist("verify", ref, "--json").code == 0  # present, right size
    deep = hoist("verify", ref, "--deep")
    assert deep.code == 1, deep
    assert f"FAIL blob {image.layers[1]}" in deep.out and "NOT verified" in deep.out, deep


def test_skopeo_reads_what_hoist_wrote(
    hoist: Hoist, pulp: RunningPulp, images: Images, unique_repo: str, tmp_path: Path
) -> None:
    ref = f"{pulp.host}/{unique_repo}:v1"
    hoist.ok("copy", f"oci:{images.layout}:index", ref)
    raw = skopeo_inspect_raw(f"docker://{ref}", creds=creds(pulp), tls_verify=False)
    assert raw == images.index.manifest_bytes
    skopeo_copy(f"docker://{ref}", f"oci:{tmp_path}/back:x", src_creds=creds(pulp), src_tls_verify=False)
    assert skopeo_digest(f"oci:{tmp_path}/back:x") == images.index.digest


def test_hoist_reads_what_skopeo_wrote(
    hoist: Hoist, pulp: RunningPulp, images: Images, unique_repo: str, tmp_path: Path
) -> None:
    ref = f"{pulp.host}/{unique_repo}:v1"
    skopeo_copy(f"oci:{images.layout}:index", f"docker://{ref}", dest_creds=creds(pulp), dest_tls_verify=False)
    inspected = hoist.ok("inspect", ref, "--json").json
    assert inspected["digest"] == images.index.digest
    hoist.ok("copy", ref, f"oci:{tmp_path}/out:x")
    assert skopeo_digest(f"oci:{tmp_path}/out:x") == images.index.digest
    assert hoist.ok("verify", ref, "--deep", "--json").json["ok"]


def test_credentials_errors_are_one_line(
    hoist: Hoist, pulp: RunningPulp, images: Images, unique_repo: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    destination = f"{pulp.host}/{unique_repo}:v1"
    wrong = "Wr0ng-Pa55word-xyz"
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(pulp.auth_file(tmp_path / "wrong.json", password=wrong)))
    result = hoist("copy", f"oci:{images.layout}:single", destination, "--verbose")
    assert result.code == 2, result
    assert wrong not in result.out + result.err and pulp.password not in result.err
    assert result.err.strip().splitlines()[-1].startswith("hoist: error:") and pulp.host in result.err
    with pulp.client() as client:
        assert client.get(f"/v2/{unique_repo}/tags/list").status_code == 404  # nothing was created


def no_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "none.json").write_text('{"auths": {}}')
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(tmp_path / "none.json"))


def test_without_credentials_a_push_is_refused_in_one_line(
    hoist: Hoist, pulp: RunningPulp, images: Images, unique_repo: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_credentials(tmp_path, monkeypatch)
    anonymous = hoist("copy", f"oci:{images.layout}:single", f"{pulp.host}/{unique_repo}:v1")
    assert anonymous.code == 2, anonymous
    assert len(anonymous.err.strip().splitlines()) == 1 and pulp.host in anonymous.err
    assert "Traceback" not in anonymous.err
    with pulp.client() as client:
        assert client.get(f"/v2/{unique_repo}/tags/list").status_code == 404  # nothing was created


def test_without_credentials_the_error_says_to_log_in(
    hoist: Hoist, pulp: RunningPulp, images: Images, unique_repo: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_credentials(tmp_path, monkeypatch)
    anonymous = hoist("copy", f"oci:{images.layout}:single", f"{pulp.host}/{unique_repo}:v1")
    assert anonymous.code == 2, anonymous
    assert f"docker login {pulp.host}" in anonymous.err, anonymous.err


# -- promotion with environments in Pulp --------------------------------------------------------------


def test_promotion_lifecycle_in_pulp(
    hoist: Hoist, pulp: RunningPulp, unique_repo: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567")
    monkeypatch.setenv("HOIST_ACTOR", "tester")
    layout = tmp_path / "build"
    built = {
        name: make_image(layout, tag=name, layers=2, layer_size=8192, seed=f"{unique_repo}-{name}") for name in "ABC"
    }
    staging, production = f"{pulp.host}/{unique_repo}-staging:staging", f"{pulp.host}/{unique_repo}:main"
    config = tmp_path / "hoist.toml"
    config.write_text(
        f'[environments.staging]\nimage = "{staging}"\n\n[environments.production]\nimage = "{production}"\n'
        'from = "staging"\ntags = ["latest", "sha-{git_sha:.7}"]\n'
    )

    def run(*args: str) -> Any:
        result = hoist("--config", str(config), *args, "--json")
        assert result.code == 0, result
        return result.json

    digests = [built[name].digest for name in "ABC"]
    for name in "ABC":
        hoist.ok("copy", f"oci:{layout}:{name}", staging)  # build once, push to staging
        promoted = run("promote", "staging", "production", "--reason", f"release {name}")
        assert promoted["digest"] == built[name].digest
        assert pulp_digest(pulp, production) == built[name].digest
    history = run("history", "production")
    assert [h["seq"] for h in history] == [3, 2, 1] and [h["digest"] for h in history] == digests[::-1]
    assert history[0]["history_tag"] == "main-0003" and history[0]["reason"] == "release C"
    assert {"main", "latest", "sha-0123456", "main-0001", "main-0002", "main-0003"} <= pulp.tags(unique_repo)

    rolled = run("rollback", "production", "--reason", "bad C")
    assert rolled["digest"] == digests[1]
    for tag in ("main", "latest"):
        assert pulp_digest(pulp, f"{pulp.host}/{unique_repo}:{tag}") == digests[1]
    status = run("status", "production")[0]
    assert status["digest"] == digests[1] and status["seq"] == 4 and status["drift"] is False
    assert status["rollback_ready"] and status["rollback_to"] == digests[0]
    audit = run("audit", "verify", "production")
    assert audit["ok"] and audit["records"] == 4

    # Pulp deletes only by digest, and that takes every tag of the digest: A keeps another tag.
    skopeo_copy(
        f"docker://{pulp.host}/{unique_repo}@{digests[0]}",
        f"docker://{pulp.host}/{unique_repo}:kept-by-hand",
        src_creds=creds(pulp),
        dest_creds=creds(pulp),
    )
    pruned = run("prune", "production", "--keep", "1")
    assert pruned["removed"] == ["main-0001"]  # the newest (main-0003) and the current (main-0002) stay
    pulp.wait_for_tasks()  # Pulp's deletes finish in its worker, after the 202
    tags = pulp.tags(unique_repo)
    assert "main-0001" not in tags and {"main-0002", "main-0003", "main", "latest", "sha-0123456"} <= tags
    assert pulp_digest(pulp, f"{pulp.host}/{unique_repo}:kept-by-hand") == digests[0]
    assert pulp_digest(pulp, production) == digests[1]  # deleting a history tag moved nothing else
    # Pulp's delete also removes the blobs of what it deletes that nothing else in the repository uses:
    # the untagging manifest shares the empty blob with the ledger's records, which must stay whole.
    assert run("audit", "verify", "production")["records"] == 5
    with pulp.client() as client:
        assert client.head(f"/v2/{unique_repo}/blobs/{sha256(b'{}')}").status_code == 302
    assert hoist("verify", production, "--deep").code == 0

    skopeo_copy(f"oci:{layout}:C", f"docker://{production}", dest_creds=creds(pulp), dest_tls_verify=False)
    assert run("status", "production")[0]["drift"] is True  # pushed by hand, behind hoist's back

    # Edit the record of seq 3 where Pulp keeps it: manifests are served from the database, not from files.
    record = run("history", "production")[2]
    assert record["seq"] == 3
    edited = pulp.postgres.sql(
        "UPDATE container_manifest SET data = replace(data, 'tester', 'mallor') "
        f"WHERE digest = '{record['record']}' RETURNING digest",
        database="pulp",
    )
    assert edited.strip().startswith(record["record"])
    tampered = hoist("--config", str(config), "audit", "verify", "production", "--json")
    assert tampered.code == 1, tampered
    assert any(f["severity"] == "error" for f in tampered.json["findings"])
