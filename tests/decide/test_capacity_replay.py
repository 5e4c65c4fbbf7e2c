"""``modelphase capacity replay``: the predictive policy replayed online, per the
command contract (``unique_id,ds,replicas`` for every step after --train-until)."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modelphase.decide.capacity import replay_series
from modelphase.decide.capacity.replay import QUANTILES, decide, forecast_ahead
from modelphase.exceptions import ValidationError
from modelphase.forecast import SeasonalNaive
from support.cli import RunCli

STEP = 60 * 10**9
T0 = 1_767_225_600 * 10**9


def demand(n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = 100 + 40 * np.sin(np.arange(n) * 2 * np.pi / 120) + rng.normal(0, 5, n)
    return T0 + np.arange(n, dtype=np.int64) * STEP, y


def run(ds: np.ndarray, y: np.ndarray, **options: object) -> np.ndarray:
    settings: dict[str, object] = {
        "train_until": int(ds[199]), "capacity": 20.0, "startup": 2 * STEP, "step": STEP,
        "risk": 0.05, "models": [SeasonalNaive(1)],
    }  # fmt: skip
    settings.update(options)
    return replay_series(ds, y, **settings)  # type: ignore[arg-type]


def test_a_decision_sees_only_the_past() -> None:
    ds, y = demand()
    base = run(ds, y)
    assert len(base) == 100
    changed = y.copy()
    changed[250:] *= 3  # a surge from step 250: decisions at steps <= 250 cannot know it
    after = run(ds, changed)
    np.testing.assert_array_equal(after[: 250 - 200 + 1], base[: 250 - 200 + 1])
    assert after[60:].sum() > base[60:].sum()


@pytest.mark.parametrize("k", [214, 215, 228, 229, 243])
def test_no_decision_reads_the_step_it_is_made_at(k: int) -> None:
    """Around the refits (every 15 steps from 200), a change at step k moves no
    decision up to k: each refit is read only from its own start on."""
    ds, y = demand()
    base = run(ds, y, models=None)
    changed = y.copy()
    changed[k:] += 500.0
    after = run(ds, changed, models=None)
    np.testing.assert_array_equal(after[: k - 200 + 1], base[: k - 200 + 1])


@pytest.mark.parametrize("k", [214, 215, 228, 229, 243])
def test_the_forecast_quantile_reads_each_refit_from_its_start_only(k: int) -> None:
    ds, y = demand()
    base = run(ds, y, quantile="forecast", refit=15)
    changed = y.copy()
    changed[k:] += 500.0
    after = run(ds, changed, quantile="forecast", refit=15)
    np.testing.assert_array_equal(after[: k - 200 + 1], base[: k - 200 + 1])
    assert after[k - 200 + 1 :].sum() > base[k - 200 + 1 :].sum()


def test_never_below_the_demand_just_seen_and_held_before_scaling_down() -> None:
    ds, y = demand()
    y[230:240] = 400.0  # ten minutes of a surge the forecast did not see
    found = run(ds, y, stabilise=300)
    for i in range(231, 241):  # the step after a surge minute asks for at least its need
        assert found[i - 200] >= math.ceil(400.0 / 20.0)
    # held for the 5-minute stabilisation after the surge ends (y[239] is its last minute)
    assert (found[240 - 200 : 245 - 200] >= 20).all()


def test_a_higher_risk_asks_for_less() -> None:
    ds, y = demand()
    careful = run(ds, y, risk=0.01, models=None)
    bold = run(ds, y, risk=0.2, models=None)
    assert careful.sum() >= bold.sum()
    assert (careful >= 1).all()


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        ({"capacity": 0.0}, "capacity > 0"),
        ({"capacity": -5.0}, "capacity > 0"),
        ({"startup": 90 * 10**9}, "whole steps"),
        ({"risk": 0.0}, "risk between 0 and 0.5"),
        ({"risk": 0.7}, "risk between 0 and 0.5"),
        ({"train_until": T0 + 3 * STEP}, "at least 10 steps"),
    ],
)
def test_bad_settings_are_clear_errors(options: dict[str, object], needle: str) -> None:
    ds, y = demand()
    with pytest.raises(ValidationError, match=needle):
        run(ds, y, **options)


def write_demand(path: Path, n: int = 260) -> None:
    ds, y = demand(n)
    stamps = pd.to_datetime(ds, utc=True).strftime("%Y-%m-%dT%H:%M:%SZ")
    pd.DataFrame({"unique_id": "api", "ds": stamps, "y": y}).to_csv(path, index=False)


def test_the_command_contract(cli: RunCli, tmp_path: Path) -> None:
    src, out = tmp_path / "demand.csv", tmp_path / "replicas.csv"
    write_demand(src)
    until = pd.Timestamp(T0 + 199 * STEP, unit="ns", tz="UTC").isoformat()
    found = cli(
        "capacity", "replay", "--input", str(src), "--freq", "1m", "--train-until", until,
        "--capacity", "20", "--startup", "2m", "--risk", "0.01", "--output", str(out),
    )  # fmt: skip
    assert found.code == 0, found.stderr
    table = pd.read_csv(out)
    assert list(table.columns) == ["unique_id", "ds", "replicas"]
    assert len(table) == 60
    assert (table["unique_id"] == "api").all()
    first = pd.Timestamp(table["ds"].iloc[0])
    assert first == pd.Timestamp(T0 + 200 * STEP, unit="ns", tz="UTC")
    assert (table["replicas"] >= 1).all()
    assert table["replicas"].dtype.kind == "i"


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--capacity", "0"], "capacity > 0"),
        (["--capacity", "20", "--startup", "90s"], "whole steps"),
        (["--capacity", "20", "--risk", "1"], "risk between 0 and 0.5"),
        (["--capacity", "20", "--train-until", "2030-01-01T00:00:00Z"], "inside the data"),
        (["--capacity", "20", "--freq", "5m"], "does not match the data"),
    ],
)
def test_bad_input_is_one_line(cli: RunCli, tmp_path: Path, extra: list[str], needle: str) -> None:
    src, out = tmp_path / "demand.csv", tmp_path / "replicas.csv"
    write_demand(src, 40)
    args = {"--freq": "1m", "--train-until": str(T0 // 10**9 + 20 * 60)}
    for flag, value in zip(extra[::2], extra[1::2], strict=True):
        args[flag] = value
    flat = [x for pair in args.items() for x in pair]
    found = cli("capacity", "replay", "--input", str(src), *flat, "--output", str(out))
    assert found.code == 1, found.stdout
    assert needle in found.stderr
    assert "Traceback" not in found.stderr
    assert not out.exists()


def test_forecasting_once_and_deciding_is_the_replay() -> None:
    ds, y = demand()
    shared = forecast_ahead(
        ds, y, train_until=int(ds[199]), startup=2 * STEP, step=STEP, risks=[0.01, 0.05],
        refit=15, warmup=40, models=[SeasonalNaive(1)],
    )  # fmt: skip
    assert shared.n_warmup == 40  # refits from 155, decisions from 160
    for risk, quantile in itertools.product((0.01, 0.05), QUANTILES):
        got = decide(y, shared, capacity=20.0, step=STEP, risk=risk, quantile=quantile, recent=40)
        want = run(ds, y, risk=risk, quantile=quantile, recent=40, refit=15)
        np.testing.assert_array_equal(got, want)


def test_without_floor_or_stabilisation_a_missed_surge_is_not_met() -> None:
    ds, y = demand()
    y[230:240] = 400.0  # the refit at 230 has not seen it
    forecast = {"quantile": "forecast", "refit": 15}  # the last value needs no floor
    bare = run(ds, y, floor=False, stabilise=0, **forecast)
    assert (bare[231 - 200 : 240 - 200] < 20).any()
    floored = run(ds, y, stabilise=0, **forecast)
    assert (floored[231 - 200 : 241 - 200] >= 20).all()
    assert (floored[241 - 200 : 245 - 200] < 20).any()  # not held: it drops at once


@pytest.mark.parametrize("quantile", ["recent", "naive"])
@pytest.mark.parametrize("k", [214, 229, 243])
def test_the_conformal_quantiles_see_only_the_past(quantile: str, k: int) -> None:
    ds, y = demand()
    base = run(ds, y, quantile=quantile, recent=20, refit=15)
    changed = y.copy()
    changed[k:] += 500.0
    after = run(ds, changed, quantile=quantile, recent=20, refit=15)
    np.testing.assert_array_equal(after[: k - 200 + 1], base[: k - 200 + 1])
    assert after[k - 200 + 3 :].sum() > base[k - 200 + 3 :].sum()


@pytest.mark.parametrize("quantile", ["recent", "naive"])
def test_the_conformal_quantile_keeps_the_risk_on_steady_noise(quantile: str) -> None:
    rng = np.random.default_rng(3)
    n = 1000
    ds = T0 + np.arange(n, dtype=np.int64) * STEP
    y = 100 + rng.normal(0, 5, n)
    risk = 0.1  # capacity 0.5: fine steps, so the rounding up barely adds headroom
    got = run(ds, y, train_until=int(ds[399]), capacity=0.5, risk=risk, floor=False,
              stabilise=0, quantile=quantile, refit=100)  # fmt: skip
    served = got[: len(got) - 2] * 0.5  # asked at t, serving t + 2
    short = float(np.mean(y[402:] > served))
    assert 0.05 < short < 0.16
    wide = run(ds, y, train_until=int(ds[399]), capacity=0.5, risk=0.01, floor=False,
               stabilise=0, quantile=quantile, refit=100)  # fmt: skip
    assert float(np.mean(y[402:] > wide[:-2] * 0.5)) < 0.03


def test_an_unknown_quantile_source_is_a_clear_error() -> None:
    ds, y = demand()
    with pytest.raises(ValidationError, match="quantile source among forecast, recent, naive"):
        run(ds, y, quantile="median")
