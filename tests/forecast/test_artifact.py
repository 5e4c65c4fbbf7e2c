"""Data-only artifacts round-trip exactly: every catalog model (nested ones included)
from its class name and JSON parameters, and a trained forecaster of every catalog
model and both ensembles, whose ``predict()`` and ``forecast()`` answer the same after
``to_bytes`` / ``from_bytes``. Writing refuses what it could not rebuild exactly."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsforecast.models import MSTL, AutoARIMA, AutoETS, AutoTheta
from statsforecast.models import SeasonalNaive as StatsforecastSeasonalNaive
from statsforecast.utils import ConformalIntervals

from modelphase.exceptions import ValidationError
from modelphase.forecast import (
    ALLOWED_CLASSES,
    MODEL_NAMES,
    GlobalLightGBM,
    SeasonalNaive,
    artifact_kind,
    build_model,
)
from modelphase.forecast.allowlist import FORECASTERS, read_model, write_model
from modelphase.forecast.select import ENSEMBLE, WEIGHTED
from modelphase.forecast.trained import TrainedForecaster
from modelphase.frame import Panel
from modelphase.spec import parse_spec
from modelphase.train import train
from support.hostile import sample_forecaster
from test_train import make_panel

HOUR = 3600 * 10**9

#: every catalog model, most with parameters other than their defaults
SPEC = """
name: every-model
kind: forecast
target: {dataset: abc}
frequency: 1h
horizon: 6
candidates:
  - model: AutoARIMA
    params: {season_length: 1, max_p: 2, max_q: 2}
  - model: AutoETS
    params: {model: ZZN}
  - model: AutoTheta
    params: {decomposition_type: additive}
  - model: LightGBM
    params: {n_estimators: 10, num_leaves: 7, lags: [1, 2, 24], reference: season}
  - model: MSTL
    params: {season_length: [12h, 1d]}
  - model: Naive
  - model: Seasonal
    alias: Seasonal
    params: {model: SeasonalNaive, seasons: [12h, 1d], min_cycles: 3}
  - model: SeasonalNaive
  - model: SeasonalNaive
    alias: SN12
    params: {season_length: 12h}
  - model: SeasonalWindowAverage
    params: {season_length: 1d, window_size: 2}
  - model: WindowAverage
    params: {window_size: 6}
fallback: {model: SeasonalNaive, params: {season_length: 1d}}
backtest: {windows: 2, step: 6}
"""


def attrs(model: Any) -> Any:
    """A model's class and attributes, nested models included, for exact comparison."""
    if isinstance(model, list):
        return [attrs(m) for m in model]
    if hasattr(model, "__dict__") and type(model).__module__.startswith(
        ("modelphase", "statsforecast")
    ):
        return (type(model), {k: attrs(v) for k, v in vars(model).items()})
    return (type(model), model)


def same(a: Any, b: Any) -> bool:
    """Equal values of the same types (NaN equal to NaN)."""
    if isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b):
        return all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float) and np.isnan(a) and np.isnan(b):
        return True
    return type(a) is type(b) and bool(a == b)


def built(name: str) -> Any:
    """The catalog's model ``name`` with its defaults (a window for WindowAverage)."""
    return build_model(name, {"window_size": 3} if name == "WindowAverage" else {}, step=HOUR)


def round_trip(model: Any) -> Any:
    node = write_model(model, "models.0")
    return read_model(json.loads(json.dumps(node)), "models.0")


# ------------------------------------------------------------------ models


def test_the_allow_list_is_the_catalog_and_its_helpers() -> None:
    assert set(FORECASTERS) == set(MODEL_NAMES)
    assert set(ALLOWED_CLASSES) == {*MODEL_NAMES, "ConformalIntervals"}
    for name in MODEL_NAMES:  # the class each name stands for is the one the catalog builds
        assert type(built(name)) is FORECASTERS[name]()


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_catalog_model_round_trips_exactly(name: str) -> None:
    model = built(name)
    again = round_trip(model)
    assert type(again) is type(model)
    assert same(attrs(again), attrs(model))


@pytest.mark.parametrize(
    "model",
    [
        MSTL(season_length=[24, 168], trend_forecaster=AutoTheta(), stl_kwargs={"robust": True}),
        MSTL(  # an explicit trend: the default one is shared, and MSTL changes it
            season_length=24,
            trend_forecaster=AutoETS(model="ZZN"),
            prediction_intervals=ConformalIntervals(h=6, n_windows=3),
        ),
        AutoETS(model="AAN", damped=True, phi=0.9, prediction_intervals=ConformalIntervals()),
        AutoARIMA(season_length=24, d=1, test_kwargs={"alpha": 0.1}, blambda=float("nan")),
        GlobalLightGBM(lags=(1, 2, 24), rolling={"rolling_mean": [24]}, calendar=("hour_of_day",)),
        GlobalLightGBM(learning_rate=float("inf"), num_threads=None),
        SeasonalNaive(season_length=7, alias="weekly"),
    ],
    ids=lambda m: type(m).__name__,
)
def test_nested_models_tuples_and_odd_floats_round_trip(model: Any) -> None:
    again = round_trip(model)
    assert same(attrs(again), attrs(model))
    assert write_model(again, "m") == write_model(model, "m")


def test_a_model_is_written_as_its_class_name_and_params() -> None:
    node = write_model(MSTL(season_length=[24]), "models.0")
    assert node["class"] == "MSTL"
    trend = node["params"]["trend_forecaster"]
    assert trend == {"class": "AutoETS", "params": trend["params"]}
    assert trend["params"]["model"] == "ZZN"
    assert node["params"]["stl_kwargs"] == {"dict": {}}


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (SeasonalNaive(3).fit(np.arange(9.0)), "differs in last_season_, sigma_"),
        (StatsforecastSeasonalNaive(24), "statsforecast.models.SeasonalNaive"),
        (type("Mine", (SeasonalNaive,), {})(24), "expected a model of the allow-list"),
        (SeasonalNaive(season_length=lambda: 1), "got function"),  # type: ignore[arg-type]
        (MSTL(season_length=[24], trend_forecaster=StatsforecastSeasonalNaive(1)), "got"),
        (GlobalLightGBM(rolling={1: [2]}), "got dict"),  # type: ignore[dict-item]
    ],
    ids=["fitted", "not ours", "subclass", "callable param", "nested unknown", "int keys"],
)
def test_writing_refuses_what_it_could_not_rebuild_exactly(model: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=r"^models\.0") as err:
        write_model(model, "models.0")
    assert message in str(err.value)


# ------------------------------------------------------- a trained forecaster


@pytest.fixture(scope="module")
def trained() -> tuple[TrainedForecaster, Panel]:
    """A forecaster trained on every catalog model, and newer data to forecast from."""
    panel = make_panel(n=3, days=6, seed=4)
    run = train(parse_spec(SPEC), panel, n_jobs=1)
    later = make_panel(n=4, days=5, seed=5)  # one series the model never saw
    return run.model, later


def test_trained_models_carry_parameters_only(trained: tuple[TrainedForecaster, Panel]) -> None:
    model, _ = trained
    for built in [*model.models, model.fallback]:
        fresh = type(built)(**{k: getattr(built, k) for k in write_model(built, "m")["params"]})
        assert sorted(vars(built)) == sorted(vars(fresh))  # no fitted state (no ``x_``)
        assert not [k for k in vars(built) if k.endswith("_")]


def test_a_trained_forecaster_round_trips_field_by_field(
    trained: tuple[TrainedForecaster, Panel],
) -> None:
    model, _ = trained
    data = model.to_bytes()
    assert artifact_kind(data) == "modelphase forecaster, data-only format 2"
    back = TrainedForecaster.from_bytes(data)
    for field in dataclasses.fields(TrainedForecaster):
        a, b = getattr(model, field.name), getattr(back, field.name)
        if field.name == "forecast_":
            pd.testing.assert_frame_equal(a, b, check_exact=True)
        elif field.name in ("weights", "widths"):
            assert list(a) == list(b)
            assert all(type(k) is type(j) for k, j in zip(a, b, strict=True))
            for k in a:
                np.testing.assert_array_equal(a[k], b[k], strict=True)
        elif field.name in ("models", "fallback"):
            assert same(attrs(a), attrs(b))
        else:
            assert same(a, b), field.name
    assert back.to_bytes() == data  # canonical: the same bytes again


def test_predict_is_identical_after_a_round_trip(
    trained: tuple[TrainedForecaster, Panel],
) -> None:
    model, _ = trained
    back = TrainedForecaster.from_bytes(model.to_bytes())
    ids = sorted(model.chosen)[:2]
    for kwargs in ({}, {"h": 3}, {"level": [80]}, {"h": 1, "ids": ids}):
        pd.testing.assert_frame_equal(model.predict(**kwargs), back.predict(**kwargs))


@pytest.mark.parametrize("choice", [*MODEL_NAMES, "SN12", ENSEMBLE, WEIGHTED])
def test_forecast_is_identical_after_a_round_trip_for_every_model_and_ensemble(
    trained: tuple[TrainedForecaster, Panel], choice: str
) -> None:
    model, later = trained
    alias = {"LightGBM": "LightGBM", "SeasonalWindowAverage": "SeasWA"}.get(choice, choice)
    assert alias in {*model.aliases, ENSEMBLE, WEIGHTED}
    picked = dataclasses.replace(model, chosen=dict.fromkeys(model.chosen, alias))
    back = TrainedForecaster.from_bytes(picked.to_bytes())
    expected, fallbacks = picked.forecast(later, h=4, level=[80, 95])
    got, fallbacks_back = back.forecast(later, h=4, level=[80, 95])
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    assert fallbacks_back == fallbacks == []  # the model itself answered every series
    assert set(got["model"]) == {alias}
    assert np.isfinite(got["yhat"]).all()


@settings(max_examples=40, deadline=None)
@given(
    ids=st.lists(
        st.text(st.characters(exclude_categories=("Cs",)), max_size=30),
        min_size=2,
        max_size=2,
        unique=True,
    ),
    info=st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
        max_leaves=10,
    ),
)
def test_series_ids_and_info_round_trip(ids: list[str], info: Any) -> None:
    base = sample_forecaster()
    rename = dict(zip(["a", "b"], ids, strict=True))
    model = dataclasses.replace(
        base,
        chosen={rename[k]: v for k, v in base.chosen.items()},
        weights={rename[k]: v for k, v in base.weights.items()},
        scales={rename[k]: v for k, v in base.scales.items()},
        forecast_=base.forecast_.assign(unique_id=base.forecast_["unique_id"].map(rename)),
        info={"any": info},
    )
    back = TrainedForecaster.from_bytes(model.to_bytes())
    assert back.chosen == model.chosen
    assert back.info == model.info
    pd.testing.assert_frame_equal(back.predict(), model.predict())


def test_artifact_kind_names_every_kind_without_loading() -> None:
    data = sample_forecaster().to_bytes()
    assert artifact_kind(data) == "modelphase forecaster, data-only format 2"
    assert artifact_kind(data[:40]) == "modelphase forecaster, data-only format 2"
    assert artifact_kind(data[:26] + b"\x03\x00\x00\x00") == (
        "modelphase forecaster, format 3 (unsupported)"
    )
    assert artifact_kind(b'  {"detector": null}') == "JSON detector params"
    assert artifact_kind(b"PK\x03\x04rest") == "unknown"
    assert artifact_kind(b"") == "unknown"
