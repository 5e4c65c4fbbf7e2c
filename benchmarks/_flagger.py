"""Flagger's built-in canary checks, fixed thresholds, for the canary benchmark.

Flagger (fluxcd/flagger, Apache-2.0) ships two metric checks, documented at
https://docs.flagger.app/usage/metrics ("Builtin metrics")::

    analysis:
      interval: 1m
      threshold: 5          # max number of failed metric checks before rollback
      metrics:
      - name: request-success-rate
        interval: 1m
        thresholdRange: {min: 99}    # minimum req success rate (non 5xx), percent
      - name: request-duration
        interval: 1m
        thresholdRange: {max: 500}   # maximum req duration P99, milliseconds

As in ``pkg/controller/scheduler_metrics.go``, a check fails when the success rate is
below ``min`` or the duration above ``max`` (both strict), and also when the query finds no
values ("Halt advancement no values found ... probably not receiving traffic"). As in
``pkg/controller/scheduler.go``, every analysis run with a failed check adds one to the
canary's failed checks, a passing run does not reset them (only a new revision does), and
each run first compares the count with ``threshold``: the rollback happens at the run after
the ``threshold``-th failure. Flagger's own default threshold is 1
(``GetAnalysisThreshold``); 5 is its documentation's example and this module's default.

What ChangeRCA gives: per pod and call edge, one row a minute with ``SuccessRate`` (%) and
``Latency`` (ms) where ``Latency`` is the minute's *mean*, not a histogram. So over the
canary pods' samples of the interval:

- success rate: the mean of the per-pod-minute success rates. Flagger divides the summed
  non-5xx request rate by the summed request rate, a request-weighted mean; ChangeRCA has
  no request counts, so every sample weighs the same.
- request duration: the 99th percentile (linear, numpy's default) of the per-pod-minute
  mean latencies. Flagger's is ``histogram_quantile(0.99, ...)`` over requests; a p99 of
  minute means is lower than the requests' p99 whenever latency varies within a minute,
  so this check is, if anything, more lenient than Flagger's.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

MIN_SUCCESS_PERCENT = 99.0
MAX_LATENCY_MS = 500.0


def check(
    success_rates_percent: npt.ArrayLike,
    latencies_ms: npt.ArrayLike,
    *,
    min_success: float = MIN_SUCCESS_PERCENT,
    max_latency_ms: float = MAX_LATENCY_MS,
) -> tuple[bool, list[str]]:
    """One analysis run over the canary's samples of the interval: ``(ok, reasons)``.

    Flagger stops at the first failing metric; here every failure is listed (``ok`` is the
    same). NaN samples are dropped; no samples left is a failure, as in Flagger.

    >>> check([100.0, 99.5, 98.0], [120.0, 180.0, 90.0])
    (True, [])
    >>> check([100.0, 90.0], [120.0, 900.0])
    (False, ['success rate 95.00% < 99%', 'request duration p99 892ms > 500ms'])
    """
    rates = _finite(success_rates_percent)
    latencies = _finite(latencies_ms)
    reasons = []
    if rates.size == 0:
        reasons.append("no values found for request-success-rate")
    elif (rate := float(rates.mean())) < min_success:
        reasons.append(f"success rate {rate:.2f}% < {min_success:g}%")
    if latencies.size == 0:
        reasons.append("no values found for request-duration")
    elif (p99 := float(np.quantile(latencies, 0.99))) > max_latency_ms:
        reasons.append(f"request duration p99 {p99:.0f}ms > {max_latency_ms:g}ms")
    return not reasons, reasons


def _finite(values: npt.ArrayLike) -> npt.NDArray[np.float64]:
    v = np.asarray(values, dtype=float).ravel()
    return v[~np.isnan(v)]


class FlaggerAnalysis:
    """The canary analysis's failed-check count, one :meth:`step` per analysis interval.

    >>> a = FlaggerAnalysis(threshold=2)
    >>> [a.step(ok) for ok in (False, True, False, True, True)]
    ['progress', 'progress', 'progress', 'rollback', 'rollback']
    >>> a.failed_checks_
    2
    """

    def __init__(self, threshold: int = 5) -> None:
        if threshold < 1:
            raise ValueError(
                f"threshold must be at least 1, got {threshold!r}. Fix: use 1 or more."
            )
        self.threshold = threshold
        self.failed_checks_ = 0
        self.rolled_back_ = False

    def step(self, ok: bool) -> Literal["progress", "rollback"]:
        """The verdict of the run whose checks gave ``ok``: the count is compared with the
        threshold before the run's checks, as Flagger does, and a rollback is final.
        "progress" after a failed check means advancement halted, not rolled back yet."""
        if self.rolled_back_ or self.failed_checks_ >= self.threshold:
            self.rolled_back_ = True
            return "rollback"
        self.failed_checks_ += not ok
        return "progress"
