"""Calibrated scores: how rare a raw score is in its own stream's recent past.

A single alerting threshold must mean the same on every stream, yet raw scores do
not: a z-score of 4 is an event on a calm metric and Tuesday on a spiky one.
:class:`Calibrated` turns a detector's raw score into the empirical tail probability of
that score among the last ``window`` raw scores of the same stream,
``p = (1 + #{past >= score}) / (1 + n)``, and reports ``-log10(p)``: 3 means "as high as
one point in a thousand so far". No distribution is assumed, so it calibrates heavy
tails and discrete scores as well as Gaussian ones. During the first ``warmup`` points
it reports 0.

That probability can never fall below ``1 / (n + 1)``: with 500 points of history no
score reaches 3, however extreme. With ``tail`` at ``pareto`` (the default) or
``exponential`` (``empirical`` turns the fit off), a raw score above every one seen is
read from a tail fitted to the ``tail_share`` largest (peaks over threshold:
:func:`~modelphase.anomaly._tail.tail_probability`), so that an 18-sd outage in a
short history still scores as rare as it is; scores below the largest seen keep their
empirical probability. The fit is used once the history spans ``tail_days`` (with
times; without them, once it holds ``RELIABLE_HISTORY`` points): in its first hours a
stream has not shown its daily rhythm, and every first swing of it would be
extrapolated into an alert (on the simulator's 1-minute telemetry, fitting from the
first point cost 8 points of precision).

An incident rarely announces itself once: a level shift keeps every following point
unusual for a while. With ``cooldown`` set, a score is reported only when it rises above
the last reported score decayed linearly to 0 over ``cooldown`` points, and is 0
otherwise: whatever threshold a decider applies, one incident reads as one alert, not
as a burst (on-call engineers call the alternative "crying wolf"), and a second, worse
jolt during the cool-down still gets through. With ``cooldown_days`` also set (and
times), the envelope decays over that duration instead of ``cooldown`` points.

Telemetry also repeats itself by the clock: a backup, a batch job or a cache refresh
spikes at the same hour every day, and a tail probability never learns that (after ten
daily spikes the eleventh is still a one-in-300 point). With ``recur_days`` set, a point
is not reported when, on one of the last ``recur_days`` days, the stream already had a
raw score of at least ``recur_ratio`` times its own within ``recur_band`` slots of
``recur_minutes`` around the same time of day: to alert at 02:00, a score must beat the
largest one seen around 02:00 on the previous days by a third (at the default 0.75). A
silenced point still joins the calibration; without times the rule is off.

State is bounded: the last ``window`` raw scores, kept sorted (``bisect``), and the
largest raw score of each slot of the last ``recur_days`` days.

>>> from modelphase.anomaly.zscore import ZScore
>>> d = Calibrated(ZScore(halflife=50), window=500, warmup=50)
>>> s = d.score_many([10.0, 11.0, 9.0, 10.5, 9.5] * 40 + [30.0])
>>> round(float(s[-1]), 2)  # higher than all 200 before it: -log10(1 / 201)
2.3
>>> hours = [h * 3600 * 10**9 for h in range(201)]  # the same over eight days
>>> fitted = Calibrated(ZScore(halflife=50), window=500, warmup=50).score_many(
...     [10.0, 11.0, 9.0, 10.5, 9.5] * 40 + [30.0], hours
... )
>>> float(fitted[-1]) > 3  # far past the largest so far: the fitted tail says how rare
True
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

from modelphase.anomaly._tail import TAILS, tail_probability
from modelphase.anomaly._wrap import describe, fresh
from modelphase.anomaly.base import Detector
from modelphase.exceptions import ValidationError

__all__ = ["RELIABLE_HISTORY", "Calibrated"]

_DAY = 86_400 * 10**9
#: Fewest points of a stream's history whose empirical tail can show "one in a thousand"
#: (a score of 3): below it, calibrated scores are rough, and past the largest score seen
#: they rest on the fitted tail alone.
RELIABLE_HISTORY = 1000


class Calibrated(Detector):
    """``-log10`` of the tail probability of a detector's raw score among the stream's
    past ones: empirical, and fitted past the largest (``tail``)."""

    name = "calibrated"

    def __init__(
        self,
        detector: Detector | dict[str, Any] | None = None,
        window: int = 8000,
        warmup: int = 200,
        cooldown: int = 0,
        recur_days: int = 0,
        recur_ratio: float = 0.75,
        recur_minutes: float = 15.0,
        recur_band: int = 2,
        tail: str = "pareto",
        tail_share: float = 0.02,
        tail_days: float = 1.0,
        cooldown_days: float = 0.0,
    ) -> None:
        self.detector = detector
        self.window = window
        self.warmup = warmup
        self.cooldown = cooldown
        self.recur_days = recur_days
        self.recur_ratio = recur_ratio
        self.recur_minutes = recur_minutes
        self.recur_band = recur_band
        self.tail = tail
        self.tail_share = tail_share
        self.tail_days = tail_days
        self.cooldown_days = cooldown_days
        super().__init__()

    def get_params(self) -> dict[str, Any]:
        params = super().get_params()
        params["detector"] = describe(self.detector)
        return params

    def reset(self) -> Calibrated:
        if self.tail not in TAILS:
            raise ValidationError(
                f"tail: expected one of {', '.join(TAILS)}, got {self.tail!r}",
                hint="pass tail='pareto' (fitted) or 'empirical'",
            )
        if not (isinstance(self.tail_share, int | float) and 0 < self.tail_share < 1):
            raise ValidationError(
                f"tail_share: expected a share in (0, 1), got {self.tail_share!r}"
            )
        self.first_t_: int | None = None  # the first point's time
        self.tail_ns_ = round(float(self.tail_days) * _DAY)
        self.inner_ = fresh(self.detector)
        self.sorted_: list[float] = []
        self.recent_: deque[float] = deque()
        self.peak_ = 0.0  # the last reported score (cool-down envelope)
        self.since_peak_ = 0  # points since it
        self.peak_t_: int | None = None  # its time
        self.cooldown_ns_ = round(float(self.cooldown_days) * _DAY)
        self.slot_ns_ = max(1, round(self.recur_minutes * 60e9))
        per_day = _DAY // self.slot_ns_
        self.lags_ = [d * per_day for d in range(1, int(self.recur_days) + 1)]
        self.keep_ = (self.lags_[-1] if self.lags_ else 0) + int(self.recur_band) + 1
        self.slots_: dict[int, float] = {}  # slot of the clock -> its largest raw score
        self.pending_ = None
        return self

    def _raw(self, x: float, t: int | None) -> float:
        raw = self.inner_.score_one(x, t)
        if raw != raw:
            return 0.0
        return min(raw, 1e300)

    def score_one(self, x: float, t: int | None = None) -> float:
        raw = self._raw(x, t)
        score = self._score_from(raw, t)
        self._remember(x, (raw, score))
        return score

    def learn_one(self, x: float, t: int | None = None) -> None:
        pending: tuple[float, float] | None = self._recall(x)  # scored just before
        if pending is None:
            raw = self._raw(x, t)
            pending = (raw, self._score_from(raw, t))
        self._learn_raw(pending[0], pending[1], t)  # the inner detector learns after
        self.inner_.learn_one(x, t)

    def _learn_raw(self, raw: float, score: float, t: int | None) -> None:
        """Take a raw score, and the score it was reported as, into the state."""
        if self.first_t_ is None and t is not None:
            self.first_t_ = t
        if self.cooldown:
            self.since_peak_ += 1
            if score > 0.0:  # (the envelope is on the empirical scale: see _score_from)
                self.peak_ = min(score, math.log10(len(self.sorted_) + 1))
                self.since_peak_, self.peak_t_ = 0, t
        if self.lags_ and t is not None:
            slot, slots = t // self.slot_ns_, self.slots_
            if slots.get(slot, -1.0) < raw:
                slots[slot] = raw
            if len(slots) > self.keep_ + 8:
                oldest = slot - self.keep_
                for k in [k for k in slots if k < oldest]:
                    del slots[k]
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
        tl = [None] * len(x) if times is None else np.asarray(times, dtype=np.int64).tolist()
        for i, (r, t) in enumerate(zip(raw.tolist(), tl, strict=True)):
            out[i] = score = self._score_from(r, t)
            self._learn_raw(r, score, t)
        self.pending_ = None
        return out

    def _fits(self, n: int, t: int | None) -> bool:
        """Whether the history is long enough to fit a tail to (``tail_days``)."""
        if t is None or self.first_t_ is None:
            return n >= RELIABLE_HISTORY
        return t - self.first_t_ >= self.tail_ns_

    def _recurs(self, raw: float, t: int) -> bool:
        """Whether a raw score of ``ratio`` x ``raw`` came around this time of day on
        one of the last days."""
        bar, get, band = self.recur_ratio * raw, self.slots_.get, int(self.recur_band)
        slot = t // self.slot_ns_
        for lag in self.lags_:
            base = slot - lag
            for d in range(-band, band + 1):
                if get(base + d, -1.0) >= bar:
                    return True
        return False

    def _score_from(self, raw: float, t: int | None = None) -> float:
        n = len(self.sorted_)
        if n < self.warmup:
            return 0.0
        higher = n - bisect.bisect_left(self.sorted_, raw)
        empirical = -math.log10((higher + 1) / (n + 1))
        score = empirical
        if not higher and self.tail != "empirical" and self._fits(n, t):  # a new record
            score = -math.log10(tail_probability(self.sorted_, raw, self.tail, self.tail_share))
        if self.cooldown:
            # held to the envelope by its empirical score, so that one fitted, far-out
            # score does not silence the next 2,000 points
            if self.cooldown_ns_ and t is not None and self.peak_t_ is not None:
                done = (t - self.peak_t_) / self.cooldown_ns_  # decays over a duration
            else:
                done = self.since_peak_ / self.cooldown
            if empirical <= self.peak_ * max(0.0, 1.0 - done):
                return 0.0
        if self.lags_ and t is not None and score > 0.0 and self._recurs(raw, t):
            return 0.0
        return score
