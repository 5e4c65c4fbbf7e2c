"""Calibrated scores: how rare a raw score is in its own stream's recent past.

A single alerting threshold must mean the same on every stream, yet raw scores do
not: a z-score of 4 is an event on a calm metric and Tuesday on a spiky one.
:class:`Calibrated` turns a detector's raw score into the empirical tail probability of
that score among the last ``window`` raw scores of the same stream,
``p = (1 + #{past >= score}) / (1 + n)``, and reports ``-log10(p)``: 3 means "as high as
one point in a thousand so far". No distribution is assumed, so it calibrates heavy
tails and discrete scores as well as Gaussian ones. During the first ``warmup`` points
it reports 0.

An incident rarely announces itself once: a level shift keeps every following point
unusual for a while. With ``cooldown`` set, a score is reported only when it rises above
the last reported score decayed linearly to 0 over ``cooldown`` points, and is 0
otherwise: whatever threshold a decider applies, one incident reads as one alert, not
as a burst (on-call engineers call the alternative "crying wolf"), and a second, worse
jolt during the cool-down still gets through.

State is bounded: the last ``window`` raw scores, kept sorted (``bisect``).

>>> from modelphase.anomaly.zscore import ZScore
>>> d = Calibrated(ZScore(halflife=50), window=500, warmup=50)
>>> s = d.score_many([10.0, 11.0, 9.0, 10.5, 9.5] * 40 + [30.0])
>>> round(float(s[-1]), 2)  # higher than all 200 before it: -log10(1 / 201)
2.3
>>> float(s[:-1].max()) < 1
True
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from modelphase.anomaly._wrap import describe, fresh
from modelphase.anomaly.base import Detector

__all__ = ["Calibrated"]


class Calibrated(Detector):
    """``-log10`` of the empirical tail probability of a detector's raw score."""

    name = "calibrated"

    def __init__(
        self,
        detector: Detector | dict[str, Any] | None = None,
        window: int = 8000,
        warmup: int = 200,
        cooldown: int = 0,
    ) -> None:
        self.detector = detector
        self.window = window
        self.warmup = warmup
        self.cooldown = cooldown
        super().__init__()

    def get_params(self) -> dict[str, Any]:
        params = super().get_params()
        params["detector"] = describe(self.detector)
        return params

    def reset(self) -> Calibrated:
        self.inner_ = fresh(self.detector)
        self.sorted_: list[float] = []
        self.recent_: deque[float] = deque()
        self.peak_ = 0.0  # the last reported score (cool-down envelope)
        self.since_peak_ = 0  # points since it
        self.pending_ = None
        return self

    def _raw(self, x: float, t: int | None) -> float:
        raw = self.inner_.score_one(x, t)
        if raw != raw:
            return 0.0
        return min(raw, 1e300)

    def score_one(self, x: float, t: int | None = None) -> float:
        raw = self._raw(x, t)
        self._remember(x, raw)
        return self._score_from(raw)

    def learn_one(self, x: float, t: int | None = None) -> None:
        raw = self._recall(x)  # scored just before: the inner detector has not learned yet
        if raw is None:
            raw = self._raw(x, t)
        self._learn_raw(raw)
        self.inner_.learn_one(x, t)

    def _learn_raw(self, raw: float) -> None:
        if self.cooldown:
            score = self._score_from(raw)
            self.since_peak_ += 1
            if score > 0.0:
                self.peak_, self.since_peak_ = score, 0
        bisect.insort(self.sorted_, raw)
        self.recent_.append(raw)
        if len(self.recent_) > self.window:
            old = self.recent_.popleft()
            del self.sorted_[bisect.bisect_left(self.sorted_, old)]

    def score_many(
        self,
        values: Sequence[float] | NDArray[np.float64],
        times: Sequence[int] | NDArray[np.int64] | None = None,
    ) -> NDArray[np.float64]:
        """As one point at a time; the wrapped detector scores the whole stretch at once
        (it learns every point, so its scores do not depend on the calibration)."""
        x = np.asarray(values, dtype=np.float64)
        raw = self.inner_.score_many(x, times)
        raw = np.where(np.isnan(raw), 0.0, np.minimum(raw, 1e300))
        out = np.empty(len(x))
        for i, r in enumerate(raw.tolist()):
            out[i] = self._score_from(r)
            self._learn_raw(r)
        self.pending_ = None
        return out

    def _score_from(self, raw: float) -> float:
        n = len(self.sorted_)
        if n < self.warmup:
            return 0.0
        higher = n - bisect.bisect_left(self.sorted_, raw)
        score = -math.log10((higher + 1) / (n + 1))
        if self.cooldown:
            envelope = self.peak_ * max(0.0, 1.0 - self.since_peak_ / self.cooldown)
            if score <= envelope:
                return 0.0
        return score
