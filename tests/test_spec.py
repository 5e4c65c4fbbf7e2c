"""Model specs: the shipped example, every kind of mistake, and `modelphase spec check`."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelphase.exceptions import SpecError
from modelphase.forecast import MODEL_NAMES
from modelphase.spec import load_spec, parse_spec
from support.cli import RunCli

EXAMPLE = Path(__file__).parents[1] / "examples" / "forecast.yaml"
MINIMAL = """
name: m
kind: forecast
target: {dataset: abc123}
frequency: 5m
horizon: 12
candidates: [{model: SeasonalNaive, params: {season_length: 288}}]
"""


def test_the_shipped_example_is_valid() -> None:
    spec = load_spec(EXAMPLE)
    spec.check_models(list(MODEL_NAMES))
    assert spec.kind == "forecast"
    assert spec.frequency_ns == 60 * 10**9
    assert spec.latency_budget_ns == 50 * 10**6
    names = [g["name"] for g in spec.gate_dicts()]
    assert names == ["beats_naive", "calibrated_80", "no_series_much_worse"]
    assert spec.to_dict()["target"] == {"dataset": "15911321eb72c830"}
    assert "lag_1440" in spec.feature_set.names


def test_defaults() -> None:
    spec = parse_spec(MINIMAL)
    assert spec.levels == [80.0, 95.0]
    assert spec.backtest.windows == 3
    assert spec.backtest.refit is True
    assert spec.gates == []


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ("name: 'bad name'", "name"),
        ("kind: forcast", "kind"),
        ("frequency: 5 minutes", "frequency"),
        ("horizon: 0", "horizon"),
        ("levels: [80, 120]", "levels"),
        ("target: {dataset: abc, prometheus: {query: up}}", "target"),
        ("target: {prometheus: {query: up, step: soon}}", "target.prometheus.step"),
        ("candidates: []", "candidates"),
        ("gates: [{metric: mase}]", "gates.0"),
        ("gates: [{metric: mase, between: [2, 1]}]", "gates.0"),
        ("backtest: {windows: 0}", "backtest.windows"),
        ("latency_budget: fast", "latency_budget"),
        ("colour: blue", "colour"),
        ("features: {lags: [0]}", "features"),
        ("features: {wavelets: [3]}", "features"),
    ],
)
def test_each_mistake_is_named_by_its_path(change: str, path: str) -> None:
    key = change.split(":")[0]
    lines = [ln for ln in MINIMAL.strip().splitlines() if not ln.startswith(key + ":")]
    with pytest.raises(SpecError) as info:
        parse_spec("\n".join([*lines, change]))
    assert any(p.startswith(path + ":") for p in info.value.errors), info.value.errors


def test_missing_fields_and_bad_yaml() -> None:
    with pytest.raises(SpecError) as info:
        parse_spec("name: m\n")
    assert {"kind: required, missing", "horizon: required, missing"} <= set(info.value.errors)
    with pytest.raises(SpecError, match="not valid YAML"):
        parse_spec("name: [unclosed\n")
    with pytest.raises(SpecError, match="mapping"):
        parse_spec("- a\n- b\n")


def test_unknown_models_are_refused() -> None:
    spec = parse_spec(MINIMAL.replace("SeasonalNaive", "Prophet"))
    with pytest.raises(SpecError, match="unknown model"):
        spec.check_models(list(MODEL_NAMES))


def test_spec_check_command(cli: RunCli, tmp_path: Path) -> None:
    ok = cli("spec", "check", str(EXAMPLE))
    assert ok.code == 0, ok.stderr
    assert "demo-forecast" in ok.stdout
    as_json = cli("spec", "check", str(EXAMPLE), "--json")
    assert '"horizon": 60' in as_json.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(MINIMAL.replace("horizon: 12", "horizon: -1").replace("5m", "5 min"))
    result = cli("spec", "check", str(bad))
    assert result.code == 1
    assert "horizon:" in result.stderr
    assert "frequency:" in result.stderr
    assert result.stderr.strip().splitlines()[-1] == f"error: {bad}: 2 problem(s), listed above"
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text(MINIMAL.replace("SeasonalNaive", "NoSuchModel"))
    assert "unknown model" in cli("spec", "check", str(unknown)).stderr
    assert cli("spec", "check", str(tmp_path / "missing.yaml")).code == 1
