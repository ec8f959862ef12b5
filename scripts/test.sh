#!/usr/bin/env bash
# The test command: set up (see setup.sh), then lint, type-check and run the whole suite against the
# real components it starts itself. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
uv run --frozen ruff check .
uv run --frozen ruff format --check .
uv run --frozen mypy
uv run --frozen pytest "$@"
