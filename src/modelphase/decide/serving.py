"""A model version's serving metrics from its decision log rows, judged as
``modelphase canary judge`` judges a release: the policy hook of the monitor's canary.

Two metrics per version: ``latency_ms``, every request's latency (increase bad), and
``fallback_ratio``, the share of a minute's requests answered by the fallback (increase
bad), both judged by :func:`~modelphase.decide.judge_canary` against production over
the same stage. The fallback share is also an SLI: with an ``objective`` (the share of
requests the model itself answers, 99% say), :func:`fast_burn` says whether it burns
at a page tier's rate over both of the tier's windows (the SRE Workbook's, scaled to
``period``), among at least ``min_events`` requests in the long window, so that one
fallback among a handful of requests does not roll a version back.

The rows are the decision log's (:mod:`modelphase.decisions.records`): ``time_us``
(timestamps, or epoch microseconds), ``latency_ms`` and ``answered_by`` (``model`` or
``fallback``) are read.

>>> rows = pd.DataFrame({"time_us": [0, 30_000_000, 60_000_000],
...                      "latency_ms": [4.0, 5.0, 6.0],
...                      "answered_by": ["model", "fallback", "model"]})
>>> {k: v.tolist() for k, v in serving_samples(rows).items()}
{'latency_ms': [4.0, 5.0, 6.0], 'fallback_ratio': [0.5, 0.0]}
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from modelphase.decide.canary import MetricSpec
from modelphase.decide.slo.budget import SliEvents, burn_rates
from modelphase.decide.slo.windows import WORKBOOK

__all__ = ["BUCKET_SECONDS", "Burning", "fast_burn", "serving_samples", "serving_specs"]

#: the fallback share is counted per minute of requests
BUCKET_SECONDS = 60


def serving_specs(tolerance: float = 0.25, min_points: int = 3) -> list[MetricSpec]:
    """The two serving metrics, each allowed ``tolerance`` relative shift."""
    return [
        MetricSpec("latency_ms", "increase", tolerance=tolerance, min_points=min_points),
        MetricSpec("fallback_ratio", "increase", tolerance=tolerance, min_points=min_points),
    ]


def serving_samples(rows: pd.DataFrame) -> dict[str, NDArray[np.float64]]:
    """Per-request latencies and per-minute fallback shares of one version's rows."""
    if not len(rows):
        return {"latency_ms": np.empty(0), "fallback_ratio": np.empty(0)}
    latency = rows["latency_ms"].to_numpy(dtype=np.float64)
    minute = _ns(rows["time_us"]) // (BUCKET_SECONDS * 10**9)
    fallback = (rows["answered_by"] == "fallback").to_numpy(dtype=np.float64)
    share = pd.Series(fallback).groupby(minute).mean().to_numpy(dtype=np.float64)
    return {"latency_ms": latency, "fallback_ratio": share}


def _ns(times: pd.Series) -> NDArray[np.int64]:
    """Epoch ns of the log's ``time_us``: timestamps as read back, or epoch us."""
    if pd.api.types.is_datetime64_any_dtype(times.dtype):
        return pd.DatetimeIndex(times).as_unit("ns").asi8
    return times.to_numpy(dtype=np.int64) * 1000


@dataclass(frozen=True)
class Burning:
    """A page tier the fallback share burns at: its key, factor, both windows'
    burn rates and the requests its long window counted."""

    tier: str
    factor: float
    long_burn: float
    short_burn: float
    events: float

    @property
    def reason(self) -> str:
        return (
            f"fast burn: the fallback share burns the error budget at {self.long_burn:.1f}x "
            f"and {self.short_burn:.1f}x over the {self.tier} windows (limit {self.factor:g}x, "
            f"{self.events:.0f} requests)"
        )


def fast_burn(
    rows: pd.DataFrame, objective: float, *, period: int = 30 * 86_400, min_events: int = 50
) -> Burning | None:
    """The first page tier whose windows (ending at the last request) both burn above
    its factor, or None. ``objective`` is a percentage (99 = 1% may fall back)."""
    if not len(rows):
        return None
    budget = (100.0 - objective) / 100.0
    step = BUCKET_SECONDS * 10**9
    events = SliEvents.on_grid(
        _ns(rows["time_us"]),
        (rows["answered_by"] == "fallback").to_numpy(dtype=np.float64),
        np.ones(len(rows)),
        step,
    )
    for tier in WORKBOOK.for_period(period).of("page"):
        long, short = burn_rates(events, budget, [tier.long, tier.short])
        if long.events < min_events or long.burn_rate is None or short.burn_rate is None:
            continue
        if long.burn_rate > tier.factor and short.burn_rate > tier.factor:
            return Burning(tier.key, tier.factor, long.burn_rate, short.burn_rate, long.events)
    return None
