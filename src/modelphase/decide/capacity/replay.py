"""Predictive autoscaling replayed online: at each step, the replicas to ask for so that
the demand they will meet (after the start-up delay) stays within their capacity with
probability ``1 - risk`` (``modelphase capacity replay``).

At a decision time ``t`` only the demand before ``t`` is known, and replicas asked for
then serve from ``t + startup`` until the next decision takes effect, a step later. So
the policy asks for ``ceil(q / capacity)`` replicas, ``q`` an upper quantile ``1 - risk``
of the demand at ``t + startup``. Three sources of ``q`` (``quantile``):

- ``"naive"`` (the default): the last demand seen plus the online split-conformal
  ``1 - risk`` quantile of that rule's own errors ``y[j + ahead] - y[j - 1]`` over the
  last ``recent`` decisions whose demand is already seen (signed, so one-sided; the
  ``(n + 1)`` rank of split conformal, the largest error past the end). The errors are
  pooled in units of the demand's local step-to-step change (:func:`local_scale`) and
  the quantile is scaled back by the change at ``t``, so errors from a busy afternoon
  do not widen a quiet night's answer. The history before the replay seeds it; while it
  holds fewer than :func:`~modelphase.forecast.select.min_errors` errors (100 at risk
  0.01), ``q`` is the forecast's, below;
- ``"forecast"``: the upper end of the forecasting stack's central interval at level
  ``100 (1 - 2 risk)`` (:class:`~modelphase.forecast.AutoForecast`, refit every
  ``refit`` steps on the history up to then, forecasting through the next refit);
- ``"recent"``: the stack's point forecast plus the conformal quantile of its own
  errors, as for ``"naive"``.

Why the last value is the default: on the capacity traces
(``benchmarks/capacity_select.py``) the stack's point forecast three steps after the
last sample, read from a refit up to 15 steps old, was further from the demand than the
last value (mean absolute error 0.34 against 0.15 replicas on one trace, 0.46 against
0.32 on another), and its interval is calibrated on one backtest window (a handful of
errors per lead, read as Laplace), so it is wide and jumps from refit to refit. The
work is in two parts, so that variants of the decision share one set of forecasts:
:func:`forecast_ahead` (the stack's point and upper quantiles for every decision) and
:func:`decide` (the replicas). Two guards, as an SRE would set them:

- ``floor``: never fewer than the last observed demand needs
  (``ceil(y[t - 1] / capacity)``), so a surge the forecast missed does not shed capacity;
- scale-down stabilisation: the answer is the largest of the decisions over the last
  ``stabilise`` seconds (0, the default: none; the HPA's is 300), so one low forecast
  does not drop replicas the next minute needs again.

The defaults (:data:`DEFAULT_QUANTILE`, :data:`DEFAULT_REFIT`, :data:`DEFAULT_STABILISE`,
:data:`DEFAULT_FLOOR`) were chosen by leaving one capacity trace out, as the cheapest
setting whose under-provisioned share stayed within the risk on the other traces
(BENCHMARKS.md has the numbers). Before, they were the forecast's quantile, refit
every 15 steps, 300 s of stabilisation and the floor.

>>> import numpy as np
>>> from modelphase.forecast import SeasonalNaive
>>> step = 60 * 10**9
>>> ds = np.arange(180, dtype=np.int64) * step
>>> y = 10 + 5 * np.sin(np.arange(180) / 20)
>>> out = replay_series(ds, y, train_until=int(ds[119]), capacity=2.0, startup=2 * step,
...                     step=step, risk=0.05, models=[SeasonalNaive(1)])
>>> len(out), int(out.min()) >= 1
(60, True)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from modelphase.exceptions import ValidationError
from modelphase.frame import Panel

__all__ = [
    "DEFAULT_FLOOR",
    "DEFAULT_QUANTILE",
    "DEFAULT_RECENT",
    "DEFAULT_REFIT",
    "DEFAULT_STABILISE",
    "QUANTILES",
    "SCALE_FLOOR",
    "SCALE_STEPS",
    "Ahead",
    "decide",
    "forecast_ahead",
    "local_scale",
    "replay",
    "replay_series",
]

#: steps between refits of the forecaster (with ``"naive"``, only while too few errors)
DEFAULT_REFIT = 5
#: the scale-down stabilisation window, in seconds (0: none; the HPA's default is 300)
DEFAULT_STABILISE = 0
#: whether a decision asks for at least what the demand just seen needs
DEFAULT_FLOOR = True
#: where the upper quantile comes from (see the module's docstring)
DEFAULT_QUANTILE = "naive"
#: the quantile sources :func:`decide` knows
QUANTILES = ("forecast", "recent", "naive")
#: the policy's own errors the ``"recent"`` and ``"naive"`` quantiles read, at most
DEFAULT_RECENT = 240
#: the steps the errors' local scale is measured over, and its floor in replicas
SCALE_STEPS = 60
SCALE_FLOOR = 0.1
#: the history a refit reads at most, in steps
MAX_HISTORY = 7 * 1440
_MIN_HISTORY = 10


@dataclass(frozen=True)
class Ahead:
    """What the decisions read, one entry per decision step, oldest first: ``index``
    (grid positions; the first ``n_warmup`` are before the replay and only seed the
    ``"recent"`` quantile), ``point`` (the point forecast of the demand at
    ``index + ahead``) and ``upper`` (per risk, the interval's upper end there)."""

    index: NDArray[np.int64]
    n_warmup: int
    ahead: int
    point: NDArray[np.float64]
    upper: Mapping[float, NDArray[np.float64]]


def _check(capacity: float, startup: int, step: int, risk: float) -> None:
    if not (math.isfinite(capacity) and capacity > 0):
        raise ValidationError(
            f"expected a capacity > 0 (the demand one replica holds), got {capacity:g}",
            hint="pass e.g. --capacity 50 for 50 requests/s per replica",
        )
    _check_timing(startup, step)
    _check_risk(risk)


def _check_timing(startup: int, step: int) -> None:
    if step <= 0 or startup < 0 or startup % step:
        raise ValidationError(
            f"expected a start-up delay of whole steps (>= 0), got {startup / 1e9:g} s at a "
            f"step of {step / 1e9:g} s",
            hint="pass --startup as a multiple of --freq, e.g. 2m at 1m",
        )


def _check_risk(risk: float) -> None:
    if not 0 < risk < 0.5:
        raise ValidationError(
            f"expected a risk between 0 and 0.5 (the chance a step's demand exceeds the "
            f"replicas' capacity), got {risk:g}",
            hint="pass e.g. --risk 0.01",
        )


def _level(risk: float) -> float:
    return round(100 * (1 - 2 * risk), 6)


def forecast_ahead(
    ds: NDArray[np.int64],
    y: NDArray[np.float64],
    *,
    train_until: int,
    startup: int,
    step: int,
    risks: Sequence[float] = (0.01,),
    refit: int = DEFAULT_REFIT,
    warmup: int = 0,
    models: Sequence[Any] | None = None,
) -> Ahead:
    """The forecasts every decision after ``train_until`` (ns) reads, on a regular grid
    ``ds`` (NaN: no sample), and those of up to ``warmup`` steps before it. Refits start
    at the replay's first step and every ``refit`` steps from there (the warm-up's
    counted back from it), each fitted on the data before its start; a decision reads
    the latest refit started at or before it."""
    from modelphase.forecast import AutoForecast  # heavy to import

    _check_timing(startup, step)
    for risk in risks:
        _check_risk(risk)
    if not 1 <= refit <= MAX_HISTORY or not 0 <= warmup <= MAX_HISTORY:
        raise ValidationError(
            f"expected a refit interval in 1..{MAX_HISTORY} steps and a warm-up in "
            f"0..{MAX_HISTORY}, got {refit} and {warmup}",
            hint="pass e.g. --refit 15",
        )
    ahead = startup // step  # a decision at t serves the step starting at t + startup
    after = np.flatnonzero(ds > train_until)
    levels = sorted({_level(r) for r in risks})
    if not after.size:
        empty = np.zeros(0)
        return Ahead(np.zeros(0, dtype=np.int64), 0, ahead, empty, dict.fromkeys(risks, empty))
    first = int(after[0])
    if first < _MIN_HISTORY:
        raise ValidationError(
            f"expected at least {_MIN_HISTORY} steps before --train-until, got {first}",
            hint="move --train-until later",
        )
    back = min(math.ceil(warmup / refit), (first - _MIN_HISTORY) // refit)
    starts = list(range(first - back * refit, len(ds), refit))
    fits: list[tuple[int, NDArray[np.float64], dict[float, NDArray[np.float64]]]] = []
    for start in starts:
        lo = max(0, start - MAX_HISTORY)
        past_ds, past_y = ds[lo:start], y[lo:start]
        keep = np.isfinite(past_y)
        # the forecast starts after the last sample seen, which may be before ``start``
        origin = lo + int(np.flatnonzero(keep)[-1]) + 1 if keep.any() else start
        h = refit + ahead + (start - origin)
        panel = Panel.from_series([("demand", past_ds[keep], past_y[keep])], step=step)
        try:
            found = AutoForecast(models, n_windows=1, n_jobs=1).fit_predict(panel, h, level=levels)
            point = found["yhat"].to_numpy(dtype=np.float64)
            hi = {lv: found[f"yhat-hi-{lv:g}"].to_numpy(dtype=np.float64) for lv in levels}
        except ValidationError:  # too little history to backtest: the last value
            point = np.full(h, float(past_y[keep][-1]) if keep.any() else 0.0)
            hi = dict.fromkeys(levels, point)
        if not len(point):
            point, hi = np.zeros(1), dict.fromkeys(levels, np.zeros(1))
        fits.append((origin, point, hi))
    index = np.arange(max(starts[0], first - warmup), len(ds), dtype=np.int64)
    which = (index - starts[0]) // refit
    points = np.empty(len(index))
    uppers = {lv: np.empty(len(index)) for lv in levels}
    for n, (i, f) in enumerate(zip(index, which, strict=True)):
        origin, point, hi = fits[int(f)]
        k = min(int(i) + ahead - origin, len(point) - 1)  # the forecast's step for t + startup
        points[n] = point[k]
        for lv in levels:
            uppers[lv][n] = hi[lv][k]
    return Ahead(index, first - int(index[0]), ahead, points, {r: uppers[_level(r)] for r in risks})


def local_scale(y: NDArray[np.float64], capacity: float) -> NDArray[np.float64]:
    """Per grid position ``i``, the demand's mean absolute change from step to step over
    the ``SCALE_STEPS`` steps before ``i`` (seen by then), at least ``SCALE_FLOOR``
    replicas' worth of demand (a change far below one replica's capacity moves no
    decision, and a flat stretch must not make the ratio of errors to it blow up); NaN
    with fewer than ``_MIN_HISTORY`` changes seen (such errors are not pooled)."""
    change = pd.Series(np.abs(np.diff(y, prepend=np.nan)))
    mean = change.rolling(SCALE_STEPS, min_periods=_MIN_HISTORY).mean().shift(1)
    return np.asarray(np.maximum(mean.to_numpy(dtype=np.float64), SCALE_FLOOR * capacity))


def _conformal_upper(
    y: NDArray[np.float64],
    index: NDArray[np.int64],
    point: NDArray[np.float64],
    *,
    ahead: int,
    first: int,
    risk: float,
    window: int,
    scale: NDArray[np.float64],
    fallback: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Per decision at or after ``first`` (``index`` sorted, with its ``point``
    forecasts), the point plus the conformal ``1 - risk`` quantile of the scaled signed
    errors of the last ``window`` decisions whose demand was seen before it, times its
    own scale; ``fallback`` (one per decision from ``first``) while there are fewer than
    ``min_errors``."""
    target = index + ahead
    seen = np.full(len(target), np.nan)
    inside = target < len(y)
    seen[inside] = y[target[inside]]
    errors = (seen - point) / scale[index]
    need = _need(risk, window)
    at = int(np.searchsorted(index, first))
    out = np.asarray(fallback, dtype=np.float64).copy()
    for n, i in enumerate(index[at:]):
        known = int(np.searchsorted(target, int(i) - 1, side="right"))  # targets before i
        past = errors[max(0, known - window) : known]
        past = past[np.isfinite(past)]
        if len(past) >= need and np.isfinite(point[at + n] * scale[int(i)]):
            rank = min(math.ceil((len(past) + 1) * (1 - risk)) - 1, len(past) - 1)
            q = float(np.partition(past, rank)[rank])
            out[n] = point[at + n] + q * scale[int(i)]
    return out


def _need(risk: float, window: int) -> int:
    """The fewest errors a conformal quantile at ``1 - risk`` is read from."""
    from modelphase.forecast.select import min_errors

    return min(min_errors(_level(risk)), window)


def _naive_errors(
    y: NDArray[np.float64], first: int, ahead: int, window: int, capacity: float
) -> int:
    """How many errors of the last value seen the decision at ``first`` can read."""
    last = pd.Series(y).ffill().shift(1).to_numpy(dtype=np.float64)
    index = np.arange(max(1, first - window - ahead), max(1, first - ahead))
    errors = (y[index + ahead] - last[index]) / local_scale(y, capacity)[index]
    return int(np.isfinite(errors).sum())


def decide(
    y: NDArray[np.float64],
    ahead: Ahead,
    *,
    capacity: float,
    step: int,
    risk: float = 0.01,
    stabilise: int = DEFAULT_STABILISE,
    floor: bool = DEFAULT_FLOOR,
    quantile: str = DEFAULT_QUANTILE,
    recent: int = DEFAULT_RECENT,
) -> NDArray[np.int64]:
    """The replicas asked for at every replay decision of ``ahead`` (made by
    :func:`forecast_ahead` on the same ``y`` with ``risk`` among its risks); the module's
    docstring has the rule."""
    _check(capacity, ahead.ahead * step, step, risk)
    if quantile not in QUANTILES:
        raise ValidationError(
            f"expected a quantile source among {', '.join(QUANTILES)}, got {quantile!r}",
            hint="pass quantile='forecast'",
        )
    if stabilise < 0 or not 20 <= recent <= MAX_HISTORY:
        raise ValidationError(
            f"expected a stabilisation of 0 s or more and recent errors in 20..{MAX_HISTORY}, "
            f"got {stabilise} s and {recent}",
            hint="pass e.g. stabilise=300",
        )
    if risk not in ahead.upper:
        raise ValidationError(
            f"expected forecasts made for risk {risk:g}, got them for "
            f"{', '.join(f'{r:g}' for r in ahead.upper)}",
            hint="pass the risk to forecast_ahead",
        )
    at = ahead.index[ahead.n_warmup :]
    if not len(at):
        return np.zeros(0, dtype=np.int64)
    first = int(at[0])
    upper = ahead.upper[risk][ahead.n_warmup :]
    # the last demand seen before each step (y carried forward, shifted by one step)
    last = pd.Series(y).ffill().shift(1).to_numpy(dtype=np.float64)
    if quantile != "forecast":
        scale = local_scale(y, capacity)
        if quantile == "recent":
            index, point = ahead.index, ahead.point
        else:  # the last value seen: its errors are known over the whole history
            index = np.arange(max(1, first - recent - ahead.ahead), len(y), dtype=np.int64)
            point = last[index]
        upper = _conformal_upper(
            y, index, point, ahead=ahead.ahead, first=first, risk=risk, window=recent,
            scale=scale, fallback=upper,
        )  # fmt: skip
    # no quantile at all (no forecast was needed, yet a gap left too few errors): the
    # demand just seen, so that the floor and the stabilisation still hold
    upper = np.where(np.isfinite(upper), upper, np.nan_to_num(last[at], nan=0.0))
    want = np.ceil(np.maximum(upper, 0.0) / capacity)
    asked = np.maximum(1.0, want)
    if floor:
        seen = last[at]
        need = np.where(np.isfinite(seen), np.ceil(seen / capacity), 1.0)
        asked = np.maximum(asked, need)
    window = max(1, stabilise * 10**9 // step)
    held = pd.Series(asked).rolling(window, min_periods=1).max().to_numpy()
    return held.astype(np.int64)


def replay_series(
    ds: NDArray[np.int64],
    y: NDArray[np.float64],
    *,
    train_until: int,
    capacity: float,
    startup: int,
    step: int,
    risk: float = 0.01,
    refit: int = DEFAULT_REFIT,
    stabilise: int = DEFAULT_STABILISE,
    models: Sequence[Any] | None = None,
    floor: bool = DEFAULT_FLOOR,
    quantile: str = DEFAULT_QUANTILE,
    recent: int = DEFAULT_RECENT,
) -> NDArray[np.int64]:
    """The replicas asked for at every grid time after ``train_until`` (ns) of one
    demand series on a regular grid ``ds`` (NaN: no sample), decided online:
    :func:`forecast_ahead`, then :func:`decide`."""
    _check(capacity, startup, step, risk)
    if quantile not in QUANTILES:
        raise ValidationError(
            f"expected a quantile source among {', '.join(QUANTILES)}, got {quantile!r}",
            hint="pass quantile='forecast'",
        )
    ahead = startup // step
    after = np.flatnonzero(ds > train_until)
    if (
        quantile == "naive"
        and after.size
        and int(after[0]) >= _MIN_HISTORY
        and _naive_errors(y, int(after[0]), ahead, recent, capacity) >= _need(risk, recent)
    ):
        # the last value's own errors suffice from the first decision: no forecast
        nothing = np.full(len(after), np.nan)
        found = Ahead(after.astype(np.int64), 0, ahead, nothing, {risk: nothing})
    else:
        found = forecast_ahead(
            ds, y, train_until=train_until, startup=startup, step=step, risks=[risk],
            refit=refit, warmup=recent if quantile == "recent" else 0, models=models,
        )  # fmt: skip
    return decide(
        y, found, capacity=capacity, step=step, risk=risk, stabilise=stabilise,
        floor=floor, quantile=quantile, recent=recent,
    )  # fmt: skip


def replay(
    panel: Panel,
    *,
    train_until: int,
    capacity: float,
    startup: int,
    risk: float = 0.01,
    refit: int = DEFAULT_REFIT,
    stabilise: int = DEFAULT_STABILISE,
    models: Sequence[Any] | None = None,
    floor: bool = DEFAULT_FLOOR,
    quantile: str = DEFAULT_QUANTILE,
    recent: int = DEFAULT_RECENT,
) -> pd.DataFrame:
    """``unique_id, ds, replicas`` for every series of ``panel`` (on its grid) and every
    step after ``train_until`` (ns since the epoch)."""
    if panel.step is None:
        raise ValidationError("expected demand on a regular grid, got a panel without a step")
    step = panel.step
    frames = []
    for uid in panel.ids:
        ds, y = panel.series(uid)
        grid = np.arange(int(ds.min()), int(ds.max()) + step, step, dtype=np.int64)
        full = np.full(len(grid), np.nan)
        full[(ds - grid[0]) // step] = y
        replicas = replay_series(
            grid, full, train_until=train_until, capacity=capacity, startup=startup,
            step=step, risk=risk, refit=refit, stabilise=stabilise, models=models,
            floor=floor, quantile=quantile, recent=recent,
        )  # fmt: skip
        times = grid[grid > train_until]
        frames.append(
            pd.DataFrame(
                {"unique_id": uid, "ds": pd.to_datetime(times, utc=True), "replicas": replicas}
            )
        )
    return (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=["unique_id", "ds", "replicas"])
    )
