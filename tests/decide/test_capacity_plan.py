"""``modelphase capacity plan``: replicas per step at a stated risk, their cost and the
risk they take, from a forecast with intervals (pure planner and the CLI)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modelphase.decide.capacity import (
    breach_probability,
    forecast_demand,
    learn_capacity,
    plan_capacity,
    plan_levels,
)
from modelphase.exceptions import ValidationError
from modelphase.registry import open_registry
from support.cli import RunCli
from support.hostile import sample_forecaster

MIN = 60 * 10**9


def forecast(hi: list[float], yhat: list[float] | None = None, level: str = "98") -> pd.DataFrame:
    n = len(hi)
    mid = np.asarray(yhat if yhat is not None else [h * 0.8 for h in hi])
    return pd.DataFrame(
        {
            "unique_id": "api",
            "ds": pd.date_range("2026-01-01", periods=n, freq="1min", tz="UTC"),
            "yhat": mid,
            f"yhat-lo-{level}": mid - (np.asarray(hi) - mid),
            f"yhat-hi-{level}": hi,
        }
    )


def test_each_step_gets_the_replicas_its_upper_quantile_needs() -> None:
    plan = plan_capacity(forecast([95.0, 101.0, 130.0]), capacity=10, risk=0.01, step=MIN,
                         stabilise=0)  # fmt: skip
    assert plan.table["needed"].tolist() == [10, 11, 13]
    assert plan.table["replicas"].tolist() == [10, 11, 13]
    assert plan.level == 98
    # at exactly the planned quantile, the breach probability is the risk
    assert plan.table["breach_probability"].tolist() == pytest.approx([0.01] * 3, abs=0.005)
    assert plan.series[0].replica_hours == pytest.approx((10 + 11 + 13) / 60)


def test_scale_down_waits_for_the_stabilisation_window() -> None:
    hi = [200.0] + [50.0] * 9
    plan = plan_capacity(forecast(hi), capacity=10, risk=0.01, step=MIN, stabilise=5 * MIN)
    assert plan.table["replicas"].tolist() == [20] * 5 + [5] * 5
    none = plan_capacity(forecast(hi), capacity=10, risk=0.01, step=MIN, stabilise=0)
    assert none.table["replicas"].tolist() == [20] + [5] * 9


def test_steps_inside_the_start_up_delay_keep_the_current_replicas() -> None:
    plan = plan_capacity(forecast([300.0] * 5), capacity=10, risk=0.01, step=MIN,
                         startup=2 * MIN, stabilise=0, current={"api": 12})  # fmt: skip
    assert plan.table["replicas"].tolist() == [12, 12, 30, 30, 30]
    asks = plan.table["ds"] - plan.table["ask_at"]
    assert (asks == pd.Timedelta(minutes=2)).all()
    # 12 replicas hold 120 of a demand whose median is 240: the risk taken is high there
    assert plan.table["breach_probability"].iloc[0] > 0.9
    assert plan.series[0].max_step_risk > 0.9


def test_the_limit_caps_the_plan_and_says_when_it_is_crossed() -> None:
    hi = [50.0, 80.0, 120.0, 150.0]
    yhat = [40.0, 60.0, 95.0, 110.0]
    plan = plan_capacity(forecast(hi, yhat), capacity=10, risk=0.01, step=MIN, stabilise=0,
                         max_replicas=10)  # fmt: skip
    s = plan.series[0]
    assert plan.table["replicas"].tolist() == [5, 8, 10, 10]
    assert s.limit_crossed_at_risk == "2026-01-01T00:02:00Z"
    assert s.limit_crossed_expected == "2026-01-01T00:03:00Z"
    assert s.capped_steps == 2
    assert s.headroom == pytest.approx(1 - 150 / 100)
    assert any("caps the plan" in n for n in plan.notes)


def test_breach_probability_interpolates_between_known_quantiles() -> None:
    q = np.array([0.1, 0.5, 0.9, 0.99])
    v = np.array([[10.0, 20.0, 30.0, 40.0]] * 6)
    p = breach_probability(q, v, np.array([5.0, 10.0, 25.0, 30.0, 35.0, 50.0]))
    assert p.tolist() == pytest.approx([0.9, 0.9, 0.3, 0.1, 0.055, 0.01])
    assert np.all(np.diff(p) <= 0)  # more supply, never more risk


def test_a_forecast_without_the_interval_the_risk_needs_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"needs the forecast's 98% interval.*levels 80"):
        plan_capacity(forecast([10.0], level="80"), capacity=1, risk=0.01, step=MIN)
    no_intervals = forecast([10.0])[["unique_id", "ds", "yhat"]]
    with pytest.raises(ValidationError, match="no intervals"):
        plan_capacity(no_intervals, capacity=1, risk=0.01, step=MIN)


@pytest.mark.parametrize("capacity", [0.0, -5.0, math.nan])
def test_a_capacity_of_zero_or_less_is_refused(capacity: float) -> None:
    with pytest.raises(ValidationError, match="capacity > 0"):
        plan_capacity(forecast([10.0]), capacity=capacity, risk=0.01, step=MIN)


def test_a_registered_forecaster_without_the_level_or_with_a_shorter_horizon_is_refused() -> None:
    model = sample_forecaster()  # levels [80], horizon 4
    with pytest.raises(ValidationError, match="needs the forecaster's 98% interval"):
        forecast_demand(None, None, 0.01, forecaster=model)
    with pytest.raises(ValidationError, match="horizon between 1 and 4"):
        forecast_demand(None, 10, 0.1, forecaster=model)
    found = forecast_demand(None, 4, 0.1, forecaster=model)  # the 80% interval: risk 0.1
    plan = plan_capacity(found, capacity=1.0, risk=0.1, step=3600 * 10**9, stabilise=0)
    assert len(plan.series) == 2


def test_a_capacity_model_with_no_load_in_its_history_is_refused() -> None:
    with pytest.raises(ValidationError, match="load > 0"):
        learn_capacity(np.zeros(100), np.full(100, 0.2), threshold=0.5)


def test_plan_levels_carry_the_risk_level_and_the_shape() -> None:
    assert plan_levels(0.01) == [50.0, 80.0, 90.0, 95.0, 98.0]
    with pytest.raises(ValidationError, match=r"between 0 and 0\.5"):
        plan_levels(0.7)


# ------------------------------------------------------------------------ CLI


def demand_csv(path: Path, days: int = 2) -> Path:
    n = days * 1440
    t = np.arange(n)
    y = 200 + 100 * np.sin(2 * np.pi * t / 1440) + np.random.default_rng(0).normal(0, 5, n)
    ds = pd.date_range("2026-01-01", periods=n, freq="1min", tz="UTC")
    pd.DataFrame({"unique_id": "api", "ds": ds, "y": y}).to_csv(path, index=False)
    return path


def test_cli_plans_with_a_table_json_csv_plot_and_report(cli: RunCli, tmp_path: Path) -> None:
    data = demand_csv(tmp_path / "demand.csv")
    out, png, html = tmp_path / "plan.csv", tmp_path / "plan.png", tmp_path / "week.html"
    done = cli(
        "capacity", "plan", "--input", str(data), "--freq", "1m", "--h", "240",
        "--capacity", "20", "--max-replicas", "12", "--output", str(out), "--plot", str(png),
        "--report", str(html), "--json",
    )  # fmt: skip
    assert done.code == 0, done.stderr
    summary = json.loads(done.stdout)
    assert "steps" not in summary  # the CSV has them
    table = pd.read_csv(out)
    assert list(table.columns) == [
        "unique_id", "ds", "ask_at", "yhat", "demand_hi", "needed", "replicas",
        "breach_probability",
    ]  # fmt: skip
    assert len(table) == 240
    assert (table["replicas"] >= np.ceil(table["demand_hi"] / 20 - 1e-9).clip(upper=12)).all()
    s = summary["series"][0]
    assert s["peak_replicas"] == table["replicas"].max()
    assert s["replica_hours"] == pytest.approx(table["replicas"].sum() / 60)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = html.read_text()
    assert "capacity report" in page
    assert "headroom" in page
    assert "data:image/png" in page


def test_cli_plans_from_a_registered_forecaster_and_refuses_what_it_lacks(
    cli: RunCli, home: Path, tmp_path: Path
) -> None:
    with open_registry() as reg:
        version = reg.register(
            "demand", sample_forecaster().to_bytes(), flavor="modelphase.forecast",
            model_class="TrainedForecaster",
        )  # fmt: skip
        reg.promote("demand", version.version, "production")
    done = cli("capacity", "plan", "--model", "demand@production", "--capacity", "2",
               "--risk", "0.1", "--stabilise", "0", "--startup", "0", "--json")  # fmt: skip
    assert done.code == 0, done.stderr
    plan = json.loads(done.stdout)
    assert {s["unique_id"] for s in plan["series"]} == {"a", "b"}
    assert len(plan["steps"]) == 8
    no_level = cli("capacity", "plan", "--model", "demand@production", "--capacity", "2")
    assert no_level.code == 1
    assert "98% interval" in no_level.stderr
    assert "Traceback" not in no_level.stderr
    too_far = cli("capacity", "plan", "--model", "demand@production", "--capacity", "2",
                  "--risk", "0.1", "--h", "9")  # fmt: skip
    assert too_far.code == 1
    assert "horizon between 1 and 4" in too_far.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--capacity", "0"], "capacity > 0"),
        (["--capacity", "10", "--risk", "0.7"], "between 0 and 0.5"),
        (["--capacity", "10", "--startup", "90s"], "whole steps"),
        ([], "--capacity C"),
    ],
)
def test_cli_refuses_bad_plans_in_one_line(
    cli: RunCli, tmp_path: Path, args: list[str], message: str
) -> None:
    data = demand_csv(tmp_path / "demand.csv", days=1)
    done = cli("capacity", "plan", "--input", str(data), "--freq", "1m", "--h", "30", *args)
    assert done.code == 1
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_cli_refuses_a_learned_capacity_without_load(cli: RunCli, tmp_path: Path) -> None:
    data = demand_csv(tmp_path / "demand.csv", days=1)
    telemetry = tmp_path / "telemetry.csv"
    pd.DataFrame({"load": np.zeros(50), "latency": np.full(50, 0.1)}).to_csv(telemetry)
    done = cli("capacity", "plan", "--input", str(data), "--freq", "1m", "--h", "30",
               "--capacity-from", str(telemetry), "--latency-threshold", "0.3")  # fmt: skip
    assert done.code == 1
    assert "load > 0" in done.stderr
    assert "Traceback" not in done.stderr
