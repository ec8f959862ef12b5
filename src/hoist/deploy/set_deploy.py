"""Deploying an environment of several images: each image by its own deploy settings, healthy together
or rolled back together.

Every member with a ``[environments.ENV.deploy.NAME]`` table is deployed (started one after another,
then their health checks waited for). When any of them fails its checks, every member deployed in this
round is put back to what served before, the environment's tags go back to its previous state as one
automatic rollback, and :class:`~hoist.errors.DeployFailed` names the images that failed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from hoist.deploy.deploy import Deployment, DeployResult, choose_digest
from hoist.deploy.target import Target
from hoist.digest import Digest
from hoist.errors import DeployFailed, HoistError, InputError, OperationError
from hoist.promotion.context import Context
from hoist.promotion.frozen import deploy_decision
from hoist.promotion.rollback import rollback
from hoist.promotion.rules import Override
from hoist.timing import Timer


@dataclass(kw_only=True)
class SetDeployResult:
    environment: str
    members: list[DeployResult] = field(default_factory=list)
    rolled_back: bool = False

    @property
    def healthy(self) -> bool:
        return all(m.healthy or m.details.get("mode") == "branch" for m in self.members)


class SetDeployment:
    def __init__(
        self,
        ctx: Context,
        name: str,
        *,
        digests: Mapping[str, Digest] | None = None,
        rollback_on_failure: bool = True,
        timer: Timer | None = None,
        targets: Mapping[str, Target] | None = None,
        override: Override | None = None,
        freeze_rules: bool = True,
    ) -> None:
        self.ctx = ctx
        self.override = override
        self.freeze_rules = freeze_rules
        self.env = ctx.environment(name)
        self.rollback_on_failure = rollback_on_failure
        self.timer = timer or Timer()
        deployable = [m for m in self.env.members if m.deploy is not None]
        if not deployable:
            raise InputError(f"environment {name} has no [environments.{name}.deploy.NAME] table in hoist.toml")
        self.parts = [
            Deployment(
                ctx,
                name,
                member=member.name,
                digest=(digests or {}).get(member.name),
                rollback_on_failure=False,
                timer=self.timer,
                target=(targets or {}).get(member.name),
                freeze_rules=False,  # decided once for the whole set in start()
            )
            for member in deployable
        ]

    def start(self) -> None:
        if self.freeze_rules:  # before any image moves: a refusal leaves every one as it was
            view = self.ctx.ledger(self.env, push=False).read()
            digests: dict[str | None, Digest] = {
                part.member.name: choose_digest(self.ctx, self.env, part.member, view, part.digest)
                for part in self.parts
            }
            decision = deploy_decision(self.ctx, self.env, view, digests, override=self.override)
            for part in self.parts:
                part.decision = decision
        started: list[Deployment] = []
        try:
            for part in self.parts:
                part.start()
                started.append(part)
        except BaseException:
            self.close()
            raise

    def finish(self) -> SetDeployResult:
        try:
            return self._finish()
        finally:
            self.close()

    def _finish(self) -> SetDeployResult:
        result = SetDeployResult(environment=self.env.name, members=[part.check() for part in self.parts])
        if result.healthy:
            return result
        failed = [m for m in result.members if not m.healthy]
        listing = "; ".join(
            f"{part.member.name}: {m.health.detail if m.health else 'not healthy'}"
            for part, m in zip(self.parts, result.members, strict=True)
            if m in failed
        )
        if not self.rollback_on_failure:
            raise DeployFailed(f"deploy of {self.env.name} failed health checks ({listing}); no rollback asked")
        recorders: list[Callable[[], None]] = []
        for part in self.parts:
            if part.previous is not None:
                recorders.append(part.restore())
        self._move_back(listing)
        for record in recorders:
            record()
        result.rolled_back = True
        raise DeployFailed(
            f"deploy of {self.env.name} failed health checks ({listing}); rolled back: every image that was "
            "deployed is serving its previous version again, and the environment's tags point at them"
        )

    def _move_back(self, listing: str) -> None:
        view = self.ctx.ledger(self.env, push=False).read()
        if view.rollback_target is None:
            return
        try:
            rollback(
                self.ctx,
                self.env.name,
                automatic=True,
                reason=f"automatic: the deploy failed health checks ({listing})",
            )
        except HoistError as exc:
            raise OperationError(f"restored the previous images, but moving the tags back failed: {exc}") from exc

    def close(self) -> None:
        for part in self.parts:
            part.close()
