"""Known canary telemetry in a real Prometheus on loopback, and the analysis files that
judge it: the CLI tests (tests/decide) and the HTTP tests (tests/serve) share them.

Versions of the ``checkout`` app, two pods each, a sample a minute for an hour ending
``end`` (a whole minute, a day before now, clear of Prometheus' head block):

- ``v1`` the baseline, ``v2`` the same latency (another draw), ``v3`` twice the latency;
- ``errors_ratio`` exists for ``v1`` and ``v3`` only: ``v2``'s query matches nothing;
- ``v4`` reports NaN latency only (what ``histogram_quantile`` gives with no traffic).

The pods of ``v1`` and ``v2`` are named as Flagger's primary and canary Deployments name
theirs (``checkout-primary-<hash>-<id>``, ``checkout-<hash>-<id>``), for
:data:`FLAGGER`, which tells them apart by the pod name's ``{{workload}}``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from modelphase.frame import NS_PER_SECOND, series_id
from support.prometheus import PrometheusServer, write_openmetrics

MINUTE = 60 * NS_PER_SECOND
HOUR = 60 * MINUTE
POINTS = 60
PODS = {
    "v1": ("checkout-primary-5d4f8c7b9-x7k2p", "checkout-primary-5d4f8c7b9-q9m4z"),
    "v2": ("checkout-7d9f8c6b5-a1b2c", "checkout-7d9f8c6b5-d3e4f"),
    "v3": ("v3-pod-a", "v3-pod-b"),
    "v4": ("v4-pod-a", "v4-pod-b"),
}

ANALYSIS = """\
name: checkout
description: the checkout app's latency and errors, version against version
defaults: {step: 60s, window: 30m, min_points: 5}
vars: {app: checkout}
metrics:
  - name: latency_seconds
    query: latency_seconds{app="{{app}}",version="{{version}}"}
    direction: increase
    tolerance: 0.2
    critical: true
  - name: errors_ratio
    query: errors_ratio{app="{{app}}",version="{{version}}"}
    direction: increase
    tolerance: 0.5
"""

#: the same metrics, the errors critical: a canary without them cannot pass
STRICT = ANALYSIS.replace("name: checkout\n", "name: checkout-strict\n").replace(
    "tolerance: 0.5\n", "tolerance: 0.5\n    critical: true\n"
)

#: Flagger's primary against its canary, by pod name (the name docs/canary.md uses)
FLAGGER = """\
name: checkout-flagger
defaults: {window: 5m, min_points: 5}
vars: {app: checkout}
metrics:
  - name: latency_seconds
    query: latency_seconds{app="{{app}}",pod=~"{{workload}}-[0-9a-z]+-[0-9a-z]+"}
    direction: increase
    tolerance: 0.2
    critical: true
"""

#: a query Prometheus refuses (a range function without its range)
BROKEN = """\
name: broken
metrics:
  - name: latency_rate
    query: rate(latency_seconds{version="{{version}}"})
"""


@dataclass(frozen=True)
class CanaryData:
    url: str
    end_ns: int

    @property
    def end_seconds(self) -> str:
        return str(self.end_ns // NS_PER_SECOND)


def canary_openmetrics(end_ns: int, seed: int = 15) -> str:
    rng = np.random.default_rng(seed)
    ts = end_ns - MINUTE * np.arange(POINTS - 1, -1, -1, dtype=np.int64)
    series = {}
    levels = {"v1": 0.2, "v2": 0.2, "v3": 0.4, "v4": np.nan}
    for version, level in levels.items():
        for pod in PODS[version]:
            labels = {"__name__": "latency_seconds", "app": "checkout", "version": version}
            labels["pod"] = pod
            values = level + 0.01 * rng.standard_normal(POINTS)
            series[series_id(labels)] = (labels, ts, values)
            if version in ("v1", "v3"):
                errors = {**labels, "__name__": "errors_ratio"}
                series[series_id(errors)] = (errors, ts, 0.01 + 0.001 * rng.standard_normal(POINTS))
    return write_openmetrics(series)


def start_canary_prometheus(workdir: Path) -> tuple[PrometheusServer, CanaryData]:
    """A running Prometheus with the canary telemetry (59 s lookback: a query at the
    60 s step returns exactly the stored samples); the caller stops it."""
    now = time.time_ns()
    end = now - now % HOUR - 24 * HOUR
    server = PrometheusServer(canary_openmetrics(end), workdir, lookback_delta="59s")
    server.start()
    return server, CanaryData(server.url, end)


def write_analyses(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    texts = {"checkout": ANALYSIS, "strict": STRICT, "flagger": FLAGGER, "broken": BROKEN}
    for name, text in texts.items():
        path = folder / f"{name}.yaml"
        path.write_text(text)
        paths[name] = path
    return paths
