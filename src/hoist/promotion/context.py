"""What the core needs to carry out a rule-bound operation: the configuration, the stores, the caller's
environment (actor, git, CI), the clock, where key passwords come from, and progress observers.

One :class:`Context` serves every step of a promotion, rollback, deploy or release, so each step reads
the same rules from the same place; the public :class:`hoist.Project` builds it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hoist.clock import Clock, format_time, system_clock
from hoist.promotion.config import Config, Environment
from hoist.promotion.provenance import actor, ci_info, git_info
from hoist.promotion.record import Provenance
from hoist.ref import Reference
from hoist.secret import Secret
from hoist.store.base import Store
from hoist.store.session import Session

if TYPE_CHECKING:
    from hoist.evidence.keyless.trust import TrustRoot
    from hoist.evidence.keys import PrivateKey, PublicKey
    from hoist.ops.copy import CopyObserver
    from hoist.promotion.ledger import Ledger
    from hoist.promotion.notify import Delivery
    from hoist.promotion.signing import Trust

PasswordPrompt = Callable[[str], str]
"""Asks for a key's password (like ``getpass.getpass``) when no environment variable holds one."""


@dataclass
class Context:
    config: Config
    session: Session
    environ: Mapping[str, str]
    clock: Clock = system_clock
    jobs: int = 8
    observer: CopyObserver | None = None
    prompt: PasswordPrompt | None = None
    deliveries: list[Delivery] = field(default_factory=list)
    """Every webhook delivery of this context's events (failed ones are warnings, never errors)."""
    _keys: dict[Path, PrivateKey] = field(default_factory=dict)
    _trusts: dict[str, Trust] = field(default_factory=dict)
    _trust: dict[Path | None, TrustRoot] = field(default_factory=dict)

    def environment(self, name: str) -> Environment:
        return self.config.environment(name)

    def open(self, ref: Reference, *, push: bool = False, absent_ok: bool = False) -> Store:
        return self.session.open(ref, push=push, absent_ok=absent_ok)

    def now(self) -> datetime:
        return self.clock()

    def provenance(self) -> Provenance:
        """Who is acting, now, from which commit and CI run."""
        environ = self.environ
        return Provenance(
            actor=actor(environ), time=format_time(self.now()), git=git_info(environ), ci=ci_info(environ)
        )

    def private_key(self, path: Path) -> PrivateKey:
        """A signing key; its password from ``HOIST_KEY_PASSWORD``/``COSIGN_PASSWORD``, else the prompt."""
        from hoist.evidence.keys import load_private_key, password_for

        if path not in self._keys:
            prompt = self.prompt

            def password() -> Secret:
                return password_for(path, environ=self.environ, interactive=prompt is not None, prompt=prompt)

            self._keys[path] = load_private_key(path, password=password)
        return self._keys[path]

    def trust(self, env: Environment) -> Trust | None:
        """Who may write ``env``'s ledger (its ``trust``), with the keys read once."""
        if env.trust is None:
            return None
        from hoist.promotion.signing import Trust

        if env.name not in self._trusts:
            self._trusts[env.name] = Trust(keys=tuple(self.public_keys(env.trust.keys)), since=env.trust.since)
        return self._trusts[env.name]

    def ledger(self, env: Environment, *, push: bool = True, absent_ok: bool = False) -> Ledger:
        """``env``'s ledger: records it writes are signed with the environment's ``key``, and its ``trust``
        decides which records count."""
        from hoist.promotion.ledger import Ledger

        signer = self.private_key(env.key) if env.key is not None and push else None
        trust = self.trust(env)
        if push and trust is not None:  # records this ledger would not accept are not written at all
            from hoist.errors import ConfigError

            if signer is None:
                raise ConfigError(
                    f"{env.name}'s trust accepts only signed records: set its key (the private key whose public "
                    "key trust lists)"
                )
            if all(key.keyid != signer.public_key().keyid for key in trust.keys):
                raise ConfigError(
                    f"{env.name}'s key {env.key} is not among the keys its trust lists: records it signs would "
                    "not be trusted"
                )
        return Ledger(self.open(env.image, push=push, absent_ok=absent_ok), env.name, signer=signer, trust=trust)

    def announce(self, kind: str, environment: str, **fields: Any) -> None:
        """Tell the configured webhooks (``[notify]``) that ``kind`` happened; never raises."""
        if not self.config.notify.webhooks:
            return
        from hoist.promotion.notify import Event, notify

        ci = ci_info(self.environ) or {}
        fields.setdefault("actor", actor(self.environ))
        fields.setdefault("url", ci.get("run_url"))
        event = Event(kind=kind, environment=environment, time=self.now(), **fields)  # type: ignore[arg-type]
        self.deliveries.extend(notify(self.config.notify, event, environ=self.environ))

    def public_keys(self, paths: tuple[Path, ...]) -> list[PublicKey]:
        from hoist.evidence.keys import load_public_key

        return [load_public_key(path) for path in paths]

    def trust_root(self, path: Path | None) -> TrustRoot:
        """The Sigstore trusted root in ``path`` (``None``: the public-good root the ``sigstore`` package
        ships), read once for every gate and check of this context; offline either way."""
        if path not in self._trust:
            from hoist.evidence.keyless.trust import TrustRoot

            self._trust[path] = TrustRoot.from_file(path) if path is not None else TrustRoot.bundled()
        return self._trust[path]
