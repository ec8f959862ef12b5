#!/usr/bin/env bash
# Install Pulp (pulp-container on pulpcore) from the hashed lock beside this script into a venv of its
# own, apart from hoist's dependencies: tests/infra/pulp.py starts it as a second real registry.
#
#   tests/tools/pulp/install.sh     prints the venv's directory on stdout; quick when already there.
#
# The venv lives in $HOIST_PULP_HOME (default ~/.cache/hoist-pulp), named after the lock's hash, so a
# new lock gets a new venv and an old one stays usable by older checkouts. Built under a lock file:
# several test sessions on one machine may ask at once. Needs Debian's python3 (3.11, the lock's
# Python); uses uv when it is on PATH, else venv + pip.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
lock="$here/requirements.txt"
home="${HOIST_PULP_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/hoist-pulp}"
python="${HOIST_PULP_PYTHON:-/usr/bin/python3}"
key="$(cat "$lock" "$0" | sha256sum | cut -c1-12)"
venv="$home/venv-$key"

if [ -f "$venv/.installed" ]; then
  echo "$venv"
  exit 0
fi

mkdir -p "$home"
exec 9>"$home/.install.lock"
flock 9
if [ ! -f "$venv/.installed" ]; then
  started=$(date +%s)
  echo "pulp: installing the locked pulp-container into $venv" >&2
  rm -rf "$venv"
  if command -v uv >/dev/null 2>&1; then
    uv venv -q --python "$python" "$venv"
    VIRTUAL_ENV="$venv" uv pip install -q --require-hashes --no-deps --compile-bytecode -r "$lock"
  else
    "$python" -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check --require-hashes --no-deps -r "$lock"
  fi
  touch "$venv/.installed"
  echo "pulp: installed in $(($(date +%s) - started)) s" >&2
fi
echo "$venv"
