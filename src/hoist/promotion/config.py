"""``hoist.toml``: environments, where each promotes from, its tags, gates, deploy target and health checks.

::

    [environments.staging]
    image = "ghcr.io/username/dotca:staging"

    [environments.production]
    image = "ghcr.io/username/dotca:main"
    from = "staging"
    tags = ["latest", "sha-{git_sha:.7}", "{date}"]
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hoist.errors import ConfigError, HoistError, Remedy
from hoist.promotion.notify_config import NotifyConfig, parse_notify
from hoist.promotion.schema import Table
from hoist.promotion.templates import check_template
from hoist.ref import Reference, parse_reference

if sys.version_info >= (3, 15):  # TOML 1.1 (inline tables over several lines) in the standard library
    import tomllib
else:
    import tomli as tomllib

if TYPE_CHECKING:  # loaded by the parsers below when a configuration has such a table
    from hoist.evidence.keyless.policy import IdentityPolicy, ProvenancePolicy
    from hoist.promotion.gitops_config import GitopsConfig
    from hoist.promotion.windows import Windows

CONFIG_NAME = "hoist.toml"
DEFAULT_HISTORY_TAG = "{tag}-{seq:04}"
_ENV_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
GATE_NAMES = ("deployed", "tests", "signature", "scan", "provenance", "soak")
SEVERITIES = ("none", "low", "medium", "high", "critical")


@dataclass(frozen=True, kw_only=True)
class HealthConfig:
    url: str | None = None
    tcp: str | None = None
    container: bool | None = None
    """Use the container's own HEALTHCHECK: True, False, or None for 'when it has one'."""
    expect_status: tuple[int, ...] = ()
    body: str | None = None
    timeout: float = 60.0
    interval: float = 1.0
    successes: int = 1
    request_timeout: float = 5.0


@dataclass(frozen=True, kw_only=True)
class DeployConfig:
    target: str
    host: str | None = None
    container: str | None = None
    ports: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    volumes: tuple[str, ...] = ()
    network: str | None = None
    command: tuple[str, ...] = ()
    run: str | None = None
    timeout: float = 600.0
    stop_timeout: float = 10.0
    workdir: Path | None = None
    gitops: GitopsConfig | None = None
    pass_env: tuple[str, ...] = ()
    """For a command: the variables of hoist's environment it gets beside the safe ones."""


@dataclass(frozen=True, kw_only=True)
class GatesConfig:
    require: tuple[str, ...] = ()
    deployed_environment: str | None = None
    tests_environment: str | None = None
    tests_max_age: float | None = None
    tests_keys: tuple[Path, ...] = ()
    signature_keys: tuple[Path, ...] = ()
    scan_environment: str | None = None
    scan_max_severity: str = "high"
    scan_max_age: float | None = None
    scan_keys: tuple[Path, ...] = ()
    sign_with: Path | None = None
    signature_identities: tuple[IdentityPolicy, ...] = ()
    """Keyless signers the ``signature`` gate accepts (beside ``signature_keys``)."""
    provenance: ProvenancePolicy | None = None
    trusted_root: Path | None = None
    """The environment's own Sigstore trusted root (else ``[settings]``'s, else the bundled one)."""
    soak_environment: str | None = None
    soak_min: float | None = None
    """How long the digest must have served healthy in ``soak_environment`` (seconds)."""


@dataclass(frozen=True, kw_only=True)
class Member:
    """One image of an environment: its name in the set, where it lives, how it is deployed."""

    name: str
    image: Reference
    deploy: DeployConfig | None = None
    health: HealthConfig | None = None
    mirrors: tuple[Reference, ...] = ()
    """The same image published elsewhere (each mirror's tag is moved along with the image's)."""

    @property
    def tag(self) -> str:
        assert self.image.tag is not None
        return self.image.tag


@dataclass(frozen=True, kw_only=True)
class TrustConfig:
    """Who may write an environment's ledger: ``trust = { keys = [...], since = N }``."""

    keys: tuple[Path, ...]
    since: int = 1
    """The first sequence number that must be signed (older records predate signing)."""


SAME_LABELS = {
    "revision": "org.opencontainers.image.revision",
    "version": "org.opencontainers.image.version",
    "source": "org.opencontainers.image.source",
}
"""Short names ``same = [...]`` accepts; any other value is a label name used as it is."""


@dataclass(frozen=True, kw_only=True)
class Environment:
    name: str
    image: Reference
    """The primary image: the only one of a single-image environment, the first of a set (its repository
    keeps the environment's ledger)."""
    source: str | None = None
    tags: tuple[str, ...] = ()
    history_tag: str = DEFAULT_HISTORY_TAG
    gates: GatesConfig = GatesConfig()
    deploy: DeployConfig | None = None
    health: HealthConfig | None = None
    key: Path | None = None
    """Signs the evidence recorded for this environment (``hoist test``, ``hoist attest``)."""
    members: tuple[Member, ...] = ()
    """Every image of the environment, the primary first (one for ``image = ...``)."""
    is_set: bool = False
    """Defined with ``images = {...}``: several images promoted, recorded and rolled back together."""
    same: tuple[str, ...] = ()
    """Labels every member must carry with one value (``org.opencontainers.image.revision``...)."""
    trust: TrustConfig | None = None
    """Who may write the ledger; None: every record counts (the ledger is as trusted as the registry)."""
    pass_env: tuple[str, ...] = ()
    """Environment variables (names, or ``PREFIX_*``) passed to ``hoist test`` and command deploys."""
    windows: Windows | None = None
    """When the environment may change (``[environments.NAME.windows]``: deny and allow windows)."""

    def __post_init__(self) -> None:
        if not self.members:
            member = Member(name=_member_name(self.image), image=self.image, deploy=self.deploy, health=self.health)
            object.__setattr__(self, "members", (member,))

    @property
    def tag(self) -> str:
        assert self.image.tag is not None
        return self.image.tag

    def member(self, name: str) -> Member:
        found = next((m for m in self.members if m.name == name), None)
        if found is None:
            raise ConfigError(f"{self.name} has no image named {name!r} (it has: {', '.join(self.member_names)})")
        return found

    @property
    def member_names(self) -> list[str]:
        return [m.name for m in self.members]

    @property
    def mirrors(self) -> tuple[Reference, ...]:
        return tuple(mirror for member in self.members for mirror in member.mirrors)


def _member_name(image: Reference) -> str:
    """A single image's name in messages: its repository's last component."""
    return image.name.rstrip("/").rsplit("/", 1)[-1].removeprefix("oci:") or "image"


@dataclass(frozen=True, kw_only=True)
class Config:
    path: Path
    environments: dict[str, Environment]
    insecure: frozenset[str] = frozenset()
    ca_file: Path | None = None
    notify: NotifyConfig = field(default_factory=NotifyConfig)
    trusted_root: Path | None = None
    """``[settings] trusted_root``: the Sigstore trusted root keyless evidence is checked under."""

    def environment(self, name: str) -> Environment:
        env = self.environments.get(name)
        if env is None:
            known = ", ".join(self.environments) or "none"
            raise ConfigError(f"unknown environment {name!r} in {self.path} (environments: {known})")
        return env


def find_config(explicit: Path | None, cwd: Path | None = None) -> Path:
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"config file {explicit} does not exist")
        return explicit
    candidate = (cwd or Path.cwd()) / CONFIG_NAME
    if not candidate.is_file():
        raise ConfigError(
            f"no {CONFIG_NAME} in {candidate.parent}: create one with 'hoist init'",
            remedy=Remedy.CONFIG,
        )
    return candidate


def load_config(path: Path) -> Config:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    return parse_config(data, path)


def parse_config(data: Mapping[str, Any], path: Path) -> Config:
    """A configuration from the parsed TOML document ``data``; relative paths in it are relative to
    ``path``'s directory, and errors name ``path``."""
    top = Table(path, "", dict(data))
    top.check_keys(["environments", "settings", "notify"])
    base = path.parent
    settings = top.table("settings")
    insecure: frozenset[str] = frozenset()
    ca_file = None
    default_history = DEFAULT_HISTORY_TAG
    if settings is not None:
        settings.check_keys(["insecure", "ca_file", "history_tag", "trusted_root"])
        insecure = frozenset(settings.strings("insecure"))
        ca_text = settings.string("ca_file")
        ca_file = _relative(base, ca_text) if ca_text else None
        default_history = _template(settings, "history_tag", DEFAULT_HISTORY_TAG)
    envs_table = top.table("environments", required=True)
    assert envs_table is not None
    environments: dict[str, Environment] = {}
    for name, table in envs_table.tables():
        if not _ENV_NAME.match(name):
            raise envs_table.fail(name, "environment names are lowercase letters, digits, '-' and '_'")
        environments[name] = _environment(name, table, base, default_history)
    if not environments:
        raise top.fail("environments", "define at least one [environments.NAME] table")
    for env in environments.values():
        _check_links(env, environments, envs_table)
    notify = parse_notify(top.table("notify"), environments=environments)
    config = Config(path=path, environments=environments, insecure=insecure, ca_file=ca_file, notify=notify)
    return _with_trusted_root(config, settings, base)


def _with_trusted_root(config: Config, settings: Table | None, base: Path) -> Config:
    if settings is None:
        return config
    from dataclasses import replace

    from hoist.promotion.keyless_config import parse_trusted_root

    return replace(config, trusted_root=parse_trusted_root(settings, base))


def _relative(base: Path, text: str) -> Path:
    path = Path(text).expanduser()
    return path if path.is_absolute() else base / path


def _template(table: Table, key: str, default: str) -> str:
    value = table.string(key, default=default)
    assert value is not None
    try:
        check_template(value)
    except HoistError as exc:
        raise table.fail(key, str(exc)) from exc
    return value


def _image(table: Table, key: str, text: str) -> Reference:
    try:
        image = parse_reference(text)
    except HoistError as exc:
        raise table.fail(key, f"{exc}") from exc
    if image.digest is not None or image.tag is None:
        raise table.fail(key, "expected a reference with a tag, such as ghcr.io/owner/app:production")
    return image


def _members(name: str, table: Table, base: Path) -> tuple[Member, ...]:
    """``image = REF`` (one member), or ``images = { NAME = REF, ... }`` with per-member deploy tables."""
    if table.has("image") == table.has("images"):
        raise table.fail("image", "give either image = REF or images = { NAME = REF, ... }")
    templates = table.strings("mirrors")
    if not table.has("images"):
        image = _image(table, "image", table.req_string("image"))
        member_name = _member_name(image)
        mirrors = tuple(_mirror(table, i, t, member_name) for i, t in enumerate(templates))
        deploy, health = _deploy(table.table("deploy"), base), _health(table.table("health"))
        return (Member(name=member_name, image=image, deploy=deploy, health=health, mirrors=mirrors),)
    images = table.mapping("images")
    if not images:
        raise table.fail("images", 'name at least one image: images = { web = "ghcr.io/acme/web:main" }')
    if len(images) > 1 and any("{name}" not in t for t in templates):
        raise table.fail("mirrors", "with several images, each mirror names {name}: docker.io/acme/{name}:main")
    deploys, healths = table.table("deploy"), table.table("health")
    for key, sub in (("deploy", deploys), ("health", healths)):
        if sub is not None:
            sub.check_keys(list(images))
            if any(not isinstance(v, dict) for v in sub.data.values()):
                raise table.fail(key, "with images = {...}, give one table per image: [environments.ENV.deploy.web]")
    members = []
    for member_name, text in images.items():
        if not re.match(r"^[a-z0-9][a-z0-9_-]{0,62}$", member_name):
            raise table.fail(f"images.{member_name}", "image names are lowercase letters, digits, '-' and '_'")
        mirrors = tuple(_mirror(table, i, t, member_name) for i, t in enumerate(templates))
        member = Member(
            name=member_name,
            image=_image(table, f"images.{member_name}", text),
            deploy=_deploy(deploys.table(member_name) if deploys else None, base),
            health=_health(healths.table(member_name) if healths else None),
            mirrors=mirrors,
        )
        members.append(member)
    repositories = [m.image.name for m in members]
    if len(set(repositories)) != len(repositories):
        raise table.fail("images", "each image needs its own repository")
    return tuple(members)


def _mirror(table: Table, index: int, template: str, member: str) -> Reference:
    try:
        text = template.replace("{name}", member)
    except (KeyError, ValueError) as exc:
        raise table.fail(f"mirrors[{index}]", f"{exc}") from exc
    return _image(table, f"mirrors[{index}]", text)


def _environment(name: str, table: Table, base: Path, default_history: str) -> Environment:
    table.check_keys(
        ["image", "images", "mirrors", "same", "from", "tags", "history_tag", "require", "gates", "deploy", "health",
         "key", "trusted_root", "trust", "pass_env", "windows"]
    )  # fmt: skip
    members = _members(name, table, base)
    same = tuple(SAME_LABELS.get(label, label) for label in table.strings("same"))
    tags = table.strings("tags")
    for index, tag in enumerate(tags):
        try:
            check_template(tag)
        except HoistError as exc:
            raise table.fail(f"tags[{index}]", str(exc)) from exc
    return Environment(
        name=name,
        image=members[0].image,
        source=table.string("from"),
        tags=tuple(tags),
        history_tag=_template(table, "history_tag", default_history),
        gates=_gates(table, base),
        deploy=members[0].deploy,
        health=members[0].health,
        key=_relative(base, key_text) if (key_text := table.string("key")) else None,
        members=members,
        is_set=table.has("images"),
        same=same,
        trust=_trust(table.table("trust"), base),
        pass_env=tuple(_names(table, "pass_env")),
        windows=_windows(table.table("windows")),
    )


def _windows(table: Table | None) -> Windows | None:
    if table is None:
        return None
    from hoist.promotion.windows import parse_windows

    return parse_windows(table)


def _trust(table: Table | None, base: Path) -> TrustConfig | None:
    if table is None:
        return None
    table.check_keys(["keys", "since"])
    keys = tuple(_relative(base, k) for k in table.strings("keys"))
    if not keys:
        raise table.fail("keys", 'list the public keys that may write this ledger: keys = ["keys/production.pub"]')
    return TrustConfig(keys=keys, since=table.integer("since", default=1, minimum=1))


def _names(table: Table, key: str) -> list[str]:
    names = table.strings(key)
    for index, name in enumerate(names):
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*\*?$", name):
            raise table.fail(f"{key}[{index}]", "expected a variable name, or a prefix ending in * (GITHUB_*)")
    return names


def _gates(env: Table, base: Path) -> GatesConfig:
    require = env.strings("require")
    for index, gate in enumerate(require):
        if gate not in GATE_NAMES:
            raise env.fail(f"require[{index}]", f"unknown gate {gate!r} (expected one of: {', '.join(GATE_NAMES)})")
    from hoist.promotion.keyless_config import parse_identities, parse_provenance, parse_trusted_root

    trusted_root = parse_trusted_root(env, base)
    table = env.table("gates")
    if table is None:
        return GatesConfig(require=tuple(require), trusted_root=trusted_root)
    table.check_keys([*GATE_NAMES, "sign_with"])
    kwargs: dict[str, object] = {"trusted_root": trusted_root}
    deployed = table.table("deployed")
    if deployed is not None:
        deployed.check_keys(["environment"])
        kwargs["deployed_environment"] = deployed.string("environment")
    tests = table.table("tests")
    if tests is not None:
        tests.check_keys(["environment", "max_age", "keys"])
        kwargs["tests_environment"] = tests.string("environment")
        kwargs["tests_max_age"] = tests.duration("max_age", default=None)
        kwargs["tests_keys"] = tuple(_relative(base, k) for k in tests.strings("keys"))
    signature = table.table("signature")
    if signature is not None:
        signature.check_keys(["keys", "identities"])
        kwargs["signature_keys"] = tuple(_relative(base, k) for k in signature.strings("keys"))
        kwargs["signature_identities"] = parse_identities(signature)
        if not kwargs["signature_keys"] and not kwargs["signature_identities"]:
            raise signature.fail("keys", "list at least one public key file, or keyless identities")
    provenance = table.table("provenance")
    if provenance is not None:
        kwargs["provenance"] = parse_provenance(provenance)
    scan = table.table("scan")
    if scan is not None:
        scan.check_keys(["environment", "max_severity", "max_age", "keys"])
        kwargs["scan_environment"] = scan.string("environment")
        kwargs["scan_keys"] = tuple(_relative(base, k) for k in scan.strings("keys"))
        severity = (scan.string("max_severity", default="high") or "high").lower()
        if severity not in SEVERITIES:
            raise scan.fail("max_severity", f"expected one of: {', '.join(SEVERITIES)}")
        kwargs["scan_max_severity"] = severity
        kwargs["scan_max_age"] = scan.duration("max_age", default=None)
    soak = table.table("soak")
    if soak is not None:
        soak.check_keys(["environment", "min"])
        kwargs["soak_environment"] = soak.string("environment")
        kwargs["soak_min"] = soak.duration("min", default=None)
    sign_with = table.string("sign_with")
    if sign_with:
        kwargs["sign_with"] = _relative(base, sign_with)
    return GatesConfig(require=tuple(require), **kwargs)  # type: ignore[arg-type]


def _deploy(table: Table | None, base: Path) -> DeployConfig | None:
    if table is None:
        return None
    target = table.req_string("target")
    if target == "docker":
        table.check_keys(
            ["target", "host", "container", "ports", "env", "volumes", "network", "command", "timeout", "stop_timeout"]
        )
        container = table.req_string("container")
        return DeployConfig(
            target=target,
            host=table.string("host"),
            container=container,
            ports=tuple(table.strings("ports")),
            env=table.mapping("env"),
            volumes=tuple(table.strings("volumes")),
            network=table.string("network"),
            command=tuple(table.strings("command")),
            timeout=table.duration("timeout", default=600.0) or 600.0,
            stop_timeout=table.duration("stop_timeout", default=10.0) or 0.0,
        )
    if target == "command":
        table.check_keys(["target", "run", "env", "timeout", "workdir", "pass_env"])
        workdir = table.string("workdir")
        return DeployConfig(
            target=target,
            run=table.req_string("run"),
            env=table.mapping("env"),
            timeout=table.duration("timeout", default=600.0) or 600.0,
            workdir=_relative(base, workdir) if workdir else base,
            pass_env=tuple(_names(table, "pass_env")),
        )
    if target == "gitops":
        from hoist.promotion.gitops_config import parse_gitops

        return DeployConfig(target=target, gitops=parse_gitops(table))
    raise table.fail("target", 'expected "docker", "command" or "gitops"')


def _health(table: Table | None) -> HealthConfig | None:
    if table is None:
        return None
    table.check_keys(
        [
            "url",
            "tcp",
            "container",
            "expect_status",
            "body",
            "timeout",
            "interval",
            "successes",
            "request_timeout",
        ]
    )
    statuses = table.data.get("expect_status", [])
    if isinstance(statuses, int):
        statuses = [statuses]
    if not isinstance(statuses, list) or not all(isinstance(s, int) and 100 <= s <= 599 for s in statuses):
        raise table.fail("expect_status", "expected an HTTP status code or a list of them")
    container = table.data.get("container")
    if container is not None and not isinstance(container, bool):
        raise table.fail("container", "expected true or false")
    url = table.string("url")
    if url is not None and not url.startswith(("http://", "https://")):
        raise table.fail("url", "expected an http:// or https:// URL")
    health = HealthConfig(
        url=url,
        tcp=table.string("tcp"),
        container=container,
        expect_status=tuple(statuses),
        body=table.string("body"),
        timeout=table.duration("timeout", default=60.0) or 60.0,
        interval=table.duration("interval", default=1.0) or 1.0,
        successes=table.integer("successes", default=1, minimum=1),
        request_timeout=table.duration("request_timeout", default=5.0) or 5.0,
    )
    if health.url is None and health.tcp is None and health.container is not True:
        raise table.fail(None, "give url, tcp, or container = true")
    return health


def _check_links(env: Environment, environments: dict[str, Environment], table: Table) -> None:
    def known(name: str | None, key: str) -> None:
        if name is not None and name not in environments:
            raise table.fail(f"{env.name}.{key}", f"no environment named {name!r} (have: {', '.join(environments)})")

    known(env.source, "from")
    if env.source is not None and env.source in environments:
        source = environments[env.source]
        if (env.is_set or source.is_set) and sorted(env.member_names) != sorted(source.member_names):
            raise table.fail(
                f"{env.name}.images",
                f"a set promotes from a set of the same images: {env.source} has "
                f"{', '.join(source.member_names)}, {env.name} has {', '.join(env.member_names)}",
            )
    known(env.gates.deployed_environment, "gates.deployed.environment")
    known(env.gates.tests_environment, "gates.tests.environment")
    known(env.gates.scan_environment, "gates.scan.environment")
    known(env.gates.soak_environment, "gates.soak.environment")
    for gate in env.gates.require:
        if gate == "signature" and not env.gates.signature_keys and not env.gates.signature_identities:
            raise table.fail(
                f"{env.name}.gates.signature", "the signature gate needs public keys or keyless identities"
            )
        if gate == "soak" and env.gates.soak_min is None:
            raise table.fail(
                f"{env.name}.gates.soak", 'the soak gate needs a time: { environment = "staging", min = "30m" }'
            )
        if gate == "provenance" and env.gates.provenance is None:
            raise table.fail(
                f"{env.name}.gates.provenance",
                'the provenance gate needs { repository = "OWNER/REPO", workflow = ".github/workflows/….yml", '
                'ref = "refs/heads/main" }',
            )
    if env.source == env.name:
        raise table.fail(f"{env.name}.from", "an environment cannot promote from itself")
