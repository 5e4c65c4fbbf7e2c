#!/usr/bin/env bash
# Install everything the test suite needs, then run it all: lint, format, types, tests.
# Needs root for Debian's prometheus, postgresql and chromium packages on a fresh machine.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k frame`.
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_BREAK_SYSTEM_PACKAGES=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
missing=()
command -v prometheus >/dev/null && command -v promtool >/dev/null || missing+=(prometheus)
command -v amtool >/dev/null || missing+=(prometheus-alertmanager)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
command -v curl >/dev/null || missing+=(curl)
command -v chromium >/dev/null || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]} (servers, a client and a browser for the integration tests)..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
python3 -m pip install -q -e '.[test,postgres]'
echo "ruff..."; python3 -m ruff check . && python3 -m ruff format --check .
echo "mypy..."; python3 -m mypy
python3 -m pytest "$@"
