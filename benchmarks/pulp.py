"""Pulp as the second registry of the copy benchmark: started once, with its token auth, and emptied of a
repository (and the blobs only it held) between the runs that must land in an empty registry."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.infra.pulp import RunningPulp, start_pulp
from tests.infra.skopeo import layout_ref, skopeo_copy


@dataclass
class PulpSite:
    pulp: RunningPulp
    authfile: Path
    """A containers auth.json with the admin's credentials for Pulp and for the proxies in front of it."""

    @property
    def started_in(self) -> float:
        return self.pulp.started_in

    def versions(self) -> dict[str, str]:
        """Component versions as the running Pulp reports them (``/pulp/api/v3/status/``)."""
        with self.pulp.api() as api:
            found = api.get("/pulp/api/v3/status/").json().get("versions", [])
        return {v["component"]: v["version"] for v in found if v.get("component") in ("core", "container")}

    def tokens(self) -> int:
        """Token requests Pulp has answered so far (its nginx access log): they go to the token server's
        own address, which no latency proxy is in front of."""
        log = self.pulp.workdir / "log" / "access.log"
        if not log.exists():
            return 0
        return sum(1 for line in log.read_text(errors="replace").splitlines() if " /token/" in line)

    def allow(self, *hosts: str) -> None:
        """Credentials for ``hosts`` too (latency proxies in front of Pulp)."""
        known = json.loads(self.authfile.read_text())["auths"] if self.authfile.exists() else {}
        self.pulp.auth_file(self.authfile, also=tuple({*known, *hosts} - {self.pulp.host}))

    def seed(self, layout: Path, tag: str, repo: str) -> None:
        skopeo_copy(
            layout_ref(layout, tag),
            f"docker://{self.pulp.host}/{repo}:v1",
            dest_tls_verify=False,
            dest_creds=(self.pulp.username, self.pulp.password),
        )

    def drop(self, repo: str, *, blobs: tuple[str, ...] = ()) -> None:
        """Delete the repository and its distribution, then have Pulp remove the blobs nothing holds now;
        ``blobs`` must be gone from its storage afterwards."""
        with self.pulp.api() as api:
            for kind in ("repositories", "distributions"):
                params = {"name": repo} if kind == "repositories" else {"base_path": repo}
                for found in api.get(f"/pulp/api/v3/{kind}/", params=params).json()["results"]:
                    api.delete(found["pulp_href"]).raise_for_status()
        self.pulp.wait_for_tasks(120)
        self.pulp.orphan_cleanup()
        kept = [b for b in blobs if self.pulp.artifact_path(b).exists()]
        if kept:
            raise RuntimeError(f"Pulp still stores {len(kept)} blobs of {repo} after deleting it: {kept}")


@contextlib.contextmanager
def started(workdir: Path) -> Iterator[PulpSite | str]:
    """A running Pulp, or why it could not start (the report says so instead of leaving the rows out)."""
    try:
        pulp = start_pulp(workdir)
    except Exception as exc:
        yield f"Pulp did not start: {type(exc).__name__}: {str(exc).strip().splitlines()[0][:300]}"
        return
    with pulp:
        site = PulpSite(pulp, workdir / "auth.json")
        site.allow()
        yield site
