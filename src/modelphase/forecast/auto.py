"""The default forecaster: the selection engine on the default candidates.

:class:`AutoForecast` is what ``modelphase forecast`` runs on data: the engine of
``modelphase train`` (:func:`modelphase.forecast.engine.select`) with the default
candidates (:func:`default_models`), ``DEFAULT_WINDOWS`` rolling-origin windows of the
horizon counted back from each series' own end (fewer when the history is short) and
per-series choice shrunk toward the panel's best (``DEFAULT_MARGIN``). A spec without
``candidates`` trains the same.

The candidates follow each series' own history (:mod:`modelphase.forecast.seasons`):
a weekly season where a series has two weeks, a daily one where it has two days, none
where it has less, whatever the other series of the panel have.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from modelphase.exceptions import ValidationError
from modelphase.forecast.catalog import default_season
from modelphase.forecast.engine import Selection, select
from modelphase.forecast.seasons import default_models
from modelphase.forecast.select import ENSEMBLE, WEIGHTED
from modelphase.frame import Panel

__all__ = [
    "DEFAULT_MARGIN",
    "DEFAULT_WINDOWS",
    "ENSEMBLE",
    "WEIGHTED",
    "AutoForecast",
    "default_models",
    "default_season",
    "max_windows",
]

#: backtest windows of the horizon, the newest last (fewer when the history is short)
DEFAULT_WINDOWS = 3
#: a series takes its own best candidate only when it beats the panel's best by more
#: than this share of its error
DEFAULT_MARGIN = 0.2


def max_windows(panel: Panel, h: int, wanted: int) -> int:
    """The most backtest windows of ``h`` steps (``h`` apart) the panel's longest series
    allows, up to ``wanted``, leaving it at least two points to train on; 0 if none."""
    assert panel.step is not None
    if not panel.n_points:
        return 0
    span = (int(panel.ds.max()) - int(panel.ds.min())) // panel.step + 1
    return max(0, min(wanted, (span - 2 - h) // h + 1))


class AutoForecast:
    """Backtest the candidates, choose one per series, refit, forecast with intervals.

    ``models``: the candidates (default: :func:`default_models`); ``n_windows``: the
    backtest windows wanted; ``ensemble``: add the candidates' median and weighted mean;
    ``margin``: see ``DEFAULT_MARGIN``. After :meth:`fit_predict`, ``chosen_`` (the
    candidate per series), ``fallbacks_``, ``weights_`` and ``selection_`` (everything
    the engine found, its ``model`` the trained forecaster) describe the run.
    """

    def __init__(
        self,
        models: Sequence[Any] | None = None,
        *,
        n_windows: int = DEFAULT_WINDOWS,
        ensemble: bool = True,
        margin: float = DEFAULT_MARGIN,
        fallback: Any | None = None,
        n_jobs: int | None = None,
    ) -> None:
        self.models = models
        self.n_windows = n_windows
        self.ensemble = ensemble
        self.margin = margin
        self.fallback = fallback
        self.n_jobs = n_jobs

    def fit_predict(self, panel: Panel, h: int, level: Sequence[float] = ()) -> pd.DataFrame:
        """Forecasts ``unique_id, ds, yhat[, yhat-lo-<l>, yhat-hi-<l>], model``."""
        if panel.step is None:
            raise ValidationError("expected a panel on its grid to forecast")
        if not 0 <= self.margin < 1:
            raise ValidationError(f"margin: expected a fraction in [0, 1), got {self.margin!r}")
        if h < 1 or self.n_windows < 1:
            raise ValidationError(f"expected h >= 1 and n_windows >= 1, got {h}, {self.n_windows}")
        if not panel.n_series:
            raise ValidationError("expected series to forecast, got an empty panel")
        windows = max_windows(panel, h, self.n_windows)
        if windows < 1:
            span = (int(panel.ds.max()) - int(panel.ds.min())) // panel.step + 1
            raise ValidationError(
                f"the longest series has {span} points, too few to backtest a horizon of {h} "
                "(that needs at least h + 2)",
                hint="lower --h, or forecast from a longer history",
            )
        models = list(self.models) if self.models is not None else default_models(panel.step)
        found: Selection = select(
            panel,
            models,
            h=h,
            n_windows=windows,
            levels=level,
            margin=self.margin,
            ensembles=self.ensemble,
            fallback=self.fallback,
            n_jobs=self.n_jobs,
        )
        self.selection_ = found
        self.chosen_ = found.chosen
        self.fallbacks_ = found.fallbacks
        self.weights_ = found.model.weights
        out = found.forecast.sort_values(["unique_id", "ds"], kind="stable", ignore_index=True)
        out["yhat"] = out["yhat"].astype(np.float64)
        return out
