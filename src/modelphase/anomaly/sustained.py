"""Sustained deviation: has the stream stayed away from its normal for hours on end?

A spike is one wild point; a failure often starts as a stretch of ordinary-looking points
that all sit on the same side of normal: a temperature that sags for an afternoon, a
holiday that runs below its weekday for hours. A point score (:class:`ZScore`) sees each
of those points as mild; what gives them away is that *every one* of them is off, in the
same direction, for a long time.

The detector keeps two standardised deviations of each value and scores how far the
*least* deviant of the last ``W`` of them still is (the minimum of the signed deviations
over the window, or minus their maximum, whichever is larger; 0 if they change sign), so
that one spike inside the window counts for nothing and only a stretch where all ``W``
points are off scores high. ``W`` is ``hours`` of data, from the sampling interval of the
first points, kept between ``min_points`` and ``max_points`` (``min_points`` without
times).

- **level**: ``(x - mean) / std`` against the stream's exponentially weighted mean and
  variance (half-life ``halflife`` points: its long-run normal, as the default z-score).
- **context**: the residual of ``x`` from the same time of day (48 half-hour slots) or of
  week (336 slots) on earlier days or weeks, each slot an exponentially weighted mean
  with a half-life of ``period_halflife`` periods, standardised by the residual's own
  long-run root mean square; the rhythm (daily or weekly) whose residual is smaller is
  used. Its score is multiplied by ``e ** strength``, where ``e`` is how much of the
  spread the rhythm explains over a flat level of the same memory (``1 - rms(rhythm
  residual) / rms(flat residual)``, at least 0): it speaks only on streams with a rhythm.
  ``context`` weighs it against the level score (0 turns it off).

The score is the larger of the two. Missing values score 0 and are learned as nothing.
State is bounded: about 400 slot means and counts, the last ``W - 1`` deviations of each
kind, and a few running sums.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> y = rng.normal(10.0, 1.0, 3000)
>>> y[2000] += 8.0             # a spike: eight deviations, for one point
>>> y[2500:2600] -= 5.0        # a sag: five deviations, for 100 points
>>> t = np.arange(3000) * 300 * 10**9  # 5-minute data: W = 48 points (4 hours)
>>> s = Sustained().score_many(y, t)
>>> float(s[2000]), float(s[:2500].max())  # the spike alone is nothing
(0.0, 0.0)
>>> float(s[2547:2600].min()) > 1.5  # once all 48 points of the window are low
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from modelphase.anomaly.base import Detector

__all__ = ["Sustained"]

_DAY = 86_400 * 10**9
_WEEK = 7 * _DAY


class Sustained(Detector):
    """The least deviation over the last ``hours`` of data, of the level and of the
    value against its time of day or week."""

    name = "sustained"

    def __init__(
        self,
        hours: float = 4.0,
        min_points: int = 16,
        max_points: int = 256,
        halflife: float = 10_000.0,
        min_periods: int = 10,
        context: float = 1.0,
        slot_minutes: float = 30.0,
        period_halflife: float = 3.0,
        strength: float = 2.0,
    ) -> None:
        self.hours = hours
        self.min_points = min_points
        self.max_points = max_points
        self.halflife = halflife
        self.min_periods = min_periods
        self.context = context
        self.slot_minutes = slot_minutes
        self.period_halflife = period_halflife
        self.strength = strength
        super().__init__()

    def reset(self) -> Sustained:
        self.alpha_ = 1.0 - 0.5 ** (1.0 / self.halflife)
        self.slot_ns_ = int(self.slot_minutes * 60e9)
        self.width_ = 0  # W, fixed once the sampling interval is known (0 = not yet)
        self.times_: list[int] = []  # the first timestamps, to read the interval from
        self.n_ = 0  # values learned
        self.mean_ = 0.0
        self.var_ = 0.0
        self.zl_: list[float] = []  # the last W - 1 level deviations
        self.zc_: list[float] = []  # the last W - 1 context deviations
        # time-of-day and time-of-week slots: exponentially weighted means and counts
        nd, nw = _DAY // self.slot_ns_, _WEEK // self.slot_ns_
        self.day_mean_ = [0.0] * nd
        self.day_count_ = [0] * nd
        self.week_mean_ = [0.0] * nw
        self.week_count_ = [0] * nw
        self.per_slot_ = 1.0  # points per slot visit
        self.slot_alpha_ = 0.0  # per-point rate of the slot means
        self.flat_alpha_ = 0.0  # per-point rate of the flat level of the same memory
        self.flat_ = 0.0
        # running mean squares (long-run) of the daily, weekly and flat residuals
        self.ms_ = [0.0, 0.0, 0.0]
        self.ms_n_ = [0, 0, 0]
        self.pending_ = None
        return self

    # -- the sampling interval, once ------------------------------------------------

    def _settle(self, t: int | None) -> None:
        """Fix W (and the slot rates) from the first ten intervals, or at once without
        times."""
        if t is None:
            self.width_ = max(2, int(self.min_points))
            return
        self.times_.append(int(t))
        if len(self.times_) < 11:
            return
        gaps = sorted(b - a for a, b in zip(self.times_, self.times_[1:], strict=False))
        dt = max(float(gaps[len(gaps) // 2]), 1.0)
        w = round(self.hours * 3600e9 / dt)
        self.width_ = int(min(self.max_points, max(self.min_points, w, 2)))
        self.per_slot_ = max(1.0, self.slot_ns_ / dt)
        self.slot_alpha_ = 1.0 - 0.5 ** (1.0 / (self.period_halflife * self.per_slot_))
        self.flat_alpha_ = 1.0 - 0.5 ** (1.0 / (self.period_halflife * _DAY / dt))
        self.times_ = []

    # -- deviations of one value ----------------------------------------------------

    def _deviations(self, x: float, t: int | None) -> tuple[float, float, float]:
        """(level deviation, context deviation, explained) of ``x`` from the state."""
        zl = 0.0
        if self.n_ >= self.min_periods:
            dev = x - self.mean_
            if self.var_ > 0.0:
                zl = dev / math.sqrt(self.var_)
            elif dev != 0.0:
                zl = math.copysign(1e9, dev)
        if t is None or not self.context or not self.slot_alpha_:
            return zl, 0.0, 0.0
        need = 2.0 * self.per_slot_
        kd = (t % _DAY) // self.slot_ns_
        kw = (t % _WEEK) // self.slot_ns_
        ms, ms_n = self.ms_, self.ms_n_
        best_ms, resid = math.inf, 0.0
        if self.day_count_[kd] >= need and ms_n[0] and ms[0] > 0.0:
            best_ms, resid = ms[0], x - self.day_mean_[kd]
        if self.week_count_[kw] >= need and ms_n[1] and 0.0 < ms[1] < best_ms:
            best_ms, resid = ms[1], x - self.week_mean_[kw]
        if best_ms == math.inf or not ms_n[2] or ms[2] <= 0.0:
            return zl, 0.0, 0.0
        explained = max(0.0, 1.0 - math.sqrt(best_ms / ms[2]))
        return zl, resid / math.sqrt(best_ms), explained

    def _learn(self, x: float, t: int | None) -> None:
        self.n_ += 1
        a = max(self.alpha_, 1.0 / self.n_)
        diff = x - self.mean_
        self.mean_ += a * diff
        self.var_ = (1.0 - a) * (self.var_ + a * diff * diff)
        if t is None or not self.context or not self.slot_alpha_:
            return
        ms, ms_n, alpha = self.ms_, self.ms_n_, self.alpha_
        # the residuals, before the slots learn x
        kd = (t % _DAY) // self.slot_ns_
        kw = (t % _WEEK) // self.slot_ns_
        need = 2.0 * self.per_slot_
        for i, (means, counts, k) in enumerate(
            ((self.day_mean_, self.day_count_, kd), (self.week_mean_, self.week_count_, kw))
        ):
            c = counts[k]
            if c >= need:
                r = x - means[k]
                ms_n[i] += 1
                ms[i] += max(alpha, 1.0 / ms_n[i]) * (r * r - ms[i])
            c += 1
            counts[k] = c
            means[k] += max(self.slot_alpha_, 1.0 / c) * (x - means[k])
        if self.n_ > 1:
            r = x - self.flat_
            ms_n[2] += 1
            ms[2] += max(alpha, 1.0 / ms_n[2]) * (r * r - ms[2])
        self.flat_ += max(self.flat_alpha_, 1.0 / self.n_) * (x - self.flat_)

    # -- the score ---------------------------------------------------------------------

    @staticmethod
    def _least(past: list[float], z: float) -> float:
        lo = min(past, default=z)
        hi = max(past, default=z)
        return max(0.0, min(lo, z), -max(hi, z))

    def _score(self, zl: float, zc: float, explained: float) -> float:
        w = self.width_
        if not w or len(self.zl_) < w - 1:
            return 0.0
        score = self._least(self.zl_, zl)
        if self.context and explained > 0.0:
            score = max(score, self.context * self._least(self.zc_, zc) * explained**self.strength)
        return score

    def score_one(self, x: float, t: int | None = None) -> float:
        if x != x:
            return 0.0
        dev = self._deviations(x, t)
        self._remember(x, dev)
        return self._score(*dev)

    def learn_one(self, x: float, t: int | None = None) -> None:
        if x != x:
            return
        dev: tuple[float, float, float] | None = self._recall(x)
        if dev is None:
            dev = self._deviations(x, t)
        zl, zc, _ = dev
        if not self.width_:
            self._settle(t)
        if self.width_:
            keep = self.width_ - 1
            self.zl_.append(zl)
            self.zc_.append(zc)
            if len(self.zl_) > keep:
                del self.zl_[0]
                del self.zc_[0]
        self._learn(x, t)

    # -- many points ---------------------------------------------------------------

    def score_many(
        self,
        values: Sequence[float] | NDArray[np.float64],
        times: Sequence[int] | NDArray[np.int64] | None = None,
    ) -> NDArray[np.float64]:
        """As one point at a time: the deviations point by point, then the least of each
        window with numpy."""
        x = np.asarray(values, dtype=np.float64)
        n = len(x)
        zl = np.zeros(n)
        zc = np.zeros(n)
        ex = np.zeros(n)
        scored = np.zeros(n, dtype=bool)  # W was known when the point was scored
        kept = np.zeros(n, dtype=bool)  # the point joined the windows
        start_l = list(self.zl_)
        start_c = list(self.zc_)
        tl = None if times is None else np.asarray(times, dtype=np.int64).tolist()
        deviations, learn, settle = self._deviations, self._learn, self._settle
        for i, v in enumerate(x.tolist()):
            if v != v:
                continue
            t = None if tl is None else tl[i]
            a, b, c = deviations(v, t)
            zl[i], zc[i], ex[i] = a, b, c
            if self.width_:
                scored[i] = True
            else:
                settle(t)
            kept[i] = self.width_ > 0
            learn(v, t)
        self.pending_ = None
        out = np.zeros(n)
        w = self.width_
        if not w:
            return out
        # W never changes once set; the windows run over the kept values
        hist_l = np.concatenate([start_l, zl[kept]])
        hist_c = np.concatenate([start_c, zc[kept]])
        pos = len(start_l) + np.cumsum(kept) - 1  # each kept point's place in hist
        idx = np.flatnonzero(scored & (pos >= w - 1))
        if len(idx):
            p = pos[idx]
            out[idx] = _least_windows(hist_l, p, w)
            if self.context:
                e = ex[idx]
                ctx = self.context * _least_windows(hist_c, p, w) * e**self.strength
                out[idx] = np.maximum(out[idx], np.where(e > 0.0, ctx, 0.0))
        keep = w - 1
        self.zl_ = hist_l[len(hist_l) - keep :].tolist() if keep else []
        self.zc_ = hist_c[len(hist_c) - keep :].tolist() if keep else []
        return out


def _least_windows(
    hist: NDArray[np.float64], pos: NDArray[np.int64], w: int
) -> NDArray[np.float64]:
    """``max(0, min(window), -max(window))`` of ``hist[p - w + 1 : p + 1]`` for each p."""
    if len(hist) < w:
        return np.zeros(len(pos))
    win = np.lib.stride_tricks.sliding_window_view(hist, w)
    first = pos - (w - 1)
    lo = win.min(axis=1)[first]
    hi = win.max(axis=1)[first]
    out: NDArray[np.float64] = np.maximum(0.0, np.maximum(lo, -hi))
    return out
