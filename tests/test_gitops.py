"""The GitOps target against real git: a bare repository as the remote, clones as its consumers, and
``kubectl kustomize`` rendering what a cluster would run. Effects are read back with git itself."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hoist.deploy.gitops_target import GitopsTarget, outputs
from hoist.deploy.target import Deployed, Running
from hoist.errors import InputError, OperationError
from hoist.promotion.config import DeployConfig
from hoist.promotion.gitops_config import GitopsConfig, parse_edit
from tests.infra.gitrepo import Remote, git, make_remote
from tests.infra.kubectl import kubectls, kustomize

IMAGE = "ghcr.io/acme/dotca"
D = ["sha256:" + str(n) * 64 for n in range(10)]
PROD = "apps/dotca/production/kustomization.yaml"
STAGING = "apps/dotca/staging/kustomization.yaml"
VALUES = "charts/dotca/values-production.yaml"

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: dotca
spec:
  selector:
    matchLabels: {app: dotca}
  template:
    metadata:
      labels: {app: dotca}
    spec:
      containers:
        - name: app
          image: dotca
"""

KUSTOMIZATION = """\
# {env} overlay for dotca: Argo CD applies this directory.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - deployment.yaml   # the app
images:
  - name: dotca            # the name the deployment uses
    newName: ghcr.io/acme/dotca
"""

VALUES_TEXT = """\
# Values for dotca in production.
replicaCount: 3   # keep three pods

image:
  # ghcr.io/acme/dotca is where hoist promotes to
  repository: ghcr.io/acme/dotca
  tag: "1.4.2"      # the chart uses the digest when set
  digest: ""        # written by hoist
  pullPolicy: IfNotPresent

resources: {}
"""


@pytest.fixture
def remote(tmp_path: Path) -> Remote:
    return make_remote(
        tmp_path / "remote",
        {
            "apps/dotca/production/deployment.yaml": DEPLOYMENT,
            "apps/dotca/staging/deployment.yaml": DEPLOYMENT,
            PROD: KUSTOMIZATION.format(env="Production"),
            STAGING: KUSTOMIZATION.format(env="Staging"),
            VALUES: VALUES_TEXT,
            "README.md": "not yaml: [\n",
        },
    )


@pytest.fixture
def environ(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir()
    return {"PATH": os.environ["PATH"], "HOME": str(home), "HOIST_ACTOR": "alice"}


Factory = Callable[..., GitopsTarget]


@pytest.fixture
def target(remote: Remote, environ: dict[str, str]) -> Iterator[Factory]:
    opened: list[GitopsTarget] = []

    def make(
        *,
        file: str = PROD,
        edit: str = "kustomize",
        environment: str = "production",
        env: dict[str, str] | None = None,
        **options: Any,
    ) -> GitopsTarget:
        config = GitopsConfig(
            repository=options.pop("repository", remote.url),
            file=file,
            branch=options.pop("branch", "main"),
            edit=parse_edit(edit),
            **options,
        )
        made = GitopsTarget(
            DeployConfig(target="gitops", gitops=config),
            environment=environment,
            image_name=IMAGE,
            environ=env or environ,
        )
        opened.append(made)
        return made

    yield make
    for made in opened:
        made.close()


def trailers(body: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in body.splitlines() if line.startswith("Hoist-"))


def rendered_images(kubectl: Path, remote: Remote, tmp_path: Path, name: str) -> list[str]:
    consumer = tmp_path / name
    git("clone", "--quiet", remote.url, str(consumer))
    out = kustomize(kubectl, consumer / "apps/dotca/production")
    return [line.split("image:", 1)[1].strip() for line in out.splitlines() if "image:" in line]


def test_kustomize_deploy_renders_the_digest_and_names_it_in_the_commit(
    target: Factory, remote: Remote, tmp_path: Path
) -> None:
    deployer = target()
    deployer.annotate(seq=7, reason="ship the login fix")
    assert deployer.current() is None  # no digest in the file yet
    before = remote.tip()
    deployed = deployer.deploy(f"{IMAGE}@{D[1]}", D[1], previous=None)

    head = remote.log()[0]
    assert head.parents == [before] and deployed.details["commit"] == head.sha == remote.tip()
    assert head.subject == f"production: deploy sha256:{'1' * 12} (seq 7)"
    assert "ship the login fix" in head.body
    assert trailers(head.body) == {
        "Hoist-Environment": "production",
        "Hoist-Action": "deploy",
        "Hoist-Digest": D[1],
        "Hoist-Image": f"{IMAGE}@{D[1]}",
        "Hoist-Previous-Digest": "none",
        "Hoist-Seq": "7",
    }
    assert head.author == "alice <hoist@localhost>"
    diff = remote.diff(before, head.sha)
    assert [line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")] == [
        f"+    digest: {D[1]}"
    ]

    for name, kubectl in kubectls().items():
        assert rendered_images(kubectl, remote, tmp_path, f"render-{name}-1") == [f"{IMAGE}@{D[1]}"], name

    later = target()  # a fresh clone reads what the repository holds
    assert later.current() == Running(image=f"{IMAGE}@{D[1]}", digest=D[1], handle=head.sha)
    later.deploy(f"{IMAGE}@{D[2]}", D[2], previous=later.current())
    assert trailers(remote.log()[0].body)["Hoist-Previous-Digest"] == D[1]
    assert trailers(remote.log()[0].body)["Hoist-Seq"] == "unknown"
    for name, kubectl in kubectls().items():
        assert rendered_images(kubectl, remote, tmp_path, f"render-{name}-2") == [f"{IMAGE}@{D[2]}"], name

    again = later.deploy(f"{IMAGE}@{D[2]}", D[2], previous=None)
    assert again.details["unchanged"] and remote.log()[0].sha == again.details["commit"]  # no empty commit


def test_helm_values_keep_their_comments_byte_for_byte(target: Factory, remote: Remote) -> None:
    deployer = target(file=VALUES, edit="helm:image.digest")
    deployer.deploy(f"{IMAGE}@{D[3]}", D[3], previous=None)
    assert remote.show(VALUES) == VALUES_TEXT.replace('digest: ""', f'digest: "{D[3]}"')
    assert deployer.current() == Running(image=f"{IMAGE}@{D[3]}", digest=D[3], handle=remote.tip())


def test_a_lost_race_re_applies_the_edit_on_the_new_tip(
    target: Factory, remote: Remote, environ: dict[str, str], tmp_path: Path
) -> None:
    """Another push lands between hoist's fetch and its push: a pre-push hook in hoist's own clone (set
    through GIT_CONFIG_* variables, which hoist passes to git) pushes a competing commit first."""
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    marker = tmp_path / "competed"
    competitor = KUSTOMIZATION.format(env="Staging") + f"    digest: {D[9]}\n"
    same_line = KUSTOMIZATION.format(env="Production") + f"    digest: {D[8]}\n"
    (tmp_path / "staging.yaml").write_text(competitor)
    (tmp_path / "production.yaml").write_text(same_line)
    hook = hooks / "pre-push"
    hook.write_text(f"""#!/bin/sh
[ -e {marker} ] && exit 0
touch {marker}
unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE GIT_CONFIG_COUNT GIT_CONFIG_KEY_0 GIT_CONFIG_VALUE_0
cd {remote.seed}
git pull --quiet --ff-only
cp {tmp_path}/staging.yaml {STAGING}
cp {tmp_path}/production.yaml {PROD}
git -c user.name=Other -c user.email=other@example.com commit --quiet -am "someone else's change"
git push --quiet origin HEAD:main
""")
    hook.chmod(0o755)
    racing = {
        **environ,
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "core.hooksPath",
        "GIT_CONFIG_VALUE_0": str(hooks),
    }

    deployed = target(env=racing).deploy(f"{IMAGE}@{D[1]}", D[1], previous=None)
    assert marker.exists() and deployed.details["attempts"] == 2
    log = remote.log()
    assert [c.subject for c in log[:2]] == [f"production: deploy sha256:{'1' * 12}", "someone else's change"]
    assert log[0].parents == [log[1].sha]
    assert remote.show(STAGING) == competitor  # the other change stays
    assert remote.show(PROD) == same_line.replace(D[8], D[1])  # the same line: ours wins

    marker.unlink()
    with pytest.raises(OperationError, match=r"kept moving under hoist: 1 pushes lost the race") as caught:
        target(env=racing, attempts=1).deploy(f"{IMAGE}@{D[2]}", D[2], previous=None)
    assert "\n" not in str(caught.value)
    assert remote.log()[0].subject == "someone else's change"


def test_concurrent_deploys_on_one_branch_all_land_in_order(target: Factory, remote: Remote, tmp_path: Path) -> None:
    """Two deployers (production and staging) push to one branch at the same moment, four times each.
    The remote's pre-receive hook holds every push for a moment so that they overlap."""
    remote.hook("pre-receive", "#!/bin/sh\ncat >/dev/null\nsleep 0.3\n")
    rounds = 4
    barrier = threading.Barrier(2)
    results: dict[str, list[Deployed]] = {"production": [], "staging": []}
    errors: list[BaseException] = []
    digests = {"production": D[1:5], "staging": D[5:9]}

    def run(environment: str, file: str) -> None:
        deployer = target(file=file, environment=environment, attempts=10)
        try:
            for digest in digests[environment][:rounds]:
                barrier.wait(timeout=60)
                results[environment].append(deployer.deploy(f"{IMAGE}@{digest}", digest, previous=None))
        except BaseException as exc:  # the assertion below reports it
            errors.append(exc)
            barrier.abort()

    threads = [
        threading.Thread(target=run, args=("production", PROD)),
        threading.Thread(target=run, args=("staging", STAGING)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors

    log = remote.log()[: 2 * rounds]
    assert len({c.sha for c in log}) == 2 * rounds
    for environment in ("production", "staging"):
        mine = [trailers(c.body)["Hoist-Digest"] for c in reversed(log) if f"{environment}: deploy" in c.subject]
        assert mine == digests[environment][:rounds]  # every deploy landed, in the order it was made
        assert [d.details["commit"] for d in results[environment]] == [
            c.sha for c in reversed(log) if f"{environment}: deploy" in c.subject
        ]
    assert remote.show(PROD).endswith(f"digest: {D[4]}\n") and remote.show(STAGING).endswith(f"digest: {D[8]}\n")
    # Each commit keeps the other environment's latest digest: no update was lost on the way.
    for commit in log:
        for file, environment in ((PROD, "production"), (STAGING, "staging")):
            text = remote.show(file, commit.sha)
            landed = [
                trailers(c.body)["Hoist-Digest"] for c in log[log.index(commit) :] if f"{environment}: " in c.subject
            ]
            assert text.endswith(f"digest: {landed[0]}\n") if landed else "digest" not in text
    retried = sum(d.details["attempts"] - 1 for ds in results.values() for d in ds)
    assert retried > 0, "the pushes never overlapped, so the race was not exercised"


def test_rollback_commits_the_previous_digest(target: Factory, remote: Remote) -> None:
    deployer = target()
    deployer.deploy(f"{IMAGE}@{D[1]}", D[1], previous=None)
    failed = deployer.deploy(f"{IMAGE}@{D[2]}", D[2], previous=Running(f"{IMAGE}@{D[1]}", D[1]))
    deployer.annotate(seq=12)
    restored = deployer.restore(Running(f"{IMAGE}@{D[1]}", D[1]), failed=failed)
    head = remote.log()[0]
    assert head.subject == f"production: roll back to sha256:{'1' * 12} (seq 12)"
    assert f"the deploy of {D[2]} failed health checks" in head.body
    assert trailers(head.body)["Hoist-Action"] == "rollback"
    assert trailers(head.body)["Hoist-Previous-Digest"] == D[2]
    assert remote.show(PROD).endswith(f"    digest: {D[1]}\n")
    assert restored.digest == D[1] and restored.details["commit"] == head.sha


def test_branch_mode_pushes_a_branch_whose_diff_is_the_change(target: Factory, remote: Remote) -> None:
    base = remote.tip()
    deployer = target(mode="branch")
    deployed = deployer.deploy(f"{IMAGE}@{D[4]}", D[4], previous=None)
    branch = f"hoist/production/{'4' * 12}"
    assert deployed.details["branch"] == branch
    assert outputs(deployed.details) == {"gitops_branch": branch, "gitops_commit": remote.tip(branch)}
    assert remote.tip() == base  # main is untouched until the pull request merges
    assert sorted(remote.branches()) == sorted(["main", branch])
    diff = remote.diff("main", branch)
    changed = [line for line in diff.splitlines() if line[:1] in "+-"]
    assert changed == [f"--- a/{PROD}", f"+++ b/{PROD}", f"+    digest: {D[4]}"]
    assert remote.log(branch)[0].parents == [base]

    # main moved on: deploying again puts hoist's branch on the new tip, replacing hoist's own commit
    moved = remote.commit_files({"README.md": "moved\n"}, "unrelated")
    target(mode="branch").deploy(f"{IMAGE}@{D[4]}", D[4], previous=None)
    assert remote.log(branch)[0].parents == [moved]

    # a person's commit on the branch is never overwritten
    git("fetch", "--quiet", "origin", cwd=remote.seed)
    git("checkout", "--quiet", "-b", "review", f"origin/{branch}", cwd=remote.seed)
    (remote.seed / "NOTE").write_text("reviewed\n")
    git("add", "NOTE", cwd=remote.seed)
    git("commit", "--quiet", "-m", "review note", cwd=remote.seed)
    git("push", "--quiet", "origin", f"HEAD:{branch}", cwd=remote.seed)
    reviewed = remote.tip(branch)
    with pytest.raises(OperationError, match="holds commits hoist did not make"):
        target(mode="branch").deploy(f"{IMAGE}@{D[4]}", D[4], previous=None)
    assert remote.tip(branch) == reviewed


def test_git_gets_a_minimal_environment(
    target: Factory, remote: Remote, environ: dict[str, str], tmp_path: Path
) -> None:
    dump = tmp_path / "env.txt"
    remote.hook("pre-receive", f"#!/bin/sh\ncat >/dev/null\nenv > {dump}\n")
    # The pre-receive hook runs in a process git starts for the push: it sees what hoist gave git.
    secret_env = {
        **environ,
        "REGISTRY_PASSWORD": "hunter2-registry",
        "AWS_SECRET_ACCESS_KEY": "aws-secret-value",
        "GH_TOKEN": "ghp_token_value",
        "SSH_AUTH_SOCK": "/run/agent.sock",
        "GIT_SSH_COMMAND": "ssh -o BatchMode=yes",
        "GIT_DIR": "/somewhere/else",
    }
    target(env=secret_env).deploy(f"{IMAGE}@{D[1]}", D[1], previous=None)
    seen = dict(line.split("=", 1) for line in dump.read_text().splitlines() if "=" in line)
    assert "REGISTRY_PASSWORD" not in seen and "AWS_SECRET_ACCESS_KEY" not in seen and "GH_TOKEN" not in seen
    assert seen["SSH_AUTH_SOCK"] == "/run/agent.sock" and seen["GIT_SSH_COMMAND"] == "ssh -o BatchMode=yes"
    assert seen["HOME"] == environ["HOME"] and seen["GIT_TERMINAL_PROMPT"] == "0"
    target(env=secret_env, pass_env=("GH_TOKEN",)).deploy(f"{IMAGE}@{D[2]}", D[2], previous=None)
    seen = dict(line.split("=", 1) for line in dump.read_text().splitlines() if "=" in line)
    assert seen["GH_TOKEN"] == "ghp_token_value"


def test_author_comes_from_the_actor_then_git_config_then_hoist(
    target: Factory, remote: Remote, environ: dict[str, str]
) -> None:
    base = {k: v for k, v in environ.items() if k != "HOIST_ACTOR"}
    target(env={**base, "GITHUB_ACTOR": "octocat", "GITHUB_ACTOR_ID": "583231"}).deploy(
        f"{IMAGE}@{D[1]}", D[1], previous=None
    )
    assert remote.log()[0].author == "octocat <583231+octocat@users.noreply.github.com>"
    target(env=base).deploy(f"{IMAGE}@{D[2]}", D[2], previous=None)
    assert remote.log()[0].author == "hoist <hoist@localhost>"
    Path(base["HOME"], ".gitconfig").write_text("[user]\n\tname = Dee Ployer\n\temail = dee@example.com\n")
    target(env=base).deploy(f"{IMAGE}@{D[3]}", D[3], previous=None)
    assert remote.log()[0].author == "Dee Ployer <dee@example.com>"


def test_bad_input_is_one_line_and_changes_nothing(
    target: Factory, remote: Remote, environ: dict[str, str], tmp_path: Path
) -> None:
    tip = remote.tip()
    cases: list[tuple[type[Exception], str, Callable[[], object]]] = [
        (InputError, "has no file apps/nope.yaml: add it or fix deploy.file", lambda: target(file="apps/nope.yaml")),
        (InputError, r"has no image\.dijest", lambda: target(file=VALUES, edit="yaml:image.dijest")),
        (InputError, "README.md is not valid YAML", lambda: target(file="README.md", edit="yaml:a")),
        (InputError, "no such branch; create it or fix deploy.branch", lambda: target(branch="prod")),
        (OperationError, "git is not installed or not on PATH", lambda: target(env={**environ, "PATH": str(tmp_path)})),
        (OperationError, "cannot clone", lambda: target(repository=str(tmp_path / "missing.git"))),
    ]
    for error, message, make in cases:
        with pytest.raises(error, match=message) as caught:
            deploy_with(make)
        assert "\n" not in str(caught.value), caught.value
    assert remote.tip() == tip

    remote.hook("pre-receive", "#!/bin/sh\necho 'main is protected' >&2\nexit 1\n")
    with pytest.raises(OperationError, match=r"refused the push: .*pre-receive hook declined.*protection rules"):
        target().deploy(f"{IMAGE}@{D[1]}", D[1], previous=None)
    assert remote.tip() == tip


def deploy_with(make: Callable[[], object]) -> None:
    made = make()
    assert isinstance(made, GitopsTarget)
    made.deploy(f"{IMAGE}@{D[1]}", D[1], previous=None)


def test_credentials_in_the_repository_url_never_show(target: Factory) -> None:
    url = "http://deployer:s3cr3t-pass@127.0.0.1:9/deploy.git"
    made = target(repository=url)
    assert "s3cr3t-pass" not in made.describe()
    with pytest.raises(OperationError) as caught:
        made.deploy(f"{IMAGE}@{D[1]}", D[1], previous=None)
    assert "s3cr3t-pass" not in str(caught.value) and "cannot clone" in str(caught.value)
