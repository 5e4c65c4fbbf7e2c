"""Episodes: the flagged points of one series, merged into incidents, built online.

A decider flags points; an on-call engineer wants incidents. :class:`EpisodeTracker`
follows one series point by point: the first flagged point opens an episode, flagged
points less than ``cooldown`` after the last one extend it, and so do the points that
follow while the peak's deviation lasts, for up to ``extend`` after the last flag: a
calibrated detector with a cool-down flags an outage once, and the outage still lasts
three hours. The deviation lasts when the peak is out of the ``band`` of spreads
around the expected value (:func:`~modelphase.anomaly.explain.expectation`, from the
history before the start) and the points after it stay more than half the band off on
its side; after a gap of up to three points, a point must be back beyond the band.
The first point ``cooldown`` or more after the last flagged or deviant point closes
the episode (:meth:`EpisodeTracker.close` closes one still open at the end of a
stream). A closed :class:`Episode` has its start and end (the first flagged point; the
last flagged or deviant one), its peak (the highest score; the first of equal ones),
the number of flagged points, the largest deviation of a flagged point, and an
:class:`~modelphase.anomaly.explain.Explanation` computed at the close from the history
before the start and the points from the start to the close, the closing point
included (it shows where the deviation ended). A missing value (NaN) never opens or
extends an episode.

State is bounded: the last ``history`` of points (at most ``max_points``), and while an
episode is open a copy of that history and the episode's points (at most
``max_points``; a longer episode keeps its first points for the explanation).

>>> from modelphase.anomaly.deciders import FixedThreshold, Monitor
>>> from modelphase.anomaly.zscore import ZScore
>>> minute = 60 * 10**9
>>> monitor = Monitor(ZScore(halflife=200), FixedThreshold(6.0))
>>> tracker = EpisodeTracker("errors", {"service": "cart"}, cooldown="10m")
>>> values = [1.0, 1.2, 0.8, 1.1, 0.9] * 60 + [9.0] + [1.0, 1.2, 0.8, 1.1, 0.9] * 4
>>> closed = []
>>> for i, x in enumerate(values):
...     episode = tracker.update(i * minute, x, monitor.process_one(x, i * minute))
...     if episode is not None:
...         closed.append(episode)
>>> [(e.start // minute, e.n_flagged, e.explanation.pattern) for e in closed]
[(300, 1, 'spike')]
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modelphase.anomaly.deciders import Decision
from modelphase.anomaly.explain import Expectation, Explanation, expectation, explain
from modelphase.exceptions import ValidationError
from modelphase.frame import format_time, parse_duration

__all__ = ["Episode", "EpisodeTracker", "as_duration"]

_GAP = 3  # points of a lasting deviation that may be back in range (as explanations)


@dataclass(frozen=True)
class Episode:
    """Consecutive flagged points of one series (``start``..``end``, ns, inclusive),
    with its peak and explanation."""

    unique_id: str
    start: int
    end: int
    peak: int
    peak_score: float
    n_flagged: int
    explanation: Explanation
    labels: Mapping[str, str] = field(default_factory=dict)
    #: the series had too little history before the start to calibrate its scores
    #: reliably (:data:`~modelphase.anomaly.calibrated.RELIABLE_HISTORY`)
    short_history: bool = False
    #: the largest deviation of a flagged point, in spreads (as ``explanation``'s, which
    #: is the peak's; NaN without a baseline)
    max_deviation: float = math.nan

    @property
    def service(self) -> str:
        """The series' ``service`` label ("" without one)."""
        return self.labels.get("service", "")

    @property
    def unique_ids(self) -> tuple[str, ...]:
        return (self.unique_id,)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict; times as RFC 3339 UTC."""
        return {
            "unique_id": self.unique_id,
            "labels": dict(self.labels),
            "start": format_time(self.start),
            "end": format_time(self.end),
            "peak": format_time(self.peak),
            "peak_score": _finite(self.peak_score),
            "n_flagged": self.n_flagged,
            "short_history": self.short_history,
            "max_deviation": _finite(self.max_deviation),
            "explanation": self.explanation.to_dict(),
        }


def as_duration(value: int | str, name: str) -> int:
    """A duration in ns from ns or text such as ``1h``; a clear error otherwise."""
    if isinstance(value, str):
        return parse_duration(value)
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    raise ValidationError(
        f"{name}: expected a positive duration (ns, or text such as 1h), got {value!r}",
        hint=f"pass {name}='1h'",
    )


class EpisodeTracker:
    """Builds the episodes of one series from its points and their decisions, online.

    :meth:`update` takes a point (time in ns, value) and its decision (or just whether
    it was flagged) and returns the episode that this point closed, if any.
    """

    def __init__(
        self,
        unique_id: str = "",
        labels: Mapping[str, str] | None = None,
        *,
        cooldown: int | str = "1h",
        history: int | str = "3d",
        band: float = 3.0,
        short: int | str = "30m",
        lookback: int | str = "6h",
        max_points: int = 20_000,
        extend: int | str = "1d",
    ) -> None:
        self.unique_id = unique_id
        self.labels = labels
        self.cooldown = cooldown
        self.history = history
        self.band = band
        self.short = short
        self.lookback = lookback
        self.max_points = max_points
        self.extend = extend
        self.reset()

    def get_params(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if not k.endswith("_")}

    def reset(self) -> EpisodeTracker:
        """Forget the stream; return the tracker."""
        if not (isinstance(self.band, int | float) and self.band > 0):
            raise ValidationError(f"band: expected a number of spreads > 0, got {self.band!r}")
        if not (isinstance(self.max_points, int) and self.max_points >= 10):
            raise ValidationError(f"max_points: expected an integer >= 10, got {self.max_points!r}")
        self.cooldown_ = as_duration(self.cooldown, "cooldown")
        self.history_ = as_duration(self.history, "history")
        self.short_ = as_duration(self.short, "short")
        self.lookback_ = as_duration(self.lookback, "lookback")
        self.extend_ = as_duration(self.extend, "extend")
        self.times_: deque[int] = deque(maxlen=self.max_points)
        self.values_: deque[float] = deque(maxlen=self.max_points)
        self._forget_episode()
        return self

    def _forget_episode(self) -> None:
        self.open_ = False
        self.before_: tuple[np.ndarray, np.ndarray] | None = None
        self.window_t_: list[int] = []
        self.window_x_: list[float] = []
        self.start_ = self.last_flag_ = self.peak_ = self.last_deviant_ = 0
        self.peak_score_ = -math.inf
        self.n_flagged_ = 0
        self.expect_: Expectation | None = None
        self.sign_ = 0.0  # the side of the peak's deviation; 0 if inside the band
        self.gap_ = 0  # points since the last flagged or deviant one
        self.max_dev_ = math.nan  # the largest |deviation| of a flagged point

    def update(
        self, t: int, x: float, decision: Decision | bool, score: float = 0.0
    ) -> Episode | None:
        """Take one point; return the episode it closed, or None.

        ``decision`` is a :class:`~modelphase.anomaly.deciders.Decision` (its score is
        used) or a bool with the point's ``score``. Times must not go backwards.
        """
        if isinstance(decision, Decision):
            flagged, score = decision.is_anomaly, decision.score
        else:
            flagged = bool(decision)
        t = int(t)
        closed = None
        flagged = flagged and x == x
        if self.open_ and not flagged:
            if self._lasts(t, x):
                self.last_deviant_, self.gap_ = t, 0
            else:
                self.gap_ += 1
        if self.open_ and t - max(self.last_flag_, self.last_deviant_) >= self.cooldown_:
            self._keep(t, x)  # the closing point: where the deviation ended
            closed = self._close()
        if flagged:
            if not self.open_:
                self.open_ = True
                self.start_ = self.peak_ = t
                self.before_ = (
                    np.fromiter(self.times_, np.int64, len(self.times_)),
                    np.fromiter(self.values_, np.float64, len(self.values_)),
                )
                self.expect_ = expectation(self.before_[0], self.before_[1], t)
            self.last_flag_, self.gap_ = t, 0
            self.n_flagged_ += 1
            d = math.nan if self.expect_ is None else self.expect_.deviation(t, float(x))
            if not abs(d) <= self.max_dev_:  # (NaN so far: the first)
                self.max_dev_ = abs(d)
            if score > self.peak_score_:
                self.peak_, self.peak_score_ = t, float(score)
                self.sign_ = math.copysign(1.0, d) if abs(d) > float(self.band) else 0.0
        if self.open_:
            self._keep(t, x)
        times, values = self.times_, self.values_
        times.append(t)
        values.append(float(x))
        while times[0] < t - self.history_:
            times.popleft()
            values.popleft()
        return closed

    def _keep(self, t: int, x: float) -> None:
        if len(self.window_t_) < self.max_points and (
            not self.window_t_ or self.window_t_[-1] != t
        ):
            self.window_t_.append(t)
            self.window_x_.append(float(x))

    def _lasts(self, t: int, x: float) -> bool:
        """Whether the point continues the peak's deviation: the peak was out of the
        band, the run since it has no gap of more than three points, and the point is
        within ``extend`` of the last flag."""
        if not self.sign_ or self.gap_ >= _GAP or x != x or t - self.last_flag_ > self.extend_:
            return False
        assert self.expect_ is not None
        floor = float(self.band) / (2 if self.gap_ == 0 else 1)  # as explanations' runs
        return self.sign_ * self.expect_.deviation(t, x) > floor

    def close(self) -> Episode | None:
        """Close the open episode at the end of a stream (None if there is none)."""
        return self._close() if self.open_ else None

    def _close(self) -> Episode:
        assert self.before_ is not None
        window_t = np.asarray(self.window_t_, np.int64)
        window_x = np.asarray(self.window_x_, np.float64)
        peak = self.peak_ if self.peak_ in self.window_t_ else int(window_t[0])
        explanation = explain(
            self.before_[0],
            self.before_[1],
            window_t,
            window_x,
            peak,
            band=float(self.band),
            short=self.short_,
            lookback=self.lookback_,
        )
        episode = Episode(
            unique_id=self.unique_id,
            start=self.start_,
            end=max(self.last_flag_, self.last_deviant_),
            peak=self.peak_,
            peak_score=self.peak_score_,
            n_flagged=self.n_flagged_,
            explanation=explanation,
            labels=dict(self.labels or {}),
            max_deviation=self.max_dev_,
        )
        self._forget_episode()
        return episode


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
