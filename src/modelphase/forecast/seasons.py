"""Seasons per series: each series' model uses the seasons its own history allows.

Telemetry panels mix series of different lengths (a service deployed last week beside
one scraped for a month), and a season needs history: two cycles for a decomposition
to tell a season from noise. :class:`Seasonal` wraps a model and, at each fit, keeps of
its ``seasons`` those the series has ``min_cycles`` cycles of and (with ``test``) whose
autocorrelation is significant (:func:`is_seasonal`, the M4 competition's 90% test,
which also decides where the clock means nothing); the model is built with what is kept,
or without a season when nothing is. A panel's short series no longer switch the
weekly season off for its long ones.

>>> import numpy as np
>>> t = np.arange(24 * 20)
>>> y = 10 + np.sin(2 * np.pi * t / 24) + 0.1 * np.cos(t)
>>> m = Seasonal("SeasonalNaive", seasons=[24, 168]).fit(y)
>>> m.seasons_
[24, 168]
>>> Seasonal("SeasonalNaive", seasons=[24, 168]).fit(y[: 24 * 10]).seasons_
[24]
>>> noise = np.random.default_rng(0).normal(size=500)
>>> Seasonal("SeasonalNaive", seasons=[24, 168]).fit(noise).seasons_
[]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from modelphase.exceptions import ValidationError
from modelphase.forecast.catalog import default_season
from modelphase.forecast.naive import SeasonalNaive
from modelphase.frame import NS_PER_SECOND

__all__ = [
    "MODELS",
    "Seasonal",
    "allowed_seasons",
    "clock_seasons",
    "default_models",
    "is_seasonal",
]

DAY = 86_400 * NS_PER_SECOND
WEEK = 7 * DAY
#: the default MSTL and Theta fit on at most the last four weeks of sub-daily data
MAX_HISTORY_DAYS = 28
#: and Theta on at most this many points (four weeks at 5 minutes, 5.6 days at one
#: minute): its fit grows faster than the history (a 1-minute series of 28 days took
#: over two minutes, its last 8,064 points 7.5 s)
MAX_THETA_POINTS = 8064

#: the models :class:`Seasonal` can wrap; MSTL takes every season kept, the others the
#: longest
MODELS = ("SeasonalNaive", "MSTL", "AutoTheta", "SeasonalWindowAverage")


def is_seasonal(y: NDArray[np.float64], season: int) -> bool:
    """Whether ``y`` repeats every ``season`` steps, by either of two tests:

    - the autocorrelation at lag ``season`` is significant at 90% (M4's test: above
      ``1.645 sqrt((1 + 2 sum_{k<season} r_k^2) / n)``; with three seasons of data);
    - the changes over a season are clearly smaller than over half of one (mean
      absolute change at lag ``season`` below 0.9 times that at ``season // 2``): a
      weekday rhythm broken by quiet weekends has a low autocorrelation, but today still
      looks far more like yesterday than like twelve hours ago. Noise scores about 1,
      a random walk or a trend above 1.
    """
    x = np.asarray(y, dtype=np.float64)
    x = x[np.isfinite(x)]
    n = len(x)
    if season < 2 or n < 2 * season:
        return False
    near = np.mean(np.abs(x[season:] - x[:-season]))
    half = season // 2
    far = np.mean(np.abs(x[half:] - x[:-half]))
    if far > 0 and near < 0.9 * far:
        return True
    if n < 3 * season:
        return False
    x = x - x.mean()
    denom = float(x @ x)
    if denom <= 0:
        return False
    size = 1 << int(np.ceil(np.log2(2 * n)))
    spec = np.fft.rfft(x, size)
    acf = np.fft.irfft(spec * np.conj(spec), size)[: season + 1] / denom
    limit = 1.645 * np.sqrt((1.0 + 2.0 * float(np.sum(acf[1:season] ** 2))) / n)
    return bool(acf[season] > limit)


def allowed_seasons(
    y: NDArray[np.float64], seasons: Sequence[int], *, min_cycles: float, test: bool
) -> list[int]:
    """The ``seasons`` (ascending) that ``y`` has ``min_cycles`` cycles of and, with
    ``test``, that :func:`is_seasonal` finds. The test is not asked for a season that a
    shorter one kept divides (a week on a daily rhythm: the autocorrelation test's limit
    grows with the autocorrelation at every shorter lag, so a strong daily rhythm would
    hide the weekly one)."""
    n = int(np.isfinite(y).sum())
    kept: list[int] = []
    for s in sorted(int(s) for s in seasons if int(s) > 1):
        if n < min_cycles * s:
            continue
        if test and not any(s % k == 0 for k in kept) and not is_seasonal(y, s):
            continue
        kept.append(s)
    return kept


class Seasonal:
    """``model`` with the seasons each series' history allows (statsforecast's shape).

    ``seasons``: the candidate seasons in steps; ``min_cycles``: cycles of history a
    season needs; ``test``: keep only seasons whose autocorrelation is significant;
    ``max_history``: fit on at most the last that many points (the cost of MSTL and
    Theta grows faster than the history, and a month tells a day ahead as much).
    Without a season the model runs without one (MSTL: its trend model alone, an ETS
    without season; the seasonal naive: the last value).
    """

    def __init__(
        self,
        model: str = "MSTL",
        seasons: Sequence[int] = (24,),
        min_cycles: float = 2.0,
        test: bool = True,
        max_history: int | None = None,
        alias: str | None = None,
    ) -> None:
        self.model = model
        self.seasons = seasons
        self.min_cycles = min_cycles
        self.test = test
        self.max_history = max_history
        self.alias = alias if alias is not None else model

    def fit(self, y: NDArray[np.float64], X: Any = None) -> Seasonal:
        if self.model not in MODELS:
            raise ValidationError(f"model: expected one of {', '.join(MODELS)}, got {self.model!r}")
        y = np.asarray(y, dtype=np.float64)
        if self.max_history is not None:
            y = y[-int(self.max_history) :]
        self.seasons_ = allowed_seasons(
            y, list(self.seasons), min_cycles=float(self.min_cycles), test=bool(self.test)
        )
        self.model_ = _build(self.model, self.seasons_)
        self.model_.fit(y)
        return self

    def predict(self, h: int, X: Any = None, level: Any = None) -> dict[str, Any]:
        if level:
            return dict(self.model_.predict(h, level=level))
        return dict(self.model_.predict(h))


def stl_jumps(season: int) -> dict[str, int]:
    """STL's smoothers evaluated every tenth of their window and interpolated between,
    as R's ``stl`` does by default (statsmodels evaluates at every point): with a weekly
    season of 5-minute data, 25 times faster for the same decomposition. The windows are
    those statsmodels derives from the shortest ``season`` (seasonal window 11)."""
    trend = int(np.ceil(1.5 * season / (1 - 1.5 / 11)))
    return {
        "seasonal_jump": 2,
        "trend_jump": max(1, trend // 10),
        "low_pass_jump": max(1, (season + 1) // 10),
    }


def _build(model: str, seasons: list[int]) -> Any:
    from statsforecast import models as sf

    longest = max(seasons) if seasons else 1
    if model == "SeasonalNaive":
        return SeasonalNaive(season_length=longest)
    if model == "MSTL":
        if not seasons:
            return sf.AutoETS(model="ZZN")
        return sf.MSTL(
            season_length=seasons,
            trend_forecaster=sf.AutoETS(model="ZZN"),
            stl_kwargs=stl_jumps(min(seasons)),
        )
    if model == "AutoTheta":
        return sf.AutoTheta(season_length=longest)
    if model == "SeasonalWindowAverage":
        if longest == 1:
            return sf.WindowAverage(window_size=1)
        return sf.SeasonalWindowAverage(season_length=longest, window_size=2)
    raise AssertionError(model)


def default_models(step: int) -> list[Any]:
    """The default candidates for data every ``step`` ns: the seasonal naive and MSTL,
    each with the daily season alone and with the daily and weekly seasons (the weekly
    one where a series has two weeks), and Theta with the daily season; every season
    only where the series' own history allows it (:class:`Seasonal`); MSTL and Theta
    on at most the last ``MAX_HISTORY_DAYS`` days of sub-daily data, Theta on at most
    ``MAX_THETA_POINTS`` points. For daily data the
    season is a week; without a clock season (steps that do not divide a day), none.

    Chosen by the development protocol (``benchmarks/generalization.py``; BENCHMARKS.md
    has the numbers and what was dropped): the median of these five was within a few
    percent of the best candidate set on each development set, where each set's own best
    was far off on the other.
    """
    seasons = clock_seasons(step)
    daily = seasons[:1]
    recent = MAX_HISTORY_DAYS * DAY // step if step < DAY else None
    theta = MAX_THETA_POINTS if recent is None else min(recent, MAX_THETA_POINTS)
    models = [Seasonal("SeasonalNaive", seasons=daily, alias="SeasonalNaive")]
    if len(seasons) > 1:
        models.append(Seasonal("SeasonalNaive", seasons=seasons, alias="SeasonalNaive_weekly"))
    models.append(Seasonal("MSTL", seasons=daily, max_history=recent, alias="MSTL"))
    if len(seasons) > 1:
        models.append(Seasonal("MSTL", seasons=seasons, max_history=recent, alias="MSTL_weekly"))
    models.append(Seasonal("AutoTheta", seasons=daily, max_history=theta, alias="Theta"))
    return models


def clock_seasons(step: int) -> list[int]:
    """A day and a week of steps for sub-daily data, a week for daily data, else none."""
    day = default_season(step)
    if step < DAY and WEEK % step == 0:
        return [day, WEEK // step]
    return [day] if day > 1 else []
