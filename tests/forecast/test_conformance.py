"""Every forecaster modelphase uses passes the conformance checks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from statsforecast import models as sf

from modelphase.forecast import MODEL_NAMES, Seasonal, SeasonalNaive, build_model
from modelphase.forecast.seasons import MODELS as SEASONAL_MODELS
from modelphase.frame import parse_duration
from modelphase.testing import check_forecaster

HOUR = parse_duration("1h")

#: every model a spec may name, as the catalog builds it for hourly data (season 24)
PARAMS: dict[str, dict[str, Any]] = {"WindowAverage": {"window_size": 24}}
FORECASTERS: dict[str, Callable[[], Any]] = {
    name: (lambda name=name: build_model(name, PARAMS.get(name, {}), step=HOUR))
    for name in MODEL_NAMES
}
FORECASTERS["MSTL weekly"] = lambda: sf.MSTL(season_length=[24, 168])
for wrapped in SEASONAL_MODELS:  # the default candidates: seasons per series
    FORECASTERS[f"Seasonal {wrapped}"] = lambda m=wrapped: Seasonal(m, seasons=[24, 168])
#: no intervals of their own (training calibrates every candidate from its backtest)
POINT_ONLY = {"SeasonalWindowAverage", "WindowAverage", "Seasonal SeasonalWindowAverage"}


@pytest.mark.parametrize("name", sorted(FORECASTERS))
def test_forecaster_conforms(name: str) -> None:
    check_forecaster(FORECASTERS[name], season=24, intervals=name not in POINT_ONLY)


def test_the_checks_catch_a_bad_forecaster() -> None:
    class Stateful(SeasonalNaive):
        calls = 0

        def fit(self, y: Any, X: Any = None) -> Stateful:
            type(self).calls += 1
            super().fit(y + type(self).calls)
            return self

    with pytest.raises(AssertionError, match="same data, other forecast"):
        check_forecaster(lambda: Stateful(season_length=24))
