"""Deploy by committing the digest to a Git repository that Argo CD or Flux applies (``target = "gitops"``).

A deploy clones the branch (shallow, into a temporary directory), sets the image in one file (a
kustomization's ``images:`` entry, a Helm values key, or any YAML key; see :mod:`gitops_yaml`), commits
with a message naming the environment, the ledger sequence, the digest and the reason, and pushes. A push
that loses the race for the branch fetches the new tip, makes the same edit on it and pushes again, a
bounded number of times: the other push's change stays, and ours lands on top of it.

``mode = "branch"`` pushes ``hoist/<environment>/<digest-short>`` instead, for a pull request; the branch
name is in ``Deployed.details["branch"]`` and :func:`outputs`. Rolling back commits the previous digest
the same way. The cluster's health is checked as for any target, by the configured health checks.
"""

from __future__ import annotations

import random
import shutil
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hoist.deploy import gitops_yaml
from hoist.deploy.gitops_git import Git, hide_userinfo, identity_env, last_words
from hoist.deploy.health import Check
from hoist.deploy.target import Deployed, Running
from hoist.errors import InputError, OperationError
from hoist.promotion.config import DeployConfig
from hoist.promotion.gitops_config import GitopsConfig

BRANCH_PREFIX = "hoist"
_BACKOFF = 0.2


class GitopsTarget:
    kind = "gitops"

    def __init__(self, config: DeployConfig, *, environment: str, image_name: str, environ: Mapping[str, str]) -> None:
        assert config.gitops is not None
        self.config: GitopsConfig = config.gitops
        self.environment = environment
        self.image_name = image_name
        self.git = Git(environ=environ, pass_env=self.config.pass_env, timeout=self.config.timeout)
        self.seq: int | None = None
        self.reason: str | None = None
        self._root: Path | None = None
        self._branch: str | None = self.config.branch
        self._fresh = False

    # --- what the caller tells us ----------------------------------------------------------------

    def annotate(self, *, seq: int | None = None, reason: str | None = None) -> None:
        """The ledger sequence and the reason the next commit names (both may stay unknown)."""
        self.seq = seq
        self.reason = reason

    def describe(self) -> str:
        branch = self._branch or "default branch"
        return f"gitops {hide_userinfo(self.config.repository)} {branch}:{self.config.file}"

    # --- Target ----------------------------------------------------------------------------------

    def prepare(self, image: str) -> None:
        """Clone now, so the deploy itself only edits and pushes."""
        self._sync()
        self._fresh = True

    def current(self) -> Running | None:
        """The image the repository's file names now (None when it holds no digest yet)."""
        work = self._sync()
        found = self._read(work)
        if found.digest is None:
            return None
        head = self._head(work)
        return Running(image=f"{found.repository or self.image_name}@{found.digest}", digest=found.digest, handle=head)

    def deploy(self, image: str, digest: str, *, previous: Running | None) -> Deployed:
        return self._commit("deploy", image, digest, previous=previous.digest if previous else None)

    def restore(self, previous: Running, *, failed: Deployed | None) -> Deployed:
        if self.config.mode == "branch":
            # Nothing was merged: the branch still names what ran before.
            return Deployed(image=previous.image, digest=previous.digest, details={"mode": "branch"})
        if self.reason is None and failed is not None:
            self.reason = f"the deploy of {failed.digest} failed health checks"
        return self._commit("rollback", previous.image, previous.digest, previous=failed.digest if failed else None)

    def checks(self, deployed: Deployed) -> list[Check]:
        return []

    def alive(self, deployed: Deployed) -> str | None:
        return None

    def close(self) -> None:
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None

    # --- the work --------------------------------------------------------------------------------

    def _commit(self, action: str, image: str, digest: str, *, previous: str | None) -> Deployed:
        started = time.monotonic()
        repository = image.partition("@")[0] or self.image_name
        attempts = 0
        while True:
            attempts += 1
            work = self._sync()
            base = self._head(work)
            path = work / self.config.file
            text = self._text(path)
            new = gitops_yaml.apply(text, self.config.edit, repository=repository, digest=digest, file=self.config.file)
            if new == text:
                return self._deployed(image, digest, base, attempts, started, unchanged=True)
            path.write_text(new, encoding="utf-8", newline="")
            message = self._message(action, image, digest, previous)
            self.git.run("add", "--", self.config.file, cwd=work, what="git add")
            self.git.run(
                "commit", "--quiet", "--no-verify", "--file", "-",
                cwd=work, what="git commit", extra_env=identity_env(self.git.identity(work)),
                stdin=message,
            )  # fmt: skip
            commit = self._head(work)
            if self.config.mode == "branch":
                branch = self._push_branch(work, digest, commit)
                return self._deployed(image, digest, commit, attempts, started, branch=branch)
            pushed = self.git.run(
                "push", "--porcelain", "origin", f"HEAD:refs/heads/{self._branch}",
                cwd=work, what=f"git push to {self._branch}", check=False,
            )  # fmt: skip
            if pushed.returncode == 0:
                return self._deployed(image, digest, commit, attempts, started)
            tip = self._remote_tip(work, self._branch or "")
            if tip == base:
                raise OperationError(
                    f"{self._where()} refused the push: {_reason(pushed.stdout, pushed.stderr)}; "
                    "check the branch's protection rules and hoist's access"
                )
            if attempts >= self.config.attempts:
                raise OperationError(
                    f"{self._where()} kept moving under hoist: {attempts} pushes lost the race; deploy again"
                )
            time.sleep(random.uniform(0, _BACKOFF * attempts))  # noqa: S311 - jitter, not cryptography

    def _push_branch(self, work: Path, digest: str, commit: str) -> str:
        """Push ``hoist/<env>/<digest-short>``; an older hoist commit there is replaced, anyone else's kept."""
        branch = f"{BRANCH_PREFIX}/{self.environment}/{digest.partition(':')[2][:12] or digest}"
        existing = self._remote_tip(work, branch)
        if existing is not None:
            self.git.run(
                "fetch", "--quiet", "--depth", "1", "--no-tags", "origin", f"refs/heads/{branch}",
                cwd=work, what=f"git fetch of {branch}",
            )  # fmt: skip
            made_by = self.git.run(
                "log", "-1", "--format=%(trailers:key=Hoist-Environment,valueonly)", "FETCH_HEAD",
                cwd=work, what="git log",
            ).stdout.strip()  # fmt: skip
            if made_by != self.environment:
                raise OperationError(
                    f"{self._where(branch)} holds commits hoist did not make: merge or delete it, then deploy again"
                )
        self.git.run(
            "push", "--porcelain", f"--force-with-lease=refs/heads/{branch}:{existing or ''}",
            "origin", f"{commit}:refs/heads/{branch}",
            cwd=work, what=f"git push of {branch}",
        )  # fmt: skip
        return branch

    def _sync(self) -> Path:
        """A working copy at the branch's newest commit (a shallow clone first, a fetch afterwards)."""
        if self._root is None:
            self._root = Path(tempfile.mkdtemp(prefix="hoist-gitops-"))
            work = self._root / "repo"
            args = ["clone", "--quiet", "--depth", "1", "--no-tags", "--single-branch"]
            if self._branch:
                args += ["--branch", self._branch]
            done = self.git.run(*args, "--", self.config.repository, str(work), what="git clone", check=False)
            if done.returncode != 0:
                self._clone_failed(done.stderr)
            if self._branch is None:
                self._branch = self.git.run(
                    "symbolic-ref", "--short", "HEAD", cwd=work, what="git symbolic-ref"
                ).stdout.strip()
            if self._remote_tip(work, self._branch, local=True) is None:
                raise InputError(f"{self._where()} has no commits: push {self.config.file} first")
            return work
        work = self._root / "repo"
        if self._fresh:
            self._fresh = False
            return work
        ref = f"refs/remotes/origin/{self._branch}"
        self.git.run(
            "fetch", "--quiet", "--depth", "1", "--no-tags", "origin", f"+refs/heads/{self._branch}:{ref}",
            cwd=work, what=f"git fetch of {self._branch}",
        )  # fmt: skip
        self.git.run("reset", "--quiet", "--hard", ref, cwd=work, what="git reset")
        return work

    def _clone_failed(self, stderr: str) -> None:
        heads = [f"refs/heads/{self._branch}"] if self._branch else []
        probe = self.git.run(
            "ls-remote", "--heads", "--", self.config.repository, *heads, what="git ls-remote", check=False
        )
        if probe.returncode == 0 and self._branch and not probe.stdout.strip():
            raise InputError(f"{self._where()}: no such branch; create it or fix deploy.branch")
        raise OperationError(f"cannot clone {hide_userinfo(self.config.repository)}: {last_words(stderr)}")

    def _text(self, path: Path) -> str:
        if not path.is_file():
            raise InputError(f"{self._where()} has no file {self.config.file}: add it or fix deploy.file")
        try:
            with path.open(encoding="utf-8", newline="") as handle:
                return handle.read()
        except UnicodeDecodeError as exc:
            raise InputError(f"{self.config.file} is not a UTF-8 text file: point deploy.file at a YAML file") from exc

    def _read(self, work: Path) -> gitops_yaml.Found:
        text = self._text(work / self.config.file)
        return gitops_yaml.read(text, self.config.edit, repository=self.image_name, file=self.config.file)

    def _head(self, work: Path) -> str:
        return self.git.run("rev-parse", "HEAD", cwd=work, what="git rev-parse").stdout.strip()

    def _remote_tip(self, work: Path, branch: str, *, local: bool = False) -> str | None:
        if local:
            done = self.git.run("rev-parse", "--verify", "--quiet", "HEAD", cwd=work, what="git rev-parse", check=False)
            return done.stdout.strip() or None
        done = self.git.run("ls-remote", "origin", f"refs/heads/{branch}", cwd=work, what="git ls-remote")
        return done.stdout.split()[0] if done.stdout.strip() else None

    def _where(self, branch: str | None = None) -> str:
        return f"branch {branch or self._branch} of {hide_userinfo(self.config.repository)}"

    def _message(self, action: str, image: str, digest: str, previous: str | None) -> str:
        algorithm, _, hex_part = digest.partition(":")
        seq = f" (seq {self.seq})" if self.seq is not None else ""
        verb = "roll back to" if action == "rollback" else "deploy"
        subject = f"{self.environment}: {verb} {algorithm}:{hex_part[:12]}{seq}"
        reason = self.reason or ("hoist deploy" if action == "deploy" else "hoist rollback")
        trailers = [
            f"Hoist-Environment: {self.environment}",
            f"Hoist-Action: {action}",
            f"Hoist-Digest: {digest}",
            f"Hoist-Image: {image}",
            f"Hoist-Previous-Digest: {previous or 'none'}",
            f"Hoist-Seq: {self.seq if self.seq is not None else 'unknown'}",
        ]
        return f"{subject}\n\n{reason}\n\n" + "\n".join(trailers) + "\n"

    def _deployed(
        self,
        image: str,
        digest: str,
        commit: str,
        attempts: int,
        started: float,
        *,
        unchanged: bool = False,
        branch: str | None = None,
    ) -> Deployed:
        details: dict[str, Any] = {
            "repository": hide_userinfo(self.config.repository),
            "file": self.config.file,
            "commit": commit,
            "branch": branch or self._branch,
            "mode": self.config.mode,
            "attempts": attempts,
        }
        if unchanged:
            details["unchanged"] = True
        return Deployed(
            image=image,
            digest=digest,
            handle=commit,
            timings={"git": round(time.monotonic() - started, 3)},
            details=details,
        )


def _reason(stdout: str, stderr: str) -> str:
    """The reason on git push's porcelain status line (``!\tsrc:dst\t[remote rejected] (why)``)."""
    for line in stdout.splitlines():
        if line.startswith("!"):
            return hide_userinfo(line.split("\t")[-1].strip())
    return last_words(stderr)


def outputs(details: Mapping[str, Any]) -> dict[str, str]:
    """Step outputs for GitHub Actions from a deploy's details: the commit, and the branch for a pull request."""
    if details.get("mode") == "branch":
        return {"gitops_branch": str(details.get("branch") or ""), "gitops_commit": str(details.get("commit") or "")}
    if "commit" in details:
        return {"gitops_commit": str(details["commit"])}
    return {}
