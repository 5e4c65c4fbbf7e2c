"""Anomaly likelihood: how unusual a detector's recent scores are for this stream.

Raw scores mean different things on different streams: a z-score of 4 is rare on a
calm metric and common on a spiky one. Numenta's HTM detector answers this with a
post-processing step, written here from its published description: keep the
distribution of the (briefly averaged) raw scores over a long history, and report how
far in its tail the current average lies. A stream that is always noisy then stops
alerting on its noise, and a quiet one alerts on its first jolt.

:class:`Likelihood` wraps any detector. Each raw score is squashed to [0, 1)
(``1 - exp(-score / scale)``), averaged over the last ``short`` points, and compared with
the exponentially weighted mean and deviation (half-life ``halflife`` points) of that
average: ``p = P(Z > z)`` for a normal ``Z``. The score is ``log(p) / log(1e-10)``
clipped to [0, 1]: 0.5 at a one-in-100,000 average, 1 beyond one in 10^10. During the
first ``warmup`` points it is 0 (the distribution is not known yet).

>>> from modelphase.anomaly.zscore import ZScore
>>> d = Likelihood(ZScore(halflife=100), warmup=100)
>>> calm = d.score_many([10.0, 10.5, 9.5, 10.2, 9.8] * 60)
>>> jump = d.score_many([25.0] * 5)  # the average of the last 10 rises point by point
>>> float(calm.max()) < 0.5, [round(float(s), 1) for s in jump]
(True, [0.2, 0.4, 0.6, 0.9, 1.0])
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from modelphase.anomaly._wrap import describe, fresh
from modelphase.anomaly.base import Detector

__all__ = ["Likelihood"]

_LOG_FLOOR = math.log(1e-10)


class Likelihood(Detector):
    """The tail probability of a detector's recent scores, on a log scale in [0, 1]."""

    name = "likelihood"

    def __init__(
        self,
        detector: Detector | dict[str, Any] | None = None,
        short: int = 10,
        halflife: float = 2000.0,
        warmup: int = 300,
        scale: float = 3.0,
    ) -> None:
        self.detector = detector
        self.short = short
        self.halflife = halflife
        self.warmup = warmup
        self.scale = scale
        super().__init__()

    def get_params(self) -> dict[str, Any]:
        params = super().get_params()
        params["detector"] = describe(self.detector)
        return params

    def reset(self) -> Likelihood:
        self.inner_ = fresh(self.detector, ("zscore", {}))
        self.recent_: deque[float] = deque(maxlen=self.short)
        self.total_ = 0.0
        self.n_ = 0
        self.mean_ = 0.0
        self.var_ = 0.0
        self.alpha_ = 1.0 - 0.5 ** (1.0 / self.halflife)
        self.pending_ = None
        return self

    def _average(self, squashed: float) -> float:
        """The mean of the last ``short`` squashed scores, with ``squashed`` the newest."""
        recent = self.recent_
        total = self.total_ + squashed
        if len(recent) == recent.maxlen:
            total -= recent[0]
        return total / min(len(recent) + 1, self.short)

    def score_one(self, x: float, t: int | None = None) -> float:
        squashed = self._squashed(x, t)
        self._remember(x, squashed)
        if self.n_ < self.warmup:
            return 0.0
        avg = self._average(squashed)
        std = math.sqrt(self.var_)
        if std <= 0.0:
            return 0.0 if avg <= self.mean_ else 1.0
        z = (avg - self.mean_) / std
        tail = 0.5 * math.erfc(z / math.sqrt(2.0))
        if tail <= 1e-10:
            return 1.0
        return min(1.0, math.log(tail) / _LOG_FLOOR) if tail < 1.0 else 0.0

    def _squashed(self, x: float, t: int | None) -> float:
        raw = self.inner_.score_one(x, t)
        return 1.0 - math.exp(-raw / self.scale) if raw == raw else 0.0

    def learn_one(self, x: float, t: int | None = None) -> None:
        squashed = self._recall(x)
        if squashed is None:
            squashed = self._squashed(x, t)
        avg = self._average(squashed)
        recent = self.recent_
        if len(recent) == recent.maxlen:
            self.total_ -= recent[0]
        recent.append(squashed)
        self.total_ += squashed
        self.n_ += 1
        a = max(self.alpha_, 1.0 / self.n_)
        diff = avg - self.mean_
        self.mean_ += a * diff
        self.var_ = (1.0 - a) * (self.var_ + a * diff * diff)
        self.inner_.learn_one(x, t)
