"""Many series, several models: fit, forecast and backtest a panel, with a fallback.

Every model has statsforecast's shape (``fit(y)``, ``predict(h, level=...)`` returning
``{"mean", "lo-80", "hi-80", ...}``), so statsforecast's own models and ours mix. A model
that fails on a series (or returns non-finite values) is replaced for that series by the
fallback model, and :attr:`PanelForecaster.fallbacks_` says which, and why.

Gaps (NaN) inside a series are filled by linear interpolation before fitting (the
models need complete series); leading and trailing gaps are cut.

A *global* model (one with ``is_global = True``, such as
:class:`modelphase.forecast.GlobalLightGBM`) is learned once over all the series instead:
``fit_panel(panel)`` on the raw panel (gaps and all), and ``predict_panel(h, level)``
gives every series' forecast. If it fails, or gives a non-finite forecast for a series,
the fallback answers for the series concerned (all of them when the fit failed), and
:attr:`PanelForecaster.fallbacks_` says so, as for per-series models.

>>> import numpy as np
>>> from modelphase.frame import Panel
>>> from modelphase.forecast import SeasonalNaive
>>> p = Panel.from_series([("a", np.arange(48) * 3600 * 10**9, np.tile(np.arange(24.0), 2))],
...                       step=3600 * 10**9)
>>> out = PanelForecaster([SeasonalNaive(24)]).fit(p).predict(3)
>>> out["SeasonalNaive"].tolist()
[0.0, 1.0, 2.0]
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from modelphase.backtest import Fold, split
from modelphase.backtest import folds as make_folds
from modelphase.exceptions import ValidationError
from modelphase.forecast.forward import FirstFits, level_arg
from modelphase.forecast.naive import SeasonalNaive
from modelphase.frame import Panel

__all__ = [
    "Fallback",
    "Forecaster",
    "PanelForecaster",
    "alias_of",
    "clean_series",
    "is_global",
]


class Forecaster(Protocol):
    """What a model must offer (statsforecast's shape)."""

    def fit(self, y: NDArray[np.float64], X: Any = None) -> Any: ...

    def predict(self, h: int, X: Any = None, level: Any = None) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Fallback:
    """A series on which a model failed and the fallback answered instead."""

    unique_id: str
    model: str
    reason: str


def alias_of(model: Any) -> str:
    """A model's name in output columns: its ``alias`` or its class name."""
    return str(getattr(model, "alias", None) or type(model).__name__)


def clean_series(y: NDArray[np.float64]) -> NDArray[np.float64]:
    """Cut leading and trailing gaps; fill inner gaps linearly."""
    finite = np.flatnonzero(np.isfinite(y))
    if not len(finite):
        return np.empty(0)
    y = y[finite[0] : finite[-1] + 1].astype(np.float64, copy=True)
    gaps = ~np.isfinite(y)
    if gaps.any():
        idx = np.arange(len(y))
        y[gaps] = np.interp(idx[gaps], idx[~gaps], y[~gaps])
    return y


class PanelForecaster:
    """Fit every model on every series of a panel; forecast and backtest them."""

    def __init__(
        self,
        models: Sequence[Any],
        *,
        fallback: Any | None = None,
        season_length: int = 1,
    ) -> None:
        self.models = list(models)
        self.fallback = fallback
        self.season_length = season_length

    def fit(self, panel: Panel) -> PanelForecaster:
        return self._fit(panel, None)

    def _fit(self, panel: Panel, first: FirstFits | None) -> PanelForecaster:
        """Fit, or with ``first`` (a backtest without refit), forecast forward with the
        fits it keeps and keep the new ones (:mod:`modelphase.forecast.forward`)."""
        if panel.step is None:
            raise ValidationError("expected a panel on its grid to forecast")
        aliases = [alias_of(m) for m in self.models]
        if len(set(aliases)) != len(aliases):
            raise ValidationError(f"expected distinct model aliases, got {aliases}")
        self.step_ = panel.step
        self.fitted_: dict[str, dict[str, Any]] = {}
        self.last_ds_: dict[str, int] = {}
        self.fallbacks_: list[Fallback] = []
        self._fallback_fits: dict[str, Any] = {}
        self._train = panel
        self._first = first
        for uid in panel.ids:
            if not np.isfinite(panel.series(uid)[1]).any():
                raise ValidationError(
                    f"series {uid} has no values (all missing)",
                    unique_ids=[uid],
                    hint="drop it from the input",
                )
        self._global_fits = {
            alias: self._fit_global(model, panel, alias)
            for model, alias in zip(self.models, aliases, strict=True)
            if is_global(model)
        }
        for uid in panel.ids:
            ds, raw = panel.series(uid)
            finite = np.flatnonzero(np.isfinite(raw))
            y = clean_series(raw)
            self.last_ds_[uid] = int(ds[finite[-1]])
            fits: dict[str, Any] = {}
            for model, alias in zip(self.models, aliases, strict=True):
                if alias in self._global_fits:
                    fits[alias] = self._global_fits[alias]
                else:
                    fits[alias] = self._fit_one(model, y, uid, alias)
            self.fitted_[uid] = fits
        return self

    def predict(self, h: int, level: Sequence[float] = ()) -> pd.DataFrame:
        """Forecasts ``unique_id, ds, <model>, <model>-lo-<level>, <model>-hi-<level>``."""
        if not hasattr(self, "fitted_"):
            raise ValidationError("PanelForecaster is not fitted: call fit(panel) first")
        if h < 1:
            raise ValidationError(f"expected a horizon h >= 1, got {h}")
        global_out = {
            alias: self._predict_global(fitted, alias, h, level)
            for alias, fitted in self._global_fits.items()
        }
        frames = []
        for uid, fits in self.fitted_.items():
            ds = self.last_ds_[uid] + self.step_ * np.arange(1, h + 1, dtype=np.int64)
            columns: dict[str, Any] = {
                "unique_id": uid,
                "ds": pd.DatetimeIndex(ds.view("datetime64[ns]"), tz="UTC"),
            }
            for alias, fitted in fits.items():
                if alias in global_out:
                    out = self._pick_global(global_out[alias], uid, alias, h, level)
                else:
                    out = self._predict_one(fitted, uid, alias, h, level)
                columns[alias] = out["mean"]
                for lv in level:
                    columns[f"{alias}-lo-{lv:g}"] = out[f"lo-{lv:g}"]
                    columns[f"{alias}-hi-{lv:g}"] = out[f"hi-{lv:g}"]
            frames.append(pd.DataFrame(columns))
        return pd.concat(frames, ignore_index=True)

    def cross_validation(
        self,
        panel: Panel,
        *,
        h: int,
        n_windows: int = 3,
        step: int | None = None,
        gap: int = 0,
        level: Sequence[float] = (),
        align: str = "time",
        folds: Sequence[Fold] | None = None,
        refit: bool = True,
    ) -> pd.DataFrame:
        """Rolling-origin backtest: forecasts with ``cutoff`` and the actual ``y``.

        ``align="time"`` cuts every series at the same times, counted back from the end
        of the data (:func:`modelphase.backtest.folds`): what a model trained at one
        moment would have seen. ``align="series"`` counts back from each series' own
        last value instead, so that series that end at different times (M4) all get
        their windows. Each window refits on the data up to its cutoff only (``refit``).
        ``folds`` gives the time windows explicitly (e.g. those of a whole panel, for a
        part of it).

        ``refit=False`` fits each model once, at the earliest cutoff, and forecasts each
        later window from the data up to its own cutoff with the parameters fitted then
        (``forward``, ``forward_panel``); models without ``forward`` have no parameters
        and are refitted, which is the same. A series first seen (or first fitted) in a
        later window is fitted there. Details: :mod:`modelphase.forecast.forward`.
        """
        if align == "series":
            windows = self._series_windows(panel, h=h, n_windows=n_windows, step=step)
            horizon = h
        elif align == "time":
            windows = []
            given = folds or make_folds(panel, h=h, n_windows=n_windows, step=step, gap=gap)
            for fold in given:
                train, test = split(panel, fold)
                actual = test.to_long()
                actual["cutoff"] = pd.Timestamp(fold.cutoff, tz="UTC")
                windows.append((train, actual))
            horizon = h + gap
        else:
            raise ValidationError(f"align: expected 'time' or 'series', got {align!r}")
        self.cv_fallbacks_: list[Fallback] = []
        first = None if refit else FirstFits()
        frames = []
        for train, actual in windows:
            if not train.ids:
                continue
            runner = PanelForecaster(
                self.models, fallback=self.fallback, season_length=self.season_length
            )
            forecast = runner._fit(train, first).predict(horizon, level=level)
            actual["unique_id"] = actual["unique_id"].astype(str)
            merged = forecast.merge(actual, on=["unique_id", "ds"], how="inner")
            merged.insert(2, "cutoff", merged.pop("cutoff"))
            frames.append(merged)
            self.cv_fallbacks_ += runner.fallbacks_
        if not frames:
            raise ValidationError("no series is long enough to backtest")
        return pd.concat(frames, ignore_index=True)

    def _series_windows(
        self, panel: Panel, *, h: int, n_windows: int, step: int | None
    ) -> list[tuple[Panel, pd.DataFrame]]:
        """Windows counted back from each series' own last value."""
        if panel.step is None:
            raise ValidationError("expected a panel on its grid to backtest")
        step = h if step is None else step
        windows = []
        for k in range(n_windows):
            back = (n_windows - 1 - k) * step + h
            items, tests = [], []
            for uid in panel.ids:
                ds, y = panel.series(uid)
                finite = np.flatnonzero(np.isfinite(y))
                if not len(finite) or finite[-1] + 1 - back < 2:
                    continue
                cut = finite[-1] + 1 - back
                items.append((uid, ds[:cut], y[:cut]))
                tests.append(
                    pd.DataFrame(
                        {
                            "unique_id": uid,
                            "ds": pd.DatetimeIndex(
                                ds[cut : cut + h].view("datetime64[ns]"), tz="UTC"
                            ),
                            "y": y[cut : cut + h],
                            "cutoff": pd.Timestamp(int(ds[cut - 1]), tz="UTC"),
                        }
                    )
                )
            if items:
                train = Panel.from_series(items, step=panel.step)
                windows.append((train, pd.concat(tests, ignore_index=True)))
        return windows

    # ----------------------------------------------------------------- internals

    def _fit_one(self, model: Any, y: NDArray[np.float64], uid: str, alias: str) -> Any:
        kept = self._first.forward_one(uid, alias, y) if self._first is not None else None
        if kept is not None:
            return kept
        fitted = copy.deepcopy(model)
        try:
            fitted.fit(y)
        except Exception as exc:
            self.fallbacks_.append(Fallback(uid, alias, _reason(exc)))
            return None
        if self._first is not None:
            self._first.keep_one(uid, alias, fitted)
        return fitted

    def _fit_global(self, model: Any, panel: Panel, alias: str) -> Any:
        kept = self._first.forward_panel(alias, panel) if self._first is not None else None
        if kept is not None:
            return kept
        fitted = copy.deepcopy(model)
        try:
            fitted.fit_panel(panel)
        except Exception as exc:
            reason = _reason(exc)
            self.fallbacks_ += [Fallback(uid, alias, reason) for uid in panel.ids]
            return None
        if self._first is not None:
            self._first.keep_panel(alias, fitted)
        return fitted

    def _predict_global(
        self, fitted: Any, alias: str, h: int, level: Sequence[float]
    ) -> dict[str, Any] | str | None:
        """Every series' forecast of a global model; the reason if it failed; None if
        its fit failed (already recorded)."""
        if fitted is None:
            return None
        try:
            return dict(fitted.predict_panel(h, level=level_arg(level)))
        except Exception as exc:
            return _reason(exc)

    def _pick_global(
        self,
        out: dict[str, Any] | str | None,
        uid: str,
        alias: str,
        h: int,
        level: Sequence[float],
    ) -> dict[str, NDArray[np.float64]]:
        """One series' share of a global forecast, or the fallback's."""
        if out is not None:
            reason = out if isinstance(out, str) else "no forecast for the series"
            if isinstance(out, dict) and uid in out:
                arrays = _checked(out[uid], h, level)
                if arrays is not None:
                    return arrays
                reason = "non-finite forecast"
            self.fallbacks_.append(Fallback(uid, alias, reason))
        return self._fallback_predict(uid, h, level)

    def _predict_one(
        self, fitted: Any, uid: str, alias: str, h: int, level: Sequence[float]
    ) -> dict[str, NDArray[np.float64]]:
        if fitted is not None:
            try:
                out = fitted.predict(h, level=level_arg(level)) if level else fitted.predict(h)
                arrays = {k: np.asarray(v, dtype=np.float64) for k, v in out.items()}
                if all(np.isfinite(a).all() and len(a) == h for a in arrays.values()):
                    return arrays
                reason = "non-finite forecast"
            except Exception as exc:
                reason = _reason(exc)
            self.fallbacks_.append(Fallback(uid, alias, reason))
        return self._fallback_predict(uid, h, level)

    def _fallback_predict(
        self, uid: str, h: int, level: Sequence[float]
    ) -> dict[str, NDArray[np.float64]]:
        if uid not in self._fallback_fits:
            self._fallback_fits[uid] = self._fit_fallback(uid)
        fitted = self._fallback_fits[uid]
        out = fitted.predict(h, level=level_arg(level)) if level else fitted.predict(h)
        return {k: np.asarray(v, dtype=np.float64) for k, v in out.items()}

    def _fit_fallback(self, uid: str) -> Any:
        """The fallback fitted on one series, the first time a model fails on it; on a
        series shorter than its season, the plain naive forecast."""
        y = clean_series(self._train.series(uid)[1])
        fitted = copy.deepcopy(self.fallback or SeasonalNaive(season_length=self.season_length))
        season = getattr(fitted, "season_length", 1)
        if isinstance(season, int) and len(y) < season:
            fitted = SeasonalNaive(season_length=1)
        return fitted.fit(y)


def is_global(model: Any) -> bool:
    """Whether a model is learned across series (``fit_panel`` / ``predict_panel``)."""
    return bool(getattr(model, "is_global", False))


def _checked(out: Any, h: int, level: Sequence[float]) -> dict[str, NDArray[np.float64]] | None:
    """The forecast as float arrays, or None unless every wanted key has h finite values."""
    try:
        keys = ["mean", *(f"{side}-{lv:g}" for lv in level for side in ("lo", "hi"))]
        arrays = {k: np.asarray(out[k], dtype=np.float64) for k in keys}
    except (KeyError, TypeError, ValueError):
        return None
    if all(a.shape == (h,) and np.isfinite(a).all() for a in arrays.values()):
        return arrays
    return None


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:200]
