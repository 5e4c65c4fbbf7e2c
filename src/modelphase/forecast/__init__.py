"""Forecasters: the statsforecast-shaped protocol (``fit`` / ``predict``) and models.

``MODELS`` maps the names a spec may use to the forecaster classes.
"""

from modelphase.forecast.naive import SeasonalNaive

MODELS: dict[str, type] = {"SeasonalNaive": SeasonalNaive}

__all__ = ["MODELS", "SeasonalNaive"]
