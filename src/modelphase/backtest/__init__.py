"""Time-aware validation: rolling-origin splits, forecast metrics, and gates."""

from modelphase.backtest.gates import check_gates, evaluate
from modelphase.backtest.metrics import (
    coverage,
    interval_pinball,
    interval_pinball_terms,
    mae,
    mase,
    mase_scale,
    pinball,
    pinball_terms,
    rmse,
    score_series,
    smape,
    smape_terms,
)
from modelphase.backtest.splits import Fold, folds, split

__all__ = [
    "Fold",
    "check_gates",
    "coverage",
    "evaluate",
    "folds",
    "interval_pinball",
    "interval_pinball_terms",
    "mae",
    "mase",
    "mase_scale",
    "pinball",
    "pinball_terms",
    "rmse",
    "score_series",
    "smape",
    "smape_terms",
    "split",
]
