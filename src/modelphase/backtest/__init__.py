"""Time-aware validation: rolling-origin splits, forecast metrics, gates, NAB scoring."""

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
from modelphase.backtest.nab import (
    NAB_PROFILES,
    NabCorpus,
    NabFile,
    NabFileResult,
    NabProfile,
    NabResult,
    load_nab_corpus,
    nab_probation,
    nab_score,
)
from modelphase.backtest.splits import Fold, folds, split

__all__ = [
    "NAB_PROFILES",
    "Fold",
    "NabCorpus",
    "NabFile",
    "NabFileResult",
    "NabProfile",
    "NabResult",
    "check_gates",
    "coverage",
    "evaluate",
    "folds",
    "interval_pinball",
    "interval_pinball_terms",
    "load_nab_corpus",
    "mae",
    "mase",
    "mase_scale",
    "nab_probation",
    "nab_score",
    "pinball",
    "pinball_terms",
    "rmse",
    "score_series",
    "smape",
    "smape_terms",
    "split",
]
