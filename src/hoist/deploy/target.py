"""The deploy Target protocol: put an image (by digest) into service, say what runs, bring back the last."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from hoist.deploy.health import Check


@dataclass(frozen=True)
class Running:
    """What a target serves: ``image`` is ``repository@digest``."""

    image: str
    digest: str
    handle: str | None = None


@dataclass
class Deployed:
    image: str
    digest: str
    handle: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)


class Target(Protocol):
    kind: str

    def describe(self) -> str:
        """Where it deploys, for messages and records (``docker unix:///…/podman.sock container dotca``)."""
        ...

    def current(self) -> Running | None:
        """What serves now, when the target can tell (None: unknown or nothing)."""
        ...

    def prepare(self, image: str) -> None:
        """Get ready to deploy ``image`` (pull it) without touching what runs; deploy skips what is done."""
        ...

    def deploy(self, image: str, digest: str, *, previous: Running | None) -> Deployed:
        """Replace what serves with ``image``; raises OperationError and leaves the previous one serving."""
        ...

    def restore(self, previous: Running, *, failed: Deployed | None) -> Deployed:
        """Bring ``previous`` back into service after ``failed`` did not become healthy."""
        ...

    def checks(self, deployed: Deployed) -> list[Check]:
        """Target-specific checks (the container's own HEALTHCHECK); the configured ones come on top."""
        ...

    def alive(self, deployed: Deployed) -> str | None:
        """Why the deployed process is gone, or None while it runs (or when the target cannot tell)."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class Annotated(Protocol):
    """Targets that write down why they deploy (a GitOps commit names the ledger record and the reason)."""

    def annotate(self, *, seq: int | None = None, reason: str | None = None) -> None: ...
