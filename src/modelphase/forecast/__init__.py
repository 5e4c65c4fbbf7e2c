"""Forecasters: the statsforecast-shaped protocol (``fit`` / ``predict``) and models."""

from modelphase.forecast.naive import SeasonalNaive

__all__ = ["SeasonalNaive"]
