"""Exponentially weighted z-score: how many deviations a value is from the recent mean.

The simplest detector worth having, and the baseline of the others (NAB's "windowed
Gaussian" is its windowed cousin). The mean and variance are exponentially weighted with
a half-life of ``halflife`` points; the score is ``|x - mean| / std``, 0 until
``min_periods`` points have been learned. Missing values (NaN) score 0 and are not
learned.

>>> d = ZScore(halflife=50)
>>> for x in [10.0, 11.0, 9.0, 10.5, 9.5] * 10:
...     d.learn_one(x)
>>> round(d.score_one(10.0), 2), d.score_one(30.0) > 10
(0.0, True)
"""

from __future__ import annotations

import math

from modelphase.anomaly.base import Detector

__all__ = ["ZScore"]


class ZScore(Detector):
    """``|x - mean| / std`` with exponentially weighted mean and variance."""

    name = "zscore"

    def __init__(self, halflife: float = 288.0, min_periods: int = 10) -> None:
        self.halflife = halflife
        self.min_periods = min_periods
        super().__init__()

    def reset(self) -> ZScore:
        self.n_ = 0
        self.mean_ = 0.0
        self.var_ = 0.0
        self.alpha_ = 1.0 - 0.5 ** (1.0 / self.halflife)
        return self

    def score_one(self, x: float, t: int | None = None) -> float:
        if self.n_ < self.min_periods or x != x:
            return 0.0
        std = math.sqrt(self.var_)
        dev = abs(x - self.mean_)
        if std > 0.0:
            return dev / std
        return 0.0 if dev == 0.0 else math.inf

    def learn_one(self, x: float, t: int | None = None) -> None:
        if x != x:  # NaN
            return
        self.n_ += 1
        # the first points weigh more, so that early estimates are not pulled to 0
        a = max(self.alpha_, 1.0 / self.n_)
        diff = x - self.mean_
        self.mean_ += a * diff
        self.var_ = (1.0 - a) * (self.var_ + a * diff * diff)
