"""The served models' own SLIs, in Prometheus naming, on the server's ``/metrics``.

Counters and a latency histogram are updated on the request path (a few microseconds);
ratios (prediction coverage, version adoption, shadow agreement, CPU per prediction,
circuit state, the decision log's queue) are computed when Prometheus scrapes, from
state the server already keeps. Every series carries ``model`` and, where it applies,
``version`` and ``alias``, so a dashboard can follow a rollout version by version.

Ratios cover the server's life (or, for adoption and agreement, the last 1,000
requests of each model); for rates over a window, divide the counters in PromQL, e.g.
``sum(rate(modelphase_serve_requests_total{outcome="model"}[5m])) /
sum(rate(modelphase_serve_requests_total{outcome=~"model|fallback"}[5m]))``.
"""

from __future__ import annotations

import threading
from collections import Counter as Tally
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

from modelphase.serve.resilience import STATE_VALUES

__all__ = ["ServeMetrics", "circuit_family", "pool_families"]

_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_RECENT = 1000


class ServeMetrics:
    """The server's metrics, in their own registry (several apps in one process, as
    in tests, do not collide)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "modelphase_serve_requests",
            "Prediction requests by model, version, alias, endpoint and outcome "
            "(model: the intended model answered; fallback; rejected: bad input)",
            ["model", "version", "alias", "endpoint", "outcome"],
            registry=r,
        )
        self.latency = Histogram(
            "modelphase_serve_inference_seconds",
            "Time to answer a prediction request, fallback included",
            ["model", "version", "alias", "endpoint"],
            buckets=_BUCKETS,
            registry=r,
        )
        self.errors = Counter(
            "modelphase_serve_inference_errors",
            "Model calls that raised or overran their latency budget, by reason",
            ["model", "version", "reason"],
            registry=r,
        )
        self.fallbacks = Counter(
            "modelphase_serve_fallbacks",
            "Requests answered by the fallback, by reason (error, timeout, circuit_open)",
            ["model", "version", "reason"],
            registry=r,
        )
        self.cpu = Counter(
            "modelphase_serve_prediction_cpu_seconds",
            "CPU seconds spent in model calls (thread time)",
            ["model", "version"],
            registry=r,
        )
        self.predictions = Counter(
            "modelphase_serve_predictions",
            "Model calls that answered",
            ["model", "version"],
            registry=r,
        )
        self.flagged = Counter(
            "modelphase_serve_flagged_points",
            "Points flagged in score answers, by whether an explanation came with them",
            ["model", "version", "explained"],
            registry=r,
        )
        self.shadow = Counter(
            "modelphase_serve_shadow_comparisons",
            "Shadow predictions compared with the answer, by result (agree, disagree, "
            "error, skipped: the shadow queue was full)",
            ["model", "version", "result"],
            registry=r,
        )
        self.rejected = Counter(
            "modelphase_serve_rejected_requests",
            "Requests refused before any model ran, by HTTP status",
            ["status"],
            registry=r,
        )
        self.reloads = Counter(
            "modelphase_serve_reloads",
            "Refreshes of the served models from the registry, by outcome",
            ["outcome"],
            registry=r,
        )
        self.throttled = Counter(
            "modelphase_serve_throttled",
            "Requests refused with 429 because their token was over a limit, by reason "
            "(rate, concurrency, heavy)",
            ["reason"],
            registry=r,
        )
        self.shed = Counter(
            "modelphase_serve_shed",
            "Work refused with 503 before it started (never a model failure), by pool "
            "(light, heavy, parse, fallback, shadow) and reason (queue_full, queue_wait, "
            "shutdown)",
            ["pool", "reason"],
            registry=r,
        )
        self.queue_wait = Histogram(
            "modelphase_serve_queue_wait_seconds",
            "Time work waited for a thread of its pool (not counted against the budget)",
            ["pool"],
            buckets=_BUCKETS,
            registry=r,
        )
        self.validation = Counter(
            "modelphase_serve_data_validation",
            "Requests whose values were checked before serving, by result (ok, or the "
            "check they failed: min, max, max_missing, out_of_range); the data-validation "
            "fail rate is the share not ok",
            ["model", "version", "result"],
            registry=r,
        )
        self.input_age = Histogram(
            "modelphase_serve_input_age_seconds",
            "Age of a request's newest value when it arrived (feature freshness)",
            ["model"],
            buckets=(10, 60, 300, 900, 3600, 6 * 3600, 86400, 7 * 86400),
            registry=r,
        )
        self.connection_timeouts = Counter(
            "modelphase_serve_connection_timeouts",
            "Requests answered 408 and closed because their headers or body did not "
            "arrive in time (--header-timeout, --body-timeout), by phase",
            ["phase"],
            registry=r,
        )
        self._lock = threading.Lock()
        self._recent: dict[str, deque[str]] = {}  # model -> versions of the last answers
        self._agree: dict[tuple[str, str], deque[float]] = {}
        self._gauges: list[Callable[[], Iterator[Any]]] = []
        r.register(_Collector(self))

    # ------------------------------------------------------------ request path

    def answered(self, model: str, version: str) -> None:
        """Count one primary answer towards the version adoption of ``model``."""
        with self._lock:
            recent = self._recent.setdefault(model, deque(maxlen=_RECENT))
            recent.append(version)

    def explained(
        self, model: str, version: str, flags: Sequence[bool], explained: Sequence[Any]
    ) -> None:
        """Count a score answer's flagged points, with or without an explanation (each
        explanation covers its episode's points, ``first`` to ``last``)."""
        total = sum(1 for f in flags if f)
        if not total:
            return
        covered = sum(int(e["last"]) - int(e["first"]) + 1 for e in explained)
        covered = min(covered, total)
        self.flagged.labels(model, version, "true").inc(covered)
        self.flagged.labels(model, version, "false").inc(total - covered)

    def agreement(self, model: str, version: str, value: float) -> None:
        with self._lock:
            self._agree.setdefault((model, version), deque(maxlen=_RECENT)).append(value)

    def add_gauges(self, source: Callable[[], Iterator[Any]]) -> None:
        """Extra metric families computed at scrape time (circuit states, the log)."""
        self._gauges.append(source)

    # ---------------------------------------------------------------- scraping

    def _families(self) -> Iterator[Any]:
        adoption = GaugeMetricFamily(
            "modelphase_serve_version_traffic_share",
            "Share of the last 1,000 answers of each model given by each version",
            labels=["model", "version"],
        )
        agreement = GaugeMetricFamily(
            "modelphase_serve_shadow_agreement_ratio",
            "Mean agreement of the shadow with the answer over its last 1,000 comparisons "
            "(forecasts: share of steps where the shadow's mean lies in the answer's "
            "interval; scores: share of points with the same decision)",
            labels=["model", "version"],
        )
        with self._lock:
            recent = {m: Tally(v) for m, v in self._recent.items()}
            agree = {k: (sum(v) / len(v)) for k, v in self._agree.items() if v}
        for model, tally in recent.items():
            total = sum(tally.values())
            for version, count in tally.items():
                adoption.add_metric([model, version], count / total)
        for (model, version), value in agree.items():
            agreement.add_metric([model, version], value)
        yield adoption
        yield agreement
        yield from self._coverage()
        for source in self._gauges:
            yield from source()

    def _coverage(self) -> Iterator[Any]:
        coverage = GaugeMetricFamily(
            "modelphase_serve_prediction_coverage_ratio",
            "Share of answered requests answered by the intended model (not a fallback), "
            "since the server started",
            labels=["model"],
        )
        cpu = GaugeMetricFamily(
            "modelphase_serve_cpu_seconds_per_prediction",
            "CPU seconds per model call, since the server started",
            labels=["model", "version"],
        )
        by_model: dict[str, list[float]] = {}
        for metric in self.requests.collect():
            for s in metric.samples:
                if s.name.endswith("_total") and s.labels["outcome"] in ("model", "fallback"):
                    pair = by_model.setdefault(s.labels["model"], [0.0, 0.0])
                    pair[0 if s.labels["outcome"] == "model" else 1] += s.value
        for model, (ok, fb) in by_model.items():
            if ok + fb:
                coverage.add_metric([model], ok / (ok + fb))
        calls = _totals(self.predictions)
        for key, seconds in _totals(self.cpu).items():
            if calls.get(key):
                cpu.add_metric(list(key), seconds / calls[key])
        explained = GaugeMetricFamily(
            "modelphase_serve_explanation_coverage_ratio",
            "Share of the points flagged in score answers that came with an explanation, "
            "since the server started",
            labels=["model", "version"],
        )
        flagged: dict[tuple[str, str], list[float]] = {}
        for metric in self.flagged.collect():
            for s in metric.samples:
                if s.name.endswith("_total"):
                    pair = flagged.setdefault((s.labels["model"], s.labels["version"]), [0, 0])
                    pair[0 if s.labels["explained"] == "true" else 1] += s.value
        for key, (yes, no) in flagged.items():
            if yes + no:
                explained.add_metric(list(key), yes / (yes + no))
        yield coverage
        yield cpu
        yield explained


def _totals(counter: Counter) -> dict[tuple[str, str], float]:
    out = {}
    for metric in counter.collect():
        for s in metric.samples:
            if s.name.endswith("_total"):
                out[(s.labels["model"], s.labels["version"])] = s.value
    return out


def pool_families(pools: Iterable[tuple[str, int, int, int]]) -> Iterator[GaugeMetricFamily]:
    """The pools' sizes and use from ``(pool, threads, running, queued)``."""
    names = (
        ("modelphase_serve_pool_threads", "Threads of each work pool"),
        ("modelphase_serve_pool_running", "Jobs on a thread of each pool"),
        ("modelphase_serve_pool_queued", "Jobs waiting for a thread of each pool"),
    )
    families = [GaugeMetricFamily(n, h, labels=["pool"]) for n, h in names]
    for name, *values in pools:
        for family, value in zip(families, values, strict=True):
            family.add_metric([name], value)
    yield from families


def circuit_family(
    states: Iterable[tuple[str, str, str, str]], *, heavy: bool = False
) -> GaugeMetricFamily:
    """``modelphase_serve_circuit_state`` (``heavy``: ``..._heavy_circuit_state``, the
    breaker of heavy requests) from ``(model, version, alias, state)``: 0 closed, 1
    half-open, 2 open."""
    family = GaugeMetricFamily(
        "modelphase_serve_heavy_circuit_state" if heavy else "modelphase_serve_circuit_state",
        (
            "Circuit breaker of each served version's heavy requests"
            if heavy
            else "Circuit breaker of each served version"
        )
        + ": 0 closed, 1 half-open, 2 open",
        labels=["model", "version", "alias"],
    )
    for model, version, alias, state in states:
        family.add_metric([model, version, alias], STATE_VALUES[state])
    return family


class _Collector:
    def __init__(self, metrics: ServeMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Any]:
        return self.metrics._families()

    def describe(self) -> list[Any]:
        return []
