"""The training run: backtests, out-of-sample selection and calibration, gates,
registration with lineage, the report, and clear errors on bad specs and data."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modelphase.exceptions import GateFailedError, SpecError, ValidationError
from modelphase.forecast.trained import TrainedForecaster
from modelphase.frame import Panel
from modelphase.ingest import DatasetStore, ingest_panel
from modelphase.registry import Registry
from modelphase.spec import parse_spec
from modelphase.train import BASELINE, register_run, train
from support.cli import RunCli

HOUR = 3600 * 10**9
T0 = 1_767_225_600 * 10**9  # 2026-01-01T00:00:00Z

SPEC = """
name: web-load
kind: forecast
target: {dataset: abc}
frequency: 1h
horizon: 24
candidates:
  - model: SeasonalNaive
  - model: SeasonalWindowAverage
    params: {season_length: 1d, window_size: 3}
backtest: {windows: 3, step: 24}
gates:
  - {name: beats_naive, metric: mase_vs_baseline, max: 1.0}
  - {name: calibrated, metric: coverage_80, between: [0.6, 0.95]}
owners: [sre]
canary: {steps: [10, 50, 100]}
"""


def make_panel(n: int = 8, days: int = 20, seed: int = 0) -> Panel:
    rng = np.random.default_rng(seed)
    t = np.arange(days * 24)
    items = []
    for i in range(n):
        level = 10.0 * (i + 1)
        shape = np.sin(2 * np.pi * t / 24 + i)
        y = level + 0.3 * level * shape + rng.normal(0, 0.05 * level, len(t))
        items.append((f'load{{host="h{i}"}}', T0 + t * HOUR, y))
    return Panel.from_series(items, step=HOUR)


def spec_with(**changes: str) -> str:
    text = SPEC
    for old, new in changes.items():
        text = text.replace(old, new)
    return text


def test_a_run_scores_selects_calibrates_and_forecasts() -> None:
    panel = make_panel()
    run = train(parse_spec(SPEC), panel, n_jobs=1)
    assert run.passed, run.gates
    assert set(run.chosen) == set(panel.ids)
    assert set(run.chosen.values()) <= set(run.candidates)
    assert run.candidates == ["SeasonalNaive", "SeasWA", "Ensemble", "WeightedEnsemble"]
    # windows after the first are scored with choices made before them
    assert sorted(run.backtest["window"].unique()) == [1, 2]
    assert not run.selection_in_sample
    for key in ("mae", "rmse", "smape", "mase", "coverage_80", "pinball_95", "mase_vs_baseline"):
        assert np.isfinite(run.metrics[key]), key
    assert 0.6 <= run.metrics["coverage_80"] <= run.metrics["coverage_95"] <= 1.0
    per = run.per_series.set_index("unique_id")
    assert len(per) == panel.n_series
    assert (per["model"] == pd.Series(run.chosen)).all()
    # the aggregate is the mean over series; the baseline row is the seasonal naive
    assert run.metrics["mase"] == pytest.approx(per["mase"].mean())
    assert run.metrics["baseline_mase"] == pytest.approx(per["baseline_mase"].mean())
    assert run.candidate_metrics.loc["selected", "mase"] == pytest.approx(run.metrics["mase"])
    fc = run.forecast
    assert len(fc) == 24 * panel.n_series
    assert (fc.groupby("unique_id").size() == 24).all()
    assert (fc["yhat-lo-95"] <= fc["yhat-lo-80"]).all()
    assert (fc["yhat-lo-80"] <= fc["yhat"]).all()
    assert (fc["yhat"] <= fc["yhat-hi-80"]).all()
    first = fc.groupby("unique_id")["ds"].min()
    assert (first == pd.Timestamp(T0 + 20 * 24 * HOUR, tz="UTC")).all()


def test_metrics_agree_with_the_reference_functions() -> None:
    from modelphase.backtest import mae, smape

    run = train(parse_spec(SPEC), make_panel(), n_jobs=1)
    uid = run.per_series["unique_id"].iloc[0]
    rows = run.backtest[run.backtest["unique_id"] == uid]
    y, f = rows["y"].to_numpy(), rows["yhat"].to_numpy()
    per = run.per_series.set_index("unique_id").loc[uid]
    assert per["mae"] == pytest.approx(mae(y, f))
    assert per["smape"] == pytest.approx(smape(y, f))


def test_no_window_sees_data_after_its_cutoff() -> None:
    """Changing the data after the second cutoff changes nothing in the second window:
    neither its forecasts nor its choice nor its intervals."""
    spec = parse_spec(SPEC)
    panel = make_panel()
    base = train(spec, panel, n_jobs=1)
    cutoff = base.folds[2].cutoff
    y = panel.y.copy()
    y[panel.ds > cutoff] *= 3.0
    changed = Panel(panel.ids, panel.indptr, panel.ds, y, panel.step)
    other = train(spec, changed, n_jobs=1)
    cols = ["unique_id", "ds", "yhat", "model", "yhat-lo-80", "yhat-hi-95"]
    a = base.backtest[base.backtest["window"] == 1][cols].reset_index(drop=True)
    b = other.backtest[other.backtest["window"] == 1][cols].reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)
    assert not base.backtest[base.backtest["window"] == 2]["y"].equals(
        other.backtest[other.backtest["window"] == 2]["y"]
    )


def test_one_window_is_flagged_in_sample() -> None:
    run = train(parse_spec(spec_with(**{"windows: 3": "windows: 1"})), make_panel(), n_jobs=1)
    assert run.selection_in_sample
    assert sorted(run.backtest["window"].unique()) == [0]


def test_gates_that_fail_register_nothing_promotable(home: Path) -> None:
    text = spec_with(**{"max: 1.0": "max: 0.01"})
    run = train(parse_spec(text), make_panel(), n_jobs=1)
    assert not run.passed
    failed = [g["name"] for g in run.gates if not g["passed"]]
    assert failed == ["beats_naive"]
    with Registry() as reg:
        version = register_run(run, reg)
        assert not version.gates_passed
        with pytest.raises(GateFailedError):
            reg.promote("web-load", version.version, "production")
        assert reg.live("web-load") == {}


def test_registration_keeps_the_lineage_and_a_loadable_model(home: Path) -> None:
    panel = make_panel()
    run = train(parse_spec(SPEC), panel, n_jobs=1, dataset_id="0123abcd")
    with Registry() as reg:
        v = register_run(run, reg, git_commit="f" * 40)
        assert v.dataset_id == "0123abcd"
        assert v.spec is not None
        assert v.spec["name"] == "web-load"
        assert v.params["horizon"] == 24
        assert len(v.params["folds"]) == 3
        assert v.metrics["mase"] == pytest.approx(run.metrics["mase"])
        assert set(v.metrics["candidates"]) >= {"SeasonalNaive", "selected", BASELINE}
        assert [g["name"] for g in v.gates] == ["beats_naive", "calibrated"]
        assert v.gates_passed
        assert v.owners == ["sre"]
        assert v.canary_plan == {"steps": [10, 50, 100]}
        assert v.code_version.startswith("modelphase ")
        assert v.git_commit == "f" * 40
        model = TrainedForecaster.from_bytes(reg.load_artifact("web-load", v.version))
    # the stored forecast is what refitting the chosen models on the same data gives
    stored = model.predict()
    again, fallbacks = model.forecast(panel)
    assert not fallbacks
    pd.testing.assert_frame_equal(stored, again)
    assert len(model.predict(6, level=[80])) == 6 * panel.n_series
    with pytest.raises(ValidationError, match="between 1 and 24"):
        model.predict(48)
    with pytest.raises(ValidationError, match="levels among"):
        model.predict(level=[90])


def test_the_model_forecasts_new_data_and_unknown_series() -> None:
    run = train(parse_spec(SPEC), make_panel(), n_jobs=1)
    fresh = make_panel(n=10, days=25, seed=3)  # two series it never saw, more days
    out, _ = run.model.forecast(fresh, h=12)
    assert out["unique_id"].nunique() == 10
    assert len(out) == 120
    assert (
        out.groupby("unique_id")["ds"].min() == pd.Timestamp(T0 + 25 * 24 * HOUR, tz="UTC")
    ).all()
    assert np.isfinite(out[["yhat", "yhat-lo-80", "yhat-hi-95"]].to_numpy()).all()


# ------------------------------------------------------------------ bad input


def test_unknown_model_is_a_clear_spec_error() -> None:
    with pytest.raises(SpecError, match=r"candidates.1: unknown model 'Prohpet'; expected one of"):
        train(parse_spec(spec_with(SeasonalWindowAverage="Prohpet")), make_panel(), n_jobs=1)


def test_unknown_parameters_and_gate_metrics_are_refused() -> None:
    with pytest.raises(SpecError, match=r"bad parameters.*it accepts.*season_length"):
        train(parse_spec(spec_with(window_size="windw")), make_panel(), n_jobs=1)
    with pytest.raises(SpecError, match=r"unknown metric.*mape.*expected one of"):
        train(parse_spec(spec_with(mase_vs_baseline="mape")), make_panel(), n_jobs=1)
    with pytest.raises(SpecError, match="not a whole number"):
        train(parse_spec(spec_with(**{"1d,": "90m,"})), make_panel(), n_jobs=1)


def test_horizon_longer_than_the_history_allows() -> None:
    spec = parse_spec(spec_with(**{"horizon: 24": "horizon: 200"}))
    with pytest.raises(ValidationError, match="horizon is longer than the history allows") as e:
        train(spec, make_panel(days=10), n_jobs=1)
    assert "shorten horizon" in str(e.value)


def test_series_too_short_for_its_seasonality() -> None:
    panel = make_panel(days=20)
    short = panel.take(panel.ds >= T0 + 15 * 24 * HOUR)  # 5 days; windows hold out 4
    spec = parse_spec(spec_with(**{"season_length: 1d": "season_length: 3d"}))
    with pytest.raises(ValidationError, match="too short for its seasonality") as e:
        train(spec, short, n_jobs=1)
    assert "SeasWA needs 216" in str(e.value)
    # --drop-short keeps the others
    mixed = Panel.from_series(
        [*[(u, *panel.series(u)) for u in panel.ids[:4]], ("tiny", *short.series(short.ids[0]))],
        step=HOUR,
    )
    run = train(spec, mixed, n_jobs=1, drop_short=True)
    assert "tiny" not in run.chosen
    assert len(run.chosen) == 4


def test_all_missing_series_is_named() -> None:
    panel = make_panel(n=3)
    y = panel.y.copy()
    y[panel.indptr[1] : panel.indptr[2]] = np.nan
    bad = Panel(panel.ids, panel.indptr, panel.ds, y, panel.step)
    with pytest.raises(ValidationError, match="no values at all") as e:
        train(parse_spec(SPEC), bad, n_jobs=1)
    assert panel.ids[1] in str(e.value)


def test_a_constant_series_is_forecast_as_a_constant() -> None:
    panel = make_panel(n=3)
    y = panel.y.copy()
    y[: panel.indptr[1]] = 7.0
    flat = Panel(panel.ids, panel.indptr, panel.ds, y, panel.step)
    run = train(parse_spec(SPEC), flat, n_jobs=1)
    uid = panel.ids[0]
    fc = run.forecast[run.forecast["unique_id"] == uid]
    assert np.allclose(fc["yhat"], 7.0)
    assert np.allclose(fc["yhat-hi-95"], 7.0)
    per = run.per_series.set_index("unique_id")
    assert per.loc[uid, "mae"] == 0.0
    assert np.isnan(per.loc[uid, "mase"])  # no scale: MASE is undefined, not infinite
    assert np.isfinite(run.metrics["mase"])  # and the others still count


def test_frequency_must_match_the_data() -> None:
    with pytest.raises(ValidationError, match="frequency is 5m but the data is sampled every 1h"):
        train(parse_spec(spec_with(**{"frequency: 1h": "frequency: 5m"})), make_panel(), n_jobs=1)


# ------------------------------------------------------------------------ CLI


def _dataset(home: Path, panel: Panel) -> str:
    manifest = ingest_panel(
        panel, DatasetStore(), {"kind": "test"}, now=datetime(2026, 2, 1, tzinfo=UTC)
    )
    return manifest.id


def test_cli_trains_reports_registers_and_forecasts(
    cli: RunCli, home: Path, tmp_path: Path
) -> None:
    dataset = _dataset(home, make_panel())
    spec = tmp_path / "spec.yaml"
    spec.write_text(spec_with(**{"dataset: abc": f"dataset: {dataset}"}))
    result = cli("train", str(spec), "--json")
    assert result.code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["passed"]
    assert summary["version"] == 1
    report = Path(summary["report"])
    assert report.is_file()
    assert "GATES PASSED" in report.read_text()
    assert cli("models", "promote", "web-load", "--version", "1", "--alias", "production").code == 0
    out = tmp_path / "fc.csv"
    done = cli(
        "forecast", "--model", "web-load@production", "--h", "6", "--level", "80", "-o", str(out)
    )
    assert done.code == 0, done.stderr
    table = pd.read_csv(out)
    assert list(table.columns) == ["unique_id", "ds", "yhat", "yhat_lo_80", "yhat_hi_80"]
    assert len(table) == 6 * 8


def test_cli_exits_3_when_a_gate_fails(cli: RunCli, home: Path, tmp_path: Path) -> None:
    dataset = _dataset(home, make_panel())
    spec = tmp_path / "spec.yaml"
    spec.write_text(spec_with(**{"dataset: abc": f"dataset: {dataset}", "max: 1.0": "max: 0.01"}))
    report = tmp_path / "r.html"
    result = cli("train", str(spec), "--report", str(report))
    assert result.code == 3
    assert "gates FAILED" in result.stderr
    assert "GATES FAILED" in report.read_text()
    shown = cli("models", "show", "web-load", "--json")
    assert json.loads(shown.stdout)["version"]["gates_passed"] is False
    refused = cli("models", "promote", "web-load", "--version", "1", "--alias", "production")
    assert refused.code != 0
    assert "gate" in refused.stderr


def test_cli_bad_spec_exits_1_and_registers_nothing(
    cli: RunCli, home: Path, tmp_path: Path
) -> None:
    dataset = _dataset(home, make_panel())
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        spec_with(**{"dataset: abc": f"dataset: {dataset}", "SeasonalWindowAverage": "Prohpet"})
    )
    result = cli("train", str(spec))
    assert result.code == 1
    assert "unknown model 'Prohpet'" in result.stderr
    assert "Traceback" not in result.stderr
    assert cli("models", "list", "--json").stdout.strip() in ("[]", "")


def test_selection_margin_keeps_series_on_the_panel_best_without_clear_evidence() -> None:
    from modelphase.forecast.select import choose

    index = pd.MultiIndex.from_product([["a", "b", "c"], [0, 1]], names=["unique_id", "window"])
    # "good" is best for the panel; series c is 5% better with "other" on window 0
    errs = pd.DataFrame(
        {"good": [1.0, 1.0, 1.0, 1.0, 1.0, 1.0], "other": [2.0, 2.0, 2.0, 2.0, 0.95, 0.95]},
        index=index,
    )
    rolling, final = choose(errs, ["good", "other"])
    assert rolling[("c", 1)] == "other"
    assert final["c"] == "other"
    rolling, final = choose(errs, ["good", "other"], margin=0.1)
    assert rolling[("c", 1)] == "good"
    assert final == {"a": "good", "b": "good", "c": "good"}
    rolling, final = choose(errs, ["good", "other"], margin=0.01)
    assert final["c"] == "other"


def test_a_global_model_is_learned_once_over_all_series() -> None:
    """LightGBM is fitted on the whole panel in every window, whatever the processes:
    one process and two give the same forecasts."""
    text = spec_with(
        **{
            "  - model: SeasonalWindowAverage\n    params: {season_length: 1d, window_size: 3}": (
                "  - model: LightGBM\n    params: {n_estimators: 20}"
            )
        }
    )
    spec = parse_spec(text)
    panel = make_panel(n=8, days=24)
    one = train(spec, panel, n_jobs=1)
    two = train(spec, panel, n_jobs=2)
    assert "LightGBM" in one.candidates
    assert not one.fallbacks
    pd.testing.assert_frame_equal(one.forecast, two.forecast)
    pd.testing.assert_frame_equal(one.backtest, two.backtest)
    assert one.candidate_metrics.loc["LightGBM", "mase"] < 1.0


NO_REFIT = {"step: 24}": "step: 24, refit: false}"}
ETS = {
    "  - model: SeasonalWindowAverage\n    params: {season_length: 1d, window_size: 3}": (
        "  - model: AutoETS\n    params: {season_length: 1d}"
    )
}


def test_backtests_without_refit_fit_once_and_compute_the_gates(home: Path) -> None:
    """With ``backtest.refit: false`` AutoETS keeps its first window's parameters (its
    backtest differs from the refitted one), the parameter-free models' backtest is the
    refitted one, the gates are computed, and the setting is recorded with the version."""
    text = spec_with(**NO_REFIT, **ETS)
    panel = make_panel(n=3, days=10)
    once = train(parse_spec(text), panel, n_jobs=1)
    refit = train(parse_spec(spec_with(**ETS)), panel, n_jobs=1)
    assert [g["name"] for g in once.gates] == ["beats_naive", "calibrated"]
    assert all(np.isfinite(g["value"]) for g in once.gates)
    assert np.isfinite(once.metrics["mase"])
    assert not once.fallbacks
    same = ["unique_id", "ds", "cutoff", "y", "SeasonalNaive", BASELINE]
    pd.testing.assert_frame_equal(once.backtest[same], refit.backtest[same])
    assert np.abs(once.backtest["AutoETS"] - refit.backtest["AutoETS"]).max() > 1e-6
    with Registry() as reg:
        v = register_run(once, reg)
    assert v.params["backtest"]["refit"] is False
    assert v.spec is not None
    assert v.spec["backtest"]["refit"] is False


def test_cli_trains_without_refit(cli: RunCli, home: Path, tmp_path: Path) -> None:
    dataset = _dataset(home, make_panel())
    spec = tmp_path / "spec.yaml"
    spec.write_text(spec_with(**NO_REFIT, **{"dataset: abc": f"dataset: {dataset}"}))
    result = cli("train", str(spec), "--json")
    assert result.code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["passed"]
    shown = json.loads(cli("models", "show", "web-load", "--json").stdout)
    assert shown["version"]["params"]["backtest"]["refit"] is False


def test_intervals_are_calibrated_on_the_errors_of_earlier_choices() -> None:
    """Window 2's interval comes from window 1's error of the candidate chosen for
    window 1 (out of sample) and window 0's of the one used now, not from the errors of
    the candidate chosen because it did well there (which would be too narrow)."""
    from modelphase.forecast.engine import _score_selected

    # one series, one lead, three windows; y = 0, so a candidate's value is its error
    cv = pd.DataFrame(
        {
            "unique_id": ["s"] * 3,
            "ds": pd.to_datetime([1, 2, 3], unit="h", utc=True),
            "cutoff": pd.to_datetime([0, 1, 2], unit="h", utc=True),
            "window": [0, 1, 2],
            "lead": [0, 0, 0],
            "y": [0.0, 0.0, 0.0],
            "A": [20.0, 10.0, 30.0],
            "B": [2.0, 1.0, 3.0],
            BASELINE: [0.0, 0.0, 0.0],
        }
    )
    rolling = {("s", 1): "A", ("s", 2): "B"}
    scored, final, methods = _score_selected(
        cv, ["A", "B"], rolling, {"s": "B"}, False, np.ones(3), [50], 1, 1, set()
    )
    by_window = scored.set_index("window")
    # so few errors are read as Laplace: the half-width at 50% is ln 2 times their mean
    assert methods == {50.0: "laplace"}
    # window 1: window 0's error of A (used now) = 20
    assert by_window.loc[1, "yhat-hi-50"] - by_window.loc[1, "yhat"] == pytest.approx(
        np.log(2) * 20.0
    )
    # window 2: B's error in window 0 (2) and A's in window 1 (10, chosen for it)
    assert by_window.loc[2, "yhat-hi-50"] - by_window.loc[2, "yhat"] == pytest.approx(
        np.log(2) * 6.0
    )
    # final: B in window 0 (2), A in window 1 (10), B in window 2 (3)
    assert final[50.0][0] == pytest.approx(np.log(2) * 5.0)


DETECTOR_SPEC = """
name: load-detector
kind: anomaly
target: {dataset: abc}
frequency: 1h
horizon: 1
candidates:
  - model: zscore
alerts: {threshold: 4.0, group_by: [host], cooldown: 2h}
gates:
  - {name: quiet, metric: alerts_per_service_day, max: 0.5}
owners: [sre]
"""


def test_a_detector_spec_trains_gates_and_registers_a_servable_detector(home: Path) -> None:
    from modelphase.serve.predictors import SCORE, load
    from modelphase.train import register_detector, train_detector

    panel = make_panel()
    spike = panel.y.copy()
    spike[100] += 50.0  # one outage on one host: one alert
    panel = replace(panel, y=spike)
    run = train_detector("ignored", panel, spec=parse_spec(DETECTOR_SPEC), dataset_id="ab12")
    assert run.name == "load-detector"
    assert run.metrics["alerts"] >= 1
    assert run.metrics["alerts_per_service_day"] == pytest.approx(run.metrics["alerts"] / (8 * 20))
    assert run.passed
    with Registry() as reg:
        v = register_detector(run, reg, metrics={"precision": 1.0})
        assert v.flavor == SCORE
        assert v.dataset_id == "ab12"
        assert v.metrics["precision"] == 1.0
        assert v.metrics["alerts"] == run.metrics["alerts"]
        assert v.owners == ["sre"]
        assert v.gates_passed
        params = json.loads(reg.load_artifact("load-detector", v.version))
        assert params["decider"]["params"]["threshold"] == 4.0
        assert params["group_by"] == ["host"]
        predictor = load(v, reg.load_artifact("load-detector", v.version))
    assert predictor is not None


def test_a_detector_spec_with_a_failing_gate_or_a_bad_detector() -> None:
    from modelphase.train import detector_of, train_detector

    strict = parse_spec(DETECTOR_SPEC.replace("max: 0.5", "max: 0.0"))
    panel = make_panel()
    spike = panel.y.copy()
    spike[100] += 50.0
    panel = replace(panel, y=spike)
    assert not train_detector("x", panel, spec=strict).passed
    with pytest.raises(SpecError, match="unknown model"):
        detector_of(parse_spec(DETECTOR_SPEC.replace("model: zscore", "model: nope")))
    with pytest.raises(SpecError, match="unknown alert rule"):
        parse_spec(DETECTOR_SPEC.replace("cooldown: 2h", "coldown: 2h"))


def test_cli_trains_a_detector_spec(cli: RunCli, home: Path, tmp_path: Path) -> None:
    dataset = _dataset(home, make_panel())
    spec = tmp_path / "detector.yaml"
    spec.write_text(DETECTOR_SPEC.replace("dataset: abc", f"dataset: {dataset}"))
    result = cli("train", str(spec), "--json")
    assert result.code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["version"] == 1
    assert summary["passed"]
    assert summary["detector"]["detector"]["name"] == "zscore"
    assert (
        cli("models", "promote", "load-detector", "--version", "1", "--alias", "production").code
        == 0
    )


def test_load_target_reads_a_dataset_and_its_series(home: Path) -> None:
    from modelphase.ingest import load_target

    panel = make_panel()
    dataset = _dataset(home, panel)
    spec = parse_spec(SPEC.replace("dataset: abc", f"dataset: {dataset[:8]}"))
    loaded = load_target(spec.target)
    assert loaded.dataset_id == dataset
    assert loaded.panel.n_series == panel.n_series
    picked = parse_spec(
        SPEC.replace(
            "target: {dataset: abc}",
            f"target: {{dataset: {dataset}, series: ['load{{host=\"h1\"}}']}}",
        )
    )
    assert load_target(picked.target).panel.ids == ['load{host="h1"}']
    wrong = parse_spec(
        SPEC.replace("target: {dataset: abc}", f"target: {{dataset: {dataset}, series: [nope]}}")
    )
    with pytest.raises(ValidationError, match="does not have"):
        load_target(wrong.target)


def test_the_scrapes_that_have_not_arrived_are_not_trained_on() -> None:
    """A range query up to now ends with empty steps: they are dropped, not backtested."""
    panel = make_panel()
    y = panel.y.copy()
    for i in range(panel.n_series):
        y[panel.indptr[i + 1] - 30 : panel.indptr[i + 1]] = np.nan  # the last 30 h missing
    run = train(parse_spec(SPEC), replace(panel, y=y), n_jobs=1)
    assert run.passed
    last = int(panel.ds.max()) - 30 * HOUR
    assert int(run.panel.ds.max()) == last
    assert run.forecast["ds"].min() == pd.Timestamp(last + HOUR, tz="UTC")
