#!/usr/bin/env bash
# Install modelphase and run its main job on embedded defaults (no services needed):
# simulate a week of telemetry for three services, ingest it, summarise and plot it,
# train, validate, register and promote a forecaster, detect and explain anomalies
# against the injected incidents, and serve the registered models in the background
# (stop the server with `kill $(cat .modelphase/demo/serve.pid)`).
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_BREAK_SYSTEM_PACKAGES=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
python3 -m pip install -q -e .
python3 -m modelphase demo "$@"
