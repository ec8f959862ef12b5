"""Where registries differ, in one place: a profile chosen by host, refined by what the registry answers.

A :class:`Profile` holds what each hosted registry is documented to do differently; every entry names
its source. :class:`Quirks` is one registry's profile plus what hoist learned from it during the command
(a chunk limit from a ``416``, a ``Range`` that did not advance, a tag that would not be overwritten, a
``405`` to a delete, a mount the registry refused), so the next request is sent the way that works.
Self-hosted registries (Harbor, distribution, zot, Pulp) are recognised by their token challenge or by
these answers, not by name.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Literal

MiB = 1024 * 1024
UploadMode = Literal["monolithic", "stream", "chunked"]

_GENERIC_DELETE_HINT = "use the registry's web interface or its own API"


@dataclass(frozen=True)
class Profile:
    """How to talk to one kind of registry.

    ``upload``: how blobs larger than one request's worth are sent: ``chunked`` (``PATCH`` chunks with
    ``Content-Range``, resumable), ``stream`` (one ``PATCH`` without ``Content-Range``, as docker and
    skopeo do) or ``monolithic`` (one ``PUT``). ``chunk_min``/``chunk_max`` bound ``PATCH`` chunks.
    ``head_before_tag``: tags there may be immutable, so a tag is read before it is written and the same
    digest is not written again. ``deletes``: False when the registry API cannot delete.
    """

    name: str
    upload: UploadMode = "chunked"
    chunk_min: int = 0
    chunk_max: int | None = None
    head_before_tag: bool = False
    deletes: bool | None = None
    delete_hint: str = _GENERIC_DELETE_HINT


GENERIC = Profile("registry")

GHCR = Profile(
    "GHCR",
    # A chunk (PATCH with Content-Range) over 4 MiB is answered 416 "exceeds the maximum permissible
    # limit of 4.00MiB" (ocx-sh/ocx#237, oras-project/rust-oci-client#37, wasmCloud/wash#268); one PATCH
    # without Content-Range, streamed, passes (docker, skopeo; kitops-ml/kitops upload-format.go).
    upload="stream",
    chunk_max=4 * MiB,
    # DELETE answers 405 UNSUPPORTED; only the GitHub Packages API deletes (containers/skopeo#1880).
    deletes=False,
    delete_hint=(
        "delete those package versions on GitHub (the package's settings page, or the REST API: "
        "DELETE /orgs/OWNER/packages/container/NAME/versions/ID, or /user/... for a personal package)"
    ),
)

DOCKER_HUB = Profile(
    "Docker Hub",
    # Immutable tags refuse a re-push of an existing tag (docs.docker.com/docker-hub/repos/manage/
    # hub-images/immutable-tags/; 403, docker/hub-feedback#2466).
    head_before_tag=True,
    # The OCI delete API answers 405 (docker/hub-feedback#2360).
    deletes=False,
    delete_hint="delete those tags on hub.docker.com (the repository's Tags page) or with the Docker Hub API",
)

ECR = Profile(
    "Amazon ECR",
    # PATCH answers 201, parts under 5 MiB but the last fail (dotnet/sdk-container-builds#424,
    # openai/tart#273), and later PATCH bodies are dropped or their Range goes stale
    # (aws/containers-roadmap#2831): one PUT per blob works (kitops-ml/kitops#822).
    upload="monolithic",
    chunk_min=5 * MiB,
    # Immutable repositories refuse to re-PUT a tag even with the same digest (TAG_INVALID,
    # aws/containers-roadmap#2380, moby/buildkit#3776).
    head_before_tag=True,
)

ARTIFACT_REGISTRY = Profile(
    "Artifact Registry",
    # Chunked uploads are not supported; one PUT is (kitops-ml/kitops upload-format.go, citing
    # cloud.google.com/artifact-registry/docs/docker/pushing-and-pulling). Repositories may enable
    # immutable tags (DockerRepositoryConfig.immutable_tags).
    upload="monolithic",
    head_before_tag=True,
)

ACR = Profile("ACR")
QUAY = Profile(
    "Quay",
    # Quay 3.6 answers 405 to DELETE by tag; later versions delete (quay/quay#3128).
    delete_hint="delete those tags in Quay's web interface or with its API (DELETE /api/v1/repository/NS/REPO/tag/TAG)",
)
HARBOR = Profile(
    "Harbor",
    # Tag immutability rules answer 412 PRECONDITION "configured as immutable" (goharbor/harbor#9427).
    head_before_tag=True,
    delete_hint=(
        "delete those tags in Harbor's web interface or with its API "
        "(DELETE /api/v2.0/projects/P/repositories/R/artifacts/REF/tags/TAG)"
    ),
)

# Registry API hosts, matched in order (the first pattern that matches wins).
_HOSTS: tuple[tuple[re.Pattern[str], Profile], ...] = (
    (re.compile(r"^ghcr\.io$"), GHCR),
    (re.compile(r"^(registry-1\.docker\.io|docker\.io|index\.docker\.io)$"), DOCKER_HUB),
    (re.compile(r"^\d+\.dkr\.ecr(-fips)?\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$"), ECR),
    (re.compile(r"(^|\.)gcr\.io$|-docker\.pkg\.dev$"), ARTIFACT_REGISTRY),
    (re.compile(r"\.azurecr\.io$"), ACR),
    (re.compile(r"^quay\.io$"), QUAY),
)

# Token challenges (``WWW-Authenticate``), by service, for registries behind another name and for
# self-hosted Harbor, whose core issues tokens at ``/service/token`` for the service "harbor-registry".
# ECR challenges with Basic realm="https://<account>.dkr.ecr.<region>.amazonaws.com/",service="ecr.amazonaws.com".
_SERVICES: tuple[tuple[re.Pattern[str], Profile], ...] = (
    (re.compile(r"^harbor-registry$"), HARBOR),
    (re.compile(r"^ecr\.amazonaws\.com$"), ECR),
    (re.compile(r"^ghcr\.io$"), GHCR),
    (re.compile(r"^registry\.docker\.io$"), DOCKER_HUB),
    (re.compile(r"^quay\.io$"), QUAY),
    (re.compile(r"\.azurecr\.io$"), ACR),
)


def for_host(host: str) -> Profile:
    """The profile of a registry API host (``registry-1.docker.io`` for Docker Hub)."""
    name = host.split(":", maxsplit=1)[0].lower()
    return next((profile for pattern, profile in _HOSTS if pattern.search(name)), GENERIC)


def for_challenge(params: dict[str, str]) -> Profile | None:
    """The profile a token challenge reveals, or None."""
    if params.get("realm", "").lower().endswith("/service/token"):
        return HARBOR
    service = params.get("service", "").lower()
    return next((profile for pattern, profile in _SERVICES if pattern.search(service)), None)


_LIMIT = re.compile(r"(\d+(?:\.\d+)?)\s*(KiB|MiB|GiB|KB|MB|GB)", re.IGNORECASE)
_UNITS = {"k": 1024, "m": MiB, "g": 1024 * MiB}


def stated_limit(message: str) -> int | None:
    """The size a "too large" error names ("... limit of 4.00MiB" -> 4194304)."""
    match = _LIMIT.search(message)
    if match is None:
        return None
    return int(float(match.group(1)) * _UNITS[match.group(2)[0].lower()])


class Quirks:
    """One registry's profile and what hoist learned about it during the command; thread-safe."""

    def __init__(self, host: str) -> None:
        self._lock = threading.Lock()
        self.profile = for_host(host)
        self._chunk_max = self.profile.chunk_max
        self._chunks_trusted = True
        self._immutable_seen = False
        self._cannot_delete = self.profile.deletes is False
        self._mount_refused: set[str] = set()
        self.referrers_api: bool | None = None  # learnt from the first referrers answer

    def observe_challenge(self, params: dict[str, str]) -> None:
        """Adopt the profile a challenge reveals, when the host name did not reveal one."""
        found = for_challenge(params)
        with self._lock:
            if found is not None and self.profile is GENERIC:
                self.profile = found
                if found.chunk_max is not None and (self._chunk_max is None or found.chunk_max < self._chunk_max):
                    self._chunk_max = found.chunk_max
                self._cannot_delete = self._cannot_delete or found.deletes is False

    # -- uploads -------------------------------------------------------------------------------------

    def upload_mode(self, size: int, single_request_max: int) -> UploadMode:
        """How to send a blob of ``size`` bytes; up to ``single_request_max`` it is one ``PUT``."""
        with self._lock:
            mode = self.profile.upload if self._chunks_trusted else "monolithic"
        return "monolithic" if size <= single_request_max else mode

    def chunk_size(self, wanted: int, announced_min: int = 0) -> int:
        """A ``PATCH`` chunk size within the registry's bounds (its documented maximum, what it
        answered, ``OCI-Chunk-Min-Length``); the maximum wins when they conflict."""
        with self._lock:
            size = max(wanted, self.profile.chunk_min, announced_min)
            return min(size, self._chunk_max) if self._chunk_max is not None else size

    def learn_chunk_limit(self, limit: int) -> int:
        """The registry refused a chunk as too large: never send one over ``limit`` again."""
        with self._lock:
            limit = max(limit, 64 * 1024)
            self._chunk_max = limit if self._chunk_max is None else min(self._chunk_max, limit)
            return self._chunk_max

    def distrust_chunks(self) -> None:
        """The registry's ``Range`` did not advance with a chunk: send whole blobs from now on."""
        with self._lock:
            self._chunks_trusted = False

    # -- tags, deletes, mounts -----------------------------------------------------------------------

    @property
    def head_before_tag(self) -> bool:
        with self._lock:
            return self.profile.head_before_tag or self._immutable_seen

    def saw_immutable_tag(self) -> None:
        with self._lock:
            self._immutable_seen = True

    @property
    def cannot_delete(self) -> bool:
        with self._lock:
            return self._cannot_delete

    def saw_delete_refused(self) -> None:
        with self._lock:
            self._cannot_delete = True

    def mount_refused(self, source: str) -> bool:
        with self._lock:
            return source in self._mount_refused

    def refuse_mounts_from(self, source: str) -> None:
        with self._lock:
            self._mount_refused.add(source)
