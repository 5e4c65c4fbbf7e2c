"""Feature rows for recursive forecasting, step after step, for many series at once.

A recursive forecast asks, at every step of the horizon, for the row of the next point
of every series, then appends the prediction. :meth:`FeatureSet.transform_next` would
recompute every rolling window from scratch at each step: a week of 5-minute points is
2,016 values per series per step. :class:`Recursion` keeps a running sum for each
mean instead, so a step of a mean costs the same whatever its window (deviations and
extremes are read from the window: a running sum of squares would lose them to
cancellation). Its rows equal ``transform_next``'s up to floating-point rounding (a
test holds them to 1e-9); lags and calendar fields are exact.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from modelphase.exceptions import ValidationError
from modelphase.features._core import calendar_field
from modelphase.features._specs import (
    Feature,
    Lag,
    RollingMax,
    RollingMean,
    RollingMin,
    RollingStd,
)

__all__ = ["Recursion"]


class _Running:
    """Running count and sum (about a per-series shift) of one window of the buffer."""

    def __init__(self, buf: NDArray[np.float64], lo: int, hi: int) -> None:
        window = buf[:, lo:hi]
        ok = np.isfinite(window)
        self.count = ok.sum(axis=1)
        first = np.where(ok.any(axis=1), window[np.arange(len(buf)), ok.argmax(axis=1)], 0.0)
        self.shift = np.nan_to_num(first)  # sums of deviations lose less to rounding
        self.total = np.where(ok, window - self.shift[:, None], 0.0).sum(axis=1)

    def slide(self, leaving: NDArray[np.float64], entering: NDArray[np.float64]) -> None:
        for v, sign in ((leaving, -1), (entering, 1)):
            ok = np.isfinite(v)
            self.count += sign * ok
            self.total += sign * np.where(ok, v - self.shift, 0.0)

    def mean(self, periods: int) -> NDArray[np.float64]:
        enough = self.count >= periods
        out = np.full(len(self.count), np.nan)
        out[enough] = self.shift[enough] + self.total[enough] / self.count[enough]
        return out


def _std(window: NDArray[np.float64], periods: int) -> NDArray[np.float64]:
    """Per row, the sample deviation of the finite values (two passes: no cancellation)."""
    ok = np.isfinite(window)
    count = ok.sum(axis=1)
    enough = count >= periods
    out = np.full(len(window), np.nan)
    if enough.any():
        w, k = window[enough], ok[enough]
        n = count[enough]
        mean = np.where(k, w, 0.0).sum(axis=1) / n
        dev = np.where(k, w - mean[:, None], 0.0)
        out[enough] = np.sqrt((dev * dev).sum(axis=1) / (n - 1))
    return out


class Recursion:
    """The next row of every series, then :meth:`push` the values of that point.

    ``tail`` is ``(n_series, L)``: the last ``L >= max_lookback`` grid values of each
    series (NaN where missing or before its start); ``last_ds`` the time of each
    series' last point; ``step`` the grid step (ns); ``h`` how many points will be
    pushed at most.
    """

    def __init__(
        self,
        features: Sequence[Feature],
        tail: NDArray[np.float64],
        last_ds: NDArray[np.int64],
        step: int,
        h: int,
    ) -> None:
        tail = np.asarray(tail, dtype=np.float64)
        lookback = max((f.lookback for f in features), default=0)
        if tail.ndim != 2 or tail.shape[1] < lookback or len(last_ds) != len(tail):
            raise ValidationError(
                f"expected a tail of shape (n_series, >= {lookback}) and one last time per "
                f"series, got {tail.shape} and {len(last_ds)} times"
            )
        n, width = tail.shape
        self.features = tuple(features)
        self.buf = np.full((n, width + h), np.nan)
        self.buf[:, :width] = tail
        self.pos = width  # the column of the next point
        self.end = width + h
        self.h = h
        self.ds = np.asarray(last_ds, dtype=np.int64) + step
        self.step = step
        self.running: dict[tuple[int, int], _Running] = {}
        for f in self.features:
            if isinstance(f, RollingMean):
                key = (f.window, f.lag)
                if key not in self.running:
                    lo = self.pos - f.lag - f.window + 1
                    self.running[key] = _Running(self.buf, lo, self.pos - f.lag + 1)

    def next_rows(self) -> NDArray[np.float64]:
        """``(n_series, n_features)``: the features of each series' next point."""
        buf, p = self.buf, self.pos
        out = np.empty((len(buf), len(self.features)), np.float64)
        for col, f in enumerate(self.features):
            if isinstance(f, Lag):
                out[:, col] = buf[:, p - f.k]
            elif isinstance(f, RollingMean):
                out[:, col] = self.running[f.window, f.lag].mean(f.periods)
            elif isinstance(f, RollingStd):
                out[:, col] = _std(buf[:, p - f.lag - f.window + 1 : p - f.lag + 1], f.periods)
            elif isinstance(f, RollingMin | RollingMax):
                window = buf[:, p - f.lag - f.window + 1 : p - f.lag + 1]
                pick = np.fmin if isinstance(f, RollingMin) else np.fmax
                values = pick.reduce(window, axis=1)
                values[np.isfinite(window).sum(axis=1) < f.periods] = np.nan
                out[:, col] = values
            else:
                out[:, col] = calendar_field(self.ds, f)
        return out

    def push(self, values: NDArray[np.float64]) -> None:
        """Append the values of the point :meth:`next_rows` described; move one step."""
        if self.pos >= self.end:
            raise ValidationError(f"expected at most h = {self.h} pushes, got one more")
        self.buf[:, self.pos] = values
        self.pos += 1
        self.ds = self.ds + self.step
        p = self.pos
        for (window, lag), run in self.running.items():
            run.slide(self.buf[:, p - lag - window], self.buf[:, p - lag])
