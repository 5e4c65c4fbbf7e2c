"""Choosing among backtested candidates without looking ahead, and calibrating intervals.

A backtest gives, for each series and window (oldest first), every candidate's
forecasts. Here:

- :func:`add_ensembles` adds the median of the candidates and a weighted mean, whose
  weights in window ``k`` are the inverse of each candidate's MAE on the series in the
  windows before ``k`` (equal weights in the first window);
- :func:`choose` picks, for window ``k``, the candidate with the lowest mean MAE on the
  windows before ``k``, so that the chosen model's backtest score is out of sample; the
  final choice uses every window;
- :func:`conformal_widths` gives interval half-widths per lead step from errors divided
  by each series' scale and pooled across series (split conformal), again using only
  earlier windows for each window's intervals.

>>> import pandas as pd, numpy as np
>>> cv = pd.DataFrame({"unique_id": ["a"] * 4, "window": [0, 0, 1, 1], "y": [1.0, 2, 3, 4],
...                    "good": [1.0, 2, 3, 4.5], "bad": [3.0, 0, 5, 2]})
>>> errs = window_mae(cv, ["good", "bad"])
>>> choose(errs, ["good", "bad"])[0]
{('a', 1): 'good'}
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import NDArray

__all__ = [
    "ENSEMBLE",
    "WEIGHTED",
    "add_ensembles",
    "calibrate_widths",
    "choose",
    "conformal_quantile",
    "conformal_widths",
    "inverse_error_weights",
    "min_errors",
    "period_scale",
    "scale_period",
    "series_scale",
    "window_mae",
]

ENSEMBLE = "Ensemble"
WEIGHTED = "WeightedEnsemble"


def series_scale(y: NDArray[np.float64]) -> float:
    """A series' scale for pooling errors: its mean absolute one-step change (0 for a
    constant series, whose intervals then have no width); with fewer than two points,
    its mean absolute level, else 1."""
    diffs = np.abs(np.diff(y))
    diffs = diffs[np.isfinite(diffs)]
    if len(diffs):
        return float(np.mean(diffs))
    level = float(np.nanmean(np.abs(y))) if np.isfinite(y).any() else 0.0
    return level if level > 0 else 1.0


_DAY_NS = 86_400 * 10**9


def scale_period(step: int, season: int) -> int:
    """The period :func:`period_scale` looks back: a week of steps for sub-daily data
    (telemetry's slowest common cycle), else one season."""
    return 7 * season if step < _DAY_NS else season


def period_scale(
    y: NDArray[np.float64], *, season: int, period: int, h: int, gap: int = 0
) -> float:
    """A series' scale for calibrating the ``h`` points forecast after ``y`` (and
    ``gap`` more): its mean absolute change over a season, on the same stretch one
    ``period`` earlier (for telemetry: the same hours a week ago, so that a weekend's
    day-over-day swing scales the weekend's errors), at least a quarter of that over
    its whole history. Without a period of history: over the whole history; with no
    seasonal change at all, :func:`series_scale` (0 for a constant series).

    Errors divided by it pool across series and windows: a request rate that swings
    by day and a noisy p99 latency are then judged on one footing.
    """
    y = np.asarray(y, dtype=np.float64)
    lag = season if len(y) > season else 1
    change = np.abs(y[lag:] - y[:-lag])
    overall = float(np.mean(change[np.isfinite(change)])) if np.isfinite(change).any() else 0.0
    if not overall > 0:
        return series_scale(y)
    start = len(y) + gap - period  # the first forecast point, one period back
    if start - lag < 0:
        return overall
    stretch = change[start - lag : start - lag + h]
    stretch = stretch[np.isfinite(stretch)]
    local = float(np.mean(stretch)) if len(stretch) else overall
    return max(local, 0.25 * overall)


def conformal_quantile(abs_err: NDArray[np.float64], level: float) -> float:
    """The split-conformal half-width: the ceil((n + 1) * level)-th smallest error."""
    errs = np.sort(abs_err[np.isfinite(abs_err)])
    if not len(errs):
        return 0.0
    rank = int(np.ceil((len(errs) + 1) * level / 100.0)) - 1
    return float(errs[min(rank, len(errs) - 1)])


def window_mae(cv: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """Mean absolute error per ``(unique_id, window)`` and candidate."""
    errors = cv[list(names)].sub(cv["y"], axis=0).abs()
    errors["unique_id"] = cv["unique_id"].to_numpy()
    errors["window"] = cv["window"].to_numpy()
    return errors.groupby(["unique_id", "window"], sort=True)[list(names)].mean()


def _before(errs: pd.DataFrame) -> pd.DataFrame:
    """Per (series, window k): the mean over the series' windows before k (NaN at k=0)."""
    total = errs.groupby(level="unique_id").cumsum() - errs.fillna(0.0)
    count = errs.notna().astype(np.int64).groupby(level="unique_id").cumsum()
    count -= errs.notna().astype(np.int64)
    return total / count.where(count > 0)


def inverse_error_weights(mae: pd.DataFrame) -> pd.DataFrame:
    """Rows of weights proportional to 1 / MAE (equal where no MAE is known)."""
    inv = 1.0 / mae.clip(lower=1e-12).to_numpy(dtype=np.float64)
    inv[~np.isfinite(inv)] = np.nan
    unknown = np.isnan(inv).all(axis=1)
    inv[unknown] = 1.0
    inv = np.nan_to_num(inv, nan=0.0)
    return pd.DataFrame(inv / inv.sum(axis=1, keepdims=True), index=mae.index, columns=mae.columns)


def add_ensembles(cv: pd.DataFrame, models: Sequence[str]) -> list[str]:
    """Add the ``Ensemble`` (median) and ``WeightedEnsemble`` columns to a backtest
    frame with a ``window`` column (when there are two models or more); return the
    names of every candidate."""
    models = list(models)
    if len(models) < 2:
        return models
    cv[ENSEMBLE] = cv[models].median(axis=1)
    weights = inverse_error_weights(_before(window_mae(cv, models)))
    key = pd.MultiIndex.from_arrays([cv["unique_id"], cv["window"]])
    w = weights.reindex(key).to_numpy()
    cv[WEIGHTED] = np.einsum("ij,ij->i", cv[models].to_numpy(), w)
    return [*models, ENSEMBLE, WEIGHTED]


def _argmin(table: pd.DataFrame, default: str) -> pd.Series:
    filled = table.fillna(np.inf)
    pick = filled.idxmin(axis=1)
    return pick.where(np.isfinite(filled.min(axis=1)), default)


def _shrunk(table: pd.DataFrame, names: list[str], margin: float) -> pd.Series:
    """Per row, the row's best candidate if it beats the panel's best candidate (by
    mean MAE relative to each row's mean over candidates) by more than ``margin``;
    else the panel's best. One or two windows are a noisy basis for a per-series
    choice; this keeps a series on the panel's best unless its own evidence is clear."""
    own = _argmin(table, names[0])
    if not len(table):
        return own
    relative = table.div(table.mean(axis=1).where(lambda m: m > 0), axis=0)
    panel_best = str(_argmin(relative.mean().to_frame().T, names[0]).iloc[0])
    filled = table.fillna(np.inf)
    best_value = filled.min(axis=1)
    panel_value = filled[panel_best]
    switch = best_value < (1.0 - margin) * panel_value
    return own.where(switch.to_numpy(), panel_best)


def choose(
    errs: pd.DataFrame, names: Sequence[str], *, margin: float = 0.0
) -> tuple[dict[tuple[str, int], str], dict[str, str]]:
    """The out-of-sample choice per ``(unique_id, window)`` for windows after the
    first, and the final choice per series over all windows. A series takes its own
    best candidate only when it beats the panel's best by more than ``margin`` (a
    share of its MAE); ``margin=0`` is the plain per-series choice."""
    names = list(names)
    before = _before(errs[names])
    rolling: dict[tuple[str, int], str] = {}
    windows = before.index.get_level_values("window")
    for k in sorted(set(windows) - {0}):
        at_k = before[windows == k]
        picks = _shrunk(at_k, names, margin)
        for u, c in zip(at_k.index.get_level_values("unique_id"), picks.to_numpy(), strict=True):
            rolling[(str(u), int(k))] = str(c)
    final_mae = errs[names].groupby(level="unique_id").mean()
    final = {str(u): str(c) for u, c in _shrunk(final_mae, names, margin).items()}
    return rolling, final


def conformal_widths(
    abs_err: NDArray[np.float64],
    lead: NDArray[np.int64],
    scale: NDArray[np.float64],
    levels: Sequence[float],
    horizon: int,
) -> dict[float, NDArray[np.float64]]:
    """The half-widths of :func:`calibrate_widths`, without how they were made."""
    return calibrate_widths(abs_err, lead, scale, levels, horizon)[0]


def min_errors(level: float) -> int:
    """The fewest errors a conformal quantile at ``level`` is read from: enough that the
    quantile is not the largest error (``2 / (1 - level)``), and at least 20."""
    return max(20, int(np.ceil(2.0 / (1.0 - level / 100.0))))


def calibrate_widths(
    abs_err: NDArray[np.float64],
    lead: NDArray[np.int64],
    scale: NDArray[np.float64],
    levels: Sequence[float],
    horizon: int,
) -> tuple[dict[float, NDArray[np.float64]], dict[float, str]]:
    """Half-widths per lead step (0-based, ``horizon`` of them) in units of a series'
    scale, and per level how they were made.

    ``conformal``: at each lead, the split-conformal quantile of ``abs_err / scale``
    pooled across series and windows at that lead and, where that gives fewer than
    :func:`min_errors` errors, at the nearest leads too (a band around the lead, widened
    until it holds enough): with a handful of series, one lead's errors cannot tell an
    80% quantile from a 95% one. ``laplace``: where the whole backtest has fewer errors
    than that, the errors are taken as Laplace (absolute errors exponential), whose
    quantile at level ``p`` is ``-ln(1 - p)`` times their mean, per band of leads.
    ``none``: no errors at all, zero widths. Constant series (scale 0) do not count.
    """
    normalised = np.divide(abs_err, scale, out=np.full(len(abs_err), np.nan), where=scale > 0)
    keep = np.isfinite(normalised) & (lead >= 0) & (lead < horizon)
    order = np.lexsort((normalised[keep], lead[keep]))
    errs, leads = normalised[keep][order], lead[keep][order]
    bounds = np.searchsorted(leads, np.arange(horizon + 1))
    out: dict[float, NDArray[np.float64]] = {}
    methods: dict[float, str] = {}
    for lv in levels:
        need = min_errors(float(lv))
        widths = np.zeros(horizon)
        if not len(errs):
            out[float(lv)], methods[float(lv)] = widths, "none"
            continue
        laplace = len(errs) < need
        band_need = min(len(errs), 5 if laplace else need)
        radius = 0
        for k in range(horizon):
            radius = max(radius - 1, 0)
            while True:
                lo, hi = bounds[max(k - radius, 0)], bounds[min(k + radius + 1, horizon)]
                if hi - lo >= band_need or (k - radius <= 0 and k + radius + 1 >= horizon):
                    break
                radius += 1
            band = errs[lo:hi]
            if laplace:
                widths[k] = -np.log1p(-lv / 100.0) * float(np.mean(band))
            else:
                rank = min(int(np.ceil((len(band) + 1) * lv / 100.0)) - 1, len(band) - 1)
                widths[k] = float(np.partition(band, rank)[rank])
        out[float(lv)], methods[float(lv)] = widths, "laplace" if laplace else "conformal"
    return out, methods
