"""What the composite action (``action.yml``) runs: ``hoist <command> <args>`` from its inputs.

The inputs arrive as environment variables (``HOIST_COMMAND``, ``HOIST_ARGS``), never as text in a
script. ``args`` is split the way a POSIX shell splits words, so quotes group words
(``--reason "bad deploy"``), but nothing is evaluated: no variables, globs, command substitution or
redirections. hoist then writes its step outputs and summary as in any other step.

    python -m hoist.cli.action
"""

from __future__ import annotations

import os
import re
import shlex
import sys

from hoist.cli.context import error_line

_WORD = re.compile(r"^[a-z][a-z0-9-]*$")


def argv(command: str, args: str) -> list[str]:
    """``["audit", "verify", "production"]`` from ``"audit verify"`` and ``"production"``; ValueError when unusable."""
    words = command.split()
    if not words or not all(_WORD.match(word) for word in words):
        raise ValueError(f"command {command!r}: expected a hoist command such as deploy, release or rollback")
    try:
        rest = shlex.split(args, comments=False, posix=True)
    except ValueError as exc:
        raise ValueError(f"args {args!r}: {exc}") from exc
    return [*words, *rest]


def main() -> int:
    from hoist.cli.app import run

    try:
        arguments = argv(os.environ.get("HOIST_COMMAND", ""), os.environ.get("HOIST_ARGS", ""))
    except ValueError as exc:
        error_line(str(exc))
        return 2
    return run(arguments)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONIOENCODING", "utf-8")
    sys.exit(main())
