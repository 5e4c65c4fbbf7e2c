"""Seasonal naive: tomorrow looks like today.

Each step is forecast by the value one season earlier; the prediction interval widens
with each season of horizon, from the spread of the seasonal differences
(``y[t] - y[t - s]``), as in Hyndman & Athanasopoulos, *Forecasting: Principles and
Practice*, section 5.5. Missing values in the last season are taken from the most recent
season that has them. It is the baseline every forecaster must beat and the fallback
serving answers with.

>>> import numpy as np
>>> m = SeasonalNaive(season_length=3).fit(np.array([1.0, 2, 3, 4, 5, 6]))
>>> m.predict(4)["mean"].tolist()
[4.0, 5.0, 6.0, 4.0]
>>> out = m.predict(2, level=(80,))
>>> bool((out["lo-80"] <= out["mean"]).all() and (out["mean"] <= out["hi-80"]).all())
True
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import NormalDist
from typing import Any

import numpy as np
from numpy.typing import NDArray

from modelphase.exceptions import ValidationError

__all__ = ["SeasonalNaive"]


class SeasonalNaive:
    """The seasonal naive forecaster (statsforecast's shape: ``fit`` / ``predict``)."""

    def __init__(self, season_length: int = 24, alias: str = "SeasonalNaive") -> None:
        self.season_length = season_length
        self.alias = alias

    def get_params(self) -> dict[str, Any]:
        return {"season_length": self.season_length, "alias": self.alias}

    def fit(self, y: NDArray[np.float64], X: object = None) -> SeasonalNaive:
        s = self.season_length
        if not isinstance(s, int) or s < 1:
            raise ValidationError(f"season_length: expected a positive integer, got {s!r}")
        y = np.asarray(y, dtype=np.float64)
        if y.ndim != 1 or len(y) < s:
            raise ValidationError(
                f"expected a 1-D series of at least one season ({s} points), got shape {y.shape}"
            )
        n_seasons = -(-len(y) // s)
        padded = np.full(n_seasons * s, np.nan)
        padded[len(padded) - len(y) :] = y
        seasons = padded.reshape(n_seasons, s)
        last = seasons[-1].copy()
        for earlier in seasons[-2::-1]:  # fill holes from the most recent season with data
            holes = np.isnan(last)
            if not holes.any():
                break
            last[holes] = earlier[holes]
        if np.isnan(last).all():
            raise ValidationError("expected at least one value in the series, got only NaN")
        diffs = y[s:] - y[:-s]
        diffs = diffs[np.isfinite(diffs)]
        self.last_season_ = last
        self.sigma_ = float(np.std(diffs, ddof=1)) if len(diffs) > 1 else 0.0
        return self

    def predict(
        self, h: int, X: object = None, level: Sequence[float] = ()
    ) -> dict[str, NDArray[np.float64]]:
        if not hasattr(self, "last_season_"):
            raise ValidationError("SeasonalNaive is not fitted: call fit(y) first")
        s = self.season_length
        steps = np.arange(h)
        mean = self.last_season_[steps % s]
        out = {"mean": mean}
        if level:
            spread = self.sigma_ * np.sqrt(steps // s + 1)
            for lv in level:
                if not 0 < lv < 100:
                    raise ValidationError(f"expected levels between 0 and 100, got {lv}")
                z = NormalDist().inv_cdf(0.5 + lv / 200)
                out[f"lo-{lv:g}"] = mean - z * spread
                out[f"hi-{lv:g}"] = mean + z * spread
        return out
