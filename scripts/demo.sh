#!/usr/bin/env bash
# The main job, end to end on this machine: sets up (see setup.sh), then runs the whole pipeline
# (examples/pipeline.py): build once, test in staging, release by digest, automatic rollback, and the
# measured Deployment Time Comparison.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
uv run --frozen python -m examples.pipeline "$@"
