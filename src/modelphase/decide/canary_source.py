"""The IO of the canary judge: analysis files read from disk, and each metric's baseline
and canary samples fetched from Prometheus.

:func:`fetch_samples` renders every metric's query for each side
(:meth:`~modelphase.decide.canary_analysis.CanaryAnalysis.bind`), runs it over
``[start, end]`` at the analysis's step, and pools every sample of every series it
returns (each series an instance: a pod, a zone), NaN included: the judge drops
non-finite samples and counts them. A query that matches no series gives its side no
samples, so the metric is inconclusive ("no canary data"); any other failure of
Prometheus is raised as its :class:`~modelphase.exceptions.PrometheusError`, naming the
metric and the side. The Prometheus client is passed in (anything with
``query_range(query, start, end, step)``, as
:class:`modelphase.ingest.PrometheusClient` has), so that this module needs no HTTP of
its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from modelphase.decide.canary_analysis import CanaryAnalysis, parse_analysis
from modelphase.decide.slo._errors import Problem
from modelphase.exceptions import (
    CanaryAnalysisError,
    NoSeriesError,
    PrometheusError,
    PrometheusTimeoutError,
)
from modelphase.frame import NS_PER_SECOND, Panel
from modelphase.limits import MAX_CANARY_SAMPLES, MAX_SPEC_BYTES, check_at_most

__all__ = ["CanarySamples", "RangeQuerier", "fetch_samples", "read_analysis_file"]


class _RangeResult(Protocol):
    @property
    def panel(self) -> Panel: ...

    @property
    def warnings(self) -> list[str]: ...


class RangeQuerier(Protocol):
    """What :func:`fetch_samples` needs of a Prometheus client."""

    def query_range(self, query: str, start: int, end: int, step: int) -> _RangeResult: ...


@dataclass(frozen=True)
class CanarySamples:
    """Each metric's pooled samples on each side, over ``[start, end]`` every ``step``
    (ns); ``n_series`` is ``(baseline, canary)`` series per metric; ``queries`` the
    rendered queries ``(baseline, canary)``; ``baseline_span`` the first and last time
    the baseline had a finite sample."""

    baseline: dict[str, NDArray[np.float64]]
    canary: dict[str, NDArray[np.float64]]
    n_series: dict[str, tuple[int, int]]
    queries: dict[str, tuple[str, str]]
    start: int
    end: int
    step: int
    baseline_span: tuple[int, int] | None
    warnings: tuple[str, ...] = ()

    @property
    def silent_for(self) -> float | None:
        """Seconds the baseline reported while the canary reported nothing at all (for
        the judge's silent-canary rule), or None when the canary has data."""
        if any(np.isfinite(v).any() for v in self.canary.values()):
            return None
        if self.baseline_span is None:
            return None
        return (self.baseline_span[1] - self.baseline_span[0]) / NS_PER_SECOND


Progress = Callable[[int, int], None]


def fetch_samples(
    client: RangeQuerier,
    analysis: CanaryAnalysis,
    baseline_vars: Mapping[str, str],
    canary_vars: Mapping[str, str],
    *,
    start: int,
    end: int,
    deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    prefixes: tuple[str, str] = ("baseline.", "canary."),
    progress: Progress | None = None,
) -> CanarySamples:
    """Every metric's samples for the baseline's and the canary's variables over
    ``[start, end]`` (ns), two queries a metric. ``deadline`` (on ``clock``) is when no
    further query may start (:class:`PrometheusTimeoutError`); ``prefixes`` name the
    sides' variables in messages; ``progress(done, total)`` counts queries."""
    base_vars, can_vars = analysis.bind(baseline_vars, canary_vars, prefixes=prefixes)
    step = analysis.step
    samples: dict[str, dict[str, NDArray[np.float64]]] = {"baseline": {}, "canary": {}}
    n_series: dict[str, list[int]] = {}
    queries: dict[str, tuple[str, str]] = {}
    warnings: list[str] = []
    lo, hi = None, None
    total, done = 2 * len(analysis.metrics), 0
    if progress:
        progress(0, total)
    base_queries, can_queries = analysis.queries(base_vars), analysis.queries(can_vars)
    for metric in analysis.metrics:
        rendered = (base_queries[metric.name], can_queries[metric.name])
        queries[metric.name] = rendered
        counts = n_series.setdefault(metric.name, [0, 0])
        for k, (side, query) in enumerate(zip(("baseline", "canary"), rendered, strict=True)):
            if deadline is not None and clock() > deadline:
                raise PrometheusTimeoutError(
                    f"the canary analysis {analysis.name} ran out of time after {done} of "
                    f"{total} queries",
                    hint="judge a shorter window or fewer metrics, or raise the server's "
                    "--canary-timeout",
                )
            panel = _run(client, query, start, end, step, metric.name, side, warnings)
            values = panel.y if panel is not None else np.empty(0)
            check_at_most(
                f"metric {metric.name!r} ({side})",
                len(values),
                MAX_CANARY_SAMPLES,
                "aggregate the query over fewer series (sum by (pod)), or judge a shorter window",
                " samples",
            )
            samples[side][metric.name] = np.asarray(values, dtype=np.float64)
            counts[k] = panel.n_series if panel is not None else 0
            if side == "baseline" and panel is not None:
                finite = panel.ds[np.isfinite(panel.y)]
                if len(finite):
                    lo = int(finite.min()) if lo is None else min(lo, int(finite.min()))
                    hi = int(finite.max()) if hi is None else max(hi, int(finite.max()))
            done += 1
            if progress:
                progress(done, total)
    return CanarySamples(
        baseline=samples["baseline"],
        canary=samples["canary"],
        n_series={k: (v[0], v[1]) for k, v in n_series.items()},
        queries=queries,
        start=start,
        end=end,
        step=step,
        baseline_span=None if lo is None or hi is None else (lo, hi),
        warnings=tuple(dict.fromkeys(warnings)),
    )


def _run(
    client: RangeQuerier,
    query: str,
    start: int,
    end: int,
    step: int,
    metric: str,
    side: str,
    warnings: list[str],
) -> Panel | None:
    """The query's raw panel, or None when it matched no series."""
    try:
        result = client.query_range(query, start, end, step)
    except NoSeriesError:
        return None
    except PrometheusError as exc:
        exc.args = (f"metric {metric!r}, {side} query: {exc.args[0] if exc.args else exc}",)
        raise
    warnings.extend(result.warnings)
    return result.panel


def read_analysis_file(path: str | Path) -> CanaryAnalysis:
    """The analysis in a YAML file (:func:`~modelphase.decide.parse_analysis`); a
    missing, unreadable, oversized or non-UTF-8 file is a ``CanaryAnalysisError``."""
    path = Path(path)
    source = str(path)

    def refuse(expected: str, got: str, fix: str) -> CanaryAnalysisError:
        problem = Problem("(file)", expected, got, fix)
        return CanaryAnalysisError(
            f"{source}: {problem}. Fix: {fix}", errors=[str(problem)], source=source
        )

    if path.is_dir():
        raise refuse("a canary analysis file (YAML)", "a folder", "name the file in it")
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_SPEC_BYTES + 1)
    except OSError as exc:
        raise refuse("a readable file", exc.strerror or str(exc), "check the path") from None
    if len(raw) > MAX_SPEC_BYTES:
        raise refuse(f"at most {MAX_SPEC_BYTES:,} bytes", "a larger file", "split it")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise refuse(
            "UTF-8 text", f"a byte that is not UTF-8 at offset {exc.start}", "save it as UTF-8"
        ) from None
    return parse_analysis(text, source)
