"""Hosted registries' documented behaviours, one row each, through ``hoist copy``, ``promote`` and ``prune``.

No hosted registry runs here: each row puts :class:`tests.infra.emulate.Emulator` (answering as GHCR,
ECR, Harbor or Docker Hub are documented to answer, with their error bodies) in front of a real
distribution 2.8 registry, and names its source. Outcomes are checked independently: skopeo reads the
destination, the upstream registry is asked directly, and the emulator's log shows it really answered
as the hosted registry would.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.infra import emulations as doc
from tests.infra.emulate import Emulator
from tests.infra.emulations import Behaviour, MiB
from tests.infra.hosted import Big, Case, big, case, one_line_failure, upstream_tags
from tests.infra.images import make_image, make_index
from tests.infra.skopeo import layout_ref, skopeo_copy

__all__ = ["big", "case"]  # fixtures


# -- uploads ------------------------------------------------------------------------------------------


def ghcr_cap_learned(case: Case) -> None:
    """GHCR's 4 MiB chunk cap on a host hoist does not know as GHCR: the 416 "exceeds the maximum
    permissible limit of 4.00MiB" (ocx-sh/ocx#237, oras-project/rust-oci-client#37, wasmCloud/wash#268)
    shrinks the chunks and the copy goes on; a 90 MB layer and a 4 x 50 MB image arrive intact."""
    big: Big = case.request.getfixturevalue("big")
    emu = case.emulate(doc.GHCR_CAP)
    for name, info in (("one", big.one), ("four", big.four)):
        destination = f"{emu.host}/{case.repo}-{name}:v1"
        result = case.hoist.ok("copy", big.ref(name), destination, "--json").json
        assert result["digest"] == info.digest
        assert case.digest(f"{case.upstream.host}/{case.repo}-{name}:v1") == info.digest
        assert case.hoist.ok("verify", destination, "--json").json["ok"]
    refused = emu.emulated(416)
    assert refused, "the 90 MB layer was sent in chunks over the cap, and refused"
    ranged = [s for s in emu.requests if s.method == "PATCH" and "content-range" in s.headers and s.status != 416]
    assert ranged and all(int(s.headers["content-length"]) <= 4 * MiB for s in ranged)


def ghcr_streams(case: Case) -> None:
    """GHCR recognised by its token challenge (service "ghcr.io"): a layer over one request's worth goes
    in one streamed PATCH without Content-Range, as docker and skopeo send it, and is never refused."""
    big: Big = case.request.getfixturevalue("big")
    emu = case.emulate(doc.GHCR)
    destination = f"{emu.host}/{case.repo}:v1"
    assert case.hoist.ok("copy", big.ref("one"), destination, "--json").json["digest"] == big.one.digest
    assert case.digest(f"{case.upstream.host}/{case.repo}:v1") == big.one.digest
    patches = [s for s in emu.requests if s.method == "PATCH"]
    assert len(patches) == 1 and "content-range" not in patches[0].headers
    assert patches[0].headers.get("transfer-encoding") == "chunked"
    assert not emu.emulated(416)


def ecr_cross_repository(case: Case) -> None:
    """ECR: mounts declined with 202 and an upload session (aws/containers-roadmap#2860), PATCHes
    answered 201 and the body of every PATCH after the first dropped with a stale Range
    (aws/containers-roadmap#2831), parts under 5 MiB but the last refused (dotnet/sdk-container-builds#424):
    a multi-arch copy between repositories completes, each blob sent whole once its Range stopped
    advancing."""
    layout = case.tmp_path / "ecr"
    index = make_index(layout, tag="x", platforms=[("linux", "amd64"), ("linux", "arm64")], layers_per_image=2,
                       layer_size=6 * MiB, seed="ecr", compress=False)  # fmt: skip
    emu = case.emulate(doc.ECR)
    skopeo_copy(layout_ref(layout, "x"), f"docker://{case.upstream.host}/{case.repo}/src:v1", dest_tls_verify=False)
    case.monkeypatch.setenv("HOIST_CHUNK_SIZE", "5m")
    result = case.hoist.ok("copy", f"{emu.host}/{case.repo}/src:v1", f"{emu.host}/{case.repo}/dst:v1", "--json").json
    assert result["digest"] == index.digest and result["mode"] == "mount"
    assert case.digest(f"{case.upstream.host}/{case.repo}/dst:v1") == index.digest
    assert case.hoist.ok("verify", f"{emu.host}/{case.repo}/dst:v1", "--deep", "--json").json["ok"]
    log = emu.requests
    mounts = [s for s in log if s.method == "POST" and "mount=" in s.target]
    assert mounts and all(s.status == 202 for s in mounts), "every mount was declined"
    assert [s for s in log if s.method == "PATCH" and s.status == 201 and not s.note], "first PATCHes: 201"
    assert emu.noted("dropped"), "later PATCH bodies were dropped"
    whole = [
        s for s in log if s.method == "PUT" and "/blobs/uploads/" in s.target and s.headers["content-length"] != "0"
    ]
    assert len(whole) >= len(emu.noted("dropped")), "each blob went again in one PUT"
    assert not emu.emulated(400), "no part under 5 MiB was sent before the last"


def chunk_min_length(case: Case) -> None:
    """``OCI-Chunk-Min-Length`` (opencontainers/distribution-spec#481): chunks are at least that long
    even when hoist's own chunk size is smaller."""
    layout = case.tmp_path / "min"
    info = make_image(layout, tag="x", layers=1, layer_size=3 * MiB, seed="min", compress=False)
    skopeo_copy(
        layout_ref(layout, "x"), f"docker://{case.seeded.registry.host}/{case.repo}/min:v1", dest_tls_verify=False
    )
    emu = case.emulate(Behaviour("min-length", chunk_min=MiB, announce_min=True))
    case.monkeypatch.setenv("HOIST_CHUNK_SIZE", "256k")
    result = case.hoist.ok(
        "copy", f"{case.seeded.registry.host}/{case.repo}/min:v1", f"{emu.host}/{case.repo}:v1", "--json"
    )
    assert result.json["digest"] == info.digest
    patches = [s for s in emu.requests if s.method == "PATCH"]
    assert len(patches) >= 2 and all(int(s.headers["content-length"]) >= MiB for s in patches[:-1])
    assert not emu.emulated(400)


def throttled_uploads(case: Case) -> None:
    """429 with Retry-After on every third upload request (Docker Hub, GHCR, ECR throttle; PROTOCOL.md):
    the requests that are safe to repeat are repeated, an upload starts its session again, after the
    wait the registry asked for."""
    emu = case.emulate(doc.THROTTLED)
    destination = f"{emu.host}/{case.repo}:v1"
    result = case.hoist.ok("copy", case.seeded.ref("index"), destination, "--json", "--jobs", "2").json
    assert result["digest"] == case.seeded.images.index.digest
    assert case.digest(f"{case.upstream.host}/{case.repo}:v1") == case.seeded.images.index.digest
    throttled = emu.emulated(429)
    assert len(throttled) >= 5 and {s.method for s in throttled} >= {"POST", "PUT"}


# -- tags ---------------------------------------------------------------------------------------------


def _immutable(case: Case, behaviour: Behaviour, word: str) -> Emulator:
    emu = case.emulate(behaviour)
    destination = f"{emu.host}/{case.repo}:v1"
    single, docker = case.seeded.images.single.digest, case.seeded.images.docker.digest
    case.hoist.ok("copy", case.seeded.ref("single"), destination)
    again = case.hoist.ok("copy", case.seeded.ref("single"), destination, "--json").json
    assert again["digest"] == single
    line = one_line_failure(case.hoist("copy", case.seeded.ref("docker"), destination))
    assert "immutable" in line and word in line and docker in line, line
    assert case.digest(f"{case.upstream.host}/{case.repo}:v1") == single  # the tag did not move
    return emu


def ecr_immutable(case: Case) -> None:
    """ECR immutable repositories refuse any PUT of an existing tag, even with the same digest
    (400 TAG_INVALID, aws/containers-roadmap#2380, moby/buildkit#3776): the same image twice is a
    no-op success, another digest fails in one line naming the immutability."""
    emu = _immutable(case, doc.ECR_IMMUTABLE, "TAG_INVALID")
    assert emu.emulated(400)


def harbor_immutable(case: Case) -> None:
    """Harbor tag immutability rules: 412 PRECONDITION "configured as immutable" (goharbor/harbor#9427)."""
    emu = _immutable(case, doc.HARBOR_IMMUTABLE, "412")
    assert emu.emulated(412)


def hub_reads_tags_first(case: Case) -> None:
    """Docker Hub (recognised by its challenge's service "registry.docker.io") may have immutable tags
    (docs.docker.com/docker-hub/repos/manage/hub-images/immutable-tags/, 403 per docker/hub-feedback#2466):
    hoist reads a tag before writing it, so the same image twice never meets the refusal."""
    emu = case.emulate(doc.HUB)
    destination = f"{emu.host}/{case.repo}:v1"
    case.hoist.ok("copy", case.seeded.ref("single"), destination)
    again = case.hoist.ok("copy", case.seeded.ref("single"), destination, "--json").json
    assert again["digest"] == case.seeded.images.single.digest
    assert not emu.emulated(403), "the existing tag was never written again"
    tag_puts = [s for s in emu.requests if s.method == "PUT" and s.target.endswith("/manifests/v1")]
    assert len(tag_puts) == 1
    line = one_line_failure(case.hoist("copy", case.seeded.ref("docker"), destination))
    assert "immutable" in line and "403" in line, line
    assert case.digest(f"{case.upstream.host}/{case.repo}:v1") == case.seeded.images.single.digest


def ecr_recognised(case: Case) -> None:
    """ECR recognised by its Basic challenge (service "ecr.amazonaws.com"): layers go in one PUT, never
    in PATCH chunks (aws/containers-roadmap#2831, kitops-ml/kitops#822), and tags are read before they
    are written (aws/containers-roadmap#2380)."""
    emu = case.emulate(doc.ECR_BASIC.but(users={"AWS": "ecr-password-123"}))
    case.login(emu.host, "AWS", "ecr-password-123")
    case.monkeypatch.setenv("HOIST_CHUNK_SIZE", "16k")  # the layers are 64 KiB: chunks, anywhere else
    destination = f"{emu.host}/{case.repo}:v1"
    for _ in range(2):
        assert case.hoist.ok("copy", case.seeded.ref("single"), destination, "--json").json["digest"] == (
            case.seeded.images.single.digest
        )
    assert not [s for s in emu.requests if s.method == "PATCH"]
    assert not emu.emulated(400), "the tag was read, not written again"


# -- mounts, reads, redirects -------------------------------------------------------------------------


def credentials_stay_off_storage(case: Case) -> None:
    """Blob downloads redirected to object storage (S3 behind ECR, a CDN, Pulp's content app) are
    followed without the registry's credentials: the storage host records what it received."""
    emu = case.emulate(Behaviour("redirecting", auth="basic", basic_realm="registry", users={"u": "pw-secret-1"},
                                 redirect_blobs=True))  # fmt: skip
    case.seed("single", f"{case.upstream.host}/{case.repo}/src:v1")
    case.login(emu.host, "u", "pw-secret-1")
    destination = f"{case.seeded.registry.host}/{case.repo}:v1"
    result = case.hoist.ok("copy", f"{emu.host}/{case.repo}/src:v1", destination, "--json").json
    assert result["digest"] == case.seeded.images.single.digest
    assert case.digest(destination) == case.seeded.images.single.digest
    assert emu.storage is not None
    seen = emu.storage.seen
    assert len(seen) >= len(set(case.seeded.images.single.blobs))
    assert all("authorization" not in h and "cookie" not in h for h in seen), seen
    assert any(s.headers.get("authorization", "").startswith("Basic ") for s in emu.requests if not s.emulated)


def missing_blob_is_403(case: Case) -> None:
    """A HEAD answered 403 for a blob the repository lacks counts as missing (PROTOCOL.md)."""
    emu = case.emulate(Behaviour("head-403", missing_blob_head=403))
    destination = f"{emu.host}/{case.repo}:v1"
    streamed = case.hoist.ok("copy", case.seeded.ref("single"), destination, "--json").json["blobs"]["streamed"]
    assert streamed == len(set(case.seeded.images.single.blobs))
    assert emu.emulated(403)
    assert case.digest(f"{case.upstream.host}/{case.repo}:v1") == case.seeded.images.single.digest


def harbor_mount_refused(case: Case) -> None:
    """Harbor answers a mount from a project the user cannot read with 401 (goharbor/harbor#17097):
    ``hoist promote`` between projects falls back to uploading the blobs."""
    emu = case.emulate(doc.HARBOR)
    case.seed("single", f"{case.upstream.host}/{case.repo}-a/app:staging")
    config = case.config(f"{emu.host}/{case.repo}-a/app:staging", f"{emu.host}/{case.repo}-b/app:main")
    result = case.hoist.ok("--config", str(config), "promote", "staging", "production", "--json").json
    assert result["digest"] == case.seeded.images.single.digest
    assert case.digest(f"{case.upstream.host}/{case.repo}-b/app:main") == case.seeded.images.single.digest
    refused = [s for s in emu.emulated(401) if "mount=" in s.target]
    assert refused, "the mounts were answered 401"
    assert len(refused) <= 2 * len(set(case.seeded.images.single.blobs))  # not retried per blob forever


def referrers_need_an_index(case: Case) -> None:
    """ECR sends OCI-Subject without serving the referrers API (sigstore/sigstore-js#1183): ``hoist
    promote`` keeps the ledger record findable through the fallback tag."""
    emu = case.emulate(Behaviour("subject-header", oci_subject_without_api=True))
    case.seed("single", f"{case.upstream.host}/{case.repo}:staging")
    config = case.config(f"{emu.host}/{case.repo}:staging", f"{emu.host}/{case.repo}:main")
    case.hoist.ok("--config", str(config), "promote", "staging", "production")
    assert emu.noted("oci-subject"), "the ledger record's PUT was answered with OCI-Subject"
    fallback = "sha256-" + case.seeded.images.single.digest.split(":")[1]
    assert fallback in upstream_tags(case.upstream, case.repo)
    assert len(case.hoist.ok("--config", str(config), "history", "production", "--json").json) == 1


def referrers_html_redirect(case: Case) -> None:
    """Artifact Registry has redirected the referrers API to an HTML sign-in page
    (awslabs/soci-snapshotter#512): no referrers API, and the copy carries evidence by the fallback tag."""
    emu = case.emulate(Behaviour("html-referrers", referrers_html_redirect=True))
    case.seed("single", f"{case.upstream.host}/{case.repo}/src:v1")
    result = case.hoist.ok("copy", f"{emu.host}/{case.repo}/src:v1", f"{case.seeded.registry.host}/{case.repo}:v1")
    assert "copied" in result.out
    assert emu.emulated(302)


# -- prune --------------------------------------------------------------------------------------------


def _promote_three(case: Case, host: str) -> Path:
    config = case.config(f"{host}/{case.repo}:staging", f"{host}/{case.repo}:main")
    for kind in ("single", "docker", "index"):
        case.seed(kind, f"{case.upstream.host}/{case.repo}:staging")
        case.hoist.ok("--config", str(config), "promote", "staging", "production")
    return config


def ghcr_cannot_delete(case: Case) -> None:
    """GHCR answers DELETE with 405 UNSUPPORTED (containers/skopeo#1880): ``hoist prune`` says this
    registry cannot delete tags, which are left, and how to remove them there; nothing changes."""
    emu = case.emulate(doc.GHCR)
    config = _promote_three(case, emu.host)
    before = upstream_tags(case.upstream, case.repo)
    line = one_line_failure(case.hoist("--config", str(config), "prune", "production", "--keep", "1"))
    assert "cannot delete tags" in line and "package versions" in line, line
    assert "main-0001" in line and "main-0002" in line and "main-0003" not in line, line
    assert upstream_tags(case.upstream, case.repo) == before
    assert len(case.hoist.ok("--config", str(config), "history", "production", "--json").json) == 3


def distribution_without_deletes(case: Case) -> None:
    """distribution 2.8 with deletes disabled answers 405 UNSUPPORTED (a real implementation): the tag
    hoist pointed at a tombstone is put back, and prune reports what was left."""
    from tests.infra.registry import start_registry

    upstream = case.stack.enter_context(start_registry(case.tmp_path / "nodelete", "plain", delete=False))
    case.upstream = upstream
    config = _promote_three(case, upstream.host)
    before = upstream_tags(upstream, case.repo)
    line = one_line_failure(case.hoist("--config", str(config), "prune", "production", "--keep", "1"))
    assert "cannot delete tags" in line and "405 UNSUPPORTED" in line and "main-0001" in line, line
    assert upstream_tags(upstream, case.repo) == before  # main-0001 points where it did


def paginated_tags(case: Case) -> None:
    """Tag lists in pages with ``Link: rel="next"`` (GHCR pages of 100, Quay of 50): prune sees every
    history tag, on the second page too, and removes them."""
    emu = case.emulate(Behaviour("pages", tag_page=2))
    config = _promote_three(case, emu.host)
    result = case.hoist.ok("--config", str(config), "prune", "production", "--keep", "1", "--json").json
    assert sorted(result["removed"]) == ["main-0001", "main-0002"] and result["missing"] == []
    assert "main-0001" not in upstream_tags(case.upstream, case.repo)
    assert len([s for s in emu.emulated(200) if s.target.startswith(f"/v2/{case.repo}/tags/list")]) >= 3


ROWS: list[Callable[[Case], None]] = [
    ghcr_cap_learned,
    ghcr_streams,
    ecr_cross_repository,
    chunk_min_length,
    throttled_uploads,
    ecr_immutable,
    harbor_immutable,
    hub_reads_tags_first,
    ecr_recognised,
    credentials_stay_off_storage,
    missing_blob_is_403,
    harbor_mount_refused,
    referrers_need_an_index,
    referrers_html_redirect,
    ghcr_cannot_delete,
    distribution_without_deletes,
    paginated_tags,
]


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.__name__)
def test_hosted_registry_behaviour(row: Callable[[Case], None], case: Case) -> None:
    row(case)


def test_emulator_answers_as_documented(case: Case) -> None:
    """The emulation itself: its answers are the documented ones (so the rows above test something)."""
    emu = case.emulate(doc.GHCR_CAP.but(delete_unsupported=True))
    with httpx.Client(base_url=f"http://{emu.host}") as client:
        start = client.post(f"/v2/{case.repo}/blobs/uploads/")
        location = start.headers["location"]
        big = client.patch(location, content=b"x" * (4 * MiB + 1), headers={"Content-Range": f"0-{4 * MiB}"})
        assert big.status_code == 416 and b"exceeds the maximum permissible limit of 4.00MiB" in big.content
        gone = client.delete(f"/v2/{case.repo}/manifests/sha256:" + "0" * 64)
        assert gone.status_code == 405 and gone.json()["errors"][0]["code"] == "UNSUPPORTED"
