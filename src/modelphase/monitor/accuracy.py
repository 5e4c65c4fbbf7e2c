"""Accuracy as actuals arrive: the decision log's forecasts and scores joined with the
telemetry that came later.

:func:`forecast_rows` turns logged forecast answers into one row per request, series and
step ahead (``ds``, ``yhat``, the bands); :func:`join_actuals` adds the value that was
observed at ``ds`` and counts what could not be joined: actuals not in yet (late), and
actuals that are there but not a number (bad). :func:`accuracy` summarises joined rows
per any grouping (model version, alias, series, step ahead): MAE, sMAPE, MASE (scaled by
each series' seasonal-naive error on the actuals' own history, so that series of
different units average fairly), interval coverage per level and the mean interval
pinball loss. :func:`alert_rates` does the same for detectors: the share of scored
points flagged, and precision and recall where incidents are labelled.

Answers the fallback gave are kept and marked (``answered_by``): the accuracy a caller
got includes them. Old log rows without the forecast's times (written before they were
logged) are skipped and counted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pandas as pd
from numpy.typing import NDArray

from modelphase.backtest.metrics import interval_pinball_terms, mase_scale, smape_terms
from modelphase.drift.compare import compare
from modelphase.frame import Panel

__all__ = [
    "JoinCounts",
    "accuracy",
    "alert_rates",
    "forecast_rows",
    "join_actuals",
    "long_frame",
    "mase_bounds",
    "median_series_mase",
    "relative_to_typical",
    "residual_drift",
    "scaled_errors",
    "scaled_residuals",
    "score_rows",
    "series_mase",
    "series_scales",
]

#: residuals on each side before their drift is measured
MIN_RESIDUALS = 30

#: the columns of :func:`forecast_rows`, before the bands
ROW_COLUMNS = (
    "request_id", "time_us", "model", "version", "alias", "answered_by", "unique_id",
    "step", "ds", "yhat",
)  # fmt: skip


@dataclass
class JoinCounts:
    """What :func:`join_actuals` could and could not join."""

    joined: int = 0
    late: int = 0  # no actual at that time yet
    bad: int = 0  # an actual that is NaN or infinite
    unparsed: int = 0  # log rows without the forecast's times, or not JSON

    def to_dict(self) -> dict[str, int]:
        return {
            "joined": self.joined,
            "late": self.late,
            "bad": self.bad,
            "unparsed": self.unparsed,
        }


def forecast_rows(decisions: pd.DataFrame, counts: JoinCounts | None = None) -> pd.DataFrame:
    """One row per logged forecast, series and step ahead: :data:`ROW_COLUMNS` plus
    ``lo_<level>`` / ``hi_<level>`` for every level logged. ``ds`` is epoch ns."""
    counts = counts if counts is not None else JoinCounts()
    out: dict[str, list[Any]] = {c: [] for c in ROW_COLUMNS}
    bands: dict[str, list[float]] = {}
    n = 0
    if len(decisions):
        decisions = decisions[decisions["endpoint"] == "forecast"]
    for rec in decisions.itertuples(index=False):
        try:
            items = orjson.loads(str(rec.prediction))
            intervals = orjson.loads(str(rec.interval)) if rec.interval else []
        except orjson.JSONDecodeError:
            counts.unparsed += 1
            continue
        by_id = {i.get("unique_id"): i.get("intervals") or {} for i in intervals or []}
        for item in items if isinstance(items, list) else []:
            times, means = item.get("ds"), item.get("mean")
            if not isinstance(times, list) or not isinstance(means, list):
                counts.unparsed += 1
                continue
            k = min(len(times), len(means))
            ds = pd.to_datetime(times[:k], utc=True).asi8
            uid = str(item.get("unique_id"))
            out["request_id"] += [rec.request_id] * k
            out["time_us"] += [rec.time_us] * k
            out["model"] += [rec.model] * k
            out["version"] += [rec.version] * k
            out["alias"] += [rec.alias] * k
            out["answered_by"] += [rec.answered_by] * k
            out["unique_id"] += [uid] * k
            out["step"] += list(range(1, k + 1))
            out["ds"] += list(ds)
            out["yhat"] += [np.nan if m is None else float(m) for m in means[:k]]
            for level, band in (by_id.get(item.get("unique_id")) or {}).items():
                for side in ("lo", "hi"):
                    column = bands.setdefault(f"{side}_{level}", [np.nan] * n)
                    values = band.get(side) or []
                    column += [
                        np.nan if i >= len(values) or values[i] is None else float(values[i])
                        for i in range(k)
                    ]
            n += k
            for column in bands.values():
                column += [np.nan] * (n - len(column))
    frame = pd.DataFrame(out)
    for name, values in sorted(bands.items()):
        frame[name] = np.asarray(values, dtype=np.float64)
    frame["ds"] = frame["ds"].astype(np.int64)
    frame["step"] = frame["step"].astype(np.int64)
    frame["yhat"] = frame["yhat"].astype(np.float64)
    return frame


def join_actuals(
    rows: pd.DataFrame, actuals: Panel, counts: JoinCounts | None = None
) -> tuple[pd.DataFrame, JoinCounts]:
    """``rows`` (of :func:`forecast_rows`) with ``y``, the actual at ``ds``, keeping only
    the rows that have a finite one; ``counts`` says how many were late or bad."""
    counts = counts if counts is not None else JoinCounts()
    if not len(rows):
        return rows.assign(y=pd.Series(dtype=np.float64)), counts
    joined = rows.merge(long_frame(actuals), on=["unique_id", "ds"], how="left", indicator=True)
    found = joined["_merge"] == "both"
    finite = found & np.isfinite(joined["y"].to_numpy(dtype=np.float64, na_value=np.nan))
    counts.late += int((~found).sum())
    counts.bad += int((found & ~finite).sum())
    counts.joined += int(finite.sum())
    return joined.loc[finite].drop(columns="_merge").reset_index(drop=True), counts


def long_frame(panel: Panel) -> pd.DataFrame:
    """``unique_id`` (object), ``ds`` (epoch ns, as the forecast rows have it), ``y``."""
    ids = np.asarray(panel.ids, dtype=object)[panel.series_index()]
    return pd.DataFrame({"unique_id": ids, "ds": panel.ds, "y": panel.y})


def series_scales(actuals: Panel, season: int) -> dict[str, float]:
    """Each series' MASE denominator: its mean absolute seasonal difference over the
    actuals' history (the in-sample naive error), NaN when too short."""
    out = {}
    for i, uid in enumerate(actuals.ids):
        y = actuals.y[actuals.indptr[i] : actuals.indptr[i + 1]]
        out[uid] = mase_scale(y, season)
    return out


def accuracy(
    joined: pd.DataFrame,
    *,
    by: Sequence[str] = ("model", "version", "alias"),
    scales: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Per group of ``by``: ``n`` (joined points), ``mae``, ``smape`` (percent), ``mase``
    (the mean of absolute errors each divided by its series' scale, when ``scales`` are
    given), ``coverage_<level>`` (share of actuals inside the band) and
    ``pinball_<level>`` (the interval's mean pinball loss), ``fallback_share``."""
    keys = list(by)
    if not len(joined):
        return pd.DataFrame(columns=[*keys, "n", "mae", "smape", "mase"])
    y = joined["y"].to_numpy(dtype=np.float64)
    yhat = joined["yhat"].to_numpy(dtype=np.float64)
    work = pd.DataFrame({k: joined[k] for k in keys})
    work["abs"] = np.abs(y - yhat)
    work["smape"] = smape_terms(y, yhat)
    if scales is not None:
        scale = joined["unique_id"].map(dict(scales)).to_numpy(dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            scaled = work["abs"].to_numpy() / scale
        work["mase"] = np.where(np.isfinite(scaled), scaled, np.nan)
    else:
        work["mase"] = np.nan
    work["fallback"] = (joined["answered_by"] == "fallback").to_numpy(dtype=np.float64)
    levels = sorted(
        {c.removeprefix("lo_") for c in joined.columns if c.startswith("lo_")}, key=float
    )
    for level in levels:
        lo = joined[f"lo_{level}"].to_numpy(dtype=np.float64)
        hi = joined[f"hi_{level}"].to_numpy(dtype=np.float64)
        has = np.isfinite(lo) & np.isfinite(hi)
        work[f"coverage_{level}"] = np.where(has, (y >= lo) & (y <= hi), np.nan)
        terms = interval_pinball_terms(y, lo=lo, hi=hi, level=float(level))
        work[f"pinball_{level}"] = np.where(has, terms, np.nan)
    grouped = work.groupby(keys, dropna=False, sort=True)
    out = grouped.agg(
        n=("abs", "size"),
        mae=("abs", "mean"),
        smape=("smape", "mean"),
        mase=("mase", "mean"),
        fallback_share=("fallback", "mean"),
        **{f"coverage_{lv}": (f"coverage_{lv}", "mean") for lv in levels},
        **{f"pinball_{lv}": (f"pinball_{lv}", "mean") for lv in levels},
    )
    return out.reset_index()


def scaled_residuals(joined: pd.DataFrame, scales: Mapping[str, float]) -> NDArray[np.float64]:
    """Each joined point's residual (actual minus forecast) divided by its series' MASE
    scale (NaN where either is missing)."""
    scale = joined["unique_id"].map(dict(scales)).to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        res = joined["y"].to_numpy(np.float64) - joined["yhat"].to_numpy(np.float64)
        return np.asarray(res / scale, dtype=np.float64)


def scaled_errors(joined: pd.DataFrame, scales: Mapping[str, float]) -> NDArray[np.float64]:
    """Each joined point's absolute error divided by its series' MASE scale."""
    return np.abs(scaled_residuals(joined, scales))


def residual_drift(
    recent: pd.DataFrame, earlier: pd.DataFrame, scales: Mapping[str, float]
) -> dict[str, Any] | None:
    """Label-free health of the recent past: the scaled residuals of ``recent`` against
    those of ``earlier`` (the same version's, before them): their bias (mean residual,
    in series scales) and a two-sample comparison (:func:`modelphase.drift.compare`:
    KS, effect size in ``earlier``'s sds). A forecaster whose residuals moved is
    missing something its errors may not show yet. None with too few of either."""
    new, old = scaled_residuals(recent, scales), scaled_residuals(earlier, scales)
    new, old = new[np.isfinite(new)], old[np.isfinite(old)]
    if min(len(new), len(old)) < MIN_RESIDUALS:
        return None
    found = compare(old, new, column="residual")
    return {
        "bias": float(new.mean()),
        "reference_bias": float(old.mean()),
        "effect_size": found.effect_size,
        "p_value": found.p_value,
        "drifted": found.drifted,
        "points": len(new),
        "reference_points": len(old),
    }


def series_mase(joined: pd.DataFrame, scales: Mapping[str, float]) -> pd.Series:
    """Each series' MASE over ``joined`` (series without a finite error left out)."""
    err = scaled_errors(joined, scales)
    ok = np.isfinite(err)
    return pd.Series(err[ok]).groupby(joined["unique_id"].to_numpy()[ok]).mean()


def median_series_mase(joined: pd.DataFrame, scales: Mapping[str, float]) -> tuple[float, int]:
    """The median over series of each series' MASE in ``joined``, and how many series
    had a finite one: the retrain trigger's statistic. A model is degraded when most of
    its series are, not when one of them has an incident (which is the anomaly
    detector's business, and over before a retrained version could help). NaN, 0
    without data."""
    per = series_mase(joined, scales)
    if not len(per):
        return float("nan"), 0
    return float(per.median()), len(per)


def relative_to_typical(
    cand: pd.DataFrame, base: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two sides' scaled errors (``err``) on different requests, each divided by the
    baseline's mean error on its series and step ahead (``rel``): a candidate given more
    of the hard series, or of the far steps, does not look worse for it."""
    keys = ["unique_id", "step"]
    typical = base.groupby(keys)["err"].mean().rename("typical").reset_index()
    cand = cand.merge(typical, on=keys, how="inner")
    base = base.merge(typical, on=keys, how="inner")
    with np.errstate(divide="ignore", invalid="ignore"):
        cand["rel"] = cand["err"].to_numpy() / cand["typical"].to_numpy()
        base["rel"] = base["err"].to_numpy() / base["typical"].to_numpy()
    return cand, base


def mase_bounds(
    joined: pd.DataFrame,
    scales: Mapping[str, float],
    *,
    level: float = 90.0,
    draws: int = 500,
    seed: int = 0,
) -> tuple[float, float]:
    """A ``level`` percent interval of the MASE of ``joined``, by the bootstrap over
    requests (a request's steps ahead are resampled together, since their errors move
    together). A retrain trigger compares its lower end with the limit, so that a noisy
    window of a healthy model does not pass for a degraded one. NaN without data."""
    err = scaled_errors(joined, scales)
    ok = np.isfinite(err)
    if not ok.any():
        return float("nan"), float("nan")
    codes, _ = pd.factorize(joined["request_id"].to_numpy()[ok])
    sums = np.bincount(codes, weights=err[ok])
    counts = np.bincount(codes).astype(np.float64)
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(sums), size=(draws, len(sums)))
    values = sums[pick].sum(axis=1) / counts[pick].sum(axis=1)
    tail = (100.0 - level) / 2.0
    low, high = np.percentile(values, [tail, 100.0 - tail])
    return float(low), float(high)


def score_rows(decisions: pd.DataFrame) -> pd.DataFrame:
    """One row per logged score answer: ``request_id, time_us, model, version, alias,
    answered_by, points, flagged`` (the points scored and flagged in it)."""
    cols = ["request_id", "time_us", "model", "version", "alias", "answered_by"]
    out: dict[str, list[Any]] = {c: [] for c in [*cols, "points", "flagged"]}
    if len(decisions):
        decisions = decisions[decisions["endpoint"] == "score"]
    for rec in decisions.itertuples(index=False):
        try:
            decided = orjson.loads(str(rec.decision)) if rec.decision else {}
            flags = decided.get("anomalies") if isinstance(decided, dict) else []
        except (orjson.JSONDecodeError, AttributeError):
            continue
        flags = flags if isinstance(flags, list) else []
        for c in cols:
            out[c].append(getattr(rec, c))
        out["points"].append(len(flags))
        out["flagged"].append(sum(1 for f in flags if f))
    return pd.DataFrame(out)


def alert_rates(
    scores: pd.DataFrame,
    *,
    by: Sequence[str] = ("model", "version", "alias"),
    incidents: Sequence[tuple[int, int]] | None = None,
) -> pd.DataFrame:
    """Per group: ``requests``, ``points``, ``flagged`` and ``flag_rate`` (flagged per
    scored point); with ``incidents`` (``(start_us, end_us)`` windows of labelled
    incidents), ``precision`` (the share of requests with a flag that fall in an
    incident) and ``recall`` (the share of incidents with a flagged request in them)."""
    keys = list(by)
    if not len(scores):
        return pd.DataFrame(columns=[*keys, "requests", "points", "flagged", "flag_rate"])
    work = scores.copy()
    work["t"] = _us(work["time_us"])
    grouped = work.groupby(keys, dropna=False, sort=True)
    out = grouped.agg(
        requests=("points", "size"), points=("points", "sum"), flagged=("flagged", "sum")
    ).reset_index()
    out["flag_rate"] = out["flagged"] / out["points"].where(out["points"] > 0)
    if incidents is not None:
        windows = [(int(a), int(b)) for a, b in incidents]
        precision, recall = [], []
        for _, part in grouped:
            alerted = part.loc[part["flagged"] > 0, "t"].to_numpy()
            inside = np.zeros(len(alerted), dtype=bool)
            hit = 0
            for a, b in windows:
                here = (alerted >= a) & (alerted <= b)
                inside |= here
                hit += bool(here.any())
            precision.append(float(inside.mean()) if len(alerted) else np.nan)
            recall.append(hit / len(windows) if windows else np.nan)
        out["precision"] = precision
        out["recall"] = recall
    return out


def _us(times: pd.Series) -> NDArray[np.int64]:
    """Request times as epoch microseconds: the log's UTC datetimes, or integers already."""
    if pd.api.types.is_numeric_dtype(times):
        return times.to_numpy(dtype=np.int64)
    return np.asarray(pd.to_datetime(times, utc=True).astype("int64") // 1000, dtype=np.int64)
