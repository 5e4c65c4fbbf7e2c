"""Nearest neighbour: has the stream ever moved like this before?

Some anomalies never leave the normal range: a series that stops oscillating, a step
pattern played backwards, a ramp where there is always a plateau. What gives them away
is their shape. The detector keeps the last ``history`` windows of ``m`` consecutive
values and scores the window that ends at the new point by its Euclidean distance to the
nearest earlier window (never one that overlaps it), divided by the exponentially
weighted mean (half-life ``halflife``) of earlier such distances: 1 is an ordinary
novelty, 10 a shape ten times further from anything seen than usual. It is 0 until
``min_periods`` distances have been seen.

Missing values are scored 0 and carried forward as the last value, so that the windows
keep their spacing. State is bounded: ``history + m - 1`` values and two numbers.
:meth:`NearestNeighbor.score_many` computes the same scores lag by lag with numpy.

>>> import numpy as np
>>> wave = np.tile([0.0, 1.0, 2.0, 1.0], 100)
>>> d = NearestNeighbor(m=4, history=200)
>>> scores = d.score_many(np.concatenate([wave, [1.0, 1.0, 1.0, 1.0]]))
>>> float(scores[400:].max()) > 5 * float(scores[300:400].max() + 1e-9)
True
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from modelphase.anomaly.base import Detector

__all__ = ["NearestNeighbor"]


class NearestNeighbor(Detector):
    """Distance of the newest ``m`` values to the nearest earlier window, normalised."""

    name = "knn"

    def __init__(
        self, m: int = 4, history: int = 2000, halflife: float = 1000.0, min_periods: int = 50
    ) -> None:
        self.m = m
        self.history = history
        self.halflife = halflife
        self.min_periods = min_periods
        super().__init__()

    def reset(self) -> NearestNeighbor:
        self.buffer_ = np.zeros(0)  # the last history + m - 1 values (missing ones filled)
        self.n_ = 0  # distances seen
        self.mean_ = 0.0
        self.alpha_ = 1.0 - 0.5 ** (1.0 / self.halflife)
        self.pending_ = None
        return self

    # -- one point ----------------------------------------------------------------

    def _distance(self, x: float) -> float:
        """Distance of the window ending at ``x`` to the nearest earlier one (NaN if
        there is none yet)."""
        m, buf = self.m, self.buffer_
        if len(buf) < 2 * m - 1:
            return float("nan")
        current = np.append(buf[len(buf) - m + 1 :], x)
        refs = np.lib.stride_tricks.sliding_window_view(buf[: len(buf) - m + 1], m)
        return float(np.sqrt(_squared_distances(refs, current[None, :]).min()))

    def score_one(self, x: float, t: int | None = None) -> float:
        if x != x:
            return 0.0
        d = self._distance(x)
        self._remember(x, d)
        return self._normalised(d)

    def _normalised(self, d: float) -> float:
        if d != d or self.n_ < self.min_periods:
            return 0.0
        if self.mean_ > 0.0:
            return d / self.mean_
        return 0.0 if d == 0.0 else 1e9

    def learn_one(self, x: float, t: int | None = None) -> None:
        if x != x:
            if not len(self.buffer_):
                return
            x = float(self.buffer_[-1])
            d = float("nan")  # a filled point teaches no distance
        else:
            recalled = self._recall(x)
            d = self._distance(x) if recalled is None else recalled
        self._learn(x, d)

    def _learn(self, x: float, d: float) -> None:
        if d == d:
            self.n_ += 1
            a = max(self.alpha_, 1.0 / self.n_)
            self.mean_ += a * (d - self.mean_)
        keep = self.history + self.m - 1
        buf = np.append(self.buffer_, x)
        self.buffer_ = buf[len(buf) - keep :] if len(buf) > keep else buf

    # -- many points --------------------------------------------------------------

    def score_many(
        self,
        values: Sequence[float] | NDArray[np.float64],
        times: Sequence[int] | NDArray[np.int64] | None = None,
    ) -> NDArray[np.float64]:
        """The scores :meth:`score_one` then :meth:`learn_one` would give, point by
        point, computed lag by lag over the whole stretch."""
        x = np.asarray(values, dtype=np.float64)
        missing = np.isnan(x)
        # the value each point is learned as: missing ones carry the last value forward
        start = len(self.buffer_)
        full = np.concatenate([self.buffer_, x])
        known = ~np.isnan(full)
        if not known.any():
            return np.zeros(len(x))
        index = np.where(known, np.arange(len(full)), -1)
        np.maximum.accumulate(index, out=index)
        learned = np.where(index >= 0, full[np.maximum(index, 0)], np.nan)
        # points before the first known value are neither scored nor learned
        first = int(np.argmax(index >= 0))
        dist = self._lag_distances(learned[first:], max(start - first, 0))
        out = np.zeros(len(x))
        offset = max(first - start, 0)  # leading missing values of a fresh detector
        for i, d in enumerate(dist.tolist(), start=offset):
            if missing[i]:
                d = float("nan")
            else:
                out[i] = self._normalised(d)
            if d == d:
                self.n_ += 1
                a = max(self.alpha_, 1.0 / self.n_)
                self.mean_ += a * (d - self.mean_)
        kept = learned[first:]
        keep = self.history + self.m - 1
        self.buffer_ = kept[len(kept) - keep :] if len(kept) > keep else kept.copy()
        self.pending_ = None
        return out

    def _lag_distances(self, series: NDArray[np.float64], skip: int) -> NDArray[np.float64]:
        """For each point of ``series`` from ``skip`` on, the distance of the window ending
        there to the nearest earlier window within ``history`` (NaN if none)."""
        m, hist = self.m, self.history
        n = len(series)
        out = np.full(max(n - skip, 0), np.nan)
        if n < 2 * m:
            return out
        # lag by lag: the reference of point p at lag L starts L points before p's own
        # window (p-m+1), for L = m .. hist, as long as it starts at 0 or later; the
        # squared distance is summed coordinate by coordinate, oldest first, as
        # _squared_distances does for one point
        first = max(skip, 2 * m - 1)
        best = np.full(n, np.inf)
        for lag in range(m, hist + 1):
            if lag + m - 1 >= n:
                break
            diff = series[: n - lag] - series[lag:]  # [i - lag] ↔ point i = index + lag
            sq = diff * diff
            total = np.zeros(n - lag - m + 1)
            for k in range(m):
                total += sq[k : n - lag - m + 1 + k]
            # total[j] is the distance of the window ending at j + lag + m - 1
            end = slice(lag + m - 1, n)
            np.minimum(best[end], total, out=best[end])
        best[:first] = np.inf
        out[:] = np.where(np.isfinite(best[skip:]), np.sqrt(best[skip:]), np.nan)
        return out


def _squared_distances(
    refs: NDArray[np.float64], current: NDArray[np.float64]
) -> NDArray[np.float64]:
    """``[i, j]``: squared distance of ``current[i]`` to ``refs[j]``, summed coordinate by
    coordinate, oldest first: the order :meth:`NearestNeighbor._lag_distances` sums in, so
    one point scored alone and a whole stretch give the same numbers."""
    out = np.zeros((len(current), len(refs)))
    for k in range(refs.shape[1]):
        diff = refs[None, :, k] - current[:, k, None]
        out += diff * diff
    return out
