"""Drift: two-sample comparisons of a reference and a current sample, per column or
across a fleet of series (:mod:`modelphase.drift.compare`), streaming change detectors
(:mod:`modelphase.drift.streaming`) and offline change points
(:mod:`modelphase.drift.changepoints`)."""

from modelphase.drift.changepoints import changepoints
from modelphase.drift.compare import (
    ALPHA,
    MIN_EFFECT,
    MIN_ROWS,
    SERIES_COLUMNS,
    ColumnDrift,
    compare,
    compare_columns,
    compare_series,
    effect_size,
    js_distance,
    psi,
)
from modelphase.drift.streaming import ADWIN, BOCPD, CUSUM, PageHinkley, StreamingDetector

__all__ = [
    "ADWIN",
    "ALPHA",
    "BOCPD",
    "CUSUM",
    "MIN_EFFECT",
    "MIN_ROWS",
    "SERIES_COLUMNS",
    "ColumnDrift",
    "PageHinkley",
    "StreamingDetector",
    "changepoints",
    "compare",
    "compare_columns",
    "compare_series",
    "effect_size",
    "js_distance",
    "psi",
]
