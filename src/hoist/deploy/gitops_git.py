"""The git command line, run with a minimal environment: what a GitOps deploy needs and nothing more.

Credentials are git's business (an SSH agent, a credential helper, ``url.<base>.insteadOf``): hoist passes
git the variables those need (``SSH_*``, ``GIT_*``, ``HOME``, proxies, and any named in ``pass_env``) and
never the rest of its environment, where registry passwords and CI tokens live. git never prompts
(``GIT_TERMINAL_PROMPT=0``, no standard input): a missing credential is an error, not a hang.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from hoist.errors import OperationError
from hoist.secret import redact

_KEEP = {
    "PATH", "HOME", "USER", "LOGNAME", "TMPDIR", "TZ", "LANG", "LANGUAGE", "XDG_CONFIG_HOME", "GNUPGHOME",
    "SSL_CERT_FILE", "SSL_CERT_DIR", "CURL_CA_BUNDLE",
    "http_proxy", "https_proxy", "no_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY",
}  # fmt: skip
_KEEP_PREFIXES = ("LC_", "GIT_", "SSH_")
# Variables that would point git at another repository or override the identity hoist sets.
_DROP = {
    "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_NAMESPACE", "GIT_COMMON_DIR", "GIT_PREFIX", "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_AUTHOR_DATE",
    "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "GIT_COMMITTER_DATE",
}  # fmt: skip
_USERINFO = re.compile(r"(://)[^/@\s]+@")
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
FALLBACK_EMAIL = "hoist@localhost"


def git_environment(environ: Mapping[str, str], pass_env: Sequence[str] = ()) -> dict[str, str]:
    """The variables git and its credential helpers need, and none of hoist's other secrets."""
    env = {
        k: v
        for k, v in environ.items()
        if (k in _KEEP or k.startswith(_KEEP_PREFIXES) or k in pass_env) and k not in _DROP
    }
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env["GIT_TERMINAL_PROMPT"] = "0"
    env["LC_ALL"] = "C"
    return env


@dataclass(frozen=True)
class Identity:
    name: str
    email: str


class Git:
    """Runs ``git`` in one working directory with the minimal environment; every failure is one line."""

    def __init__(self, *, environ: Mapping[str, str], pass_env: Sequence[str] = (), timeout: float) -> None:
        self.environ = dict(environ)
        self.env = git_environment(environ, pass_env)
        self.timeout = timeout

    def run(
        self,
        *args: str,
        cwd: Path | None = None,
        what: str,
        check: bool = True,
        extra_env: Mapping[str, str] | None = None,
        stdin: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        try:
            done = subprocess.run(  # noqa: S603 - git with arguments hoist builds; no shell
                ["git", *args],  # noqa: S607 - git from PATH, as a user runs it
                cwd=cwd,
                env={**self.env, **(extra_env or {})},
                input=stdin if stdin is not None else "",
                capture_output=True,
                text=True,
                timeout=self.timeout,
                check=False,
            )
        except FileNotFoundError as exc:
            raise OperationError(
                'git is not installed or not on PATH: install git to deploy with target = "gitops"'
            ) from exc
        except subprocess.TimeoutExpired as exc:
            raise OperationError(f"{what} took longer than {self.timeout:g}s and was stopped") from exc
        if check and done.returncode != 0:
            raise OperationError(f"{what} failed: {last_words(done.stderr or done.stdout)}")
        return done

    def config(self, key: str, cwd: Path) -> str | None:
        done = self.run("config", "--get", key, cwd=cwd, what=f"git config {key}", check=False)
        value = done.stdout.strip()
        return value if done.returncode == 0 and value else None

    def identity(self, cwd: Path) -> Identity:
        """Who commits: ``HOIST_ACTOR``/``GITHUB_ACTOR``, else git's ``user.name``/``user.email``, else hoist."""
        actor = self.environ.get("HOIST_ACTOR") or self.environ.get("GITHUB_ACTOR")
        configured = self.config("user.email", cwd)
        if actor:
            github = self.environ.get("GITHUB_ACTOR")
            if actor == github:
                # GitHub's no-reply address links the commit to the account (docs.github.com, "Setting your
                # commit email address"): ID+login@users.noreply.github.com.
                user_id = self.environ.get("GITHUB_ACTOR_ID")
                login = f"{user_id}+{actor}" if user_id else actor
                return Identity(actor, f"{login}@users.noreply.github.com")
            return Identity(actor, actor if _EMAIL.match(actor) else configured or FALLBACK_EMAIL)
        name = self.config("user.name", cwd)
        if name:
            return Identity(name, configured or FALLBACK_EMAIL)
        return Identity("hoist", configured or FALLBACK_EMAIL)


def identity_env(identity: Identity) -> dict[str, str]:
    return {
        "GIT_AUTHOR_NAME": identity.name,
        "GIT_AUTHOR_EMAIL": identity.email,
        "GIT_COMMITTER_NAME": identity.name,
        "GIT_COMMITTER_EMAIL": identity.email,
    }


def last_words(output: str) -> str:
    """git's own reason, one line: the last ``fatal:``/``error:`` line, else the last line; secrets redacted."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    chosen = next((line for line in reversed(lines) if line.startswith(("fatal:", "error:", "remote:"))), None)
    text = chosen or (lines[-1] if lines else "no output")
    for prefix in ("fatal: ", "error: "):
        text = text.removeprefix(prefix)
    return hide_userinfo(text)


def hide_userinfo(text: str) -> str:
    """``https://token@host/…`` and ``https://user:token@host/…`` lose the part before ``@``."""
    return redact(_USERINFO.sub(r"\1***@", text))
