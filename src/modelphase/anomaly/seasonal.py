"""Seasonal profile: a value against the same time of day on earlier days.

Telemetry keeps a daily rhythm: traffic at 3 a.m. is not traffic at noon. A point that
is ordinary for the stream overall can be wrong for its hour (a missing lunchtime
peak, a flat stretch where the day always rises), and only a comparison with the same
time on earlier days sees it. The day is cut into ``slots`` equal slots of the UTC
clock; each slot keeps an exponentially weighted mean and mean absolute deviation of its
values (half-life ``halflife`` days). The score is ``|x - mean| / spread``, where the
spread is the slot's deviation plus ``floor`` times the stream's overall deviation (so
a slot that happened to be identical on every day does not make a tiny wobble an
alarm). It is 0 until the slot has seen ``min_days`` days, for missing values, and
without times.

With ``strength`` above 0 the score is multiplied by ``s ** strength``, where ``s`` is how
much of the stream's spread its time-of-day profile explains (1 minus the slots' mean
deviation over the stream's overall deviation, at least 0): on a stream with no daily
rhythm the profile is noise and its score fades, on a strongly daily one it counts fully.

State is bounded: three numbers per slot.

>>> import numpy as np
>>> day = 86_400 * 10**9
>>> t = np.arange(288 * 4) * (day // 288)
>>> y = np.where((t % day) < day // 2, 10.0, 50.0)  # low mornings, high afternoons
>>> d = SeasonalProfile()
>>> _ = d.score_many(y, t)
>>> midnight = int(t[-1]) + day // 288  # the next point: a morning, usually 10
>>> float(d.score_one(10.0, midnight)), float(d.score_one(50.0, midnight)) > 5
(0.0, True)
"""

from __future__ import annotations

from modelphase.anomaly.base import Detector

__all__ = ["SeasonalProfile"]

_DAY = 86_400 * 10**9


class SeasonalProfile(Detector):
    """``|x - slot mean| / slot spread`` over the slots of a UTC day."""

    name = "seasonal"

    def __init__(
        self,
        slots: int = 288,
        halflife: float = 5.0,
        min_days: int = 2,
        floor: float = 0.1,
        strength: float = 0.0,
    ) -> None:
        self.slots = slots
        self.halflife = halflife
        self.min_days = min_days
        self.floor = floor
        self.strength = strength
        super().__init__()

    def reset(self) -> SeasonalProfile:
        self.mean_ = [0.0] * self.slots
        self.dev_ = [0.0] * self.slots
        self.count_ = [0] * self.slots
        self.dev_total_ = 0.0  # sum of dev_ over the slots
        self.dev_slots_ = 0  # slots with a deviation (two values or more)
        self.n_ = 0
        self.level_ = 0.0
        self.spread_ = 0.0
        self.alpha_ = 1.0 - 0.5 ** (1.0 / self.halflife)
        return self

    def _slot(self, t: int) -> int:
        return (t % _DAY) * self.slots // _DAY

    def score_one(self, x: float, t: int | None = None) -> float:
        if t is None or x != x:
            return 0.0
        k = self._slot(t)
        if self.count_[k] < self.min_days:
            return 0.0
        spread = self.dev_[k] + self.floor * self.spread_
        dev = abs(x - self.mean_[k])
        score = dev / spread if spread > 0.0 else (0.0 if dev == 0.0 else 1e9)
        if self.strength and score:
            explained = 0.0
            if self.spread_ > 0.0 and self.dev_slots_:
                explained = max(0.0, 1.0 - self.dev_total_ / self.dev_slots_ / self.spread_)
            score *= explained**self.strength
        return score

    def learn_one(self, x: float, t: int | None = None) -> None:
        if t is None or x != x:
            return
        k = self._slot(t)
        count = self.count_[k] + 1
        self.count_[k] = count
        a = max(self.alpha_, 1.0 / count)
        diff = x - self.mean_[k]
        if count > 1:
            change = a * (abs(diff) - self.dev_[k])
            self.dev_[k] += change
            self.dev_total_ += change
            if count == 2:
                self.dev_slots_ += 1
        self.mean_[k] += a * diff
        self.n_ += 1
        g = max(1.0 / 2000.0, 1.0 / self.n_)
        overall = x - self.level_
        self.level_ += g * overall
        self.spread_ += g * (abs(overall) - self.spread_)
