"""A trained forecaster: what a training run registers and batch forecasting loads.

It holds the run's decisions, not the training data: the candidate models (unfitted,
with their parameters), the model chosen for each series, the ensemble weights, the
conformal interval widths per lead step (in units of each series' scale), and the
forecast made at the end of training. So it answers in two ways:

- :meth:`TrainedForecaster.predict` returns the forecast made when it was trained (the
  "last good forecast"), for ``h`` up to the trained horizon;
- :meth:`TrainedForecaster.forecast` refits each series' chosen model on new data (the
  same choice, weights and calibration) and forecasts from its end.

:meth:`TrainedForecaster.to_bytes` writes a data-only artifact (format 2,
:mod:`modelphase.forecast.artifact`): the models as allow-listed class names and JSON
parameters (:mod:`modelphase.forecast.allowlist`), the numbers as ``.npy`` arrays.
:meth:`TrainedForecaster.from_bytes` reads nothing else: a pickle (format 1 was one) is
refused unread, since loading a pickle runs the code it names.

>>> import numpy as np, pandas as pd
>>> from modelphase.forecast.naive import SeasonalNaive
>>> ds = pd.date_range("2026-01-01", periods=2, freq="h", tz="UTC")
>>> frame = pd.DataFrame({"unique_id": ["a", "a"], "ds": ds, "yhat": [1.0, 2.0],
...                       "yhat-lo-80": [0.5, 1.5], "yhat-hi-80": [1.5, 2.5],
...                       "model": ["SeasonalNaive"] * 2})
>>> model = TrainedForecaster(
...     "demo", 3600 * 10**9, 2, [80.0], [SeasonalNaive(24)], None, 24, {"a": "SeasonalNaive"},
...     {}, {80.0: np.array([0.5, 0.5])}, {"a": 1.0}, frame)
>>> TrainedForecaster.from_bytes(model.to_bytes()).predict(1)["yhat"].tolist()
[1.0]
>>> TrainedForecaster.from_bytes(b"\\x80\\x05...")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
modelphase.exceptions.UnsafeArtifactError: expected a data-only ... got a pickle; ...
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from modelphase.exceptions import ArtifactFormatError, ValidationError
from modelphase.forecast.allowlist import read_model, write_model
from modelphase.forecast.artifact import Reader, Writer, read_frame, write_frame
from modelphase.forecast.manifest import (
    ARTIFACT_FORMAT,
    FORECASTER_KIND,
    RETRAIN,
    Fields,
    shown,
)
from modelphase.forecast.panel import Fallback, PanelForecaster, alias_of
from modelphase.forecast.select import ENSEMBLE, WEIGHTED, period_scale, scale_period
from modelphase.frame import Panel, format_duration

__all__ = ["ARTIFACT_FORMAT", "FLAVOR", "TrainedForecaster", "combine", "nonnegative_ids"]

#: the registry flavor of a :class:`TrainedForecaster` artifact
FLAVOR = "modelphase.forecast"

_FIELDS = (
    "kind", "name", "step", "horizon", "levels", "season", "dataset_id", "info", "models",
    "fallback", "chosen", "weights", "scales", "widths", "forecast", "format", "arrays",
)  # fmt: skip

#: what the manifest of a trained forecaster's artifact calls it
KIND = "TrainedForecaster"


def nonnegative_ids(panel: Panel) -> set[str]:
    """The series that never went below zero (counts, rates, bytes, utilisation): their
    forecasts and interval bounds are kept at or above zero."""
    out = set()
    for uid in panel.ids:
        y = panel.series(uid)[1]
        finite = y[np.isfinite(y)]
        if len(finite) and float(finite.min()) >= 0.0:
            out.add(uid)
    return out


def combine(
    raw: pd.DataFrame,
    models: Sequence[str],
    chosen: Mapping[str, str],
    weights: Mapping[str, NDArray[np.float64]],
    widths: Mapping[float, NDArray[np.float64]],
    scales: Mapping[str, float],
    levels: Sequence[float],
    default: str,
    floors: set[str] | frozenset[str] = frozenset(),
) -> pd.DataFrame:
    """``unique_id, ds, yhat, yhat-lo-<l>, yhat-hi-<l>..., model`` from every model's
    forecast (``raw``: ``unique_id, ds, <model>...``, rows in lead order per series);
    the series in ``floors`` are kept at or above zero."""
    raw = raw.sort_values(["unique_id", "ds"], kind="stable", ignore_index=True)
    # decisions are per series: look each up once, then broadcast to its rows
    codes, series = pd.factorize(raw["unique_id"].astype(str), sort=False)
    ids = [str(u) for u in series]
    values = raw[list(models)].to_numpy(dtype=np.float64)
    picks = np.array([chosen.get(u, default) for u in ids], dtype=object)
    pick = picks[codes]
    column = {m: i for i, m in enumerate(models)}
    yhat = np.empty(len(raw))
    for name in pd.unique(picks):
        rows = pick == name
        if name == ENSEMBLE:
            yhat[rows] = np.median(values[rows], axis=1)
        elif name == WEIGHTED:
            equal = np.full(len(models), 1.0 / len(models))
            per_series = np.stack([weights.get(u, equal) for u in ids])
            yhat[rows] = np.einsum("ij,ij->i", values[rows], per_series[codes[rows]])
        else:
            yhat[rows] = values[rows, column[str(name)]]
    floored = np.array([u in floors for u in ids], dtype=bool)[codes]
    yhat = np.where(floored, np.maximum(yhat, 0.0), yhat)
    out = pd.DataFrame({"unique_id": raw["unique_id"], "ds": raw["ds"], "yhat": yhat})
    lead = raw.groupby("unique_id", sort=False).cumcount().to_numpy()
    scale = np.array([scales.get(u, 1.0) for u in ids], dtype=np.float64)[codes]
    for lv in levels:
        table = widths[float(lv)]
        half = table[np.minimum(lead, len(table) - 1)] * scale
        out[f"yhat-lo-{lv:g}"] = np.where(floored, np.maximum(yhat - half, 0.0), yhat - half)
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
            nonnegative_ids(panel),
        )
        return self._columns(out, levels), runner.fallbacks_

    def to_bytes(self) -> bytes:
        """The data-only artifact (format 2): no code runs when it is read."""
        w = Writer()
        manifest = {
            "kind": KIND,
            "name": self.name,
            "step": int(self.step),
            "horizon": int(self.horizon),
            "levels": [float(lv) for lv in self.levels],
            "season": int(self.season),
            "dataset_id": self.dataset_id,
            "info": _plain(self.info, "info"),
            "models": [write_model(m, f"models.{i}") for i, m in enumerate(self.models)],
            "fallback": None if self.fallback is None else write_model(self.fallback, "fallback"),
            "chosen": {
                "keys": w.codes("chosen.keys", self.chosen),
                "values": w.codes("chosen.values", self.chosen.values()),
            },
            "weights": {
                "keys": w.codes("weights.keys", self.weights),
                "values": w.array("weights.values", _rows(self.weights, len(self.models)), "<f8"),
            },
            "scales": {
                "keys": w.codes("scales.keys", self.scales),
                "values": w.array("scales.values", list(self.scales.values()), "<f8"),
            },
            "widths": [
                {"level": float(lv), "values": w.array(f"widths.{i}", table, "<f8")}
                for i, (lv, table) in enumerate(self.widths.items())
            ],
            "forecast": write_frame(w, self.forecast_, "forecast"),
        }
        return w.pack(manifest)

    @classmethod
    def from_bytes(cls, data: bytes) -> TrainedForecaster:
        """Read a data-only artifact (format 2); refuse anything else before using it
        (a pickle is never unpickled), with an :class:`ArtifactFormatError` (an
        :class:`~modelphase.exceptions.UnsafeArtifactError` for a pickle or a class
        outside the allow-list)."""
        r = Reader.read(data)
        top = Fields(r.manifest, "manifest")
        if top.get("kind", "str") != KIND:
            raise _bad(f"manifest.kind: expected {KIND!r}, got {r.manifest['kind']!r:.40}")
        models = [read_model(m, f"models.{i}") for i, m in enumerate(top.get("models", "list"))]
        fallback = top.get("fallback", "any")
        levels = top.get("levels", "list")
        if not all(isinstance(lv, float) for lv in levels):
            raise _bad("manifest.levels: expected floats such as 80.0")
        info = top.get("info", "object")
        chosen = _mapping(r, top.get("chosen", "object"), "chosen", r.texts)
        weights = _mapping(
            r, top.get("weights", "object"), "weights", lambda n, at: r.array(n, "<f8", 2, at)
        )
        scales = _mapping(
            r, top.get("scales", "object"), "scales", lambda n, at: r.array(n, "<f8", 1, at)
        )
        widths: dict[float, NDArray[np.float64]] = {}
        for i, item in enumerate(top.get("widths", "list")):
            part = Fields(item, f"manifest.widths.{i}")
            level = float(part.get("level", "number"))
            widths[level] = r.array(part.get("values", "any"), "<f8", 1, f"widths.{i}")
            part.done("level", "values")
        model = cls(
            name=top.get("name", "str"),
            step=top.get("step", "int"),
            horizon=top.get("horizon", "int"),
            levels=levels,
            models=models,
            fallback=None if fallback is None else read_model(fallback, "fallback"),
            season=top.get("season", "int"),
            chosen=chosen,
            weights={k: np.asarray(v, dtype=np.float64) for k, v in weights.items()},
            widths=widths,
            scales={k: float(v) for k, v in scales.items()},
            forecast_=read_frame(r, top.get("forecast", "object"), "forecast"),
            dataset_id=top.get("dataset_id", "str?"),
            info=info,
        )
        top.done(*_FIELDS)
        model._check()
        return model

    # ----------------------------------------------------------------- internals

    def _check(self) -> None:
        """What predict and forecast rely on, checked once on reading."""
        aliases = self.aliases
        if not aliases or len(set(aliases)) != len(aliases):
            raise _bad(f"expected models with distinct aliases, got {shown(aliases)}")
        if self.step < 1 or self.horizon < 1 or self.season < 1:
            raise _bad("expected a step, a horizon and a season of at least 1")
        unknown = set(self.chosen.values()) - {*aliases, ENSEMBLE, WEIGHTED}
        if unknown:
            raise _bad(f"chosen: expected the models' aliases, got {shown(sorted(unknown))}")
        if any(len(w) != len(aliases) for w in self.weights.values()):
            raise _bad(f"weights: expected {len(aliases)} weights per series")
        missing = sorted(set(map(float, self.levels)) - set(self.widths))
        if missing or any(not len(t) for t in self.widths.values()):
            raise _bad(f"widths: expected a table of widths per level, {shown(missing)} lack one")
        expected = {"unique_id": "object", "ds": "datetime64[ns, UTC]", "yhat": "float64"}
        for lv in self.levels:
            expected |= {f"yhat-lo-{lv:g}": "float64", f"yhat-hi-{lv:g}": "float64"}
        expected["model"] = "object"
        got = {str(c): str(t) for c, t in self.forecast_.dtypes.items()}
        if got != expected:
            raise _bad(f"forecast: expected the columns {shown(expected)}, got {shown(got)}")

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


def _plain(info: dict[str, Any], where: str) -> dict[str, Any]:
    """``info`` if JSON keeps it as it is (str keys, lists, no NaN), else refuse it."""
    try:
        same = json.loads(json.dumps(info, allow_nan=False)) == info
    except (TypeError, ValueError):
        same = False
    if not same:
        raise ValidationError(f"{where}: expected plain JSON (str keys, lists), got {info!r:.80}")
    return info


def _rows(weights: Mapping[str, NDArray[np.float64]], width: int) -> NDArray[np.float64]:
    if not weights:
        return np.empty((0, width))
    rows = [np.asarray(w, dtype=np.float64) for w in weights.values()]
    if len({r.shape for r in rows}) != 1 or rows[0].ndim != 1:
        raise ValidationError("weights: expected one vector of the same length per series")
    return np.stack(rows)


def _mapping(
    reader: Reader, node: Any, where: str, values: Callable[[Any, str], Iterable[Any]]
) -> dict[str, Any]:
    """A mapping written as an array of key codes and an array (or list) of values."""
    part = Fields(node, f"manifest.{where}")
    keys = reader.texts(part.get("keys", "any"), f"{where}.keys")
    got = list(values(part.get("values", "any"), f"{where}.values"))
    part.done("keys", "values")
    if len(keys) != len(got) or len(set(keys)) != len(keys):
        raise _bad(f"{where}: expected one value for each of distinct keys")
    return dict(zip(keys, got, strict=True))


def _bad(message: str) -> ArtifactFormatError:
    return ArtifactFormatError(
        f"not a valid modelphase forecaster: {message}", kind=FORECASTER_KIND, hint=RETRAIN
    )
