"""The ``hoist`` console script.

``hoist --version`` answers before click, httpx or any command loads (scripts and CI probes call it to
check the install); everything else goes to :func:`hoist.cli.app.main`.
"""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:] == ["--version"]:
        from hoist import __version__

        sys.stdout.write(f"hoist {__version__}\n")
        sys.exit(0)
    from hoist.cli.app import main as run

    run()
