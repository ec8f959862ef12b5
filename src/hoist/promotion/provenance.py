"""Who and where: the actor, git commit and CI run a record is attributed to."""

from __future__ import annotations

import getpass
import os
import socket
from collections.abc import Mapping
from datetime import UTC, datetime

from hoist.promotion.templates import git_ref, git_sha


def actor(environ: Mapping[str, str] | None = None) -> str:
    environ = os.environ if environ is None else environ
    if environ.get("HOIST_ACTOR"):
        return environ["HOIST_ACTOR"]
    if environ.get("GITHUB_ACTOR"):
        return environ["GITHUB_ACTOR"]
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def git_info(environ: Mapping[str, str] | None = None) -> dict[str, str] | None:
    environ = os.environ if environ is None else environ
    info = {k: v for k, v in (("sha", git_sha(environ)), ("ref", git_ref(environ))) if v}
    return info or None


def ci_info(environ: Mapping[str, str] | None = None) -> dict[str, str] | None:
    environ = os.environ if environ is None else environ
    if environ.get("GITHUB_ACTIONS") != "true":
        return None
    server = environ.get("GITHUB_SERVER_URL", "https://github.com")
    repo = environ.get("GITHUB_REPOSITORY", "")
    run = environ.get("GITHUB_RUN_ID", "")
    info = {
        "provider": "github-actions",
        "repository": repo,
        "workflow": environ.get("GITHUB_WORKFLOW", ""),
        "run_id": run,
        "run_attempt": environ.get("GITHUB_RUN_ATTEMPT", ""),
        "run_url": f"{server}/{repo}/actions/runs/{run}" if repo and run else "",
    }
    return {k: v for k, v in info.items() if v}


def now() -> datetime:
    return datetime.now(UTC)


def timestamp(moment: datetime | None = None) -> str:
    return (moment or now()).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
