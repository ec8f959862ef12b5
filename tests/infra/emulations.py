"""Hosted registries' documented behaviours, as settings of :class:`tests.infra.emulate.Emulator`.

No hosted registry can run here, so each behaviour is emulated in front of a real distribution 2.8
registry, with the status and error body its source shows. Every field names that source.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Literal

MiB = 1024 * 1024

Immutable = Literal["ecr", "harbor", "hub"]


@dataclass(frozen=True)
class Behaviour:
    """What an emulated registry does differently from distribution 2.8 (defaults: nothing)."""

    name: str
    # -- auth: ``challenge`` is sent with 401 to requests without accepted credentials
    auth: Literal["none", "bearer", "basic"] = "none"
    service: str = ""
    realm_path: str = "/token"  # Harbor: /service/token
    basic_realm: str = ""
    users: dict[str, str] = field(default_factory=dict)
    # -- uploads
    # GHCR: a PATCH with Content-Range over 4 MiB -> 416 "... exceeds the maximum permissible limit of
    # 4.00MiB" (ocx-sh/ocx#237, oras-project/rust-oci-client#37, wasmCloud/wash#268)
    chunk_cap: int | None = None
    # a part under ``chunk_min`` that is not the last is refused (ECR: dotnet/sdk-container-builds#424);
    # ``announce_min`` also sends OCI-Chunk-Min-Length on upload starts (opencontainers/distribution-spec#481;
    # ECR is not documented to send it)
    chunk_min: int | None = None
    announce_min: bool = False
    # ECR answers a PATCH with 201 and, after the first PATCH of an upload, keeps the body but not the
    # Range, or drops the body (aws/containers-roadmap#2831): emulated as dropped, Range unchanged
    patch_status: int = 202
    drop_later_patches: bool = False
    # -- mounts: ECR declines (202) unless a manifest in the source references the blob
    # (aws/containers-roadmap#2860); Harbor answers 401 for a source project the user cannot read
    # (goharbor/harbor#17097)
    mount: Literal["forward", "decline", "unauthorized"] = "forward"
    # -- tags: immutable tags refuse any PUT of an existing tag, even of the same digest
    # (ecr: aws/containers-roadmap#2380, moby/buildkit#3776; harbor: goharbor/harbor#9427; hub: 403,
    # docker/hub-feedback#2466, body not documented)
    immutable: Immutable | None = None
    # -- deletes: GHCR answers 405 UNSUPPORTED (containers/skopeo#1880), Docker Hub 405 (hub-feedback#2360)
    delete_unsupported: bool = False
    # -- rate limits: 429 on every Nth upload request (POST/PATCH/PUT of /blobs/uploads/) with
    # Retry-After, as Docker Hub, GHCR and ECR answer (PROTOCOL.md, hosted registries table)
    throttle_uploads_every: int | None = None
    retry_after: str = "1"
    # -- reads
    redirect_blobs: bool = False  # blob GETs -> 307 to another host (S3 behind ECR, a CDN, Pulp's content app)
    tag_page: int | None = None  # tags/list pages with Link: rel="next" (GHCR pages of 100, Quay of 50)
    missing_blob_head: int = 404  # some registries answer 403 for a missing blob (PROTOCOL.md)
    # Artifact Registry has redirected the referrers API to an HTML sign-in page
    # (awslabs/soci-snapshotter#512); ECR sends OCI-Subject without serving it (sigstore/sigstore-js#1183)
    referrers_html_redirect: bool = False
    oci_subject_without_api: bool = False

    def but(self, **changes: object) -> Behaviour:
        return replace(self, **changes)  # type: ignore[arg-type]


GHCR_CAP = Behaviour("ghcr-cap", chunk_cap=4 * MiB)
GHCR = Behaviour(
    "ghcr",
    auth="bearer",
    service="ghcr.io",  # GHCR's challenge: Bearer realm="https://ghcr.io/token",service="ghcr.io"
    chunk_cap=4 * MiB,
    delete_unsupported=True,
    tag_page=100,
)
ECR = Behaviour(
    "ecr",
    patch_status=201,
    drop_later_patches=True,
    mount="decline",
    chunk_min=5 * MiB,
    oci_subject_without_api=True,
)
ECR_IMMUTABLE = Behaviour("ecr-immutable", immutable="ecr")
ECR_BASIC = Behaviour(
    "ecr-basic",
    auth="basic",
    service="ecr.amazonaws.com",
    basic_realm="https://123456789012.dkr.ecr.us-east-1.amazonaws.com/",
    immutable="ecr",
    patch_status=201,
    drop_later_patches=True,
)
HARBOR = Behaviour(
    "harbor",
    auth="bearer",
    service="harbor-registry",
    realm_path="/service/token",
    mount="unauthorized",
    immutable="harbor",
)
HARBOR_IMMUTABLE = Behaviour("harbor-immutable", immutable="harbor")
HUB = Behaviour("docker-hub", auth="bearer", service="registry.docker.io", immutable="hub", delete_unsupported=True)
THROTTLED = Behaviour("throttled", throttle_uploads_every=3)


def error_body(code: str, message: str) -> bytes:
    return json.dumps({"errors": [{"code": code, "message": message, "detail": None}]}).encode()


def immutable_refusal(kind: Immutable, repository: str, tag: str) -> tuple[int, bytes]:
    """The status and body a registry answers to a PUT of an existing immutable tag."""
    if kind == "ecr":  # moby/buildkit#3776, osscontainertools/kaniko#204
        return 400, error_body(
            "TAG_INVALID",
            f"The image tag '{tag}' already exists in the '{repository}' repository and cannot be "
            "overwritten because the tag is immutable.",
        )
    if kind == "harbor":  # goharbor/harbor src/server/middleware/immutable (412, PreconditionCode)
        name = repository.split("/", 1)[-1]
        return 412, error_body(
            "PRECONDITION", f"Failed to process request due to '{name}:{tag}' configured as immutable."
        )
    return 403, error_body("DENIED", "requested access to the resource is denied")  # hub-feedback#2466


TOO_LARGE = error_body(
    "REQUESTED_RANGE_NOT_SATISFIABLE",
    "the request body is too large and exceeds the maximum permissible limit of 4.00MiB",
)  # GHCR's answer, verbatim from wasmCloud/wash#268
PART_TOO_SMALL = error_body(
    "BLOB_UPLOAD_INVALID", "All layer parts except the last part should be at least 5MB"
)  # ECR's LayerPartTooSmallException text (dotnet/sdk-container-builds#424)
UNSUPPORTED = error_body("UNSUPPORTED", "The operation is unsupported.")  # containers/skopeo#1880
TOO_MANY = error_body(
    "TOOMANYREQUESTS",
    "You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: "
    "https://www.docker.com/increase-rate-limits",
)  # Docker Hub's body (docs.docker.com/docker-hub/usage/pulls/)
