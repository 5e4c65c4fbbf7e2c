"""One line for each model name a training report shows: what the model is.

Model names in a report are aliases (``SeasWA`` is statsforecast's alias of its
``SeasonalWindowAverage``), the engine's own names (``Ensemble``, ``WeightedEnsemble``,
``baseline``, ``selected``) or a spec's own aliases. :func:`glossary` explains each: from
the built model where the caller passes it (its class and the parameters that shape it,
so a spec's alias ``fast`` reads as the seasonal naive it is), else from the name
itself, else it says that the name is the spec's. The lines paraphrase statsforecast's
documentation of its models and this package's docstrings of its own.

>>> glossary(["SeasWA", "selected"])["SeasWA"].split(":")[0]
'seasonal window average (statsforecast SeasonalWindowAverage)'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = ["glossary"]

#: what each model class is, in one line
_CLASSES: Mapping[str, str] = {
    "SeasonalNaive": "seasonal naive: each step repeats the value one season earlier",
    "SeasonalWindowAverage": (
        "seasonal window average (statsforecast SeasonalWindowAverage): each step is the "
        "mean of the values at the same point of the last few seasons"
    ),
    "Naive": "naive (statsforecast Naive): every step repeats the last observed value",
    "WindowAverage": (
        "window average (statsforecast WindowAverage): the mean of the last few observations"
    ),
    "AutoARIMA": (
        "ARIMA (statsforecast AutoARIMA): autoregressive integrated moving average, its "
        "orders chosen automatically by information criterion"
    ),
    "AutoETS": (
        "exponential smoothing (statsforecast AutoETS): error, trend and season components "
        "chosen automatically by information criterion"
    ),
    "AutoTheta": (
        "Theta method (statsforecast AutoTheta): a drifting exponential smoothing of the "
        "seasonally adjusted series, the best Theta variant chosen automatically"
    ),
    "MSTL": (
        "MSTL (statsforecast): the series split into trend and one or more seasons by LOESS; "
        "the trend forecast by AutoETS, the seasons repeated"
    ),
    "LightGBM": (
        "global gradient boosting: one LightGBM model learned across all series from lags, "
        "rolling means and calendar features of each series on a common scale"
    ),
}

#: the engine's own names, and the default candidates' aliases
_NAMES: Mapping[str, str] = {
    "selected": (
        "the per-series choice: each series gets the candidate (or ensemble) with the "
        "lowest error on the earlier backtest windows, scored on the later ones"
    ),
    "baseline": (
        "seasonal naive with the data's default season (a day for sub-daily data): the "
        "reference MASE ratios and the gates compare against"
    ),
    "Ensemble": "median of the candidates' forecasts, step by step",
    "WeightedEnsemble": (
        "weighted mean of the candidates' forecasts, each weighted by the inverse of its "
        "MAE on the series' earlier backtest windows"
    ),
    "SeasWA": _CLASSES["SeasonalWindowAverage"],
    "Theta": _CLASSES["AutoTheta"],
    "SeasonalNaive_weekly": _CLASSES["SeasonalNaive"] + " (daily and weekly seasons)",
    "MSTL_weekly": _CLASSES["MSTL"] + " (daily and weekly seasons)",
}


def glossary(names: Iterable[str], models: Sequence[Any] = ()) -> dict[str, str]:
    """A line for each of ``names``, in their first order; ``models`` are the built
    candidates (anything with an ``alias`` or a class name), which explain their
    aliases better than a name can."""
    built = {_alias(m): m for m in models}
    out: dict[str, str] = {}
    for name in names:
        if name in out:
            continue
        model = built.get(name)
        if model is not None and name not in ("baseline", "selected"):
            out[name] = _describe(model)
        elif name in _NAMES:
            out[name] = _NAMES[name]
        elif name in _CLASSES:
            out[name] = _CLASSES[name]
        else:
            out[name] = "a candidate named in the spec (see the Spec section)"
    return out


def _alias(model: Any) -> str:
    return str(getattr(model, "alias", None) or type(model).__name__)


def _describe(model: Any) -> str:
    """The class's line and the parameters that shape the model (seasons, windows)."""
    kind = type(model).__name__
    inner = getattr(model, "model", None)
    if kind == "Seasonal" and isinstance(inner, str):
        seasons = getattr(model, "seasons", None)
        line = _CLASSES.get(inner, inner)
        return (
            f"{line}; seasons of {list(seasons or [])} points, each where a series' history has it"
        )
    line = _CLASSES.get(kind, f"{kind} model")
    shown = [
        f"{p} {getattr(model, p)}"
        for p in ("season_length", "window_size")
        if getattr(model, p, None) is not None
    ]
    return f"{line} ({', '.join(shown)} points)" if shown else line
