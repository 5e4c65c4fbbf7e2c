"""Degrade, never break: a circuit breaker, a seasonal-naive fallback and sticky splits.

A model that raises or overruns its latency budget is answered for by a fallback, and a
model that keeps failing is not called at all for a while: its :class:`CircuitBreaker`
opens after ``failures`` consecutive failures, lets one probe through after ``reset``
seconds (half-open) and closes again when the probe succeeds. Only the model's own
failures count: work that never started (shed because its pool was full) is neither a
failure nor a success, and a probe that never started hands its turn back
(:meth:`CircuitBreaker.abandon`). The breaker reads ``clock`` (monotonic seconds), which
tests replace. :func:`seasonal_naive`
is the fallback forecast: the last season of the request's own values repeated, with
intervals from the spread of their seasonal changes (widening with the number of
seasons ahead), so that a fallback answer is still an honest forecast with a range.
:func:`bucket` places a request key in [0, 1) by its hash, the same on every replica,
so a canary share of 5% is the same 5% of keys every time (sticky).

>>> now = [0.0]
>>> b = CircuitBreaker(failures=2, reset=30.0, clock=lambda: now[0])
>>> b.record_failure(); b.record_failure(); b.state, b.allow()
('open', False)
>>> now[0] = 30.0
>>> b.state, b.acquire(), b.acquire()
('half_open', 'probe', None)
>>> mean, bands = seasonal_naive([1.0, 2.0, 3.0, 1.0, 2.0, 3.0], h=4, season=3, levels=[80])
>>> mean.tolist(), bool((bands[80.0][0] <= mean).all())
([1.0, 2.0, 3.0, 1.0], True)
"""

from __future__ import annotations

import hashlib
import math
import statistics
import threading
import time
from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "CALL",
    "CLOSED",
    "HALF_OPEN",
    "OPEN",
    "PROBE",
    "CircuitBreaker",
    "bucket",
    "seasonal_naive",
]

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
#: what :meth:`CircuitBreaker.acquire` lets through: a call (closed), or the probe
CALL, PROBE = "call", "probe"
#: the gauge value of each state on /metrics
STATE_VALUES = {CLOSED: 0, HALF_OPEN: 1, OPEN: 2}


class CircuitBreaker:
    """Closed -> open after ``failures`` consecutive failures; half-open after ``reset``
    seconds, when one probe at a time is let through; closed again on its success."""

    def __init__(
        self,
        failures: int = 5,
        reset: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failures = failures
        self.reset = reset
        self._clock = clock
        self._lock = threading.Lock()
        self._state = CLOSED
        self._streak = 0
        self._opened_at = 0.0
        self._probing = False

    @property
    def state(self) -> str:
        with self._lock:
            if self._state == OPEN and self._clock() - self._opened_at >= self.reset:
                return HALF_OPEN
            return self._state

    def allow(self) -> bool:
        """Whether to call the model now (in half-open, only the first caller probes)."""
        return self.acquire() is not None

    def acquire(self) -> str | None:
        """:data:`CALL` (closed), :data:`PROBE` (the one call let through when half-open)
        or None (open, or another probe is running): whether and how to call the model."""
        with self._lock:
            if self._state == CLOSED:
                return CALL
            if self._state == OPEN and self._clock() - self._opened_at < self.reset:
                return None
            if self._probing:
                return None
            self._state, self._probing = HALF_OPEN, True
            return PROBE

    def abandon(self) -> None:
        """The probe :meth:`acquire` let through never ran (its work was shed): let the
        next caller probe instead. Counts neither as a success nor as a failure."""
        with self._lock:
            self._probing = False

    def record_success(self) -> None:
        with self._lock:
            self._state, self._streak, self._probing = CLOSED, 0, False

    def record_failure(self) -> None:
        with self._lock:
            self._streak += 1
            if self._state == HALF_OPEN or self._streak >= self.failures:
                self._state, self._opened_at, self._probing = OPEN, self._clock(), False


def seasonal_naive(
    values: Sequence[float | None] | NDArray[np.float64],
    h: int,
    season: int,
    levels: Sequence[float] = (),
) -> tuple[NDArray[np.float64], dict[float, tuple[NDArray[np.float64], NDArray[np.float64]]]]:
    """The last season of ``values`` repeated ``h`` steps (the last value when fewer
    than two seasons are given), and ``{level: (lo, hi)}`` from the spread of the
    seasonal (or one-step) changes: a normal band whose width grows with the square
    root of the number of seasons ahead. Missing values are carried forward. A series
    that never went below zero (a request count, a ratio) gets no negative value or
    bound."""
    y = np.asarray(values, dtype=np.float64)
    known = np.flatnonzero(np.isfinite(y))
    if len(known) == 0:
        raise ValueError("no finite value to forecast from")
    # carry the last known value forward over gaps (a leading gap takes the first value)
    filled = y[np.maximum.accumulate(np.where(np.isfinite(y), np.arange(len(y)), known[0]))]
    m = season if season > 1 and len(filled) >= 2 * season else 1
    steps = np.arange(h)
    mean = filled[len(filled) - m + steps % m]
    floor = bool(y[known].min() >= 0.0)
    changes = filled[m:] - filled[:-m]
    spread = float(np.sqrt(np.mean(changes**2))) if len(changes) else 0.0
    ahead = np.sqrt(steps // m + 1.0)
    bands = {}
    for level in levels:
        z = statistics.NormalDist().inv_cdf(0.5 + float(level) / 200.0)
        half = z * spread * ahead
        lo = mean - half
        bands[float(level)] = (np.maximum(lo, 0.0) if floor else lo, mean + half)
    return mean, bands


def bucket(key: str) -> float:
    """Where ``key`` falls in [0, 1): the first 8 bytes of its sha256."""
    digest = hashlib.sha256(key.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def finite_or_none(values: NDArray[np.float64]) -> list[float | None]:
    """A JSON-safe list: NaN and infinities as null."""
    return [v if math.isfinite(v) else None for v in values.tolist()]
