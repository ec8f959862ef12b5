"""Running a user's command (a deploy command, a test suite) with its output passed through."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence

from hoist.errors import OperationError
from hoist.secret import SecretScope, current_scope, redact

_DRAIN_SECONDS = 1.0

SAFE_VARIABLES = frozenset({"PATH", "HOME", "USER", "LOGNAME", "SHELL", "TERM", "TZ", "TMPDIR", "LANG", "LANGUAGE"})
"""What every command hoist runs gets from hoist's environment: enough to run, nothing secret."""
SAFE_PREFIXES = ("LC_", "HOIST_")
WITHHELD = frozenset({"HOIST_KEY_PASSWORD"})
"""Never passed on unless named: hoist's own secrets."""


def child_environment(
    environ: Mapping[str, str], *, pass_env: Sequence[str] = (), extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment for a user's command (a test suite, a deploy script): the safe variables, the
    ``HOIST_*`` ones, the locale, and those ``pass_env`` names (``NAME``, or ``PREFIX_*``); registry
    and CI tokens only when named. ``extra`` is set on top."""
    exact = {name for name in pass_env if not name.endswith("*")}
    prefixes = tuple(name[:-1] for name in pass_env if name.endswith("*"))

    def wanted(name: str) -> bool:
        if name in exact:
            return True
        if name in WITHHELD:
            return False
        return (
            name in SAFE_VARIABLES or name.startswith(SAFE_PREFIXES) or (bool(prefixes) and name.startswith(prefixes))
        )

    return {**{k: v for k, v in environ.items() if wanted(k)}, **(extra or {})}


def run_passing_output(
    argv: Sequence[str], *, env: Mapping[str, str], cwd: str, timeout: float | None, what: str
) -> int:
    """Run ``argv``, passing both output streams through to stderr line by line; return its exit code.

    stdout stays free for hoist's own ``--json`` answer. A command still running at ``timeout`` is
    killed and that is an error. Output of background processes the command leaves running is passed
    through only until shortly after the command itself exits.
    """
    try:
        process = subprocess.Popen(  # noqa: S603 - the user's own command, from hoist.toml or the command line
            list(argv),
            env=dict(env),
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    except OSError as exc:
        raise OperationError(f"cannot run {what}: {exc.strerror}") from exc
    # the relay thread has no scope of its own: it masks with the caller's (secrets hoist read, such as
    # a key password the command inherits in its environment, show as *** if the command prints them)
    reader = threading.Thread(target=_relay, args=(process, current_scope()), name="hoist-output", daemon=True)
    reader.start()
    try:
        code = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        process.kill()
        process.wait()
        raise OperationError(f"{what} did not finish within {timeout:g}s and was stopped") from exc
    # A background process the command started may keep the pipe open: stop waiting for it shortly.
    reader.join(timeout=_DRAIN_SECONDS)
    return code


def _relay(process: subprocess.Popen[bytes], scope: SecretScope | None) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        sys.stderr.write(redact(line.decode(errors="replace"), scope=scope))
        sys.stderr.flush()
