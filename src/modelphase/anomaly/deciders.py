"""Deciders: from a detector's score to an alert, kept apart from scoring.

A detector says how unusual a point is; a decider says whether that is worth a page.
Keeping them apart lets the decision log record ``(score, threshold, decision)`` and lets
one detector serve a noisy dashboard and a strict pager with two deciders.

- :class:`FixedThreshold`: alert when the score reaches ``threshold``.
- :class:`QuantileThreshold`: alert when the score exceeds the ``q`` quantile of the
  stream's last ``window`` scores (a rate, not a level: "the top 0.1%").
- :class:`LikelihoodThreshold`: turns the score into a probability-like likelihood (the
  normal tail probability of the score against the stream's exponentially weighted mean
  and deviation of scores) and alerts when the likelihood reaches ``1 - p``.

:class:`Monitor` runs a detector and a decider over a stream and, unless
``learn_anomalies`` is set, does not let the detector learn from the points it flagged,
so that an incident does not become the new normal; after ``relearn_after`` flagged
points in a row it learns again (a change that lasts that long is the new normal).

>>> from modelphase.anomaly.zscore import ZScore
>>> m = Monitor(ZScore(halflife=50), FixedThreshold(4.0))
>>> [m.process_one(x).is_anomaly for x in [10.0, 11.0, 9.0] * 20 + [30.0, 30.0]][-3:]
[False, True, True]
>>> m.process_one(10.0).threshold
4.0
"""

from __future__ import annotations

import bisect
import math
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass
from typing import Any

from modelphase.anomaly._wrap import describe, fresh
from modelphase.anomaly.base import Detector
from modelphase.exceptions import ValidationError

__all__ = [
    "Decider",
    "Decision",
    "FixedThreshold",
    "LikelihoodThreshold",
    "Monitor",
    "QuantileThreshold",
]


@dataclass(frozen=True)
class Decision:
    """One point's verdict: its score, the threshold it was held to, the decision, and
    the likelihood where the decider computes one."""

    score: float
    threshold: float
    is_anomaly: bool
    likelihood: float | None = None


class Decider(ABC):
    """Base of the deciders: ``decide(score)``, then ``learn(score)``."""

    def get_params(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if not k.endswith("_")}

    @abstractmethod
    def decide(self, score: float) -> Decision:
        """The verdict on a score, from the scores learned before it."""

    def learn(self, score: float) -> None:  # noqa: B027 - a no-op unless a decider learns
        """Take a score into the decider's picture of the stream (a no-op by default)."""


class FixedThreshold(Decider):
    """Alert when the score is at least ``threshold``."""

    def __init__(self, threshold: float = 3.0) -> None:
        self.threshold = threshold

    def decide(self, score: float) -> Decision:
        return Decision(score, self.threshold, score >= self.threshold)


class QuantileThreshold(Decider):
    """Alert when the score exceeds the ``q`` quantile of the last ``window`` scores
    (none during the first ``warmup`` scores). Bounded state: the window, sorted."""

    def __init__(self, q: float = 0.999, window: int = 10_000, warmup: int = 100) -> None:
        self.q = q
        self.window = window
        self.warmup = warmup
        self.sorted_: list[float] = []
        self.recent_: deque[float] = deque()

    def decide(self, score: float) -> Decision:
        if not 0.0 < self.q < 1.0:
            raise ValidationError(f"q: expected a quantile between 0 and 1, got {self.q}")
        n = len(self.sorted_)
        if n < self.warmup:
            return Decision(score, math.inf, False)
        threshold = self.sorted_[min(n - 1, int(self.q * n))]
        return Decision(score, threshold, score > threshold)

    def learn(self, score: float) -> None:
        if score != score:
            return
        bisect.insort(self.sorted_, score)
        self.recent_.append(score)
        if len(self.recent_) > self.window:
            old = self.recent_.popleft()
            del self.sorted_[bisect.bisect_left(self.sorted_, old)]


class LikelihoodThreshold(Decider):
    """Alert when the likelihood of the score reaches ``1 - p``.

    The likelihood is ``1 - P(Z >= z)`` for the score's z against the exponentially
    weighted mean and deviation (half-life ``halflife``) of the stream's scores: 0.5 at
    the mean, 0.9999 four deviations above it.
    """

    def __init__(self, p: float = 1e-4, halflife: float = 2000.0, warmup: int = 100) -> None:
        self.p = p
        self.halflife = halflife
        self.warmup = warmup
        self.n_ = 0
        self.mean_ = 0.0
        self.var_ = 0.0

    def decide(self, score: float) -> Decision:
        if self.n_ < self.warmup or score != score:
            return Decision(score, 1.0 - self.p, False, 0.5)
        std = math.sqrt(self.var_)
        if std > 0.0:
            z = (score - self.mean_) / std
            likelihood = 1.0 - 0.5 * math.erfc(z / math.sqrt(2.0))
        else:
            likelihood = 0.5 if score <= self.mean_ else 1.0
        return Decision(score, 1.0 - self.p, likelihood >= 1.0 - self.p, likelihood)

    def learn(self, score: float) -> None:
        if score != score:
            return
        self.n_ += 1
        a = max(1.0 - 0.5 ** (1.0 / self.halflife), 1.0 / self.n_)
        diff = score - self.mean_
        self.mean_ += a * diff
        self.var_ = (1.0 - a) * (self.var_ + a * diff * diff)


class Monitor:
    """A detector and a decider over one stream: :meth:`process_one` scores a point,
    decides, and learns it (unless it was flagged and ``learn_anomalies`` is False)."""

    def __init__(
        self,
        detector: Detector | dict[str, Any] | None = None,
        decider: Decider | None = None,
        learn_anomalies: bool = False,
        relearn_after: int = 288,
    ) -> None:
        self.detector = detector
        self.decider = decider
        self.learn_anomalies = learn_anomalies
        self.relearn_after = relearn_after
        self.skipped_ = 0
        self.detector_ = fresh(detector, ("modelphase", {}))
        self.decider_ = decider if decider is not None else FixedThreshold()

    def get_params(self) -> dict[str, Any]:
        decider = self.decider_
        return {
            "detector": describe(self.detector),
            "decider": {"name": type(decider).__name__, "params": decider.get_params()},
            "learn_anomalies": self.learn_anomalies,
            "relearn_after": self.relearn_after,
        }

    def process_one(self, x: float, t: int | None = None) -> Decision:
        score = self.detector_.score_one(x, t)
        decision = self.decider_.decide(score)
        if self.learn_anomalies or not decision.is_anomaly or self.skipped_ >= self.relearn_after:
            self.detector_.learn_one(x, t)
            self.skipped_ = 0
        else:
            self.skipped_ += 1
        self.decider_.learn(score)
        return decision
