"""Every forecaster modelphase uses passes the conformance checks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from statsforecast import models as sf

from modelphase.forecast import GlobalLightGBM, SeasonalNaive
from modelphase.testing import check_forecaster

FORECASTERS: dict[str, Callable[[], Any]] = {
    "SeasonalNaive": lambda: SeasonalNaive(season_length=24),
    "MSTL": lambda: sf.MSTL(season_length=24),
    "MSTL weekly": lambda: sf.MSTL(season_length=[24, 168]),
    "AutoETS": lambda: sf.AutoETS(season_length=24),
    "AutoTheta": lambda: sf.AutoTheta(season_length=24),
    "AutoARIMA": lambda: sf.AutoARIMA(season_length=24),
    "Naive": lambda: sf.Naive(),
    "GlobalLightGBM": lambda: GlobalLightGBM(season_length=24),
}


@pytest.mark.parametrize("name", sorted(FORECASTERS))
def test_forecaster_conforms(name: str) -> None:
    check_forecaster(FORECASTERS[name], season=24)


def test_the_checks_catch_a_bad_forecaster() -> None:
    class Stateful(SeasonalNaive):
        calls = 0

        def fit(self, y: Any, X: Any = None) -> Stateful:
            type(self).calls += 1
            super().fit(y + type(self).calls)
            return self

    with pytest.raises(AssertionError, match="same data, other forecast"):
        check_forecaster(lambda: Stateful(season_length=24))
