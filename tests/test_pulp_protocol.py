"""Pulp's own registry API, as recorded at the top of :mod:`tests.infra.pulp`: every line marked there
is asserted here, with plain HTTP (no hoist code), so a new pin of Pulp that answers otherwise is noticed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.infra.images import ImageInfo, make_image
from tests.infra.pulp import ACCEPT, RunningPulp
from tests.infra.skopeo import skopeo_copy

OCTET = {"Content-Type": "application/octet-stream"}


@pytest.fixture
def pulp(pulp_registry: RunningPulp) -> RunningPulp:
    return pulp_registry


def creds(pulp: RunningPulp) -> tuple[str, str]:
    return (pulp.username, pulp.password)


def sha256(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def pulp_image(pulp: RunningPulp, tmp_path: Path, repo: str, *tags: str) -> ImageInfo:
    """A fresh image pushed by skopeo to ``repo`` in Pulp under ``tags``."""
    image = make_image(tmp_path / "layout", tag="v1", layers=2, layer_size=4096, seed=f"record-{repo}")
    for tag in tags:
        skopeo_copy(f"oci:{tmp_path}/layout:v1", f"docker://{pulp.host}/{repo}:{tag}", dest_creds=creds(pulp))
    return image


def test_pulp_tokens_redirects_and_pages(pulp: RunningPulp, unique_repo: str, tmp_path: Path) -> None:
    image = pulp_image(pulp, tmp_path, unique_repo, "v1", "a", "b", "c")
    answer = pulp.token(f"repository:{unique_repo}:pull,push,delete", "repository:t/elsewhere:pull")
    header, claims = (json.loads(base64.urlsafe_b64decode(part + "==")) for part in answer["token"].split(".")[:2])
    assert header["alg"] == "ES256" and answer["expires_in"] == 300 and claims["exp"] - claims["iat"] == 300
    assert re.fullmatch(r"([A-Z2-7]{4}:){11}[A-Z2-7]{4}", header["kid"]) and claims["aud"] == pulp.host
    granted = {a["name"]: a["actions"] for a in claims["access"]}
    assert sorted(granted[unique_repo]) == ["pull", "push"]  # "delete" is not an action Pulp knows
    assert granted["t/elsewhere"] == ["pull"]  # a repository that does not exist yet
    layer = image.layers[0]
    with pulp.bearer(f"repository:{unique_repo}:pull") as client:
        assert client.get("/v2/").status_code == 401  # a token scoped to repositories does not open /v2/
        assert client.get(f"/v2/{unique_repo}/referrers/{image.digest}").status_code == 404
        redirect = client.get(f"/v2/{unique_repo}/blobs/{layer}")
        assert redirect.status_code == 302
        target = urlsplit(redirect.headers["location"])
        assert f"{target.scheme}://{target.netloc}" == pulp.content_url != pulp.url
        assert target.path == f"/pulp/container/{unique_repo}/blobs/{layer}"
        assert set(parse_qs(target.query)) == {"expires", "validate_token"}
        assert 3000 < int(parse_qs(target.query)["expires"][0]) - time.time() <= 3600
        assert client.head(f"/v2/{unique_repo}/blobs/{layer}").status_code == 302
        served = httpx.get(redirect.headers["location"])  # no credentials: the signature is the key
        assert served.status_code == 200 and sha256(served.content) == layer
        assert served.headers["docker-content-digest"] == layer
        tampered = redirect.headers["location"].replace("validate_token=", "validate_token=0")
        assert httpx.get(tampered).status_code == 403
        whole = client.get(f"/v2/{unique_repo}/tags/list")
        assert whole.json()["tags"] == ["a", "b", "c", "v1"] and "link" not in whole.headers
        page = client.get(f"/v2/{unique_repo}/tags/list", params={"n": 2})
        assert page.json()["tags"] == ["a", "b"]
        assert page.headers["link"] == f'<{pulp.url}/v2/{unique_repo}/tags/list?n=2&last=b>; rel="next"'
        only_docker = client.get(
            f"/v2/{unique_repo}/manifests/v1",
            headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
        )
        assert only_docker.status_code == 404  # an OCI manifest asked for with Docker types only
        unscoped = httpx.put(f"{pulp.url}/v2/{unique_repo}/manifests/x", content=image.manifest_bytes)
        assert unscoped.headers["www-authenticate"] == (
            f'Bearer realm="{pulp.url}/token/",service="{pulp.host}",scope="repository:{unique_repo}:push"'
        )
    with pulp.bearer("registry:catalog:*") as client:
        catalog = client.get("/v2/_catalog", params={"n": 1})
        assert len(catalog.json()["repositories"]) == 1 and 'rel="next"' in catalog.headers["link"]
    anonymous = httpx.get(
        f"{pulp.url}/token/", params={"service": pulp.host, "scope": f"repository:{unique_repo}:pull,push"}
    )
    assert anonymous.status_code == 200  # distributions are public: anonymous pull is granted, push is not
    anonymous_claims = json.loads(base64.urlsafe_b64decode(anonymous.json()["token"].split(".")[1] + "=="))
    assert anonymous_claims["access"] == [{"type": "repository", "name": unique_repo, "actions": ["pull"]}]
    assert httpx.get(f"{pulp.url}/v2/{unique_repo}/tags/list", auth=creds(pulp)).status_code == 401  # Basic: no
    wrong = httpx.get(f"{pulp.url}/token/", params={"service": pulp.host}, auth=(pulp.username, "wrong"))
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == 'Basic realm="api"'
    assert httpx.post(f"{pulp.url}/token/", data={"grant_type": "password"}).status_code == 405
    began = time.monotonic()
    with pytest.raises(httpx.ConnectError):  # a TLS probe (skopeo makes one) is turned away at once by nginx
        httpx.get(f"https://{pulp.host}/v2/", verify=False, timeout=30)
    assert time.monotonic() - began < 5


def test_pulp_mounts_and_uploads(pulp: RunningPulp, unique_repo: str, tmp_path: Path) -> None:
    src, dst, other = unique_repo, f"{unique_repo}-dst", f"{unique_repo}-other"
    image = pulp_image(pulp, tmp_path, src, "v1")
    layer = image.layers[0]
    with pulp.bearer(f"repository:{src}:pull", f"repository:{dst}:pull,push") as client:
        mounted = client.post(f"/v2/{dst}/blobs/uploads/", params={"mount": layer, "from": src})
        assert mounted.status_code == 201 and mounted.headers["docker-content-digest"] == layer
        unmounted = client.post(f"/v2/{dst}/blobs/uploads/", params={"mount": image.layers[1]})
        assert unmounted.status_code == 202 and unmounted.headers["range"] == "0-0"
        assert client.delete(unmounted.headers["location"]).status_code == 204
        missing = client.post(f"/v2/{dst}/blobs/uploads/", params={"mount": "sha256:" + "0" * 64, "from": src})
        assert missing.status_code == 404 and missing.json()["errors"][0]["code"] == "BLOB_UNKNOWN"
        incomplete = client.put(
            f"/v2/{dst}/manifests/v1", content=image.manifest_bytes, headers={"Content-Type": image.media_type}
        )
        assert incomplete.status_code == 400 and incomplete.json()["errors"][0]["code"] == "BLOB_UNKNOWN"

        data = os.urandom(300_000)
        session = client.post(f"/v2/{dst}/blobs/uploads/").headers["location"]
        assert session.startswith(f"/v2/{dst}/blobs/uploads/")  # relative
        for start in (0, 100_000, 200_000):
            chunk = client.patch(
                session,
                content=data[start : start + 100_000],
                headers={**OCTET, "Content-Range": f"{start}-{start + 99_999}"},
            )
            assert chunk.status_code == 202 and chunk.headers["range"] == f"0-{start + 99_999}"  # no "bytes="
            assert chunk.headers["docker-upload-uuid"] in session
            status = client.get(chunk.headers["location"])
            assert status.status_code == 204 and status.headers["range"] == f"0-{start + 99_999}"
        out_of_order = client.patch(session, content=b"x", headers={**OCTET, "Content-Range": "5-5"})
        assert out_of_order.status_code == 500  # not 416
        done = client.put(session, params={"digest": sha256(data)})
        assert done.status_code == 201 and done.headers["docker-content-digest"] == sha256(data)

        lie = client.post(f"/v2/{dst}/blobs/uploads/").headers["location"]
        claimed = "sha256:" + "1" * 64
        stored = client.put(lie, params={"digest": claimed}, content=b"not what the digest says", headers=OCTET)
        assert stored.status_code == 201  # Pulp does not check an upload against its digest
        fetched = client.get(f"/v2/{dst}/blobs/{claimed}")
        assert httpx.get(fetched.headers["location"]).content == b"not what the digest says"

        one_shot = client.post(f"/v2/{dst}/blobs/uploads/", params={"digest": sha256(b"{}")}, content=b"{}")
        assert one_shot.status_code == 201 and one_shot.headers["docker-content-digest"] == sha256(b"{}")
        streamed = client.post(f"/v2/{dst}/blobs/uploads/").headers["location"]
        assert client.patch(streamed, content=b"abc", headers=OCTET).headers["range"] == "0-2"
        assert client.patch(streamed, content=b"def", headers=OCTET).status_code == 500  # no Content-Range
        assert client.delete(streamed).status_code == 204
        cancelled = client.get(streamed)
        assert cancelled.status_code == 404 and "detail" in cancelled.json()  # not the registry's error form
        assert client.delete(f"/v2/{dst}/blobs/{sha256(data)}").status_code == 202
    with pulp.bearer(f"repository:{other}:pull,push") as client:
        refused = client.post(f"/v2/{other}/blobs/uploads/", params={"mount": layer, "from": src})
        assert refused.status_code == 401  # the token lacks pull on the source: 401, not a 202 upload
        assert f'scope="repository:{src}:pull"' in refused.headers["www-authenticate"]
        put = client.put(
            f"/v2/{other}/manifests/v1", content=image.manifest_bytes, headers={"Content-Type": image.media_type}
        )
        assert put.status_code == 404 and put.json()["errors"][0]["code"] == "NAME_UNKNOWN"  # no upload yet


def test_pulp_manifest_puts_and_deletes(pulp: RunningPulp, unique_repo: str, tmp_path: Path) -> None:
    tagged, pushed = unique_repo, f"{unique_repo}-by-digest"
    image = pulp_image(pulp, tmp_path, tagged, "v1", "a")
    skopeo_copy(f"oci:{tmp_path}/layout:v1", f"docker://{pulp.host}/{pushed}:v1", dest_creds=creds(pulp))
    with pulp.client() as client:
        misnamed = client.put(
            f"/v2/{pushed}/manifests/sha256:{'3' * 64}",
            content=image.manifest_bytes,
            headers={"Content-Type": image.media_type},
        )
        assert misnamed.status_code == 201 and misnamed.headers["docker-content-digest"] == image.digest
        by_tag = client.delete(f"/v2/{tagged}/manifests/a")
        assert by_tag.status_code == 400 and by_tag.json()["errors"][0]["code"] == "INVALID_REQUEST"
        for repo in (tagged, pushed):
            assert client.delete(f"/v2/{repo}/manifests/{image.digest}").status_code == 202
        pulp.wait_for_tasks()
        for repo in (tagged, pushed):
            assert client.get(f"/v2/{repo}/tags/list").json()["tags"] == []  # every tag of that digest
        by_digest = {
            repo: client.get(f"/v2/{repo}/manifests/{image.digest}", headers={"Accept": ACCEPT}).status_code
            for repo in (tagged, pushed)
        }
        # A manifest PUT by digest is kept apart ("pending") and still served after the delete, and even
        # after Pulp's orphan clean-up: a delete only leaves it out of the repository's next version.
        assert by_digest == {tagged: 404, pushed: 200}
        pulp.orphan_cleanup()
        assert client.get(f"/v2/{pushed}/manifests/{image.digest}", headers={"Accept": ACCEPT}).status_code == 200

        empty = client.post(f"/v2/{pushed}/blobs/uploads/", params={"digest": sha256(b"{}")}, content=b"{}")
        assert empty.status_code == 201
        descriptor = {"mediaType": "application/vnd.oci.empty.v1+json", "digest": sha256(b"{}"), "size": 2}
        artifact = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": "application/vnd.example.note",
            "config": descriptor,
            "layers": [descriptor],
            "subject": {"mediaType": image.media_type, "digest": image.digest, "size": len(image.manifest_bytes)},
            "annotations": {"filler": "x" * (5 * 1024 * 1024)},  # over distribution's 4 MiB cap
        }
        raw = json.dumps(artifact).encode()
        put = client.put(f"/v2/{pushed}/manifests/note", content=raw, headers={"Content-Type": artifact["mediaType"]})
        assert put.status_code == 201 and put.headers["docker-content-digest"] == sha256(raw)
        assert "oci-subject" not in put.headers
