"""Time-aware validation: rolling-origin splits, forecast metrics, and gates."""

from modelphase.backtest.gates import check_gates, evaluate
from modelphase.backtest.metrics import (
    coverage,
    interval_pinball,
    mae,
    mase,
    mase_scale,
    pinball,
    rmse,
    score_series,
    smape,
)
from modelphase.backtest.splits import Fold, folds, split

__all__ = [
    "Fold",
    "check_gates",
    "coverage",
    "evaluate",
    "folds",
    "interval_pinball",
    "mae",
    "mase",
    "mase_scale",
    "pinball",
    "rmse",
    "score_series",
    "smape",
    "split",
]
