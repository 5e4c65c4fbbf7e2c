"""The metrics of a scored backtest: per series, per candidate, and the run's.

A scored backtest (:class:`modelphase.forecast.engine.Selection`'s ``backtest``) has
``unique_id, y``, a column per candidate and the baseline, and ``yhat`` with its
interval bounds ``yhat-lo-<level>`` / ``yhat-hi-<level>``. :func:`score_backtest` gives
MAE, RMSE, sMAPE and MASE per series (then their mean over series) and interval
coverage and pinball loss pooled over every scored point, as the training report and
the gates read them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from modelphase.backtest.metrics import interval_pinball_terms, mase_scale, smape_terms
from modelphase.frame import Panel

__all__ = ["score_backtest"]


def _mase_scales(panel: Panel, cutoff: int, season: int) -> dict[str, float]:
    """MASE's scale per series: the in-sample seasonal-naive MAE before the first
    cutoff (the one-step naive where the history is shorter than two seasons)."""
    out = {}
    for uid in panel.ids:
        ds, y = panel.series(uid)
        y = y[ds <= cutoff]
        out[uid] = mase_scale(y, season if len(y) > 2 * season else 1)
    return out


def _error_table(
    frame: pd.DataFrame, col: str, levels: Sequence[float], with_intervals: bool
) -> pd.DataFrame:
    y = frame["y"].to_numpy()
    f = frame[col].to_numpy()
    ok = np.isfinite(y) & np.isfinite(f)
    err = np.where(ok, np.abs(y - f), np.nan)
    table = pd.DataFrame(
        {
            "unique_id": frame["unique_id"].to_numpy(),
            "ae": err,
            "se": err**2,
            "smape": smape_terms(y, f),
        }
    )
    if with_intervals:
        for lv in levels:
            lo, hi = frame[f"yhat-lo-{lv:g}"].to_numpy(), frame[f"yhat-hi-{lv:g}"].to_numpy()
            inside = (y >= lo) & (y <= hi)
            table[f"coverage_{lv:g}"] = np.where(ok, inside.astype(np.float64), np.nan)
            pin = interval_pinball_terms(y, lo=lo, hi=hi, level=lv)
            table[f"pinball_{lv:g}"] = np.where(ok, pin, np.nan)
    return table


def _per_series(
    frame: pd.DataFrame,
    col: str,
    levels: Sequence[float],
    scales: Mapping[str, float],
    intervals: bool,
) -> pd.DataFrame:
    table = _error_table(frame, col, levels, intervals)
    grouped = table.groupby("unique_id", sort=True).mean()
    out = pd.DataFrame(index=grouped.index)
    out["mae"] = grouped["ae"]
    out["rmse"] = np.sqrt(grouped["se"])
    out["smape"] = grouped["smape"]
    scale = out.index.map(scales).to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["mase"] = np.where(scale > 0, out["mae"].to_numpy() / scale, np.nan)
    if intervals:
        for lv in levels:
            out[f"coverage_{lv:g}"] = grouped[f"coverage_{lv:g}"]
            out[f"pinball_{lv:g}"] = grouped[f"pinball_{lv:g}"]
    return out


def score_backtest(
    scored: pd.DataFrame,
    names: Sequence[str],
    panel: Panel,
    cutoff: int,
    season: int,
    levels: Sequence[float],
    final: Mapping[str, str],
    baseline: str = "baseline",
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, float]]:
    """Per-series metrics of the selected forecasts (``yhat``), each candidate's and the
    baseline's aggregate metrics, and the run's metrics (``mase_vs_baseline``,
    ``worst_series_vs_baseline`` and the rest) from a scored backtest. MASE is scaled by
    each series' in-sample seasonal-naive MAE before the first ``cutoff``."""
    scales = _mase_scales(panel, cutoff, season)
    selected = _per_series(scored, "yhat", levels, scales, True)
    base_rows = _per_series(scored, baseline, levels, scales, False)
    rows: dict[str, dict[str, float]] = {}
    for name in [*names, baseline]:
        rows[name] = _aggregate(_per_series(scored, name, levels, scales, False))
    rows["selected"] = _aggregate(selected, _error_table(scored, "yhat", levels, True))
    chosen_counts = pd.Series(final).value_counts()
    candidate_metrics = pd.DataFrame.from_dict(rows, orient="index")
    candidate_metrics["series_chosen"] = [
        int(chosen_counts.get(n, 0)) for n in candidate_metrics.index
    ]
    candidate_metrics.loc["selected", "series_chosen"] = len(final)
    per_series = selected.copy()
    per_series.insert(0, "model", per_series.index.map(final))
    per_series["baseline_mase"] = base_rows["mase"]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = per_series["mase"] / per_series["baseline_mase"]
    per_series["vs_baseline"] = ratio.where(np.isfinite(ratio))
    per_series = per_series.reset_index().rename(columns={"index": "unique_id"})
    metrics = dict(rows["selected"])
    base = rows[baseline]["mase"]
    metrics["baseline_mase"] = base
    metrics["mase_vs_baseline"] = (
        metrics["mase"] / base if base and np.isfinite(base) else float("nan")
    )
    worst = per_series["vs_baseline"].max()
    metrics["worst_series_vs_baseline"] = float(worst) if pd.notna(worst) else float("nan")
    return per_series, candidate_metrics, {k: float(v) for k, v in metrics.items()}


def _aggregate(per_series: pd.DataFrame, rows: pd.DataFrame | None = None) -> dict[str, float]:
    """Means over series; coverage pooled over every scored point."""
    out = {k: float(per_series[k].mean()) for k in ("mae", "rmse", "smape", "mase")}
    if rows is not None:
        for col in rows.columns:
            if col.startswith(("coverage_", "pinball_")):
                out[col] = float(rows[col].mean())
    return out
