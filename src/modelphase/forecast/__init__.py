"""Forecasters: the statsforecast-shaped protocol (``fit`` / ``predict``), the panel
runner with its fallback, and the automatic per-series selection.

``MODELS`` maps the names a spec may use to the forecaster classes.
"""

from modelphase.forecast.auto import AutoForecast, default_models, default_season
from modelphase.forecast.naive import SeasonalNaive
from modelphase.forecast.panel import Fallback, Forecaster, PanelForecaster, clean_series

MODELS: dict[str, type] = {"SeasonalNaive": SeasonalNaive}

__all__ = [
    "MODELS",
    "AutoForecast",
    "Fallback",
    "Forecaster",
    "PanelForecaster",
    "SeasonalNaive",
    "clean_series",
    "default_models",
    "default_season",
]
