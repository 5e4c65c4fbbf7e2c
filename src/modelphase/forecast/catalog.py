"""The models a spec may name, built from their parameters and the data's step.

A candidate in a spec is a model name and its parameters, e.g.
``{model: MSTL, params: {season_length: [1d, 7d]}}``. Seasons may be written as
durations (``1d``) or as a number of steps; a model that needs a season and gets none
uses the data's day (or a week for daily data). Unknown parameters are refused with
the list of the model's own.

>>> from modelphase.frame import parse_duration
>>> m = build_model("SeasonalNaive", {"season_length": "1h"}, step=parse_duration("5m"))
>>> type(m).__name__, m.season_length, m.alias
('SeasonalNaive', 12, 'SeasonalNaive')
>>> build_model("Prophet", {}, step=60 * 10**9)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
modelphase.exceptions.SpecError: unknown model 'Prophet'; expected one of AutoARIMA, ...
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from modelphase.exceptions import SpecError, ValidationError
from modelphase.forecast.naive import SeasonalNaive
from modelphase.frame import NS_PER_SECOND, format_duration, parse_duration

__all__ = [
    "MODEL_NAMES",
    "build_model",
    "default_season",
    "min_history",
    "model_seasons",
    "season_steps",
]

DAY = 86_400 * NS_PER_SECOND
WEEK = 7 * DAY


def default_season(step: int) -> int:
    """Points in a day for sub-daily data, 7 for daily data, else 1."""
    if step < DAY and DAY % step == 0:
        return DAY // step
    if step == DAY:
        return 7
    return 1


def season_steps(value: Any, step: int, *, what: str = "season_length") -> int:
    """A season as a number of steps, from an integer or a duration such as ``1d``."""
    if isinstance(value, bool):
        raise SpecError(f"{what}: expected steps or a duration, got {value!r}")
    if isinstance(value, int):
        steps = value
    elif isinstance(value, str):
        try:
            ns = parse_duration(value)
        except ValidationError:
            raise SpecError(
                f"{what}: expected a number of steps or a duration such as 1d, got {value!r}"
            ) from None
        if ns % step:
            raise SpecError(
                f"{what}: {value} is not a whole number of the data's {format_duration(step)} "
                "steps",
                errors=[f"{what}: {value} / {format_duration(step)} is not whole"],
            )
        steps = ns // step
    else:
        raise SpecError(f"{what}: expected steps or a duration, got {value!r}")
    if steps < 1:
        raise SpecError(f"{what}: expected at least 1 step, got {steps}")
    return steps


def _seasons(params: dict[str, Any], step: int, default: int, *, many: bool) -> Any:
    raw = params.pop("season_length", None)
    if raw is None:
        return default
    if many and isinstance(raw, list):
        if not raw:
            raise SpecError("season_length: expected at least one season")
        return [season_steps(v, step) for v in raw]
    return season_steps(raw, step)


def _statsforecast(name: str) -> Callable[..., Any]:
    from statsforecast import models as sf

    cls: Callable[..., Any] = getattr(sf, name)
    return cls


def _make(name: str, params: dict[str, Any], step: int) -> Any:
    season = default_season(step)
    if name == "SeasonalNaive":
        return SeasonalNaive(season_length=_seasons(params, step, season, many=False), **params)
    if name in ("Naive", "WindowAverage"):
        return _statsforecast(name)(**params)
    if name == "SeasonalWindowAverage":
        seasons = _seasons(params, step, season, many=False)
        window = params.pop("window_size", 3)
        return _statsforecast(name)(season_length=seasons, window_size=window, **params)
    if name == "MSTL":
        seasons = _seasons(params, step, season, many=True)
        return _statsforecast("MSTL")(season_length=seasons, **{"alias": "MSTL", **params})
    if name in ("AutoETS", "AutoARIMA"):
        # their seasonal fits get slow and unstable past a day of hourly points
        seasons = _seasons(params, step, min(season, 24), many=False)
        return _statsforecast(name)(season_length=seasons, **params)
    if name == "AutoTheta":
        return _statsforecast(name)(
            season_length=_seasons(params, step, season, many=False), **params
        )
    if name == "Seasonal":
        from modelphase.forecast.seasons import Seasonal, clock_seasons

        raw = params.pop("seasons", None)
        if raw is None:
            chosen = clock_seasons(step)
        elif isinstance(raw, list) and raw:
            chosen = [season_steps(v, step, what="seasons") for v in raw]
        else:
            raise SpecError(f"seasons: expected a list of durations such as [1d, 7d], got {raw!r}")
        return Seasonal(seasons=chosen, **params)
    if name == "LightGBM":
        from modelphase.forecast.gbm import GlobalLightGBM

        seasons = _seasons(params, step, season, many=False)
        return GlobalLightGBM(season_length=seasons, **params)
    raise AssertionError(name)


MODEL_NAMES: tuple[str, ...] = (
    "AutoARIMA",
    "AutoETS",
    "AutoTheta",
    "LightGBM",
    "MSTL",
    "Naive",
    "Seasonal",
    "SeasonalNaive",
    "SeasonalWindowAverage",
    "WindowAverage",
)


def build_model(name: str, params: Mapping[str, Any], *, step: int) -> Any:
    """The forecaster ``name`` with ``params``, for data sampled every ``step`` ns."""
    if name not in MODEL_NAMES:
        raise SpecError(
            f"unknown model {name!r}; expected one of {', '.join(MODEL_NAMES)}",
            errors=[f"unknown model {name!r}"],
        )
    given = dict(params)
    try:
        return _make(name, given, step)
    except TypeError as exc:
        accepted = _accepted(name)
        raise SpecError(
            f"{name}: bad parameters {sorted(params)} ({exc}); it accepts "
            f"{', '.join(accepted) or 'none'}",
            errors=[f"{name}: {exc}"],
        ) from None


def min_history(model: Any) -> int:
    """The fewest points a built model needs to fit: two seasons for MSTL, the window
    of seasons for SeasonalWindowAverage, one season for the other seasonal models."""
    seasons = model_seasons(model)
    if not seasons:
        return 2
    kind = type(model).__name__
    if kind == "MSTL":
        return 2 * max(seasons)
    if kind == "SeasonalWindowAverage":
        return max(seasons) * int(getattr(model, "window_size", 1))
    return max(seasons)


def model_seasons(model: Any) -> list[int]:
    """The seasons a built model uses (empty when it has none)."""
    season = getattr(model, "season_length", None)
    if isinstance(season, list | tuple):
        return [int(s) for s in season]
    if isinstance(season, int) and season > 1:
        return [season]
    return []


def _accepted(name: str) -> list[str]:
    if name == "SeasonalNaive":
        target: Any = SeasonalNaive
    elif name == "Seasonal":
        from modelphase.forecast.seasons import Seasonal

        target = Seasonal
    elif name == "LightGBM":
        from modelphase.forecast.gbm import GlobalLightGBM

        target = GlobalLightGBM
    else:
        target = _statsforecast(name)
    return [p for p in inspect.signature(target).parameters if p not in ("self", "args", "kwargs")]
