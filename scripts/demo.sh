#!/usr/bin/env bash
# Install modelphase and run its main job on embedded defaults (no services needed):
# simulate a week of telemetry for three services, ingest it, summarise it, plot it.
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_BREAK_SYSTEM_PACKAGES=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
python3 -m pip install -q -e .
python3 -m modelphase demo "$@"
