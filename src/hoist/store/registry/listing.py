"""What a repository lists: its tags (in ``Link`` pages) and the referrers of a digest (when the
registry serves the referrers API at all)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import httpx

from hoist.digest import Digest
from hoist.errors import HoistError, RegistryError
from hoist.manifest import OCI_INDEX, Descriptor, Manifest, parse_manifest

if TYPE_CHECKING:
    from hoist.store.registry.store import RegistryStore

_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')
_TAG_PAGE = "1000"  # distribution 3.1 caps n at 1000 (distribution/distribution#4844)
# Answers that mean "no referrers API here": 404 (distribution 2.8, GHCR), 400/405/406, a redirect
# (Artifact Registry has sent one to an HTML sign-in page, awslabs/soci-snapshotter#512) or a 403 from a
# proxy in front of the registry.
_NO_REFERRERS = (404, 400, 403, 405, 406, 301, 302, 303, 307, 308)


def media_type(response: httpx.Response) -> str | None:
    value = response.headers.get("content-type", "").split(";")[0].strip()
    return value or None


def tags(store: RegistryStore) -> list[str]:
    """Every tag, following ``Link: <...>; rel="next"`` pages (GHCR pages by 100, Quay by 50; the
    next URL may be relative)."""
    found: list[str] = []
    what = f"tag list of {store.location}"
    path: str | None = f"/v2/{store.repository}/tags/list?n={_TAG_PAGE}"
    while path:
        response = store.client.request("GET", path, scopes=store.pull_scopes, what=what, ok=(200, 404, 400))
        if response.status_code == 404:
            return found
        if response.status_code == 400:  # a page size it will not serve (PAGINATION_NUMBER_INVALID)
            if "n=" not in path:
                raise RegistryError(f"{what}: {store.client.host} answered 400", status=400, registry=store.client.host)
            path = f"/v2/{store.repository}/tags/list"
            continue
        try:
            found += [str(t) for t in (response.json().get("tags") or [])]
        except (ValueError, AttributeError) as exc:
            raise RegistryError(f"{what}: malformed answer", registry=store.client.host) from exc
        match = _LINK.search(response.headers.get("link", ""))
        path = match.group(1) if match else None
    return found


def referrers(store: RegistryStore, digest: Digest, artifact_type: str | None) -> list[Descriptor] | None:
    """The referrers API's answer, or None where there is none: supported only when it answers 200 with
    an OCI index (ECR's ``OCI-Subject`` is unreliable, sigstore/sigstore-js#1183 and #1187)."""
    quirks = store.client.quirks
    if quirks.referrers_api is False:
        return None
    response = store.client.request(
        "GET",
        f"/v2/{store.repository}/referrers/{digest}",
        scopes=store.pull_scopes,
        what=f"referrers of {digest}",
        headers={"Accept": OCI_INDEX},
        params={"artifactType": artifact_type} if artifact_type else None,
        ok=(200, *_NO_REFERRERS),
    )
    if response.status_code != 200 or media_type(response) != OCI_INDEX:
        quirks.referrers_api = False
        return None
    try:
        parsed = parse_manifest(Manifest.from_bytes(response.content, OCI_INDEX))
    except HoistError:
        quirks.referrers_api = False
        return None
    quirks.referrers_api = True
    found = list(parsed.children)
    if artifact_type and "OCI-Filters-Applied" not in response.headers:
        found = [d for d in found if d.artifact_type == artifact_type]
    return found
