"""The classes an artifact may name, and a model written as ``{"class", "params"}``.

A model is its class's name in :data:`FORECASTERS` (the forecast catalog's names) and
the keyword parameters of its ``__init__``, read from the attributes they are stored
in (the convention every model here follows), as JSON. Reading one looks the name up in
that table (a name outside it is refused; no module is imported by a name from the
data) and calls the class with the decoded parameters. A model may hold another only
where :data:`NESTED` says: MSTL's ``trend_forecaster`` (a forecaster) and
statsforecast's ``prediction_intervals`` (a ``ConformalIntervals``). A parameter whose
default is a shared object (MSTL's one ``AutoETS``, which its ``__init__`` changes) must
be given, so that reading an artifact never changes the models of another.

Values are JSON, with tagged objects for what JSON lacks: ``{"tuple": [...]}``,
``{"dict": {...}}``, ``{"float": "nan"}`` (or ``"inf"``, ``"-inf"``) and
``{"class", "params"}``; any other object is refused. Writing checks that the model
rebuilt from what was written has the same attributes as the model (nested models
included), so a model that keeps fitted state or does not store a parameter is refused
when it is written rather than rebuilt differently when it is read.

>>> from modelphase.forecast.naive import SeasonalNaive
>>> node = write_model(SeasonalNaive(season_length=24), "models.0")
>>> node
{'class': 'SeasonalNaive', 'params': {'season_length': 24, 'alias': 'SeasonalNaive'}}
>>> read_model(node, "models.0").season_length
24
>>> read_model({"class": "os.system", "params": {}}, "models.0")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
modelphase.exceptions.UnsafeArtifactError: models.0: expected a class from the allow-list ...
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

import numpy as np

from modelphase.exceptions import ArtifactFormatError, UnsafeArtifactError, ValidationError
from modelphase.forecast.gbm import GlobalLightGBM
from modelphase.forecast.manifest import FORECASTER_KIND, RETRAIN, Fields, shown
from modelphase.forecast.naive import SeasonalNaive
from modelphase.forecast.seasons import Seasonal

__all__ = ["ALLOWED_CLASSES", "FORECASTERS", "HELPERS", "NESTED", "read_model", "write_model"]

Table = Mapping[str, Callable[[], type]]


def _sf() -> ModuleType:
    from statsforecast import models

    return models


def _conformal() -> type:
    from statsforecast.utils import ConformalIntervals

    return ConformalIntervals


#: the forecasters an artifact may name: the forecast catalog's models, by their names
FORECASTERS: Table = {
    "AutoARIMA": lambda: _sf().AutoARIMA,
    "AutoETS": lambda: _sf().AutoETS,
    "AutoTheta": lambda: _sf().AutoTheta,
    "LightGBM": lambda: GlobalLightGBM,
    "MSTL": lambda: _sf().MSTL,
    "Naive": lambda: _sf().Naive,
    "Seasonal": lambda: Seasonal,
    "SeasonalNaive": lambda: SeasonalNaive,
    "SeasonalWindowAverage": lambda: _sf().SeasonalWindowAverage,
    "WindowAverage": lambda: _sf().WindowAverage,
}
#: what models nest besides forecasters
HELPERS: Table = {"ConformalIntervals": _conformal}
#: the parameters that may hold a model, and the classes it may be
NESTED: Mapping[str, Table] = {"trend_forecaster": FORECASTERS, "prediction_intervals": HELPERS}
#: every class name an artifact may use
ALLOWED_CLASSES: tuple[str, ...] = (*FORECASTERS, *HELPERS)


def write_model(model: Any, where: str, table: Table = FORECASTERS) -> dict[str, Any]:
    """``{"class": name, "params": {...}}`` of a model of ``table`` (refused otherwise)."""
    name = _name_of(model, table)
    if name is None:
        kind = type(model)
        raise ValidationError(
            f"{where}: expected a model of the allow-list ({', '.join(table)}), got "
            f"{kind.__module__}.{kind.__qualname__}",
            hint="use the models of the forecast catalog (modelphase.forecast.MODEL_NAMES)",
        )
    params = {}
    for param in _param_names(type(model)):
        if not hasattr(model, param):
            raise ValidationError(
                f"{where}: {name} does not keep its parameter {param!r} as an attribute, "
                "so it cannot be rebuilt from its parameters"
            )
        at = f"{where}.params.{param}"
        params[param] = _write_value(getattr(model, param), at, NESTED.get(param))
    node = {"class": name, "params": params}
    rebuilt = read_model(node, where, table)
    before, after = _state(model, where), _state(rebuilt, where)
    if before != after:
        differ = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        raise ValidationError(
            f"{where}: {name} rebuilt from its parameters differs in {', '.join(differ[:5])}; "
            "expected an unfitted model whose __init__ stores its parameters unchanged",
            hint="write the models as built (unfitted); forecast() refits them",
        )
    return node


def read_model(node: Any, where: str, table: Table = FORECASTERS) -> Any:
    """The model of a ``{"class", "params"}`` node, its class from ``table`` only."""
    fields = Fields(node, where)
    name = fields.get("class", "str")
    params = fields.get("params", "object")
    fields.done("class", "params")
    if name not in table:
        raise UnsafeArtifactError(
            f"{where}: expected a class from the allow-list ({', '.join(table)}), got "
            f"{shown(name)}; an artifact can name no other",
            kind=FORECASTER_KIND,
            hint=RETRAIN,
        )
    cls = table[name]()
    accepted = _param_names(cls)
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ArtifactFormatError(
            f"{where}: {name} has no parameter {', '.join(shown(k) for k in unknown[:3])}; "
            f"it takes {', '.join(accepted) or 'none'}",
            kind=FORECASTER_KIND,
            hint=RETRAIN,
        )
    shared = [k for k in accepted if k not in params and not _plain_default(cls, k)]
    if shared:  # statsforecast's MSTL would mutate its one default trend forecaster
        raise ArtifactFormatError(
            f"{where}: expected {name}'s parameter {shared[0]!r} to be given, since its "
            "default is an object shared by every instance",
            kind=FORECASTER_KIND,
            hint=RETRAIN,
        )
    kwargs = {
        key: _read_value(value, f"{where}.params.{key}", NESTED.get(key))
        for key, value in params.items()
    }
    try:
        return cls(**kwargs)
    except Exception as exc:  # the class's own checks of its parameters
        text = " ".join(str(exc).split())[:160]
        raise ArtifactFormatError(
            f"{where}: {name} refused its parameters ({type(exc).__name__}: {text})",
            kind=FORECASTER_KIND,
            hint=RETRAIN,
        ) from None


def _write_value(value: Any, where: str, nested: Table | None) -> Any:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        return number if math.isfinite(number) else {"float": repr(number)}
    if isinstance(value, list):
        return [_write_value(v, f"{where}.{i}", None) for i, v in enumerate(value)]
    if isinstance(value, tuple):
        return {"tuple": [_write_value(v, f"{where}.{i}", None) for i, v in enumerate(value)]}
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"dict": {k: _write_value(v, f"{where}.{k}", None) for k, v in value.items()}}
    if nested is not None and _name_of(value, nested) is not None:
        return write_model(value, where, nested)
    raise ValidationError(
        f"{where}: expected a parameter of plain data (None, bool, int, float, str, list, "
        f"tuple, dict with str keys{', a model' if nested else ''}), got {type(value).__name__}",
        hint="give the model plain parameters",
    )


def _read_value(node: Any, where: str, nested: Table | None) -> Any:
    if node is None or isinstance(node, bool | int | float | str):
        return node
    if isinstance(node, list):
        return [_read_value(v, f"{where}.{i}", None) for i, v in enumerate(node)]
    assert isinstance(node, dict), type(node)  # JSON has nothing else
    keys = sorted(node)
    if keys == ["tuple"] and isinstance(node["tuple"], list):
        return tuple(_read_value(v, f"{where}.{i}", None) for i, v in enumerate(node["tuple"]))
    if keys == ["dict"] and isinstance(node["dict"], dict):
        return {k: _read_value(v, f"{where}.{k}", None) for k, v in node["dict"].items()}
    if keys == ["float"] and node["float"] in ("nan", "inf", "-inf"):
        return float(node["float"])
    if keys == ["class", "params"]:
        if nested is None:
            raise UnsafeArtifactError(
                f"{where}: expected plain data, got a model; only {', '.join(NESTED)} may hold one",
                kind=FORECASTER_KIND,
                hint=RETRAIN,
            )
        return read_model(node, where, nested)
    raise ArtifactFormatError(
        f"{where}: expected a value or one of the objects {{tuple}}, {{dict}}, {{float}}, "
        f"{{class, params}}, got an object with keys {', '.join(shown(k) for k in keys[:4])}",
        kind=FORECASTER_KIND,
        hint=RETRAIN,
    )


def _state(model: Any, where: str) -> dict[str, Any]:
    """Every attribute of a model as data (nested models by class and state); an
    attribute that is not plain data makes the state unlike any other."""
    out: dict[str, Any] = {}
    for key, value in vars(model).items():
        name = _name_of(value, {**FORECASTERS, **HELPERS})
        if name is not None:
            out[key] = {"class": name, "state": _state(value, f"{where}.{key}")}
            continue
        try:
            out[key] = _write_value(value, f"{where}.{key}", None)
        except ValidationError:
            out[key] = ("not data", type(value).__qualname__, id(value))
    return out


def _name_of(model: Any, table: Table) -> str | None:
    """The name of ``model``'s exact class in ``table`` (a subclass is not its parent)."""
    kind = type(model)
    name = "LightGBM" if kind is GlobalLightGBM else kind.__name__
    if name in table and kind.__module__.split(".")[0] in ("modelphase", "statsforecast"):
        return name if table[name]() is kind else None
    return None


def _param_names(cls: type) -> tuple[str, ...]:
    """The keyword parameters of a class's ``__init__``."""
    if cls not in _PARAMS:
        kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        params = inspect.signature(cls).parameters.values()
        _PARAMS[cls] = tuple(p.name for p in params if p.kind in kinds)
    return _PARAMS[cls]


_PARAMS: dict[type, tuple[str, ...]] = {}


def _plain_default(cls: type, param: str) -> bool:
    """Whether a parameter has no default or an immutable one (None, a number...)."""
    default = inspect.signature(cls).parameters[param].default
    return default is inspect.Parameter.empty or isinstance(
        default, type(None) | bool | int | float | str
    )
