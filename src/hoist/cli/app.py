"""The ``hoist`` command: global options, command registration, and the one place that exits."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from hoist import __version__
from hoist.cli.context import STATE, error_line
from hoist.errors import HoistError
from hoist.secret import RedactingFilter, redact

app = typer.Typer(
    name="hoist",
    help="Promote the exact container image you tested, by digest: copy, verify, tag, gate, record, deploy.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hoist {__version__}")
        raise typer.Exit


@app.callback()
def global_options(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log each request and show tracebacks.")
    ] = False,
    insecure: Annotated[
        list[str] | None,
        typer.Option(
            "--insecure",
            metavar="HOST",
            envvar="HOIST_INSECURE_REGISTRIES",
            help="Allow plain HTTP or unverified TLS for this registry host (repeatable).",
        ),
    ] = None,
    ca_file: Annotated[
        Path | None,
        typer.Option(
            "--ca-file", envvar="HOIST_CA_FILE", help="Extra CA certificates (PEM) to trust for registries."
        ),
    ] = None,
    authfile: Annotated[
        Path | None,
        typer.Option("--authfile", help="Read credentials only from this auth.json / config.json."),
    ] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, max=64, help="Parallel transfers.")] = 8,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", envvar="HOIST_CONFIG", help="Path of hoist.toml.")
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Promote the exact container image you tested, by digest."""
    STATE.verbose = verbose
    hosts: set[str] = set()
    for item in insecure or []:
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
    handler.addFilter(RedactingFilter())
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


def _register() -> None:
    from hoist.cli import copy, inspect, tag, verify

    for module in (copy, inspect, tag, verify):
        module.register(app)


_register()


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
    """Run the CLI and return its exit code (tests call this in-process)."""
    args = hoist_globals(list(sys.argv[1:] if argv is None else argv))
    verbose = "--verbose" in args or "-v" in args
    command = typer.main.get_command(app)
    try:
        returned = command.main(args=args, prog_name="hoist", standalone_mode=False)
        if isinstance(returned, int):  # an Exit raised inside a command comes back as its code
            return returned
    except typer.Exit as done:
        return int(done.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        error_line("interrupted")
        return 130
    except typer.TyperException as exc:
        return _fail(exc.format_message() + _usage_hint(exc), int(exc.exit_code), exc, verbose=verbose)
    except HoistError as exc:
        return _fail(str(exc), exc.exit_code, exc, verbose=verbose)
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


def _usage_hint(exc: typer.TyperException) -> str:
    ctx = getattr(exc, "ctx", None)
    path = getattr(ctx, "command_path", None)
    return f" (see '{path} --help')" if exit_is_usage(exc) and path else ""


def exit_is_usage(exc: typer.TyperException) -> bool:
    return int(exc.exit_code) == 2


def main() -> None:
    os.environ.setdefault("PYTHONIOENCODING", "utf-8")
    sys.exit(run())
