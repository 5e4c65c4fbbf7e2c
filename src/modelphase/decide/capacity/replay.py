"""Predictive autoscaling replayed online: at each step, the replicas to ask for so that
the demand they will meet (after the start-up delay) stays within their capacity with
probability ``1 - risk`` (``modelphase capacity replay``).

At a decision time ``t`` only the demand before ``t`` is known, and replicas asked for
then serve from ``t + startup`` until the next decision takes effect, a step later. So
the policy asks for ``ceil(q / capacity)`` replicas, ``q`` the forecast's upper
quantile ``1 - risk`` of the demand at ``t + startup``: the upper end of the
forecasting stack's central interval at level ``100 (1 - 2 risk)``
(:class:`~modelphase.forecast.AutoForecast`, refit every ``refit`` steps on the history
up to then, forecasting through the next refit). Two guards, as an SRE would set them:

- never fewer than the last observed demand needs (``ceil(y[t - 1] / capacity)``): a
  forecast that misses a surge already under way must not shed capacity;
- scale-down stabilisation: the answer is the largest of the decisions over the last
  ``stabilise`` (5 minutes, the HPA's default), so one low forecast does not drop
  replicas that the next minute needs again.

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
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from modelphase.exceptions import ValidationError
from modelphase.frame import Panel

__all__ = ["DEFAULT_REFIT", "DEFAULT_STABILISE", "replay", "replay_series"]

#: steps between refits of the forecaster
DEFAULT_REFIT = 15
#: the scale-down stabilisation window, in seconds (the HPA's default)
DEFAULT_STABILISE = 300
#: the history a refit reads at most, in steps
MAX_HISTORY = 7 * 1440
_MIN_HISTORY = 10


def _check(capacity: float, startup: int, step: int, risk: float) -> None:
    if not (math.isfinite(capacity) and capacity > 0):
        raise ValidationError(
            f"expected a capacity > 0 (the demand one replica holds), got {capacity:g}",
            hint="pass e.g. --capacity 50 for 50 requests/s per replica",
        )
    if step <= 0 or startup < 0 or startup % step:
        raise ValidationError(
            f"expected a start-up delay of whole steps (>= 0), got {startup / 1e9:g} s at a "
            f"step of {step / 1e9:g} s",
            hint="pass --startup as a multiple of --freq, e.g. 2m at 1m",
        )
    if not 0 < risk < 0.5:
        raise ValidationError(
            f"expected a risk between 0 and 0.5 (the chance a step's demand exceeds the "
            f"replicas' capacity), got {risk:g}",
            hint="pass e.g. --risk 0.01",
        )


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
) -> NDArray[np.int64]:
    """The replicas asked for at every grid time after ``train_until`` (ns) of one
    demand series on a regular grid ``ds`` (NaN: no sample), decided online."""
    from modelphase.forecast import AutoForecast  # heavy to import

    _check(capacity, startup, step, risk)
    ahead = startup // step  # a decision at t serves the step starting at t + startup
    after = np.flatnonzero(ds > train_until)
    if not after.size:
        return np.zeros(0, dtype=np.int64)
    if after[0] < _MIN_HISTORY:
        raise ValidationError(
            f"expected at least {_MIN_HISTORY} steps before --train-until, got {int(after[0])}",
            hint="move --train-until later",
        )
    level = round(100 * (1 - 2 * risk), 6)
    # each refit's upper quantiles, by the step it starts at; a decision at step i reads
    # the latest refit that starts at or before i (fitted on the data before it)
    fits: dict[int, tuple[int, NDArray[np.float64]]] = {}
    for start in range(int(after[0]), len(ds), refit):
        first = max(0, start - MAX_HISTORY)
        past_ds, past_y = ds[first:start], y[first:start]
        keep = np.isfinite(past_y)
        # the forecast starts after the last sample seen, which may be before ``start``
        origin = first + int(np.flatnonzero(keep)[-1]) + 1 if keep.any() else start
        h = refit + ahead + (start - origin)
        panel = Panel.from_series([("demand", past_ds[keep], past_y[keep])], step=step)
        try:
            found = AutoForecast(models, n_windows=1, n_jobs=1).fit_predict(panel, h, level=[level])
            hi = found[f"yhat-hi-{level:g}"].to_numpy(dtype=np.float64)
        except ValidationError:  # too little history to backtest: the last value
            hi = np.full(h, float(past_y[keep][-1]) if keep.any() else 0.0)
        fits[start] = (origin, hi if len(hi) else np.zeros(1))
    window = max(1, stabilise * 10**9 // step)
    asked: list[int] = []
    # the last demand seen before each step (y carried forward, shifted by one step)
    seen = pd.Series(y).ffill().shift(1).to_numpy(dtype=np.float64)
    for i in after:
        floor = math.ceil(float(seen[i]) / capacity) if np.isfinite(seen[i]) else 1
        start = int(after[0]) + (int(i) - int(after[0])) // refit * refit
        origin, hi = fits[start]
        k = min(int(i) + ahead - origin, len(hi) - 1)  # the forecast's step for t + startup
        want = math.ceil(max(float(hi[k]), 0.0) / capacity)
        asked.append(max(1, floor, want))
    raw = np.asarray(asked, dtype=np.int64)
    held = pd.Series(raw).rolling(window, min_periods=1).max().to_numpy()
    return held.astype(np.int64)


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
