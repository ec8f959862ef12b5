"""The ``hoist`` command: global options, command registration, and the one place that exits."""

from __future__ import annotations

import importlib
import logging
import os
import sys
from pathlib import Path

import click

from hoist import __version__
from hoist.cli.context import STATE, error_line
from hoist.errors import HoistError
from hoist.secret import RedactingFilter, current_scope, redact, secrets_scope

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 110}


class LazyGroup(click.Group):
    """Loads each command's module on first use, so a command pays only for what it imports."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = COMMANDS.get(cmd_name)
        if found is None:
            return None
        module, attribute = found
        command = getattr(importlib.import_module(f"hoist.cli.{module}"), attribute)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=LazyGroup, context_settings=CONTEXT)
@click.version_option(__version__, "--version", prog_name="hoist", message="%(prog)s %(version)s")
@click.option("-v", "--verbose", is_flag=True, help="Log each request and show tracebacks.")
@click.option(
    "--insecure",
    "insecure",
    multiple=True,
    metavar="HOST",
    envvar="HOIST_INSECURE_REGISTRIES",
    help="Allow plain HTTP or unverified TLS for this registry host (repeatable; env: comma-separated).",
)
@click.option(
    "--ca-file",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="HOIST_CA_FILE",
    help="Extra CA certificates (PEM) to trust for registries.",
)
@click.option(
    "--authfile",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Read registry credentials only from this auth.json / config.json.",
)
@click.option("-j", "--jobs", type=click.IntRange(1, 64), default=8, show_default=True, help="Parallel transfers.")
@click.option(
    "-c",
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="HOIST_CONFIG",
    help="Path of hoist.toml (default: ./hoist.toml).",
)
def cli(
    verbose: bool,
    insecure: tuple[str, ...],
    ca_file: Path | None,
    authfile: Path | None,
    jobs: int,
    config: Path | None,
) -> None:
    """Promote the exact container image you tested, by digest.

    REF is a registry reference (ghcr.io/owner/app:tag, 127.0.0.1:5000/app@sha256:...) or an OCI
    image layout directory (oci:PATH[:TAG|@DIGEST]).
    """
    STATE.verbose = verbose
    hosts: set[str] = set()
    for item in insecure:
        hosts.update(h.strip() for h in item.split(",") if h.strip())
    STATE.insecure = frozenset(hosts)
    STATE.ca_file = ca_file
    STATE.authfile = authfile
    STATE.jobs = jobs
    STATE.config = config
    if verbose:
        _debug_logging()


_handlers: list[logging.Handler] = []


def _debug_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    # bound to the command's scope: records from worker threads are masked with its secrets too
    handler.addFilter(RedactingFilter(current_scope()))
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
    root = logging.getLogger("hoist")
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    _handlers.append(handler)


def _end_logging() -> None:
    root = logging.getLogger("hoist")
    while _handlers:
        root.removeHandler(_handlers.pop())
    root.setLevel(logging.WARNING)


COMMANDS: dict[str, tuple[str, str]] = {
    "copy": ("copy", "command"),
    "tag": ("tag", "command"),
    "inspect": ("inspect", "command"),
    "verify": ("verify", "command"),
    "promote": ("promote", "command"),
    "history": ("history", "command"),
    "rollback": ("rollback", "command"),
    "status": ("status", "command"),
    "audit": ("audit", "command"),
    "prune": ("prune", "command"),
    "sync": ("sync", "command"),
    "deploy": ("deploy", "command"),
    "release": ("release", "command"),
    "plan": ("plan", "command"),
    "freeze": ("freeze", "freeze_command"),
    "unfreeze": ("freeze", "unfreeze_command"),
    "sign": ("sign", "command"),
    "keygen": ("keygen", "command"),
    "evidence": ("evidence", "command"),
    "report": ("report", "command"),
    "init": ("init", "command"),
    "test": ("attest", "test_command"),
    "attest": ("attest", "attest_command"),
    "verify-bundle": ("verify_bundle", "command"),
}
"""Command name -> (module in hoist.cli, attribute): a command's module loads only when it runs."""


_GLOBAL_FLAGS = {"--verbose", "-v"}
_GLOBAL_VALUES = {"--insecure", "--ca-file", "--authfile", "--jobs", "-j", "--config", "-c"}


def hoist_globals(args: list[str]) -> list[str]:
    """Move global options given after the command to the front, so ``hoist copy A B -v`` works too."""
    front: list[str] = []
    rest: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":
            rest += args[index:]
            break
        name = arg.split("=", 1)[0]
        if arg in _GLOBAL_FLAGS:
            front.append(arg)
        elif name in _GLOBAL_VALUES:
            front.append(arg)
            if "=" not in arg and index + 1 < len(args):
                index += 1
                front.append(args[index])
        else:
            rest.append(arg)
        index += 1
    return front + rest


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (tests call this in-process).

    Each run is one secrets scope: the secrets it reads are masked in everything it prints, and
    forgotten when it returns.
    """
    with secrets_scope():
        return _run(argv)


def _run(argv: list[str] | None) -> int:  # noqa: PLR0911 - one return per kind of ending
    args = hoist_globals(list(sys.argv[1:] if argv is None else argv))
    verbose = "--verbose" in args or "-v" in args
    try:
        returned = cli.main(args=args, prog_name="hoist", standalone_mode=False)
        if isinstance(returned, int):  # ctx.exit(N) inside a command comes back as its code
            return returned
    except click.exceptions.Exit as done:
        return int(done.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt):
        error_line("interrupted")
        return 130
    except click.ClickException as exc:
        return _fail(exc.format_message() + _usage_hint(exc), exc.exit_code, exc, verbose=verbose)
    except HoistError as exc:
        from hoist.cli.hints import hint

        return _fail(str(exc) + hint(exc), exc.exit_code, exc, verbose=verbose)
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, not a traceback
        message = f"unexpected {type(exc).__name__}: {exc} (run with --verbose for details, and report it)"
        return _fail(message, 1, exc, verbose=verbose)
    finally:
        STATE.close()
        _end_logging()
    return 0


def _fail(message: str, code: int, exc: BaseException, *, verbose: bool) -> int:
    if verbose:
        import traceback

        sys.stderr.write(redact("".join(traceback.format_exception(exc))))
    error_line(message)
    return code


def _usage_hint(exc: click.ClickException) -> str:
    if isinstance(exc, click.UsageError) and exc.ctx is not None:
        return f" (see '{exc.ctx.command_path} --help')"
    return ""


def main() -> None:
    os.environ.setdefault("PYTHONIOENCODING", "utf-8")
    # httpx imports its own command-line client when it is imported (rich, pygments: about 60 ms of
    # every start); hoist never runs it, and without the module httpx takes its documented fallback.
    # A process-wide choice, so it is made here, for the hoist command, before httpx is imported.
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    sys.exit(run())
