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
    # no budget in the example: serving fits one from the measured refit time
    assert spec.latency_budget_ns is None
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


# ------------------------------------------------------------------ hostile YAML, types

#: nine levels of nine aliases each: 9**9 (387 million) strings once expanded
BILLION_LAUGHS = "monitoring:\n  l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"  l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 9)
)


def test_an_alias_bomb_under_monitoring_is_refused_before_it_is_built() -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(MINIMAL + BILLION_LAUGHS)
    assert "more than 100,000 values once aliases are expanded" in str(info.value)
    assert "Fix:" in str(info.value)


@pytest.mark.parametrize(
    ("yaml_text", "reason"),
    [
        ("monitoring: &m {self: *m}\n", "recursive alias"),
        ("monitoring: " + "[" * 40 + "]" * 40 + "\n", "nesting deeper than 32"),
        ("monitoring: " + "[" * 100_000 + "]" * 100_000 + "\n", "nesting deeper than 32"),
        (
            "monitoring:\n  a: &a 1\n" + "".join(f"  b{i}: *a\n" for i in range(101)),
            "more than 100 aliases",
        ),
        (  # merge keys copy their mapping: counted as expanded too
            "monitoring:\n  m0: &m0 {a: 1, b: 2, c: 3, d: 4}\n"
            + "".join(
                f"  m{i}: &m{i} {{<<: *m{i - 1}, x: *m{i - 1}, y: *m{i - 1}, z: *m{i - 1}}}\n"
                for i in range(1, 12)
            ),
            "once aliases are expanded",
        ),
    ],
    ids=["recursive", "deep", "very-deep", "many-aliases", "merge-bomb"],
)
def test_hostile_yaml_is_refused(yaml_text: str, reason: str) -> None:
    with pytest.raises(SpecError, match=reason):
        parse_spec(MINIMAL + yaml_text)


def test_a_few_plain_aliases_are_fine() -> None:
    spec = parse_spec(
        MINIMAL.replace("candidates: [{model: SeasonalNaive, params: {season_length: 288}}]", "")
        + "candidates:\n  - model: SeasonalNaive\n    params: &p {season_length: 288}\n"
        + "fallback: {model: SeasonalNaive, params: *p}\n"
    )
    assert spec.fallback is not None
    assert spec.fallback.params == {"season_length": 288}


def test_a_spec_file_over_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    from modelphase.limits import MAX_SPEC_BYTES

    big = tmp_path / "big.yaml"
    big.write_text(MINIMAL + "description: '" + "x" * MAX_SPEC_BYTES + "'\n")
    with pytest.raises(SpecError, match="expected a spec of at most 1,048,576 bytes"):
        load_spec(big)
    with pytest.raises(SpecError, match="at most 1,048,576 bytes"):
        load_spec(Path("/dev/zero"))  # endless: only the limit's worth is read


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ('horizon: "5"', "horizon: expected a whole number, got the text '5'"),
        ("horizon: true", "horizon: expected a whole number, got the boolean true"),
        ("horizon: 5.5", "horizon: expected a whole number, got 5.5"),
        ("horizon: 100001", "horizon: Input should be less than or equal to 100000"),
        ('levels: [80, "95"]', "levels.1: expected a number, got the text '95'"),
        ("levels: [true]", "levels.0: expected a number, got the boolean true"),
        ("levels: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]", "levels: List should have at most 10"),
        ('backtest: {windows: "3"}', "backtest.windows: expected a whole number, got the text"),
        ("backtest: {windows: false}", "backtest.windows: expected a whole number, got the bool"),
        ('backtest: {step: "60"}', "backtest.step: expected a whole number, got the text '60'"),
        ("backtest: {gap: true}", "backtest.gap: expected a whole number, got the boolean"),
        ("backtest: {gap: 100001}", "backtest.gap: Input should be less than or equal to"),
        ('backtest: {refit: "no"}', "backtest.refit: expected true or false, got the text 'no'"),
        ('backtest: {selection_margin: "0.1"}', "backtest.selection_margin: expected a number"),
        ("backtest: {selection_margin: .nan}", "backtest.selection_margin: Input should be"),
        ('gates: [{metric: mase, max: "1"}]', "gates.0.max: expected a number, got the text '1'"),
        ("gates: [{metric: mase, min: true}]", "gates.0.min: expected a number, got the boolean"),
        ("gates: [{metric: mase, max: .nan}]", "gates.0.max: Input should be a finite number"),
        ('gates: [{metric: m, between: [0.1, "1"]}]', "gates.0.between.1: expected a number"),
        ("name: 123", "name: expected text, got the number 123; quote it"),
        ("frequency: 5", "frequency: expected text, got the number 5"),
    ],
)
def test_numbers_must_be_numbers_and_within_limits(change: str, problem: str) -> None:
    key = change.split(":")[0]
    lines = [ln for ln in MINIMAL.strip().splitlines() if not ln.startswith(key + ":")]
    with pytest.raises(SpecError) as info:
        parse_spec("\n".join([*lines, change]))
    assert any(p.startswith(problem) for p in info.value.errors), info.value.errors


def test_gate_bounds_may_be_written_as_integers_and_lists() -> None:
    spec = parse_spec(MINIMAL + "gates: [{metric: m, between: [0, 1]}, {metric: n, max: 2}]\n")
    assert spec.gate_dicts() == [
        {"metric": "m", "between": (0.0, 1.0)},
        {"metric": "n", "max": 2.0},
    ]


def test_too_many_candidates_or_features_are_refused() -> None:
    many = "candidates:\n" + "".join("  - {model: Naive}\n" for _ in range(21))
    lines = [ln for ln in MINIMAL.strip().splitlines() if not ln.startswith("candidates:")]
    with pytest.raises(SpecError, match="candidates: List should have at most 20"):
        parse_spec("\n".join(lines) + "\n" + many)
    lags = ", ".join(str(k) for k in range(1, 102))
    with pytest.raises(SpecError, match="expected at most 100 features, got 101"):
        parse_spec(MINIMAL + f"features: {{lags: [{lags}]}}\n")


def test_spec_check_refuses_an_alias_bomb_in_one_line(cli: RunCli, tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(MINIMAL + BILLION_LAUGHS)
    result = cli("spec", "check", str(bomb))
    assert result.code == 1, result.stdout
    assert "Traceback" not in result.stderr
    assert "once aliases are expanded" in result.stderr
    assert result.stderr.strip().splitlines()[-1] == f"error: {bomb}: 1 problem(s), listed above"
    trained = cli("train", str(bomb), "--no-register")
    assert trained.code == 1
    assert trained.stderr.count("\n") == 1
    assert "once aliases are expanded" in trained.stderr
