#!/usr/bin/env bash
# Install everything the test suite needs, then run it all: lint, format, types, tests.
# Needs root (or sudo-less apt) for Debian's prometheus package on a fresh machine.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k frame`.
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_BREAK_SYSTEM_PACKAGES=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
  echo "installing Debian's prometheus package (server and promtool)..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
python3 -m pip install -q -e '.[test]'
echo "ruff..."; python3 -m ruff check . && python3 -m ruff format --check .
echo "mypy..."; python3 -m mypy
python3 -m pytest "$@"
