"""Deploy an environment's promoted digest, check its health, and roll back on its own when it fails.

Order: read the ledger → choose the digest (``--digest``, the promoted one, or the tag's) → ask the
target what serves now → pull and start the new image → health checks → record the deploy. When health
fails before the deadline: record the failure, bring the previous image back, wait for it to be healthy,
move the environment tag back as a rollback in the ledger, record the restore, and raise DeployFailed
(exit 4) saying what failed and what serves now.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hoist.deploy.health import Check, HealthResult, HttpCheck, TcpCheck, wait_healthy
from hoist.deploy.target import Deployed, Running, Target
from hoist.digest import Digest
from hoist.errors import DeployFailed, HoistError, InputError, OperationError
from hoist.promotion.config import Config, Environment, HealthConfig
from hoist.promotion.ledger import Ledger, View, subject_of
from hoist.promotion.promote import Timer
from hoist.promotion.provenance import actor, ci_info, git_info, timestamp
from hoist.promotion.record import Record
from hoist.promotion.rollback import rollback
from hoist.ref import RegistryRef
from hoist.store.session import Session

DEFAULT_HEALTH = HealthConfig(timeout=60.0)


@dataclass
class DeployResult:
    environment: str
    digest: str
    image: str
    target: str
    healthy: bool
    health: HealthResult | None = None
    previous: str | None = None
    rolled_back: bool = False
    restored: str | None = None
    record: str | None = None
    timings: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "digest": self.digest,
            "image": self.image,
            "target": self.target,
            "healthy": self.healthy,
            "health": self.health.to_json() if self.health else None,
            "previous": self.previous,
            "rolled_back": self.rolled_back,
            "restored": self.restored,
            "record": self.record,
            "timings": self.timings,
        }


def open_target(env: Environment, session: Session, environ: Mapping[str, str]) -> Target:
    deploy = env.deploy
    if deploy is None:
        raise InputError(f"environment {env.name} has no [environments.{env.name}.deploy] table in hoist.toml")
    if deploy.target == "command":
        from hoist.deploy.command_target import CommandTarget

        return CommandTarget(deploy, environment=env.name, environ=environ)
    if deploy.target == "gitops":
        from hoist.deploy.gitops_target import GitopsTarget

        return GitopsTarget(deploy, environment=env.name, image_name=env.image.name, environ=environ)
    if not isinstance(env.image, RegistryRef):
        raise InputError(f"{env.name}: a container engine pulls from a registry, not from {env.image}")
    from hoist.deploy.docker_target import DockerTarget

    credentials = session.options.credentials.lookup(env.image.registry, env.image.repository)
    return DockerTarget(deploy, environ=environ, credentials=credentials)


def health_checks(env: Environment, target: Target, deployed: Deployed) -> tuple[list[Check], HealthConfig]:
    health = env.health or DEFAULT_HEALTH
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


def _image(env: Environment, digest: str) -> str:
    return f"{env.image.name}@{digest}"


def _choose_digest(env: Environment, session: Session, view: View, digest: Digest | None) -> str:
    """``--digest``; else for an environment promoted from another, its promoted digest; else its tag's."""
    if digest is not None:
        return str(digest)
    promoted = any(e.record.kind in ("promote", "rollback") for e in view.entries)
    if env.source is not None and promoted and view.current is not None:
        return view.current
    store = session.open(env.image)
    found = store.head_manifest(env.tag)
    if found is None:
        raise InputError(f"{env.name} has nothing to deploy: no promotion recorded and {env.image} does not exist")
    return str(found.digest)


def _last_healthy(view: View, exclude: str) -> Running | None:
    for entry in view.entries:
        deploy = entry.record.deploy or {}
        if (
            entry.record.kind == "deploy"
            and deploy.get("result") in ("healthy", "restored")
            and entry.record.digest != exclude
        ):
            return Running(image=str(deploy.get("image") or ""), digest=entry.record.digest)
    return None


class Deployment:
    """One deploy in two steps: :meth:`start` puts the image into service, :meth:`finish` waits for
    health, records the outcome and rolls back on failure. ``target`` may come opened (and the image
    prepared) already, as release does."""

    def __init__(
        self,
        config: Config,
        session: Session,
        name: str,
        *,
        digest: Digest | None = None,
        no_rollback: bool = False,
        environ: Mapping[str, str] | None = None,
        timer: Timer | None = None,
        target: Target | None = None,
    ) -> None:
        self.config = config
        self.session = session
        self.environ = dict(os.environ) if environ is None else environ
        self.timer = timer or Timer()
        self.env = config.environment(name)
        self.digest = digest
        self.no_rollback = no_rollback
        self.store = session.open(self.env.image, push=True)
        self.ledger = Ledger(self.store, self.env.name)
        self.target = target
        self.deployed: Deployed | None = None
        self.previous: Running | None = None
        self.result: DeployResult | None = None

    def start(self) -> None:
        timer, env = self.timer, self.env
        try:
            if self.target is None:
                with timer.stage("deploy"):
                    self.target = open_target(env, self.session, self.environ)
            target = self.target
            view = self.ledger.read()
            chosen = _choose_digest(env, self.session, view, self.digest)
            image = _image(env, chosen)
            running = target.current()
            previous = running if running is not None and running.digest and running.digest != chosen else None
            self.previous = previous or _last_healthy(view, chosen)
            self.result = DeployResult(
                environment=env.name,
                digest=chosen,
                image=image,
                target=target.describe(),
                healthy=False,
                previous=self.previous.digest if self.previous else None,
            )
            with timer.stage("deploy"):
                self.deployed = target.deploy(image, chosen, previous=self.previous)
        except BaseException:
            self.close()
            raise

    def finish(self) -> DeployResult:
        try:
            return self._finish()
        finally:
            self.close()

    def _finish(self) -> DeployResult:
        timer, env, target, deployed, result = self.timer, self.env, self.target, self.deployed, self.result
        assert target is not None and deployed is not None and result is not None
        checks, health_config = health_checks(env, target, deployed)
        with timer.stage("health"):
            result.health = wait_healthy(checks, health_config, alive=lambda: target.alive(deployed))
        result.healthy = result.health.healthy
        result.timings = {**timer.stages, **{f"target.{k}": v for k, v in deployed.timings.items()}}
        outcome = "healthy" if result.healthy else "failed"
        with timer.stage("record"):
            result.record = _record(self.ledger, self.store, env, deployed, outcome, result, self.environ)
        if result.healthy:
            return result
        previous = self.previous
        if self.no_rollback or previous is None:
            serving = (
                "the new version is still running (--no-rollback)" if self.no_rollback else "nothing earlier to restore"
            )
            raise DeployFailed(
                f"deploy of {result.digest} to {env.name} failed health checks: {result.health.detail}; {serving}"
            )
        _roll_back(
            self.config,
            self.session,
            env,
            target,
            self.ledger,
            self.store,
            deployed,
            previous,
            result,
            self.environ,
            timer,
        )
        raise DeployFailed(
            f"deploy of {result.digest} to {env.name} failed health checks: {result.health.detail}; rolled back: "
            f"{previous.digest} is serving again and {env.tag} points at it"
        )

    def close(self) -> None:
        if self.target is not None:
            self.target.close()


def deploy(
    config: Config,
    session: Session,
    name: str,
    *,
    digest: Digest | None = None,
    no_rollback: bool = False,
    environ: Mapping[str, str] | None = None,
) -> DeployResult:
    """Deploy ENV's digest, wait for health, record it, roll back on failure (see :class:`Deployment`)."""
    deployment = Deployment(config, session, name, digest=digest, no_rollback=no_rollback, environ=environ)
    deployment.start()
    return deployment.finish()


def _roll_back(
    config: Config,
    session: Session,
    env: Environment,
    target: Target,
    ledger: Ledger,
    store: Any,
    failed: Deployed,
    previous: Running,
    result: DeployResult,
    environ: Mapping[str, str],
    timer: Timer,
) -> None:
    image = previous.image or _image(env, previous.digest)
    with timer.stage("restore"):
        restored = target.restore(Running(image, previous.digest, previous.handle), failed=failed)
        checks, health_config = health_checks(env, target, restored)
        health = wait_healthy(checks, health_config, alive=lambda: target.alive(restored))
    result.timings = {**result.timings, **timer.stages}
    why = result.health.detail if result.health else "not healthy"
    if not health.healthy:
        raise DeployFailed(
            f"deploy of {result.digest} to {env.name} failed ({why}) and "
            f"the previous version {previous.digest} did not become healthy either: {health.detail}"
        )
    view = ledger.read()
    if view.current is not None and view.current != previous.digest:
        try:
            rollback(
                config,
                session,
                env.name,
                to=previous.digest,
                automatic=True,
                environ=environ,
                reason=f"automatic: the deploy of {result.digest} failed health checks ({why})",
                details={"failed_digest": result.digest},
            )
        except HoistError as exc:
            raise OperationError(f"restored {previous.digest}, but moving {env.tag} back failed: {exc}") from exc
    result.rolled_back = True
    result.restored = previous.digest
    stand_in = DeployResult(
        environment=env.name,
        digest=previous.digest,
        image=image,
        target=result.target,
        healthy=True,
        health=health,
        previous=result.digest,
        timings=dict(timer.stages),
    )
    _record(ledger, store, env, restored, "restored", stand_in, environ)


def _record(
    ledger: Ledger,
    store: Any,
    env: Environment,
    deployed: Deployed,
    outcome: str,
    result: DeployResult,
    environ: Mapping[str, str],
) -> str:
    def build(view: View) -> Record:
        media_type, size = subject_of(store, view, deployed.digest)
        head = view.head
        return Record(
            seq=view.next_seq,
            environment=env.name,
            kind="deploy",
            digest=deployed.digest,
            media_type=media_type,
            size=size,
            current=view.current or deployed.digest,
            current_seq=head.record.current_seq if head else view.next_seq,
            previous_digest=result.previous,
            previous_record=str(head.manifest) if head else None,
            actor=actor(environ),
            time=timestamp(),
            git=git_info(environ),
            ci=ci_info(environ),
            timings=dict(result.timings),
            deploy={
                "result": outcome,
                "target": result.target,
                "image": deployed.image,
                "health": result.health.to_json() if result.health else None,
                **deployed.details,
            },
        )

    appended = ledger.append(build)
    ledger.index(appended)
    return str(appended.entry.manifest)
