"""Deploy an environment's promoted digest, check its health, and roll back on its own when it fails.

Order: read the ledger → choose the digest (``--digest``, the promoted one, or the tag's) → ask the
target what serves now → pull and start the new image → health checks → record the deploy. When health
fails before the deadline: record the failure, bring the previous image back, wait for it to be healthy,
move the environment tag back as a rollback in the ledger, record the restore, and raise DeployFailed
(exit 4) saying what failed and what serves now.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hoist.deploy.health import Check, HealthResult, HttpCheck, TcpCheck, wait_healthy
from hoist.deploy.target import Annotated, Deployed, Running, Target
from hoist.digest import Digest
from hoist.errors import DeployFailed, HoistError, InputError, OperationError
from hoist.promotion.config import Environment, HealthConfig, Member
from hoist.promotion.context import Context
from hoist.promotion.frozen import deploy_decision
from hoist.promotion.history import new_record
from hoist.promotion.ledger import View, subject_of
from hoist.promotion.publish import FollowUp
from hoist.promotion.record import DeployInfo, DeployOutcome, GateResult, Kind, MemberState, OverrideInfo, Record
from hoist.promotion.rollback import rollback
from hoist.promotion.rules import Override
from hoist.promotion.soak import serving_details
from hoist.ref import RegistryRef
from hoist.timing import Timer

DEFAULT_HEALTH = HealthConfig(timeout=60.0)


@dataclass(kw_only=True)
class DeployResult:
    environment: str
    digest: Digest
    image: str
    target: str
    healthy: bool
    health: HealthResult | None = None
    previous: Digest | None = None
    rolled_back: bool = False
    restored: Digest | None = None
    record: Digest | None = None
    details: dict[str, Any] = field(default_factory=dict)
    """What the target reports about the deploy (a container id, a commit, a branch for review)."""
    follow_ups_failed: tuple[FollowUp, ...] = ()
    """Steps after the deploy was recorded that did not complete (the next write repairs them)."""
    timings: dict[str, float] = field(default_factory=dict)


def open_target(ctx: Context, env: Environment, member: Member | None = None) -> Target:
    member = member or env.members[0]
    deploy = member.deploy
    if deploy is None:
        where = f"{env.name}.deploy.{member.name}" if env.is_set else f"{env.name}.deploy"
        raise InputError(f"environment {env.name} has no [environments.{where}] table in hoist.toml")
    if deploy.target == "command":
        from hoist.deploy.command_target import CommandTarget

        return CommandTarget(deploy, environment=env.name, environ=ctx.environ, pass_env=env.pass_env)
    if deploy.target == "gitops":
        from hoist.deploy.gitops_target import GitopsTarget

        return GitopsTarget(deploy, environment=env.name, image_name=member.image.name, environ=ctx.environ)
    if not isinstance(member.image, RegistryRef):
        raise InputError(f"{env.name}: a container engine pulls from a registry, not from {member.image}")
    from hoist.deploy.docker_target import DockerTarget

    credentials = ctx.session.options.credentials.lookup(member.image.registry, member.image.repository)
    return DockerTarget(deploy, environ=ctx.environ, credentials=credentials)


def health_checks(
    env: Environment, target: Target, deployed: Deployed, member: Member | None = None
) -> tuple[list[Check], HealthConfig]:
    health = (member or env.members[0]).health or DEFAULT_HEALTH
    checks: list[Check] = []
    if health.url:
        checks.append(
            HttpCheck(health.url, statuses=health.expect_status, body=health.body, timeout=health.request_timeout)
        )
    if health.tcp:
        try:
            checks.append(TcpCheck(health.tcp, timeout=health.request_timeout))
        except ValueError as exc:
            raise InputError(f"{env.name}.health.tcp: {exc}") from exc
    if health.container is not False:
        own = target.checks(deployed)
        if health.container is True and not own:
            raise InputError(f"{env.name}.health.container = true, but {deployed.image} has no HEALTHCHECK")
        checks += own
    return checks, health


def image_of(env: Environment, digest: Digest, member: Member | None = None) -> str:
    return f"{(member or env.members[0]).image.name}@{digest}"


def choose_digest(ctx: Context, env: Environment, member: Member, view: View, digest: Digest | None) -> Digest:
    """``digest``; else for an environment promoted from another, its promoted digest; else its tag's."""
    if digest is not None:
        return digest
    if env.source is not None and view.has_promotions and view.current is not None:
        state = view.current_members
        if not env.is_set:
            return view.current
        if state is not None and member.name in state:
            return state[member.name].digest
    found = ctx.open(member.image).head_manifest(member.tag)
    if found is None:
        raise InputError(f"{env.name} has nothing to deploy: no promotion recorded and {member.image} does not exist")
    return found.digest


def _last_healthy(view: View, chosen: Digest, member: str | None) -> Running | None:
    """What served before: the newest healthy deploy of another digest (of this member, for a set)."""
    for entry in view.known:
        record = entry.record
        if not record.healthy_deploy or record.deploy is None:
            continue
        if member is not None and (record.members is None or member not in record.members):
            continue
        digest = record.digest_of(member)
        if digest != chosen:
            return Running(image=record.deploy.image, digest=str(digest))
    return None


class Deployment:
    """One deploy in two steps: :meth:`start` puts the image into service, :meth:`finish` waits for
    health, records the outcome and rolls back on failure. ``target`` may come opened (and the image
    prepared) already, as release does."""

    def __init__(
        self,
        ctx: Context,
        name: str,
        *,
        digest: Digest | None = None,
        rollback_on_failure: bool = True,
        timer: Timer | None = None,
        target: Target | None = None,
        member: str | None = None,
        override: Override | None = None,
        freeze_rules: bool = True,
    ) -> None:
        self.ctx = ctx
        self.timer = timer or Timer()
        self.env = ctx.environment(name)
        self.member = self.env.member(member) if member is not None else self.env.members[0]
        self.set_member = member if self.env.is_set else None
        """The member's name when the environment holds several images (its records say so)."""
        self.digest = digest
        self.rollback_on_failure = rollback_on_failure
        self.store = ctx.open(self.env.image, push=True)
        self.ledger = ctx.ledger(self.env)
        self.target = target
        self.deployed: Deployed | None = None
        self.previous: Running | None = None
        self.result: DeployResult | None = None
        self.override = override
        self.freeze_rules = freeze_rules
        """False when the caller decided the freeze rules already (a release's promotion, a set's deploy)."""
        self.decision: tuple[tuple[GateResult, ...], OverrideInfo | None] = ((), None)

    def start(self) -> None:
        timer, env = self.timer, self.env
        try:
            if self.target is None:
                with timer.stage("deploy"):
                    self.target = open_target(self.ctx, env, self.member)
            target = self.target
            view = self.ledger.read()
            if self.digest is None:
                self.ledger.check_head(view)  # the digest to deploy comes from the head
            chosen = choose_digest(self.ctx, env, self.member, view, self.digest)
            if self.freeze_rules:  # a refusal raises here, before anything changes
                self.decision = deploy_decision(self.ctx, env, view, {self.set_member: chosen}, override=self.override)
            image = image_of(env, chosen, self.member)
            running = target.current()
            previous = running if running is not None and running.digest and running.digest != str(chosen) else None
            if previous is None:
                previous = _last_healthy(view, chosen, self.set_member)
            self.previous = previous
            self.result = DeployResult(
                environment=env.name,
                digest=chosen,
                image=image,
                target=target.describe(),
                healthy=False,
                previous=Digest.parse(previous.digest) if previous else None,
            )
            if isinstance(target, Annotated):
                promoted = view.promoted(chosen)
                record = promoted.record if promoted is not None else None
                target.annotate(seq=record.seq if record else None, reason=record.reason if record else None)
            with timer.stage("deploy"):
                self.deployed = target.deploy(image, str(chosen), previous=self.previous)
        except BaseException:
            self.close()
            raise

    def finish(self) -> DeployResult:
        try:
            return self._finish()
        finally:
            self.close()

    def check(self) -> DeployResult:
        """Wait for the health checks and record the outcome (never rolls back, never raises for health)."""
        timer, target, deployed, result = self.timer, self.target, self.deployed, self.result
        assert target is not None and deployed is not None and result is not None, "start() first"
        result.details = dict(deployed.details)
        stages = {**timer.stages, **{f"target.{k}": v for k, v in deployed.timings.items()}}
        if deployed.details.get("mode") == "branch":  # offered for review: nothing runs it yet
            result.timings = stages
            with timer.stage("record"):
                result.record = self._record(deployed, DeployOutcome.PROPOSED, result)
            return result
        checks, health_config = health_checks(self.env, target, deployed, self.member)
        with timer.stage("health"):
            result.health = wait_healthy(checks, health_config, alive=lambda: target.alive(deployed))
        result.healthy = result.health.healthy
        result.timings = {**timer.stages, **{f"target.{k}": v for k, v in deployed.timings.items()}}
        outcome = DeployOutcome.HEALTHY if result.healthy else DeployOutcome.FAILED
        with timer.stage("record"):
            result.record = self._record(deployed, outcome, result)
        return result

    def _finish(self) -> DeployResult:
        env, result = self.env, self.check()
        if result.healthy or result.details.get("mode") == "branch":
            return result
        detail = result.health.detail if result.health else "not healthy"
        previous = self.previous
        if not self.rollback_on_failure or previous is None:
            serving = (
                "the new version is still running (no rollback asked)"
                if not self.rollback_on_failure
                else "nothing earlier to restore"
            )
            raise self._failed(
                f"deploy of {result.digest} to {env.name} failed health checks: {detail}; {serving}",
                result,
                restored=None,
            )
        record_restored = self.restore()
        self._move_back(previous)
        record_restored()
        raise self._failed(
            f"deploy of {result.digest} to {env.name} failed health checks: {detail}; rolled back: "
            f"{previous.digest} is serving again and {env.tag} points at it",
            result,
            restored=previous.digest,
        )

    def _failed(self, message: str, result: DeployResult, *, restored: str | None) -> DeployFailed:
        """The error to raise for a failed deploy, once the webhooks have been told."""
        self.ctx.announce(
            "deploy-failed",
            self.env.name,
            digest=str(result.digest),
            image=result.image,
            failure=result.health.detail if result.health else None,
            restored=restored,
        )
        return DeployFailed(message)

    def close(self) -> None:
        if self.target is not None:
            self.target.close()

    def restore(self) -> Callable[[], None]:
        """Bring back what served before the deploy and wait for it to be healthy; returns the step that
        records it serves (run after the environment's tag moved back, so the ledger reads in order)."""
        env, timer, target, failed, result = self.env, self.timer, self.target, self.deployed, self.result
        previous = self.previous
        assert target is not None and failed is not None and result is not None and previous is not None
        image = previous.image or image_of(env, Digest.parse(previous.digest), self.member)
        why = result.health.detail if result.health else "not healthy"
        if isinstance(target, Annotated):
            promoted = self.ledger.read().promoted(Digest.parse(previous.digest))
            target.annotate(
                seq=promoted.record.seq if promoted else None,
                reason=f"automatic: the deploy of {result.digest} failed health checks ({why})",
            )
        with timer.stage("restore"):
            restored = target.restore(Running(image, previous.digest, previous.handle), failed=failed)
            checks, health_config = health_checks(env, target, restored, self.member)
            health = wait_healthy(checks, health_config, alive=lambda: target.alive(restored))
        result.timings = {**result.timings, **timer.stages}
        if not health.healthy:
            raise self._failed(
                f"deploy of {result.digest} to {env.name} failed ({why}) and "
                f"the previous version {previous.digest} did not become healthy either: {health.detail}",
                result,
                restored=None,
            )
        previous_digest = Digest.parse(previous.digest)
        result.rolled_back = True
        result.restored = previous_digest
        stand_in = DeployResult(
            environment=env.name,
            digest=previous_digest,
            image=image,
            target=result.target,
            healthy=True,
            health=health,
            previous=result.digest,
            timings=dict(timer.stages),
        )

        def record() -> None:
            self._record(restored, DeployOutcome.RESTORED, stand_in)

        return record

    def _move_back(self, previous: Running) -> None:
        """The environment's tag back to what serves again, recorded as an automatic rollback."""
        env, result = self.env, self.result
        assert result is not None
        previous_digest = Digest.parse(previous.digest)
        why = result.health.detail if result.health else "not healthy"
        view = self.ledger.read()
        if view.current is None or view.current == previous_digest:
            return
        try:
            rollback(
                self.ctx,
                env.name,
                to=previous_digest,
                automatic=True,
                reason=f"automatic: the deploy of {result.digest} failed health checks ({why})",
                details={"failed_digest": str(result.digest)},
            )
        except HoistError as exc:
            raise OperationError(f"restored {previous.digest}, but moving {env.tag} back failed: {exc}") from exc

    def _record(self, deployed: Deployed, outcome: DeployOutcome, result: DeployResult) -> Digest:
        env, store = self.env, self.store
        digest = Digest.parse(deployed.digest)
        members: dict[str, MemberState] | None = None
        if self.set_member is not None:  # the image lives in the member's own repository
            found = self.ctx.open(self.member.image).head_manifest(digest)
            if found is None:
                raise OperationError(f"{digest} is not in {self.member.image.name}")
            state = MemberState(
                reference=self.member.image.name, digest=digest, media_type=found.media_type, size=found.size
            )
            members = {self.set_member: state}

        gates, override = self.decision if outcome is not DeployOutcome.RESTORED else ((), None)

        def build(view: View) -> Record:
            subject = members[self.set_member].descriptor() if members and self.set_member else None
            return new_record(
                view,
                kind=Kind.DEPLOY,
                environment=env.name,
                subject=subject or subject_of(store, view, digest),
                members=members,
                provenance=self.ctx.provenance(),
                previous_digest=result.previous,
                timings=dict(result.timings),
                gates=gates,
                override=override,
                details=serving_details(view, member=self.set_member, digest=digest, outcome=outcome),
                deploy=DeployInfo(
                    result=outcome,
                    target=result.target,
                    image=deployed.image,
                    health=result.health.to_json() if result.health else None,
                    details=dict(deployed.details),
                ),
            )

        pending = self.ledger.write(build)
        with contextlib.suppress(HoistError):  # the previous run's debt; the next write tries again
            self.ledger.repair(pending.view, indexed=pending.indexed)
        appended = self.ledger.confirm(pending)
        try:
            self.ledger.index(appended.entry.record, appended.manifest, indexed=appended.indexed)
        except HoistError as exc:  # listed by the next write's repair
            result.follow_ups_failed = (*result.follow_ups_failed, FollowUp("referrers", str(exc)))
        return appended.entry.manifest
