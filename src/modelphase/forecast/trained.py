"""A trained forecaster: what a training run registers and batch forecasting loads.

It holds the run's decisions, not the training data: the candidate models (unfitted,
with their parameters), the model chosen for each series, the ensemble weights, the
conformal interval widths per lead step (in units of each series' scale), and the
forecast made at the end of training. So it answers in two ways:

- :meth:`TrainedForecaster.predict` returns the forecast made when it was trained (the
  "last good forecast"), for ``h`` up to the trained horizon;
- :meth:`TrainedForecaster.forecast` refits each series' chosen model on new data (the
  same choice, weights and calibration) and forecasts from its end.

Artifacts are pickles; the registry checks their content hash before they are loaded.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from modelphase.exceptions import ValidationError
from modelphase.forecast.panel import Fallback, PanelForecaster, alias_of
from modelphase.forecast.select import ENSEMBLE, WEIGHTED, period_scale, scale_period
from modelphase.frame import Panel, format_duration

__all__ = ["ARTIFACT_FORMAT", "TrainedForecaster", "combine"]

#: Bumped when the pickled layout changes; older artifacts are refused with a message.
ARTIFACT_FORMAT = 1


def combine(
    raw: pd.DataFrame,
    models: Sequence[str],
    chosen: Mapping[str, str],
    weights: Mapping[str, NDArray[np.float64]],
    widths: Mapping[float, NDArray[np.float64]],
    scales: Mapping[str, float],
    levels: Sequence[float],
    default: str,
) -> pd.DataFrame:
    """``unique_id, ds, yhat, yhat-lo-<l>, yhat-hi-<l>..., model`` from every model's
    forecast (``raw``: ``unique_id, ds, <model>...``, rows in lead order per series)."""
    raw = raw.sort_values(["unique_id", "ds"], kind="stable", ignore_index=True)
    uids = raw["unique_id"].astype(str).to_numpy()
    values = raw[list(models)].to_numpy(dtype=np.float64)
    pick = np.array([chosen.get(u, default) for u in uids], dtype=object)
    column = {m: i for i, m in enumerate(models)}
    yhat = np.empty(len(raw))
    for name in pd.unique(pick):
        rows = pick == name
        if name == ENSEMBLE:
            yhat[rows] = np.median(values[rows], axis=1)
        elif name == WEIGHTED:
            equal = np.full(len(models), 1.0 / len(models))
            w = np.stack([weights.get(u, equal) for u in uids[rows]])
            yhat[rows] = np.einsum("ij,ij->i", values[rows], w)
        else:
            yhat[rows] = values[rows, column[str(name)]]
    out = pd.DataFrame({"unique_id": raw["unique_id"], "ds": raw["ds"], "yhat": yhat})
    lead = raw.groupby("unique_id", sort=False).cumcount().to_numpy()
    scale = np.array([scales.get(u, 1.0) for u in uids])
    for lv in levels:
        table = widths[float(lv)]
        half = table[np.minimum(lead, len(table) - 1)] * scale
        out[f"yhat-lo-{lv:g}"] = yhat - half
        out[f"yhat-hi-{lv:g}"] = yhat + half
    out["model"] = pick
    return out


@dataclass
class TrainedForecaster:
    """The decisions of a training run, and the forecast it made."""

    name: str
    step: int
    horizon: int
    levels: list[float]
    models: list[Any]
    fallback: Any | None
    season: int
    chosen: dict[str, str]
    weights: dict[str, NDArray[np.float64]]
    widths: dict[float, NDArray[np.float64]]
    scales: dict[str, float]
    forecast_: pd.DataFrame
    dataset_id: str | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def aliases(self) -> list[str]:
        return [alias_of(m) for m in self.models]

    @property
    def default_choice(self) -> str:
        """For a series the run never saw: the choice made most often."""
        if not self.chosen:
            return self.aliases[0]
        values, counts = np.unique(list(self.chosen.values()), return_counts=True)
        return str(values[int(np.argmax(counts))])

    def predict(
        self,
        h: int | None = None,
        level: Sequence[float] | None = None,
        ids: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """The forecast made at the end of training: ``h`` steps (default: all)."""
        h = self._horizon(h)
        levels = self._levels(level)
        out = self.forecast_
        if ids is not None:
            unknown = sorted(set(ids) - set(self.chosen))
            if unknown:
                raise ValidationError(
                    f"{len(unknown)} series are not in the model ({', '.join(unknown[:3])}"
                    f"{'...' if len(unknown) > 3 else ''}); it knows {len(self.chosen)}",
                    unique_ids=unknown,
                    hint="forecast them from data with --input or --dataset",
                )
            out = out[out["unique_id"].isin(list(ids))]
        out = out[out.groupby("unique_id", sort=False).cumcount() < h]
        return self._columns(out, levels)

    def forecast(
        self,
        panel: Panel,
        h: int | None = None,
        level: Sequence[float] | None = None,
    ) -> tuple[pd.DataFrame, list[Fallback]]:
        """Refit each series' chosen model on ``panel`` (new data on the same step) and
        forecast ``h`` steps from its end, with the trained calibration."""
        h = self._horizon(h)
        levels = self._levels(level)
        if panel.step != self.step:
            raise ValidationError(
                f"expected data every {format_duration(self.step)} (the model's step), got "
                f"{format_duration(panel.step) if panel.step else 'data off a grid'}",
                hint=f"resample the data to {format_duration(self.step)}",
            )
        needed = self._needed_models(panel.ids)
        runner = PanelForecaster(needed, fallback=self.fallback, season_length=self.season)
        raw = runner.fit(panel).predict(h)
        present = [alias_of(m) for m in needed]
        for alias in self.aliases:  # models no series of this panel needs
            if alias not in present:
                raw[alias] = np.nan
        period = scale_period(self.step, self.season)
        scales = {
            uid: period_scale(
                panel.series(uid)[1], season=self.season, period=period, h=self.horizon
            )
            for uid in panel.ids
        }
        out = combine(
            raw,
            self.aliases,
            self.chosen,
            self.weights,
            self.widths,
            scales,
            levels,
            self.default_choice,
        )
        return self._columns(out, levels), runner.fallbacks_

    def to_bytes(self) -> bytes:
        return pickle.dumps((ARTIFACT_FORMAT, self), protocol=pickle.HIGHEST_PROTOCOL)

    @classmethod
    def from_bytes(cls, data: bytes) -> TrainedForecaster:
        """Load an artifact; its content hash must have been checked (the registry's
        ``load_artifact`` does) since unpickling runs code."""
        try:
            fmt, obj = pickle.loads(data)
        except Exception as exc:
            raise ValidationError(f"not a modelphase forecaster artifact: {exc}") from exc
        if fmt != ARTIFACT_FORMAT or not isinstance(obj, cls):
            raise ValidationError(
                f"expected a forecaster artifact of format {ARTIFACT_FORMAT}, got format "
                f"{fmt!r} ({type(obj).__name__})",
                hint="retrain the model with this version of modelphase",
            )
        return obj

    # ----------------------------------------------------------------- internals

    def _needed_models(self, ids: Sequence[str]) -> list[Any]:
        default = self.default_choice
        picks = {self.chosen.get(u, default) for u in ids}
        if picks & {ENSEMBLE, WEIGHTED}:
            return list(self.models)
        return [m for m in self.models if alias_of(m) in picks]

    def _horizon(self, h: int | None) -> int:
        if h is None:
            return self.horizon
        if not 1 <= h <= self.horizon:
            raise ValidationError(
                f"expected a horizon between 1 and {self.horizon} (what the model was "
                f"trained and calibrated for), got {h}",
                hint="ask for fewer steps, or retrain with a longer horizon in the spec",
            )
        return h

    def _levels(self, level: Sequence[float] | None) -> list[float]:
        if level is None:
            return list(self.levels)
        unknown = sorted(set(map(float, level)) - set(self.levels))
        if unknown:
            raise ValidationError(
                f"expected interval levels among {[f'{lv:g}' for lv in self.levels]} (those "
                f"calibrated in training), got {[f'{lv:g}' for lv in unknown]}",
                hint="add the level to the spec's levels and retrain",
            )
        return sorted(map(float, level))

    def _columns(self, out: pd.DataFrame, levels: Sequence[float]) -> pd.DataFrame:
        keep = ["unique_id", "ds", "yhat"]
        for lv in levels:
            keep += [f"yhat-lo-{lv:g}", f"yhat-hi-{lv:g}"]
        return out[[*keep, "model"]].reset_index(drop=True)
