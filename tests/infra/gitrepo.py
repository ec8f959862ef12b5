"""Git repositories for the GitOps tests: a bare repository as the remote, read back with git itself.

The remote is what Argo CD or Flux would watch; the tests check what it holds with ``git --git-dir``
(never with hoist's own reading code).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

AUTHOR = ["-c", "user.name=Repo Owner", "-c", "user.email=owner@example.com", "-c", "commit.gpgsign=false"]


def git(*args: str, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["git", *AUTHOR, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {done.stderr}")
    return done


@dataclass
class Commit:
    sha: str
    subject: str
    body: str
    author: str
    parents: list[str]


@dataclass
class Remote:
    """A bare repository on disk (``url`` is its path) and a working clone used to seed it."""

    bare: Path
    seed: Path
    branch: str = "main"

    @property
    def url(self) -> str:
        return str(self.bare)

    def show(self, path: str, ref: str | None = None) -> str:
        return git("--git-dir", str(self.bare), "show", f"{ref or self.branch}:{path}").stdout

    def tip(self, ref: str | None = None) -> str:
        return git("--git-dir", str(self.bare), "rev-parse", ref or self.branch).stdout.strip()

    def branches(self) -> list[str]:
        out = git("--git-dir", str(self.bare), "for-each-ref", "--format=%(refname:short)", "refs/heads").stdout
        return out.split()

    def log(self, ref: str | None = None) -> list[Commit]:
        """Newest first."""
        sep, end = "\x1f", "\x1e"
        out = git(
            "--git-dir",
            str(self.bare),
            "log",
            f"--format=%H{sep}%s{sep}%b{sep}%an <%ae>{sep}%P{end}",
            ref or self.branch,
        ).stdout
        commits = []
        for record in out.split(end):
            if not record.strip():
                continue
            sha, subject, body, author, parents = record.strip("\n").split(sep)
            commits.append(Commit(sha, subject, body, author, parents.split()))
        return commits

    def diff(self, a: str, b: str) -> str:
        return git("--git-dir", str(self.bare), "diff", a, b).stdout

    def commit_files(self, files: dict[str, str], message: str = "seed") -> str:
        """Commit ``files`` from the seed clone and push them (as another user of the repository would)."""
        git("pull", "--quiet", "--ff-only", cwd=self.seed, check=False)
        for name, text in files.items():
            target = self.seed / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(text.encode())
        git("add", "--all", cwd=self.seed)
        git("commit", "--quiet", "-m", message, cwd=self.seed)
        git("push", "--quiet", "origin", f"HEAD:{self.branch}", cwd=self.seed)
        return self.tip()

    def hook(self, name: str, script: str) -> None:
        path = self.bare / "hooks" / name
        path.write_text(script)
        path.chmod(0o755)


def make_remote(root: Path, files: dict[str, str], *, branch: str = "main") -> Remote:
    bare = root / "deploy.git"
    git("init", "--quiet", "--bare", f"--initial-branch={branch}", str(bare))
    seed = root / "seed"
    git("clone", "--quiet", str(bare), str(seed))
    git("checkout", "--quiet", "-b", branch, cwd=seed)
    remote = Remote(bare, seed, branch)
    remote.commit_files(files, "the app's manifests")
    return remote
