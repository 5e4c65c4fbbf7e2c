"""The seasonal naive baseline."""

from __future__ import annotations

import numpy as np
import pytest

from modelphase.exceptions import ValidationError
from modelphase.forecast import SeasonalNaive


def test_repeats_the_last_season_and_fills_its_holes() -> None:
    y = np.array([1.0, 2, 3, 4, np.nan, 6])
    out = SeasonalNaive(season_length=3).fit(y).predict(6)
    assert out["mean"].tolist() == [4.0, 2.0, 6.0, 4.0, 2.0, 6.0]


def test_intervals_widen_with_each_season_and_cover() -> None:
    rng = np.random.default_rng(0)
    season = np.sin(np.arange(24) / 24 * 2 * np.pi) * 10
    y = np.tile(season, 60) + rng.normal(0, 1, 24 * 60)
    model = SeasonalNaive(season_length=24).fit(y[:-24])
    out = model.predict(48, level=(80, 95))
    width = out["hi-80"] - out["lo-80"]
    assert width[30] > width[5]
    assert (out["hi-95"] - out["lo-95"] > width).all()
    actual = y[-24:]
    inside = (actual >= out["lo-95"][:24]) & (actual <= out["hi-95"][:24])
    assert inside.mean() >= 0.8


def test_refuses_what_it_cannot_fit() -> None:
    with pytest.raises(ValidationError, match="at least one season"):
        SeasonalNaive(season_length=24).fit(np.ones(10))
    with pytest.raises(ValidationError, match="positive integer"):
        SeasonalNaive(season_length=0).fit(np.ones(10))
    with pytest.raises(ValidationError, match="not fitted"):
        SeasonalNaive().predict(3)
    with pytest.raises(ValidationError, match="levels"):
        SeasonalNaive(season_length=2).fit(np.ones(4)).predict(2, level=(100,))
    assert SeasonalNaive(season_length=7).get_params() == {
        "season_length": 7,
        "alias": "SeasonalNaive",
    }
