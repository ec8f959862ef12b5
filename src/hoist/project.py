"""A project: the environments of a ``hoist.toml`` and everything that moves a digest between them.

Every operation enforces the environment's rules itself (gates, signing on promotion, rollback targets):
calling it from Python decides exactly as the command line does. Setting a refusing rule aside takes an
explicit :class:`hoist.Override` with a reason, which the ledger records.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from hoist.digest import Digest
from hoist.errors import InputError
from hoist.options import Options
from hoist.promotion.config import Config, find_config, load_config, parse_config
from hoist.promotion.context import Context
from hoist.promotion.rules import Override
from hoist.store.session import Session

if TYPE_CHECKING:
    from hoist.deploy.deploy import Deployment, DeployResult
    from hoist.deploy.release import ReleaseResult
    from hoist.deploy.set_deploy import SetDeployment, SetDeployResult
    from hoist.promotion.attesting import ScanRecorded, TestRun
    from hoist.promotion.audit import Audit
    from hoist.promotion.freeze import FreezeResult
    from hoist.promotion.notify import Delivery
    from hoist.promotion.plan import ReleasePlan
    from hoist.promotion.promote import PromoteResult, Promotion
    from hoist.promotion.prune import PruneResult
    from hoist.promotion.record import Entry, GateResult
    from hoist.promotion.rollback import RollbackResult
    from hoist.promotion.status import EnvironmentStatus
    from hoist.promotion.sync import SyncResult
    from hoist.store.registry.options import RequestStats


class Project:
    """The environments of one configuration, and a connection to their registries.

    Close it when done (or use ``with``): it keeps one HTTP connection pool per registry for its life.
    """

    def __init__(self, config: Config, *, options: Options | None = None) -> None:
        self.config = config
        options = options or Options()
        self.options = options.with_insecure(config.insecure)
        if self.options.ca_file is None and config.ca_file is not None:
            from dataclasses import replace

            self.options = replace(self.options, ca_file=config.ca_file)
        self._session: Session | None = None
        self._context: Context | None = None

    @classmethod
    def load(cls, path: str | Path | None = None, *, options: Options | None = None) -> Project:
        """The project of ``path`` (default: ``hoist.toml`` in the working directory)."""
        return cls(load_config(find_config(Path(path) if path is not None else None)), options=options)

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, base: str | Path | None = None, options: Options | None = None
    ) -> Project:
        """A project from a configuration given as data (the TOML document's shape); relative paths in it
        are relative to ``base`` (default: the working directory)."""
        directory = Path(base) if base is not None else Path.cwd()
        return cls(parse_config(data, directory / "hoist.toml"), options=options)

    # -- life ----------------------------------------------------------------------------------------

    @property
    def context(self) -> Context:
        """What the core works with (internal: its shape may change between versions)."""
        if self._context is None:
            self._session = Session(self.options.registry_options())
            self._context = Context(
                config=self.config,
                session=self._session,
                environ=self.options.env,
                clock=self.options.now(),
                jobs=self.options.jobs,
                observer=self.options.observer,
                prompt=self.options.prompt,
            )
        return self._context

    @property
    def deliveries(self) -> list[Delivery]:
        """Webhook deliveries so far (``[notify]``); a failed one is a warning, never an error."""
        return list(self._context.deliveries) if self._context is not None else []

    @property
    def stats(self) -> RequestStats:
        """Registry requests made so far."""
        return self.context.session.stats

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
        self._session = None
        self._context = None

    def __enter__(self) -> Project:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    @property
    def environments(self) -> list[str]:
        return list(self.config.environments)

    # -- promotion -----------------------------------------------------------------------------------

    def promotion(
        self,
        source: str,
        target: str,
        *,
        digest: str | Digest | None = None,
        only: Sequence[str] | None = None,
        reason: str | None = None,
        override: Override | None = None,
        force: bool = False,
        dry_run: bool = False,
        referrers: bool = True,
    ) -> Promotion:
        """A promotion of ``source``'s digest to ``target``, to run step by step (``plan``, ``copy``,
        ``record``, ``confirm``) or at once (``run``)."""
        from hoist.promotion.promote import Promotion

        return Promotion(
            self.context,
            source,
            target,
            digest=_digest(digest),
            only=only,
            reason=reason,
            override=override,
            force=force,
            dry_run=dry_run,
            referrers=referrers,
        )

    def promote(
        self,
        source: str,
        target: str,
        *,
        digest: str | Digest | None = None,
        only: Sequence[str] | None = None,
        reason: str | None = None,
        override: Override | None = None,
        force: bool = False,
        dry_run: bool = False,
        referrers: bool = True,
    ) -> PromoteResult:
        """Promote ``source``'s digest to ``target`` by digest: gates, copy, record, tags, read-back.

        Raises :class:`hoist.GateRefused` (nothing changed) when a gate refuses and ``override`` does not
        cover it. ``force`` records the promotion again when ``target`` has the digest already, and allows
        a ``source`` other than ``target``'s ``from``. For an environment of several images, every image
        moves (or none); ``only`` names the ones to move on purpose.
        """
        return self.promotion(
            source,
            target,
            digest=digest,
            only=only,
            reason=reason,
            override=override,
            force=force,
            dry_run=dry_run,
            referrers=referrers,
        ).run()

    def release(
        self,
        source: str,
        target: str,
        *,
        digest: str | Digest | None = None,
        only: Sequence[str] | None = None,
        reason: str | None = None,
        override: Override | None = None,
        force: bool = False,
        referrers: bool = True,
    ) -> ReleaseResult:
        """The production path: promote, verify in place, deploy, wait for health, roll back on failure
        (:class:`hoist.DeployFailed` when it did)."""
        from hoist.deploy.release import release

        promotion = self.promotion(
            source,
            target,
            digest=digest,
            only=only,
            reason=reason,
            override=override,
            force=force,
            referrers=referrers,
        )
        return release(self.context, promotion)

    def rollback(
        self,
        environment: str,
        *,
        to: int | str | Digest | None = None,
        reason: str | None = None,
        override: Override | None = None,
        force: bool = False,
        dry_run: bool = False,
    ) -> RollbackResult:
        """Move ``environment`` back to its previous promoted digest, or ``to`` a sequence number or digest
        it has had; a digest it never had is refused unless ``override`` covers the ``promoted`` rule."""
        from hoist.promotion.rollback import parse_target, rollback

        target = parse_target(to) if isinstance(to, str) else to
        return rollback(
            self.context, environment, to=target, reason=reason, override=override, force=force, dry_run=dry_run
        )

    def gates(self, source: str, target: str, *, digest: str | Digest | None = None) -> list[GateResult]:
        """Evaluate ``target``'s gates on ``source``'s digest (or ``digest``) without promoting anything."""
        from hoist.ops.resolve import resolve
        from hoist.promotion.gates import Gates

        ctx = self.context
        source_env, target_env = ctx.environment(source), ctx.environment(target)
        chosen = _digest(digest) or resolve(ctx.open(source_env.image), source_env.image).digest
        return Gates(ctx, source_env, target_env).evaluate(chosen)

    # -- deploys -------------------------------------------------------------------------------------

    def deployment(
        self,
        environment: str,
        *,
        digest: str | Digest | None = None,
        rollback: bool = True,
        override: Override | None = None,
    ) -> Deployment | SetDeployment:
        """A deploy of ``environment``'s digest (each of its images, for a set), in two steps (``start``,
        ``finish``). While the environment is frozen, ``start`` refuses a deploy of anything but what it
        ran (:class:`hoist.GateRefused`) unless ``override`` covers the ``freeze`` and ``window`` rules."""
        from hoist.deploy.deploy import Deployment
        from hoist.deploy.set_deploy import SetDeployment

        ctx = self.context
        if ctx.environment(environment).is_set:
            if digest is not None:
                raise InputError(f"{environment} holds several images: it deploys the digests it was promoted")
            return SetDeployment(ctx, environment, rollback_on_failure=rollback, override=override)
        return Deployment(ctx, environment, digest=_digest(digest), rollback_on_failure=rollback, override=override)

    def deploy(
        self,
        environment: str,
        *,
        digest: str | Digest | None = None,
        rollback: bool = True,
        override: Override | None = None,
    ) -> DeployResult | SetDeployResult:
        """Deploy ``environment``'s promoted digest (by digest), wait for health, roll back when it fails."""
        deployment = self.deployment(environment, digest=digest, rollback=rollback, override=override)
        deployment.start()
        return deployment.finish()

    # -- when to change: freezes, windows, plans ------------------------------------------------------

    def freeze(self, environment: str, *, until: datetime | str, reason: str) -> FreezeResult:
        """Stop changes to ``environment`` until ``until`` (a time, or RFC 3339 text), for ``reason``: a
        ledger record every pipeline reads, announced to the webhooks. A newer freeze replaces it."""
        from hoist.promotion.freeze import freeze

        return freeze(self.context, environment, until=_time(until), reason=reason)

    def unfreeze(self, environment: str, *, reason: str) -> FreezeResult:
        """Lift the freeze in force on ``environment`` before its end (recorded and announced)."""
        from hoist.promotion.freeze import unfreeze

        return unfreeze(self.context, environment, reason=reason)

    def plan(self, source: str | None = None, target: str | None = None) -> list[ReleasePlan]:
        """What ``release source target`` would do — or a release of every environment that has a
        ``from`` — without changing anything: digests, commits, every gate, freezes, mirrors, requests."""
        from hoist.promotion.plan import plan_releases

        if (source is None) != (target is None):
            raise InputError("name both environments of a release (FROM and TO), or neither")
        pairs = [(source, target)] if source is not None and target is not None else None
        return plan_releases(self.context, pairs)

    # -- evidence ------------------------------------------------------------------------------------

    def test(
        self,
        environment: str,
        command: Sequence[str],
        *,
        junit: str | Path | None = None,
        digest: str | Digest | None = None,
        key: str | Path | None = None,
        only: Sequence[str] = (),
    ) -> TestRun:
        """Run ``command`` against ``environment`` and record its outcome on the digest it runs (on each
        image of a set, or those ``only`` names)."""
        from hoist.promotion.attesting import run_tests

        return run_tests(
            self.context,
            environment,
            command,
            junit=Path(junit) if junit is not None else None,
            digest=_digest(digest),
            key=Path(key) if key is not None else None,
            only=only,
        )

    def record_scan(
        self,
        environment: str,
        report: str | Path,
        *,
        digest: str | Digest | None = None,
        key: str | Path | None = None,
    ) -> ScanRecorded:
        """Record a vulnerability scan report (Trivy JSON or SARIF) on ``environment``'s digest."""
        from hoist.promotion.attesting import record_scan

        return record_scan(
            self.context,
            environment,
            Path(report),
            digest=_digest(digest),
            key=Path(key) if key is not None else None,
        )

    # -- the ledger ----------------------------------------------------------------------------------

    def history(self, environment: str, *, limit: int | None = 20) -> list[Entry]:
        """``environment``'s records, newest first."""
        from hoist.promotion.ledger import Ledger

        env = self.context.environment(environment)
        return Ledger(self.context.open(env.image), env.name).history(limit)

    def untrusted(self, environment: str, entry: Entry) -> str | None:
        """Why ``entry`` of ``environment``'s ledger is not trusted (its ``trust`` names who may write the
        ledger), or None when it is (or when no ``trust`` is configured)."""
        trust = self.context.trust(self.context.environment(environment))
        return trust.problem(entry.record, entry.signature) if trust is not None else None

    def status(self, *environments: str) -> list[EnvironmentStatus]:
        """Where each environment (default: all) stands: digest, age, drift, rollback readiness, last deploy."""
        from hoist.promotion.status import status

        found = status(self.context, list(environments) or None)
        for item in found:
            env = self.config.environments.get(item.environment)
            if env is not None and env.deploy is not None and env.deploy.target == "gitops" and item.error is None:
                _from_repository(self.context, item)
        return found

    def audit(self, environment: str, *, since: int | None = None) -> Audit:
        """Check ``environment``'s ledger back to its first record (or to sequence ``since``, a point
        already audited): the chain is intact, no record was edited, what it records still exists."""
        from hoist.promotion.audit import audit

        env = self.context.environment(environment)
        ctx = self.context
        store, trust = ctx.open(env.image), ctx.trust(env)
        return audit(store, env, jobs=self.options.jobs, since=since, opener=ctx.open, trust=trust)

    def sync(self, environment: str, *, dry_run: bool = False) -> SyncResult:
        """Bring ``environment``'s mirrors level with it: each gets the digest it has, its evidence and tags."""
        from hoist.promotion.sync import sync

        return sync(self.context, environment, dry_run=dry_run)

    def prune(self, environment: str, *, keep: int, dry_run: bool = False) -> PruneResult:
        """Remove history tags beyond the newest ``keep`` (never the current image's), and record it."""
        from hoist.promotion.prune import prune

        return prune(self.context, environment, keep=keep, dry_run=dry_run)


def _digest(value: str | Digest | None) -> Digest | None:
    if value is None or isinstance(value, Digest):
        return value
    return Digest.parse(value)


def _time(value: datetime | str) -> datetime:
    if isinstance(value, datetime):
        return value
    from hoist.clock import parse_time

    try:
        return parse_time(value)
    except ValueError as exc:
        raise InputError(f"{value!r} is not a time: expected RFC 3339, such as 2026-12-27T09:00:00Z") from exc


def _from_repository(ctx: Context, item: EnvironmentStatus) -> None:
    """The digest a GitOps repository holds for the environment (what Argo CD or Flux will apply)."""
    from hoist.deploy.deploy import open_target
    from hoist.errors import HoistError

    try:
        target = open_target(ctx, ctx.environment(item.environment))
        try:
            running = target.current()
        finally:
            target.close()
    except HoistError as exc:
        item.target_detail = f"cannot read the repository: {exc}"
        return
    if running is None:
        item.target_detail = "the repository names no digest yet"
        return
    item.target_digest = Digest.parse(running.digest)
    item.target_detail = f"{target.describe()} at {running.handle}" if running.handle else target.describe()
