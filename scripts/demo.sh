#!/usr/bin/env bash
# The main job, end to end on this machine: sets up (see setup.sh), then runs the example.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
uv run --frozen python -m examples.quickstart "$@"
