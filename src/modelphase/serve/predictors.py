"""What a served model answers: forecasts of known series, forecasts from recent values,
anomaly scores of points. One adapter per registry flavor.

A forecaster registered by ``modelphase train`` (flavor ``modelphase.forecast``) answers
two kinds of request. By series ids it returns the forecast it made at the end of
training, indexed once at load time so that a request is a few array slices (the fast
path an autoscaler polls). From recent values it refits each series' chosen model on
them and forecasts from their end, with the intervals calibrated in training. A
detector (flavor ``modelphase.anomaly``: the parameters of an
:class:`~modelphase.anomaly.Alerter`) scores the points of a request with a fresh
detector, in order, each from the points before it, and holds each score to its
decider: a request carries the history it wants the verdict to rest on, so that every
replica gives the same answer.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from modelphase.anomaly import FLAVOR as SCORE_FLAVOR
from modelphase.anomaly import Alerter
from modelphase.anomaly.explain import explain
from modelphase.exceptions import ModelphaseError, SeriesNotFoundError, ValidationError
from modelphase.forecast.manifest import read_json
from modelphase.forecast.trained import FLAVOR as FORECAST_FLAVOR
from modelphase.forecast.trained import TrainedForecaster
from modelphase.frame import Panel
from modelphase.registry import ModelVersion
from modelphase.serve.resilience import finite_or_none

__all__ = [
    "FORECAST",
    "SCORE",
    "ForecastPredictor",
    "ScorePredictor",
    "SeriesForecast",
    "iso_times",
    "load",
]

#: explanations in one score answer at most (the latest episodes')
MAX_EXPLANATIONS = 100

FORECAST, SCORE = FORECAST_FLAVOR, SCORE_FLAVOR


@dataclass(frozen=True)
class SeriesForecast:
    """One series' forecast: times (ISO 8601), means and ``{level: (lo, hi)}``, kept as
    JSON-ready lists (null for a non-finite number) so that answering is slicing."""

    unique_id: str
    ds: list[str]
    mean: list[float | None]
    bands: dict[float, tuple[list[float | None], list[float | None]]]

    @classmethod
    def of(
        cls,
        unique_id: str,
        ds: list[str],
        mean: NDArray[np.float64],
        bands: dict[float, tuple[NDArray[np.float64], NDArray[np.float64]]],
    ) -> SeriesForecast:
        return cls(
            unique_id,
            ds,
            finite_or_none(mean),
            {lv: (finite_or_none(lo), finite_or_none(hi)) for lv, (lo, hi) in bands.items()},
        )

    def head(self, h: int, levels: Sequence[float]) -> dict[str, Any]:
        """The first ``h`` steps as JSON, with the bands of ``levels``."""
        return {
            "unique_id": self.unique_id,
            "ds": self.ds[:h],
            "mean": self.mean[:h],
            "intervals": {
                f"{lv:g}": {"lo": self.bands[lv][0][:h], "hi": self.bands[lv][1][:h]}
                for lv in levels
            },
        }


def iso_times(times: Any) -> list[str]:
    """ISO 8601 of times given as epoch nanoseconds or as datetimes."""
    return [t.isoformat() for t in pd.to_datetime(times, utc=True)]


class ForecastPredictor:
    """A trained forecaster, indexed for serving."""

    kind = "forecast"

    def __init__(self, model: TrainedForecaster) -> None:
        self.model = model
        self.step = model.step
        self.horizon = model.horizon
        self.levels = [float(lv) for lv in model.levels]
        self.season = model.season
        self.series = _index(model.forecast_, self.levels)

    def check(self, h: int, levels: Sequence[float] | None) -> list[float]:
        """The levels to answer (the trained ones by default); a bad ``h`` or level is
        a :class:`ValidationError` naming what the model supports."""
        if not 1 <= h <= self.horizon:
            raise ValidationError(
                f"expected a horizon between 1 and {self.horizon} (what the model was "
                f"trained and calibrated for), got {h}",
                hint="ask for fewer steps",
            )
        if levels is None:
            return list(self.levels)
        unknown = sorted({float(lv) for lv in levels} - set(self.levels))
        if unknown:
            raise ValidationError(
                f"expected interval levels among {[f'{lv:g}' for lv in self.levels]} (those "
                f"calibrated in training), got {[f'{lv:g}' for lv in unknown]}",
                hint="ask for a trained level, or none for all of them",
            )
        return sorted({float(lv) for lv in levels})

    def by_ids(self, ids: Sequence[str], h: int, levels: Sequence[float]) -> list[dict[str, Any]]:
        unknown = [u for u in ids if u not in self.series]
        if unknown:
            raise SeriesNotFoundError(
                f"{len(unknown)} series are not in the model ({', '.join(unknown[:3])}"
                f"{'...' if len(unknown) > 3 else ''}); it knows {len(self.series)}. Fix: "
                "send their recent values instead, or ask for a known series",
                unique_ids=unknown[:20],
            )
        return [self.series[u].head(h, levels) for u in ids]

    def from_values(
        self,
        values: Sequence[float | None],
        end_ns: int,
        h: int,
        levels: Sequence[float],
        unique_id: str,
    ) -> dict[str, Any]:
        """Refit the series' chosen model on ``values`` (the last at ``end_ns``) and
        forecast ``h`` steps from there."""
        y = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        ds = end_ns - self.step * np.arange(len(y) - 1, -1, -1, dtype=np.int64)
        panel = Panel.from_series([(unique_id, ds, y)], step=self.step)
        out, _ = self.model.forecast(panel, h, level=list(levels))
        return _one(out, unique_id, levels).head(h, levels)

    def default_season(self) -> int:
        return int(self.season)


def _one(frame: pd.DataFrame, uid: str, levels: Sequence[float]) -> SeriesForecast:
    return SeriesForecast.of(
        uid,
        iso_times(frame["ds"].to_numpy()),
        frame["yhat"].to_numpy(np.float64),
        {
            lv: (
                frame[f"yhat-lo-{lv:g}"].to_numpy(np.float64),
                frame[f"yhat-hi-{lv:g}"].to_numpy(np.float64),
            )
            for lv in levels
        },
    )


def _index(forecast: pd.DataFrame, levels: Sequence[float]) -> dict[str, SeriesForecast]:
    return {
        str(uid): _one(part, str(uid), levels)
        for uid, part in forecast.groupby("unique_id", sort=False)
    }


class ScorePredictor:
    """A registered alerting pipeline: its detector and decider."""

    kind = "score"

    def __init__(self, params: dict[str, Any]) -> None:
        self.alerter = Alerter(**params)
        self.params = self.alerter.get_params()
        self.detector_name = str(self.params["detector"]["name"])

    def score(
        self, values: Sequence[float | None], times_ns: Sequence[int] | None
    ) -> tuple[list[float | None], list[bool], float]:
        """Each point's score (from the points before it), whether the decider flags
        it, and the threshold."""
        detector, decider = self.alerter.pipeline()
        y = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        t = None if times_ns is None else np.asarray(times_ns, dtype=np.int64)
        scores = detector.score_many(y, t)
        flags: list[bool] = []
        threshold = math.nan
        for s in scores.tolist():
            d = decider.decide(s)
            decider.learn(s)
            flags.append(bool(d.is_anomaly) and not math.isnan(y[len(flags)]))
            threshold = d.threshold
        return finite_or_none(np.where(np.isnan(y), np.nan, scores)), flags, threshold

    def explain(
        self,
        values: Sequence[float | None],
        times_ns: Sequence[int] | None,
        scores: Sequence[float | None],
        flags: Sequence[bool],
    ) -> list[dict[str, Any]]:
        """One explanation per run of flagged points (an episode), the latest
        :data:`MAX_EXPLANATIONS`: its first and last index, and
        :func:`~modelphase.anomaly.explain.explain` of its highest-scored point against
        the points before it (expected value and range, deviation, the pattern that
        broke). None without timestamps (the baselines read the time of day); an episode
        that cannot be explained is left out, and its points count as unexplained."""
        if times_ns is None or not any(flags):
            return []
        y = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        t = np.asarray(times_ns, dtype=np.int64)
        s = np.array([np.nan if v is None else v for v in scores], dtype=np.float64)
        flagged = np.flatnonzero(np.asarray(flags, dtype=bool))
        breaks = np.flatnonzero(np.diff(flagged) > 1)
        runs = list(zip(flagged[np.r_[0, breaks + 1]], flagged[np.r_[breaks, -1]], strict=True))
        out = []
        for first, last in runs[-MAX_EXPLANATIONS:]:
            first, last = int(first), int(last)
            window = s[first : last + 1]
            peak = first + int(np.nanargmax(window)) if np.isfinite(window).any() else first
            try:
                said = explain(t[:first], y[:first], t[first : last + 1], y[first : last + 1],
                               peak=int(t[peak]))  # fmt: skip
            except Exception:  # unexplained points are counted; the answer stands
                continue
            out.append({"first": first, "last": last, **said.to_dict()})
        return out


Predictor = ForecastPredictor | ScorePredictor


def load(version: ModelVersion, artifact: bytes) -> Predictor:
    """The predictor of a registered version (its artifact verified by the registry).

    Neither kind of artifact can run code: a forecaster is read as data-only format 2
    (:meth:`TrainedForecaster.from_bytes` refuses a pickle unread), a detector is JSON
    whose detector and decider names are looked up in closed tables
    (:data:`modelphase.anomaly.DETECTORS`, :data:`~modelphase.anomaly.alerts.DECIDERS`).
    """
    if version.flavor == FORECAST:
        return ForecastPredictor(TrainedForecaster.from_bytes(artifact))
    if version.flavor == SCORE:
        where = f"{version.name} v{version.version}"
        params = read_json(
            artifact,
            what=f"{where} (detector parameters)",
            max_bytes=MAX_DETECTOR_BYTES,
            hint=_DETECTOR_HINT,
        )
        accepted = set(inspect.signature(Alerter).parameters)
        if not isinstance(params, dict) or not set(params) <= accepted:
            got = sorted(set(params) - accepted) if isinstance(params, dict) else params
            raise ValidationError(
                f"{where}: expected detector parameters, an object with keys among "
                f"{', '.join(sorted(accepted))}, got {str(got)[:80]}",
                hint=_DETECTOR_HINT,
            )
        try:
            return ScorePredictor(params)
        except ModelphaseError:
            raise
        except (TypeError, AttributeError, KeyError, ValueError) as exc:
            raise ValidationError(
                f"{where}: detector parameters that do not build an Alerter "
                f"({type(exc).__name__}: {' '.join(str(exc).split())[:120]})",
                hint=_DETECTOR_HINT,
            ) from None
    raise ValidationError(
        f"{version.name} v{version.version} is a {version.flavor!r} model; the server "
        f"serves {FORECAST!r} and {SCORE!r} models",
        hint="register it with `modelphase train`, or serve it elsewhere",
    )


#: detector parameters (JSON) longer than this are refused; the default is ~1 KiB
MAX_DETECTOR_BYTES = 1 << 20
_DETECTOR_HINT = "register the JSON of an Alerter's get_params()"
