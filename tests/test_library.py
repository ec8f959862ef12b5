"""hoist as a library: its public names, its layers, and its rules enforced whoever calls it.

The rules tests run on a real registry and check every effect independently of hoist: the tags with
skopeo, the ledger through the registry's HTTP API.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import hoist
from hoist.evidence.keys import PrivateKey
from hoist.secret import Secret
from tests.infra.images import make_image
from tests.infra.registry import RunningRegistry
from tests.infra.skopeo import SkopeoError, skopeo_digest
from tests.support import Hoist

SRC = Path(__file__).resolve().parent.parent / "src" / "hoist"

# The public API. A name added to or dropped from hoist.__all__ is a decision: change this list with it.
PUBLIC = {
    "__version__",
    # image operations
    "copy",
    "tag",
    "inspect",
    "verify",
    "Options",
    "CopyResult",
    "CopyObserver",
    "TagResult",
    "Inspection",
    "ImageSummary",
    "Verification",
    "Carried",
    "EvidenceCheck",
    # values
    "Digest",
    "Reference",
    "RegistryRef",
    "LayoutRef",
    "parse_reference",
    "Platform",
    # environments
    "Project",
    "Override",
    "Promotion",
    "PromotionPlan",
    "PromoteResult",
    "FollowUp",
    "RollbackResult",
    "Deployment",
    "DeployResult",
    "ReleaseResult",
    "EnvironmentStatus",
    "Audit",
    "PruneResult",
    "TestRun",
    "ScanRecorded",
    "Freeze",
    "FreezeResult",
    "ReleasePlan",
    # the ledger
    "Record",
    "Entry",
    "Kind",
    "DeployOutcome",
    "GateResult",
    "OverrideInfo",
    # errors
    "HoistError",
    "InputError",
    "InvalidReference",
    "InvalidDigest",
    "ConfigError",
    "ReferenceNotFound",
    "AuthenticationFailed",
    "UnsupportedManifest",
    "OperationError",
    "RegistryError",
    "NotFound",
    "ManifestTooLarge",
    "TransportError",
    "IntegrityError",
    "DigestMismatch",
    "TagRaced",
    "LedgerConflict",
    "Cancelled",
    "BundleRejected",
    "EvidenceLost",
    "GateRefused",
    "DeployFailed",
    "Remedy",
}


def test_exported_members() -> None:
    assert set(hoist.__all__) == PUBLIC
    assert len(hoist.__all__) == len(set(hoist.__all__))
    for name in hoist.__all__:
        member = getattr(hoist, name)
        if isinstance(member, type) or (callable(member) and hasattr(member, "__code__")):
            assert member.__module__.startswith("hoist."), (name, member.__module__)
    assert sorted(dir(hoist)) == sorted(PUBLIC)
    with pytest.raises(AttributeError):
        hoist.not_a_name  # noqa: B018


def test_every_error_is_one_tree() -> None:
    for name in hoist.__all__:
        member = getattr(hoist, name)
        if isinstance(member, type) and issubclass(member, Exception):
            assert issubclass(member, hoist.HoistError), name
            assert member.exit_code in (1, 2, 3, 4), name


def test_importing_hoist_loads_nothing_heavy() -> None:
    """``import hoist`` and the CLI's entry module load no HTTP, crypto, docker or rich code."""
    code = (
        "import sys, hoist, hoist.cli.app\n"
        "heavy = [m for m in ('httpx', 'httpcore', 'cryptography', 'docker', 'rich', 'nacl', 'sigstore') "
        "if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


def test_a_promotion_without_keys_loads_no_crypto(tmp_path: Path) -> None:
    """A promotion whose environments sign nothing and gate on no evidence never loads the key code
    (cryptography, nacl), nor the code of configuration tables it does not have: start-up is most of a
    promotion's time."""
    make_image(tmp_path / "staging", tag="staging", layers=1, layer_size=256, seed="no-crypto")
    config = tmp_path / "hoist.toml"
    config.write_text(
        f'[environments.staging]\nimage = "oci:{tmp_path / "staging"}:staging"\n\n'
        f'[environments.production]\nimage = "oci:{tmp_path / "production"}:main"\nfrom = "staging"\n'
    )
    out, loaded = _loaded_by(
        ["--config", str(config), "promote", "staging", "production", "--json"], UNUSED_BY_A_PLAIN_PROMOTION
    )
    assert json.loads(out)["seq"] == 1
    assert loaded == []


def test_a_retag_loads_only_what_a_retag_uses(tmp_path: Path, registry: RunningRegistry, unique_repo: str) -> None:
    """A retag on a registry (a manifest GET, a PUT and a read-back) loads no upload, evidence, inspect or
    verify code, and nothing heavy; the tag is read back with skopeo."""
    info = make_image(tmp_path / "layout", tag="v1", layers=1, layer_size=256, seed="lean-retag")
    repo = f"{registry.host}/{unique_repo}"
    hoist.copy(f"oci:{tmp_path / 'layout'}:v1", f"{repo}:v1")
    out, loaded = _loaded_by(["copy", f"{repo}:v1", f"{repo}:v2", "--json"], UNUSED_BY_A_RETAG)
    assert json.loads(out)["mode"] == "retag"
    assert loaded == []
    assert skopeo_digest(f"docker://{repo}:v2", tls_verify=False) == info.digest


def _loaded_by(argv: list[str], modules: tuple[str, ...]) -> tuple[str, list[str]]:
    """Run ``hoist ARGV`` as the console script does, in a fresh interpreter: its stdout, and which of
    ``modules`` it loaded."""
    code = (
        "import sys\n"
        "from hoist.cli.entry import main\n"
        f"sys.argv = ['hoist', *{argv!r}]\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        f"print(','.join(m for m in {modules!r} if m in sys.modules), file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return done.stdout, [m for m in done.stderr.strip().split(",") if m]


UNUSED_BY_A_PLAIN_PROMOTION = (
    "cryptography",
    "nacl",
    "sigstore",
    "docker",
    "rich",
    # the parts of hoist.toml and the gates this configuration does not use: each module costs its
    # import and the classes it defines (about a millisecond per dataclass on Python 3.11)
    "hoist.evidence.intoto",
    "hoist.evidence.keyless.policy",
    "hoist.promotion.windows",
    "hoist.promotion.gitops_config",
)

UNUSED_BY_A_RETAG = (
    "cryptography",
    "nacl",
    "sigstore",
    "docker",
    "rich",
    "hoist.evidence",
    "hoist.store.registry.upload",
    "hoist.ops.carry",
    "hoist.ops.inspect",
    "hoist.ops.verify",
)


# -- layers ------------------------------------------------------------------------------------------

# Each layer imports only from its own layer and those before it (README: Development).
LAYERS = [
    {"hoist", "hoist.ref", "hoist.digest", "hoist.manifest", "hoist.errors", "hoist.clock", "hoist.secret",
     "hoist.timing", "hoist.process"},
    {"hoist.store"},
    {"hoist.ops"},
    {"hoist.evidence"},
    {"hoist.promotion"},
    {"hoist.deploy"},
    {"hoist.report", "hoist.workflows"},
    {"hoist.api", "hoist.options", "hoist.project"},
    {"hoist.cli", "hoist.__main__"},
]  # fmt: skip


def _layer(module: str) -> int:
    for rank, names in enumerate(LAYERS):
        for name in names:
            if module == name or (name != "hoist" and module.startswith(name + ".")):
                return rank
    raise AssertionError(f"{module} is in no layer: add it to LAYERS")


def _imports(path: Path, module: str) -> list[tuple[str, int]]:
    """Modules ``path`` imports at run time (``if TYPE_CHECKING:`` blocks are for the type checker)."""
    tree = ast.parse(path.read_text())
    found: list[tuple[str, int]] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                found.append((child.module, child.lineno))
            elif isinstance(child, ast.Import):
                found.extend((alias.name, child.lineno) for alias in child.names)
            visit(child)

    visit(tree)
    return [(name, line) for name, line in found if name == "hoist" or name.startswith("hoist.")]


def test_layers_import_only_downwards() -> None:
    violations = []
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        if module == "hoist":
            continue  # the package root loads its public names lazily from every layer
        rank = _layer(module)
        for imported, line in _imports(path, module):
            if imported == "hoist":
                continue  # `from hoist import __version__`
            if _layer(imported) > rank:
                violations.append(f"{path.relative_to(SRC.parent)}:{line}: {module} imports {imported}")
    assert not violations, "\n".join(violations)


# -- the rules, from Python, on a registry -----------------------------------------------------------


def _ledger(registry: RunningRegistry, repository: str, environment: str) -> list[str]:
    """The ledger's head record digest, read with the registry API (not through hoist)."""
    with registry.client() as client:
        answer = client.head(
            f"/v2/{repository}/manifests/hoist-ledger.{environment}",
            headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
        )
    return [answer.headers["docker-content-digest"]] if answer.status_code == 200 else []


@pytest.fixture
def project(tmp_path: Path, registry: RunningRegistry, unique_repo: str, monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.setenv("HOIST_ACTOR", "library-user")
    monkeypatch.setenv("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567")
    keys = tmp_path / "keys"
    keys.mkdir()
    signer = PrivateKey.generate()
    (keys / "staging.pub").write_bytes(signer.public_key().pem())
    (keys / "staging.key").write_bytes(signer.encrypted_pem(password=Secret("")))
    layout = tmp_path / "build"
    images = {n: make_image(layout, tag=n, layers=1, layer_size=2048, seed=f"library-{n}") for n in "AB"}
    repo = f"{registry.host}/{unique_repo}"
    data = {
        "environments": {
            "staging": {"image": f"{repo}:staging"},
            "production": {
                "image": f"{repo}:main",
                "from": "staging",
                "require": ["signature"],
                "gates": {"signature": {"keys": [str(keys / "staging.pub")]}},
            },
        }
    }
    return {"data": data, "repo": repo, "layout": layout, "images": images, "registry": registry}


def test_promote_from_python_refuses_an_unsigned_image_and_records_an_override(project: dict) -> None:
    repo, layout, images, registry = project["repo"], project["layout"], project["images"], project["registry"]
    hoist.copy(f"oci:{layout}:A", f"{repo}:staging")
    with hoist.Project.from_dict(project["data"]) as library:
        with pytest.raises(hoist.GateRefused) as refused:
            library.promote("staging", "production", reason="release A")
        assert refused.value.exit_code == 3
        assert [(g.gate, g.passed) for g in refused.value.results] == [("signature", False)]
        # nothing moved, nothing was recorded (read without hoist)
        with pytest.raises(SkopeoError, match="manifest unknown"):
            skopeo_digest(f"docker://{repo}:main", tls_verify=False)
        assert _ledger(registry, repo.split("/", 1)[1], "production") == []

        result = library.promote("staging", "production", override=hoist.Override("hotfix for the outage"))
        assert result.digest == hoist.Digest.parse(images["A"].digest) and result.seq == 1
    assert skopeo_digest(f"docker://{repo}:main", tls_verify=False) == images["A"].digest
    head = _ledger(registry, repo.split("/", 1)[1], "production")
    with registry.client() as client:
        manifest = client.get(
            f"/v2/{repo.split('/', 1)[1]}/manifests/{head[0]}",
            headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
        ).json()
    record = json.loads(manifest["annotations"]["dev.hoist.ledger.record"])
    assert record["override"] == {"reason": "hotfix for the outage", "rules": ["signature"]}
    assert record["reason"] == "hotfix for the outage" and record["actor"] == "library-user"
    assert record["gates"][0]["overridden"] is True


def test_an_override_covers_only_the_rules_it_names(project: dict) -> None:
    repo, layout = project["repo"], project["layout"]
    hoist.copy(f"oci:{layout}:A", f"{repo}:staging")
    with hoist.Project.from_dict(project["data"]) as library, pytest.raises(hoist.GateRefused):
        library.promote("staging", "production", override=hoist.Override("not this one", rules=["tests"]))
    with pytest.raises(hoist.InputError):
        hoist.Override("   ")


def test_release_from_python_refuses_before_anything_moves(project: dict, tmp_path: Path) -> None:
    repo, layout, registry = project["repo"], project["layout"], project["registry"]
    marker = tmp_path / "deployed"
    data = project["data"]
    data["environments"]["production"]["deploy"] = {"target": "command", "run": f"touch {marker}"}
    hoist.copy(f"oci:{layout}:A", f"{repo}:staging")
    with hoist.Project.from_dict(data) as library, pytest.raises(hoist.GateRefused):
        library.release("staging", "production")
    assert not marker.exists()
    assert _ledger(registry, repo.split("/", 1)[1], "production") == []
    with hoist.Project.from_dict(data) as library:
        released = library.release("staging", "production", override=hoist.Override("ship it"))
    assert marker.exists() and released.deployment is not None and released.deployment.healthy
    assert released.promotion.override is not None and released.promotion.override.rules == ("signature",)


def test_rollback_to_a_digest_never_promoted_needs_an_override(project: dict) -> None:
    repo, layout, images, registry = project["repo"], project["layout"], project["images"], project["registry"]
    data = project["data"]
    del data["environments"]["production"]["require"]
    hoist.copy(f"oci:{layout}:A", f"{repo}:staging")
    hoist.copy(f"oci:{layout}:B", f"{repo}:other")  # in the repository, never promoted to production
    with hoist.Project.from_dict(data) as library:
        library.promote("staging", "production")
        head = _ledger(registry, repo.split("/", 1)[1], "production")
        with pytest.raises(hoist.GateRefused) as refused:
            library.rollback("production", to=images["B"].digest)
        assert refused.value.results[0].gate == "promoted"
        assert _ledger(registry, repo.split("/", 1)[1], "production") == head  # nothing recorded
        assert skopeo_digest(f"docker://{repo}:main", tls_verify=False) == images["A"].digest
        rolled = library.rollback("production", to=images["B"].digest, override=hoist.Override("known good build"))
        assert rolled.override is not None and rolled.override.rules == ("promoted",)
    assert skopeo_digest(f"docker://{repo}:main", tls_verify=False) == images["B"].digest


def test_promotion_steps_run_in_order_and_can_be_composed(project: dict) -> None:
    repo, layout, images = project["repo"], project["layout"], project["images"]
    data = project["data"]
    del data["environments"]["production"]["require"]
    hoist.copy(f"oci:{layout}:A", f"{repo}:staging")
    with hoist.Project.from_dict(data) as library:
        promotion = library.promotion("staging", "production", reason="step by step")
        with pytest.raises(hoist.InputError, match="next is plan"):
            promotion.copy()
        plan = promotion.plan()
        assert plan.digest == hoist.Digest.parse(images["A"].digest) and plan.seq == 1 and not plan.noop
        promotion.copy()
        promotion.record()
        assert skopeo_digest(f"docker://{repo}:main", tls_verify=False) == images["A"].digest  # moved while settling
        result = promotion.confirm()
        assert result.seq == 1 and result.record is not None and not result.follow_ups_failed
        assert [e.record.reason for e in library.history("production")] == ["step by step"]


def test_copy_json_names_each_destination_of_a_layout(cli: Hoist, tmp_path: Path) -> None:
    layout = tmp_path / "src"
    make_image(layout, tag="v1", layers=1, seed="layout-json")
    result = hoist.copy(f"oci:{layout}:v1", f"oci:{tmp_path}/dst2:v1", tags=["extra"])
    assert [str(d) for d in result.destinations] == [f"oci:{tmp_path}/dst2:v1", f"oci:{tmp_path}/dst2:extra"]
    out = cli.ok("copy", f"oci:{layout}:v1", f"oci:{tmp_path}/dst3:v1", "--tag", "extra", "--json").json
    assert out["destinations"] == [f"oci:{tmp_path}/dst3:v1", f"oci:{tmp_path}/dst3:extra"]


def test_options_timeout_and_cancel_stop_a_call(registry: RunningRegistry, tmp_path: Path) -> None:
    import threading

    cancel = threading.Event()
    cancel.set()
    with pytest.raises(hoist.Cancelled):
        hoist.inspect(f"{registry.host}/nothing:here", options=hoist.Options(cancel=cancel))
    with pytest.raises(hoist.InputError):
        hoist.Options(jobs=0)
