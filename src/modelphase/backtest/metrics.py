"""Forecast accuracy and interval metrics, NaN-aware: points whose actual is missing
are left out.

Definitions follow the M4 competition where it has one: sMAPE in percent
(``200 |y - f| / (|y| + |f|)``), MASE scaled by the in-sample mean absolute seasonal
difference. Coverage is the share of actuals inside ``[lo, hi]``; the pinball loss of a
quantile ``q`` forecast is ``mean(max(q (y - f), (q - 1) (y - f)))``.

>>> import numpy as np
>>> y, f = np.array([1.0, 2.0, 4.0]), np.array([1.0, 3.0, 2.0])
>>> mae(y, f), round(rmse(y, f), 4), round(smape(y, f), 2)
(1.0, 1.291, 35.56)
>>> mase(y, f, insample=np.array([1.0, 2.0, 3.0, 4.0]), season=1)
1.0
>>> coverage(y, lo=y - 1, hi=np.array([2.0, 1.0, 5.0]))
0.6666666666666666
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "coverage",
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
]

F = NDArray[np.float64]


def _ok(y: F, *others: F) -> NDArray[np.bool_]:
    keep = np.isfinite(y)
    for other in others:
        keep &= np.isfinite(other)
    return keep


def mae(y: F, yhat: F) -> float:
    keep = _ok(y, yhat)
    return float(np.mean(np.abs(y[keep] - yhat[keep]))) if keep.any() else float("nan")


def rmse(y: F, yhat: F) -> float:
    keep = _ok(y, yhat)
    return float(np.sqrt(np.mean((y[keep] - yhat[keep]) ** 2))) if keep.any() else float("nan")


def smape_terms(y: F, yhat: F) -> F:
    """Each point's sMAPE term in percent (0..200): 0 where both are 0, NaN where either
    is missing."""
    num = np.abs(y - yhat)
    den = np.abs(y) + np.abs(yhat)
    out: F = np.divide(200.0 * num, den, out=np.zeros_like(num), where=den > 0)
    out[~_ok(y, yhat)] = np.nan
    return out


def smape(y: F, yhat: F) -> float:
    """Symmetric MAPE in percent (0..200); a point where both are 0 counts as 0."""
    terms = smape_terms(y, yhat)
    keep = np.isfinite(terms)
    return float(np.mean(terms[keep])) if keep.any() else float("nan")


def mase_scale(insample: F, season: int) -> float:
    """Mean absolute seasonal difference of the training data (the naive error)."""
    if len(insample) <= season:
        return float("nan")
    diffs = np.abs(insample[season:] - insample[:-season])
    diffs = diffs[np.isfinite(diffs)]
    return float(np.mean(diffs)) if len(diffs) else float("nan")


def mase(
    y: F, yhat: F, *, insample: F | None = None, season: int = 1, scale: float | None = None
) -> float:
    """MAE over the in-sample seasonal-naive MAE (``scale`` when already known)."""
    if scale is None:
        if insample is None:
            raise ValueError("mase needs the in-sample data or its scale")
        scale = mase_scale(insample, season)
    if not scale > 0:
        return float("nan")
    return mae(y, yhat) / scale


def coverage(y: F, *, lo: F, hi: F) -> float:
    keep = _ok(y, lo, hi)
    if not keep.any():
        return float("nan")
    return float(np.mean((y[keep] >= lo[keep]) & (y[keep] <= hi[keep])))


def pinball_terms(y: F, quantile_forecast: F, q: float) -> F:
    """Each point's pinball loss of a ``q`` quantile forecast."""
    diff = y - quantile_forecast
    out: F = np.maximum(q * diff, (q - 1.0) * diff)
    return out


def pinball(y: F, quantile_forecast: F, q: float) -> float:
    keep = _ok(y, quantile_forecast)
    if not keep.any():
        return float("nan")
    return float(np.mean(pinball_terms(y[keep], quantile_forecast[keep], q)))


def interval_pinball_terms(y: F, *, lo: F, hi: F, level: float) -> F:
    """Each point's mean pinball loss of the interval's two quantiles."""
    alpha = (1.0 - level / 100.0) / 2.0
    return 0.5 * (pinball_terms(y, lo, alpha) + pinball_terms(y, hi, 1.0 - alpha))


def interval_pinball(y: F, *, lo: F, hi: F, level: float) -> float:
    """Mean pinball loss of the interval's two quantiles, ``(1 -+ level/100) / 2``."""
    alpha = (1.0 - level / 100.0) / 2.0
    return 0.5 * (pinball(y, lo, alpha) + pinball(y, hi, 1.0 - alpha))


def score_series(
    y: F,
    yhat: F,
    *,
    scale: float,
    intervals: Mapping[float, tuple[F, F]] | None = None,
    levels: Sequence[float] = (),
) -> dict[str, float]:
    """Every metric of one series' forecast: mae, rmse, smape, mase, and per level
    ``coverage_<level>`` and ``pinball_<level>``."""
    out = {
        "mae": mae(y, yhat),
        "rmse": rmse(y, yhat),
        "smape": smape(y, yhat),
        "mase": mase(y, yhat, scale=scale),
    }
    for level in levels:
        if intervals is None or level not in intervals:
            continue
        lo, hi = intervals[level]
        out[f"coverage_{level:g}"] = coverage(y, lo=lo, hi=hi)
        out[f"pinball_{level:g}"] = interval_pinball(y, lo=lo, hi=hi, level=level)
    return out
