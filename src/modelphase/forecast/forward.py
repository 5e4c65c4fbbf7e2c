"""Backtests without refitting: fit once, then forecast each later window forward.

With ``refit=False``, :meth:`~modelphase.forecast.PanelForecaster.cross_validation`
fits each model once, on the data up to the earliest window's cutoff, and each later
window forecasts from the data up to its own cutoff with the parameters fitted then:
what a model trained once and then served for days would do.

- A per-series model with ``forward(y, h, level=...)`` (statsforecast's AutoETS,
  AutoARIMA, AutoTheta, MSTL, Naive, ...) keeps its first fit, and forecasts each later
  window from the series up to that window's cutoff, cleaned as fit input is
  (:func:`~modelphase.forecast.clean_series`).
- A global model keeps its first fit, and forecasts each later window with
  ``forward_panel(panel up to the cutoff, h, level=...)``. A series that appears in a
  later window is forecast by that same fit (a global model forecasts series it was not
  fitted on, as when it serves).
- A model without ``forward`` (:class:`~modelphase.forecast.SeasonalNaive`,
  WindowAverage, SeasonalWindowAverage) is refitted on each window's data. These models
  have no parameters (their forecast is a function of the last values), so this is
  identical to forecasting forward.
- A series that is absent from the first window, too short there, or whose fit failed
  there, falls back as usual in that window and is fitted at the first window where
  its fit succeeds; later windows forecast forward from that fit.

A forward forecast that fails or is not finite falls back for that series in that
window and is recorded, as a failed ``predict`` is. The fallback model is fitted on each
window's data, as with ``refit=True``.

>>> import numpy as np
>>> from modelphase.frame import Panel
>>> from modelphase.forecast import PanelForecaster, SeasonalNaive
>>> p = Panel.from_series([("a", np.arange(12) * 60 * 10**9, np.arange(12.0))],
...                       step=60 * 10**9)
>>> cv = PanelForecaster([SeasonalNaive(1)]).cross_validation(p, h=2, n_windows=2, refit=False)
>>> cv["SeasonalNaive"].tolist()  # parameter free: the last value before each cutoff
[7.0, 7.0, 9.0, 9.0]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from modelphase.frame import Panel

__all__ = ["FirstFits", "Forwarded", "ForwardedPanel"]


class Forwarded:
    """A fitted per-series model and new data: ``predict`` forecasts from ``y`` with the
    parameters of the fit (the model's ``forward``), without refitting."""

    def __init__(self, fitted: Any, y: NDArray[np.float64]) -> None:
        self.fitted = fitted
        self.y = y

    def predict(
        self, h: int, X: Any = None, level: Sequence[float] | None = None
    ) -> dict[str, Any]:
        return dict(self.fitted.forward(y=self.y, h=h, level=level_arg(level) if level else None))


class ForwardedPanel:
    """A fitted global model and a new panel: ``predict_panel`` forecasts every series
    of ``panel`` with the fitted model (its ``forward_panel``), without refitting."""

    def __init__(self, fitted: Any, panel: Panel) -> None:
        self.fitted = fitted
        self.panel = panel

    def predict_panel(self, h: int, level: Sequence[float] = ()) -> dict[str, Any]:
        return dict(self.fitted.forward_panel(self.panel, h, level=level_arg(level)))


class FirstFits:
    """The fits that later backtest windows forecast forward with: per series and model
    alias for per-series models, per alias for global models. Only models that can
    forecast new data without refitting are kept; the others are refitted each window."""

    def __init__(self) -> None:
        self.series: dict[tuple[str, str], Any] = {}
        self.panels: dict[str, Any] = {}

    def forward_one(self, uid: str, alias: str, y: NDArray[np.float64]) -> Forwarded | None:
        """The kept fit forecasting ``y``, or None when the series has none yet."""
        fitted = self.series.get((uid, alias))
        return None if fitted is None else Forwarded(fitted, y)

    def forward_panel(self, alias: str, panel: Panel) -> ForwardedPanel | None:
        """The kept global fit forecasting ``panel``, or None when there is none yet."""
        fitted = self.panels.get(alias)
        return None if fitted is None else ForwardedPanel(fitted, panel)

    def keep_one(self, uid: str, alias: str, fitted: Any) -> None:
        """Keep a successful per-series fit (None: it failed) if it can go forward."""
        if fitted is not None and callable(getattr(fitted, "forward", None)):
            self.series[uid, alias] = fitted

    def keep_panel(self, alias: str, fitted: Any) -> None:
        """Keep a successful global fit (None: it failed) if it can go forward."""
        if fitted is not None and callable(getattr(fitted, "forward_panel", None)):
            self.panels[alias] = fitted


def level_arg(level: Sequence[float]) -> list[float]:
    """Levels as models are asked for them: whole numbers as ints, since statsforecast
    names its keys ``lo-{level}`` (``lo-80``, not ``lo-80.0``)."""
    return [int(lv) if float(lv).is_integer() else float(lv) for lv in level]
