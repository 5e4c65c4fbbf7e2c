"""Forecasters: the statsforecast-shaped protocol (``fit`` / ``predict``), the panel
runner with its fallback, seasons per series, and the selection engine behind
``modelphase forecast`` and ``modelphase train`` (:func:`select`; :class:`AutoForecast`
runs it on the default candidates).

``MODEL_NAMES`` lists the names a spec may use; :func:`build_model` builds one from
its parameters and the data's step. :func:`artifact_kind` says what artifact bytes are
without loading them; ``ALLOWED_CLASSES`` are the only classes an artifact may name.
"""

from modelphase.forecast.allowlist import ALLOWED_CLASSES
from modelphase.forecast.artifact import artifact_kind
from modelphase.forecast.auto import AutoForecast, default_models, default_season
from modelphase.forecast.catalog import MODEL_NAMES, build_model
from modelphase.forecast.engine import Selection, select
from modelphase.forecast.gbm import GlobalLightGBM
from modelphase.forecast.naive import SeasonalNaive
from modelphase.forecast.panel import Fallback, Forecaster, PanelForecaster, clean_series
from modelphase.forecast.seasons import Seasonal
from modelphase.forecast.trained import FLAVOR, TrainedForecaster

__all__ = [
    "ALLOWED_CLASSES",
    "FLAVOR",
    "MODEL_NAMES",
    "AutoForecast",
    "Fallback",
    "Forecaster",
    "GlobalLightGBM",
    "PanelForecaster",
    "Seasonal",
    "SeasonalNaive",
    "Selection",
    "TrainedForecaster",
    "artifact_kind",
    "build_model",
    "clean_series",
    "default_models",
    "default_season",
    "select",
]
