"""A global gradient-boosting forecaster: one LightGBM model learned across all series.

Per-series models see a few hundred points each; a global model learns the shapes that
series share (a daily cycle, a weekly dip, the way a ramp ends) from all of them at
once, so a short series borrows what the long ones know.

Each series is first put on a common scale: minus its recent level (the mean of its last
week), divided by its mean absolute seasonal difference (the scale MASE divides by).
Features come from :class:`modelphase.features.FeatureSet` on those scaled values: lags
(the last season, the same hour on each day of the last week, the hours next to it a
week ago, and two weeks ago), rolling means and spread, calendar fields. The target and
the value-like features are taken relative to a reference, the last value by default
(``reference="season"``: the value a season ago), so the trees learn how a series moves
from where it is, whatever its level. The loss is L1 by default (errors are judged in
absolute terms, and telemetry has outliers). Forecasts are recursive: each step's
prediction is appended to the history, and :meth:`FeatureSet.transform_next`, the code
that built the training rows, gives the next step's row.

On M4 Hourly (validation windows cut from the training part, 414 series) this model
alone has an OWA of about 0.43, against 0.58 for MSTL with daily and weekly seasons.

Intervals come from the model's one-step residuals on each series' last two seasons,
widening as the square root of the step up to the spread of the series' own seasonal
differences. They are sane, not calibrated: :class:`modelphase.forecast.AutoForecast`
recalibrates them on its backtest.

>>> import numpy as np
>>> from modelphase.frame import Panel
>>> hour = 3600 * 10**9
>>> t = np.arange(24 * 14)
>>> items = [(f"s{i}", t * hour, 10 * i + 5 + np.sin(2 * np.pi * t / 24)) for i in range(3)]
>>> model = GlobalLightGBM(n_estimators=30, num_threads=1).fit_panel(
...     Panel.from_series(items, step=hour))
>>> out = model.predict_panel(24, level=[80])
>>> sorted(out), sorted(out["s1"])
(['s0', 's1', 's2'], ['hi-80', 'lo-80', 'mean'])
>>> bool(np.abs(out["s1"]["mean"] - (15 + np.sin(2 * np.pi * t[:24] / 24))).max() < 0.3)
True
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from statistics import NormalDist
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from modelphase.exceptions import ValidationError
from modelphase.features import FeatureSet, Lag, RollingMax, RollingMean, RollingMin
from modelphase.forecast.catalog import default_season
from modelphase.frame import NS_PER_SECOND, Panel

__all__ = ["GlobalLightGBM"]

_DAY = 86_400 * NS_PER_SECOND
_HOUR = 3_600 * NS_PER_SECOND
_SERIES = "y"  # the id of the single series of fit(y)
_BATCH_ROWS = 1 << 18  # feature rows computed at a time
_OBJECTIVE = re.compile(r"[a-z][a-z0-9_]*")


class GlobalLightGBM:
    """One LightGBM regressor over the feature rows of every series; recursive forecasts.

    ``season_length`` (points per season; default: a day of points for sub-daily data,
    7 for daily, else 1) sets the default features: ``lags`` 1 .. season (past 24, every
    season/24 steps), every season
    back to a week, the week's neighbours (week - 1, week + 1) and two weeks;
    ``rolling`` ``{"rolling_mean": [season, week], "rolling_std": [season]}``;
    ``calendar`` hour of day and day of week for sub-daily data. ``objective`` is any
    LightGBM regression objective; ``reference`` is what the model learns the change
    from: the ``"last"`` value or the value a ``"season"`` ago. ``max_train_rows`` caps
    the training rows: the most recent rows of each series (at least a week of them),
    and a seeded sample of the series when there are too many. ``num_threads`` is
    LightGBM's (``None``: every core); one by default, since LightGBM's threads
    busy-wait and slow to a crawl when other processes share the cores; the forecasts
    do not depend on it.
    """

    is_global: ClassVar[bool] = True

    def __init__(
        self,
        season_length: int | None = None,
        lags: Sequence[int] | None = None,
        rolling: Mapping[str, Sequence[int]] | None = None,
        calendar: Sequence[str] | None = None,
        n_estimators: int = 150,
        learning_rate: float = 0.1,
        num_leaves: int = 255,
        min_child_samples: int = 20,
        objective: str = "l1",
        reference: str = "last",
        max_train_rows: int = 200_000,
        num_threads: int | None = 1,
        seed: int = 0,
        alias: str = "LightGBM",
    ) -> None:
        self.season_length = season_length
        self.lags = lags
        self.rolling = rolling
        self.calendar = calendar
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.objective = objective
        self.reference = reference
        self.max_train_rows = max_train_rows
        self.num_threads = num_threads
        self.seed = seed
        self.alias = alias

    def get_params(self) -> dict[str, Any]:
        return {
            "season_length": self.season_length,
            "lags": None if self.lags is None else [int(k) for k in self.lags],
            "rolling": None
            if self.rolling is None
            else {str(k): [int(w) for w in v] for k, v in self.rolling.items()},
            "calendar": None if self.calendar is None else [str(c) for c in self.calendar],
            "n_estimators": self.n_estimators,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples,
            "objective": self.objective,
            "reference": self.reference,
            "max_train_rows": self.max_train_rows,
            "num_threads": self.num_threads,
            "seed": self.seed,
            "alias": self.alias,
        }

    # -- per-series shape (statsforecast's) -------------------------------------------

    def fit(self, y: NDArray[np.float64], X: object = None) -> GlobalLightGBM:
        """Fit on one series (a panel of one; its times on a synthetic grid)."""
        y = np.asarray(y, dtype=np.float64)
        if y.ndim != 1:
            raise ValidationError(f"expected a 1-D series, got shape {y.shape}")
        step = _synthetic_step(self.season_length)
        ds = np.arange(len(y), dtype=np.int64) * step
        return self.fit_panel(Panel.from_series([(_SERIES, ds, y)], step=step))

    def predict(
        self, h: int, X: object = None, level: Sequence[float] | None = None
    ) -> dict[str, NDArray[np.float64]]:
        """The forecast of the series given to :meth:`fit`."""
        self._check_fitted()
        if self.ids_ != [_SERIES]:
            raise ValidationError(
                "this model was fitted on a panel: call predict_panel(h), not predict(h)"
            )
        return self.predict_panel(h, level or ())[_SERIES]

    # -- global shape ------------------------------------------------------------------

    def fit_panel(self, panel: Panel) -> GlobalLightGBM:
        """Learn one model over the feature rows of every series of ``panel``.

        The panel must be on its grid; gaps (NaN) are allowed, and rows whose target is
        missing are skipped. Forecasts start after each series' last observed value.
        """
        import lightgbm as lgb

        if panel.step is None:
            raise ValidationError(
                "expected a panel on its regular grid (step set), got one without a step",
                hint="put it on the grid with modelphase.frame.to_grid first",
            )
        self._check_params()
        step: int = panel.step
        season = self._season(step)
        features = self._feature_set(season, step)
        panel = _trim(panel)
        empty = [u for u, n in zip(panel.ids, panel.sizes(), strict=True) if n == 0]
        if empty or not panel.n_series:
            raise ValidationError(
                "expected every series to have values, some have none",
                unique_ids=empty,
                hint="drop the empty series",
            )
        center, scale = _levels(panel, season)
        z = Panel(panel.ids, panel.indptr, panel.ds, _normalise(panel, center, scale), panel.step)
        x, target, owner, recent = self._rows(z, features, season)
        if not len(target):
            raise ValidationError(
                "expected at least one observed point to learn from, got none",
                hint="give longer series",
            )
        params = {
            "objective": self.objective,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples,
            "min_child_weight": 1e-3,
            "seed": self.seed,
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": self.num_threads or 0,
            "verbosity": -1,
        }
        data = lgb.Dataset(x, target, params={"max_bin": 255, "verbosity": -1})
        booster = lgb.train(params, data, num_boost_round=self.n_estimators)
        fitted = np.asarray(booster.predict(x[recent], num_threads=self.num_threads or 0))
        self.season_ = season
        self.features_ = features
        self.step_ = step
        self.ids_ = list(panel.ids)
        self.center_ = center
        self.scale_ = scale
        self.booster_ = booster
        self.sigma_, self.spread_ = _spreads(target[recent] - fitted, owner[recent], z, season)
        self.tail_, self.last_ds_ = _tails(z, features.max_lookback)
        return self

    def predict_panel(
        self, h: int, level: Sequence[float] = ()
    ) -> dict[str, dict[str, NDArray[np.float64]]]:
        """unique_id -> ``{"mean", "lo-<level>", "hi-<level>", ...}`` for the next ``h`` steps."""
        self._check_fitted()
        self._check_horizon(h, level)
        return self._recurse(self.tail_, self.last_ds_, self.center_, self.scale_, h, level)

    def forward_panel(
        self, panel: Panel, h: int, level: Sequence[float] = ()
    ) -> dict[str, dict[str, NDArray[np.float64]]]:
        """Forecast the series of ``panel`` (same grid step) with the fitted trees,
        without refitting: each series is scaled and read from its own newest values.
        This is a backtest window with ``refit: false``, or serving on fresh data."""
        self._check_fitted()
        if panel.step != self.step_:
            raise ValidationError(
                f"expected a panel on the grid step the model was fitted on "
                f"({self.step_} ns), got {panel.step}",
                hint="put the data on the model's grid first",
            )
        self._check_horizon(h, level)
        panel = _trim(panel)
        empty = [u for u, n in zip(panel.ids, panel.sizes(), strict=True) if n == 0]
        if empty:
            raise ValidationError(
                "expected every series to have values, some have none", unique_ids=empty
            )
        center, scale = _levels(panel, self.season_)
        z = Panel(panel.ids, panel.indptr, panel.ds, _normalise(panel, center, scale), panel.step)
        tail, last_ds = _tails(z, self.features_.max_lookback)
        sigma, spread = self._spreads_for(panel.ids, z)
        return self._recurse(tail, last_ds, center, scale, h, level, sigma, spread, panel.ids)

    def _recurse(
        self,
        tail: NDArray[np.float64],
        last_ds: NDArray[np.int64],
        center: NDArray[np.float64],
        scale: NDArray[np.float64],
        h: int,
        level: Sequence[float],
        sigma: NDArray[np.float64] | None = None,
        spread_cap: NDArray[np.float64] | None = None,
        ids: Sequence[str] | None = None,
    ) -> dict[str, dict[str, NDArray[np.float64]]]:
        """The recursive forecast from scaled tails, back on each series' scale."""
        steps = self.features_.recursion(tail, last_ds, self.step_, h)
        ref_lag = self._ref_lag(self.season_)
        path = np.empty((len(tail), h))
        for k in range(h):
            x = steps.next_rows()
            ref = _relative(x, self.features_.features, ref_lag)
            change = np.asarray(self.booster_.predict(x, num_threads=self.num_threads or 0))
            path[:, k] = ref + change
            steps.push(path[:, k])
        mean = path * scale[:, None] + center[:, None]
        sigma = self.sigma_ if sigma is None else sigma
        spread_cap = self.spread_ if spread_cap is None else spread_cap
        spread = _widening(sigma, spread_cap, h) * scale[:, None]
        out: dict[str, dict[str, NDArray[np.float64]]] = {}
        for i, uid in enumerate(self.ids_ if ids is None else ids):
            series = {"mean": mean[i]}
            for lv in level:
                z = NormalDist().inv_cdf(0.5 + lv / 200)
                series[f"lo-{lv:g}"] = mean[i] - z * spread[i]
                series[f"hi-{lv:g}"] = mean[i] + z * spread[i]
            out[uid] = series
        return out

    # -- internals ---------------------------------------------------------------------

    def _spreads_for(
        self, ids: Sequence[str], z: Panel
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """One-step deviations (those fitted, the median for unseen series) and the
        seasonal-difference spreads of the scaled series ``z``."""
        known = dict(zip(self.ids_, self.sigma_, strict=True))
        median = float(np.median(self.sigma_)) if len(self.sigma_) else 0.0
        sigma = np.array([known.get(u, median) for u in ids], dtype=np.float64)
        spread = np.array(
            [
                _seasonal_spread(z.y[z.indptr[i] : z.indptr[i + 1]], self.season_, sigma[i])
                for i in range(z.n_series)
            ]
        )
        return sigma, spread

    def _rows(
        self, z: Panel, features: FeatureSet, season: int
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64], NDArray[np.bool_]]:
        """Training rows, their targets, their series' numbers, and whether each row is
        among the last two seasons of its series (those give the residual spread).

        The most recent ``max_train_rows / n_series`` rows of each series (at least a
        week of them), of a seeded sample of the series if that is still too many.
        """
        lookback = features.max_lookback
        n = z.n_series
        per = max(self.max_train_rows // n, 7 * season)
        chosen = np.arange(n)
        if n * per > self.max_train_rows:
            rng = np.random.default_rng(self.seed)
            size = min(n, max(1, self.max_train_rows // per))
            chosen = np.sort(rng.choice(n, size=size, replace=False))
        parts = []
        batch = max(1, _BATCH_ROWS // (per + lookback))
        for lo in range(0, len(chosen), batch):
            idx = chosen[lo : lo + batch]
            last = max(2 * season, 48)
            parts.append(_series_rows(z, idx, per, features, self._ref_lag(season), last))
        x = np.concatenate([p[0] for p in parts])
        target = np.concatenate([p[1] for p in parts])
        owner = np.concatenate([p[2] for p in parts])
        recent = np.concatenate([p[3] for p in parts])
        return x, target, owner, recent

    def _ref_lag(self, season: int) -> int:
        return season if self.reference == "season" else 1

    def _season(self, step: int) -> int:
        return default_season(step) if self.season_length is None else self.season_length

    def _feature_set(self, season: int, step: int) -> FeatureSet:
        week = 7 * season if step < _DAY else season
        # every step of the last season, or for long seasons (sub-hourly data) the
        # last 24 steps and then 24 evenly spaced ones: 300 lag columns at 5 minutes
        # cost 6x the time of 50 for no accuracy measured
        stride = max(1, season // 24)
        recent = {*range(1, min(season, 24) + 1), *range(stride, season + 1, stride)}
        default = {*recent, *range(season, week + 1, season)}
        default |= {week - 1, week + 1, 2 * week} - {0}
        lags = list(self.lags) if self.lags is not None else sorted(default)
        if self._ref_lag(season) not in lags:
            lags = sorted({*lags, self._ref_lag(season)})
        rolling = (
            dict(self.rolling)
            if self.rolling is not None
            else {"rolling_mean": sorted({season, week}), "rolling_std": [max(season, 2)]}
        )
        calendar = (
            list(self.calendar)
            if self.calendar is not None
            else (["hour_of_day", "day_of_week"] if step < _DAY else ["day_of_week"])
        )
        spec: dict[str, Any] = {"lags": lags, **rolling, "calendar": calendar}
        return FeatureSet.parse({k: v for k, v in spec.items() if v})

    def _check_params(self) -> None:
        s = self.season_length
        if s is not None and (isinstance(s, bool) or not isinstance(s, int) or s < 1):
            raise ValidationError(f"season_length: expected a positive integer, got {s!r}")
        for name in ("n_estimators", "num_leaves", "min_child_samples", "max_train_rows"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValidationError(f"{name}: expected a positive integer, got {value!r}")
        if self.reference not in ("last", "season"):
            raise ValidationError(f"reference: expected 'last' or 'season', got {self.reference!r}")
        rate = self.learning_rate
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not rate > 0:
            raise ValidationError(f"learning_rate: expected a number > 0, got {rate!r}")
        # these reach LightGBM as "key=value" text: a space in one would set other keys
        if not isinstance(self.objective, str) or not _OBJECTIVE.fullmatch(self.objective):
            raise ValidationError(
                f"objective: expected a LightGBM objective name such as l1, got "
                f"{self.objective!r:.60}"
            )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValidationError(f"seed: expected an integer, got {self.seed!r:.60}")
        threads = self.num_threads
        if threads is not None and (
            isinstance(threads, bool) or not isinstance(threads, int) or threads < 0
        ):
            raise ValidationError(f"num_threads: expected an integer >= 0, got {threads!r:.60}")

    @staticmethod
    def _check_horizon(h: int, level: Sequence[float]) -> None:
        if isinstance(h, bool) or not isinstance(h, int | np.integer) or h < 1:
            raise ValidationError(f"expected a horizon h >= 1, got {h!r}")
        for lv in level:
            if not 0 < lv < 100:
                raise ValidationError(f"expected levels between 0 and 100, got {lv}")

    def _check_fitted(self) -> None:
        if not hasattr(self, "booster_"):
            raise ValidationError(
                f"{type(self).__name__} is not fitted: call fit_panel(panel) or fit(y) first"
            )


def _series_rows(
    z: Panel, idx: NDArray[np.int64], per: int, features: FeatureSet, ref_lag: int, recent: int
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64], NDArray[np.bool_]]:
    """The last ``per`` rows of the series ``idx`` of ``z`` (see ``GlobalLightGBM._rows``).

    Each series is cut ``per`` + lookback points before its end, and the rows of the
    first lookback points after a cut are dropped (their history was cut off); so are
    rows with a missing target and each series' first row (no history at all).
    """
    lookback = features.max_lookback
    starts, ends = z.indptr[idx], z.indptr[idx + 1]
    first = np.maximum(starts, ends - per - lookback)
    sizes = ends - first
    positions = np.concatenate([np.arange(a, b) for a, b in zip(first, ends, strict=True)])
    part = Panel(
        [z.ids[i] for i in idx],
        np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
        z.ds[positions],
        z.y[positions],
        z.step,
    )
    x, _ = features.transform(part)
    target = part.y - _relative(x, features.features, ref_lag)
    since_cut = positions - np.repeat(first, sizes)
    cut_off = np.repeat(first > starts, sizes) & (since_cut < lookback)
    age = positions - np.repeat(starts, sizes)
    ok = np.isfinite(target) & ~cut_off & (age > 0)
    left = np.repeat(ends, sizes) - positions
    return x[ok], target[ok], np.repeat(idx, sizes)[ok], (left <= recent)[ok]


def _synthetic_step(season: int | None) -> int:
    """The grid step that makes ``season`` points a day (an hour otherwise)."""
    if season is not None and season > 0 and _DAY % season == 0:
        return _DAY // season
    return _HOUR


def _trim(panel: Panel) -> Panel:
    """Each series from its first to its last observed value."""
    finite = np.isfinite(panel.y)
    keep = np.zeros(panel.n_points, bool)
    for i in range(panel.n_series):
        a, b = int(panel.indptr[i]), int(panel.indptr[i + 1])
        idx = np.flatnonzero(finite[a:b])
        if len(idx):
            keep[a + idx[0] : a + idx[-1] + 1] = True
    if keep.all():
        return panel
    return panel.take(keep)


def _levels(panel: Panel, season: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per series: the recent level (mean of the last week of values) and the scale."""
    center = np.zeros(panel.n_series)
    scale = np.ones(panel.n_series)
    for i in range(panel.n_series):
        y = panel.y[panel.indptr[i] : panel.indptr[i + 1]]
        recent = y[-7 * season :]
        recent = recent[np.isfinite(recent)]
        center[i] = float(np.mean(recent)) if len(recent) else 0.0
        lag = season if len(y) > season else 1
        diffs = np.abs(y[lag:] - y[:-lag])
        diffs = diffs[np.isfinite(diffs)]
        s = float(np.mean(diffs)) if len(diffs) else 0.0
        if not s > 0:
            finite = y[np.isfinite(y)]
            s = float(np.mean(np.abs(finite - center[i]))) if len(finite) else 0.0
        if not s > 0:
            s = max(abs(center[i]), 1.0)
        scale[i] = s
    return center, scale


def _normalise(
    panel: Panel, center: NDArray[np.float64], scale: NDArray[np.float64]
) -> NDArray[np.float64]:
    sizes = panel.sizes()
    out: NDArray[np.float64] = (panel.y - np.repeat(center, sizes)) / np.repeat(scale, sizes)
    return out


def _relative(x: NDArray[np.float64], features: Sequence[Any], k: int = 1) -> NDArray[np.float64]:
    """Take the value-like columns relative to the row's reference, the value ``k``
    steps back (``lag_k``), in place; return the reference (0 where it is missing)."""
    ref_col = next((j for j, f in enumerate(features) if isinstance(f, Lag) and f.k == k), None)
    if ref_col is None:
        return np.zeros(len(x))
    ref = np.where(np.isfinite(x[:, ref_col]), x[:, ref_col], 0.0)
    for j, f in enumerate(features):
        if j != ref_col and isinstance(f, Lag | RollingMean | RollingMin | RollingMax):
            x[:, j] -= ref
    return ref


def _spreads(
    resid: NDArray[np.float64], owner: NDArray[np.int64], z: Panel, season: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per series (in scaled units): the one-step residual deviation, and the deviation
    of the seasonal differences (the cap of the widening)."""
    n = z.n_series
    count = np.bincount(owner, minlength=n)
    sq = np.bincount(owner, weights=resid * resid, minlength=n)
    sigma = np.sqrt(sq / np.maximum(count - 1, 1))
    enough = count >= 5  # too few residuals: the median series' deviation instead
    pooled = float(np.median(sigma[enough])) if enough.any() else float(np.std(resid))
    sigma = np.where(enough, sigma, pooled if np.isfinite(pooled) else 0.0)
    spread = np.array(
        [_seasonal_spread(z.y[z.indptr[i] : z.indptr[i + 1]], season, sigma[i]) for i in range(n)]
    )
    return sigma, spread


def _seasonal_spread(y: NDArray[np.float64], season: int, default: float) -> float:
    """The deviation of a scaled series' seasonal differences (``default`` if too few)."""
    lag = season if len(y) > season else 1
    d = y[lag:] - y[:-lag]
    d = d[np.isfinite(d)]
    return float(np.std(d, ddof=1)) if len(d) > 1 else default


def _widening(sigma: NDArray[np.float64], cap: NDArray[np.float64], h: int) -> NDArray[np.float64]:
    """Per series and step, the guessed deviation of the forecast error (scaled): the
    one-step residual deviation growing as sqrt(step), up to that of the seasonal
    differences."""
    grow = np.sqrt(np.arange(1, h + 1, dtype=np.float64))
    out: NDArray[np.float64] = np.minimum(sigma[:, None] * grow, np.maximum(cap, sigma)[:, None])
    return out


def _tails(z: Panel, lookback: int) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """The last ``lookback`` scaled values of each series (NaN-padded in front) and the
    time of each series' last value."""
    width = max(lookback, 1)
    tail = np.full((z.n_series, width), np.nan)
    last = np.zeros(z.n_series, np.int64)
    for i in range(z.n_series):
        y = z.y[z.indptr[i] : z.indptr[i + 1]][-width:]
        tail[i, width - len(y) :] = y
        last[i] = z.ds[z.indptr[i + 1] - 1]
    return tail, last
