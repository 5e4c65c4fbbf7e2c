"""Incident triage's ranking (:func:`modelphase.decide.triage`): the root cause first,
every service ranked once, the evidence, untidy telemetry, and the refusals."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from modelphase.decide.triage import THRESHOLD, Triage, split_column, triage
from modelphase.exceptions import ValidationError

AT = 1_000_060.0


def _frame(n: int = 120, seed: int = 0) -> pd.DataFrame:
    """Five services, three metrics each, one row a second; from AT on ``orders_cpu``
    doubles and ``front-end_lat_99`` (its caller) rises a little, later."""
    rng = np.random.default_rng(seed)
    time = 1_000_000.0 + np.arange(n)
    data: dict[str, np.ndarray] = {"time": time}
    for service in ("carts", "orders", "payment", "user", "front-end"):
        for metric, level in (("cpu", 1.0), ("mem", 500.0), ("lat_99", 0.2)):
            data[f"{service}_{metric}"] = level * (1 + 0.05 * rng.standard_normal(n))
    data["orders_cpu"] = np.where(time >= AT, data["orders_cpu"] * 2, data["orders_cpu"])
    data["front-end_lat_99"] = np.where(
        time >= AT + 10, data["front-end_lat_99"] * 1.3, data["front-end_lat_99"]
    )
    return pd.DataFrame(data)


def test_the_changed_service_is_first_and_every_service_is_ranked_once() -> None:
    result = triage(_frame(), AT)
    services = [s.service for s in result.ranking]
    assert services[0] == "orders"
    assert services[1] == "front-end"
    assert sorted(services) == ["carts", "front-end", "orders", "payment", "user"]
    top = result.ranking[0]
    assert (top.metric, top.direction, top.changed_at) == ("cpu", "up", AT)
    assert top.normal_median == pytest.approx(1.0, abs=0.05)
    assert top.peak_value is not None
    assert top.peak_value > 1.5
    assert top.score > 10
    assert result.ranking[1].changed_at == AT + 10
    scores = [s.score for s in result.ranking]
    assert scores == sorted(scores, reverse=True)
    assert len(result.metrics) == 15
    assert (result.n_normal, result.n_anomalous) == (60, 60)


def test_a_service_is_scored_by_its_strongest_metric() -> None:
    result = triage(_frame(), AT)
    for suspect in result.ranking:
        own = [m.score for m in result.metrics if m.service == suspect.service]
        assert suspect.score == max(own)


def test_the_score_is_the_largest_robust_z_after_the_anomaly() -> None:
    # median 10, IQR 1 (9.5 to 10.5), MAD 1: the spread is 1.4826 x MAD
    normal = [10.0, 11.0, 9.0, 10.0, 12.0, 8.0, 10.0]
    frame = pd.DataFrame({"time": range(9), "a_x": [*normal, 16.0, 4.0]})
    [suspect] = triage(frame, at=7).ranking
    assert suspect.normal_median == 10.0
    assert suspect.normal_spread == pytest.approx(1.4826)
    assert suspect.score == pytest.approx(6 / 1.4826)
    assert suspect.deviation == pytest.approx(6 / 1.4826)  # two peaks of 6: the first
    assert suspect.changed_at == 7.0


def test_a_fall_is_evidence_too() -> None:
    frame = _frame()
    frame["carts_mem"] = np.where(frame["time"] >= AT, 10.0, frame["carts_mem"])
    top = triage(frame, AT).ranking[0]
    assert (top.service, top.metric, top.direction) == ("carts", "mem", "down")
    assert top.deviation < -THRESHOLD


def test_of_equal_scores_the_earlier_change_comes_first() -> None:
    # both were 0 before: no measured spread, so each is capped at the threshold
    time = np.arange(20.0)
    frame = pd.DataFrame(
        {
            "time": time,
            "aa_errors": np.where(time >= 14, 5.0, 0.0),
            "zz_errors": np.where(time >= 11, 3.0, 0.0),
        }
    )
    ranking = triage(frame, at=10).ranking
    assert [s.service for s in ranking] == ["zz", "aa"]
    assert [s.score for s in ranking] == pytest.approx([THRESHOLD] * 2)
    assert [s.changed_at for s in ranking] == [11.0, 14.0]


def test_a_metric_without_a_measured_spread_never_outranks_a_measured_one() -> None:
    # errors were 0 throughout the normal period: 0 -> 40 is a change, but its size
    # is a ratio to a floor; the latency moved 5 measured spreads
    rng = np.random.default_rng(3)
    time = np.arange(200.0)
    latency = 100.0 + rng.normal(0.0, 2.0, 200)
    latency[150:] += 15.0
    frame = pd.DataFrame(
        {
            "time": time,
            "api_errors": np.where(time >= 150, 40.0, 0.0),
            "db_latency": latency,
        }
    )
    ranking = triage(frame, at=150).ranking
    assert [s.service for s in ranking] == ["db", "api"]
    assert ranking[1].score == pytest.approx(THRESHOLD)
    assert ranking[1].changed_at == 150.0
    assert ranking[1].direction == "up"
    assert ranking[1].deviation == pytest.approx(THRESHOLD)


def test_constant_missing_and_infinite_metrics() -> None:
    frame = _frame()
    frame["quiet_cpu"] = 3.0  # constant throughout: no evidence
    frame["gone_cpu"] = np.nan  # never reported: ranked, with nothing
    frame["late_cpu"] = np.where(frame["time"] >= AT, 1.0, np.nan)  # no normal period
    holes = frame["carts_cpu"].copy()
    holes[10:40] = np.nan  # a run of missing values is ignored
    holes[70] = np.inf  # infinite is missing, not a huge score
    holes[71] = -np.inf
    frame["carts_cpu"] = holes
    result = triage(frame, AT)
    by_service = {s.service: s for s in result.ranking}
    assert set(by_service) == {"carts", "orders", "payment", "user", "front-end", "quiet",
                               "gone", "late"}  # fmt: skip
    for name in ("quiet", "gone", "late"):
        assert by_service[name].score == 0.0
        assert by_service[name].changed_at is None
        assert by_service[name].direction == "none"
    assert by_service["gone"].normal_median is None
    assert by_service["gone"].peak_value is None
    assert by_service["late"].normal_median is None
    assert by_service["quiet"].normal_median == 3.0
    assert all(np.isfinite(s.score) for s in result.metrics)
    assert result.ranking[0].service == "orders"


def test_a_quiet_metric_that_moves_a_little_is_not_infinite() -> None:
    time = np.arange(20.0)
    frame = pd.DataFrame({"time": time, "db_conns": np.where(time >= 10, 101.0, 100.0)})
    [suspect] = triage(frame, at=10).ranking
    assert suspect.score == pytest.approx(1.0)  # 1 over a floor of 1% of 100


def test_rows_in_any_order_and_repeated_times_give_the_same_ranking() -> None:
    frame = _frame()
    shuffled = frame.sample(frac=1.0, random_state=1)
    twice = pd.concat([frame, frame.iloc[::7]], ignore_index=True)
    expected = triage(frame, AT)
    assert triage(shuffled, AT) == expected
    repeated = triage(twice, AT)
    assert [s.service for s in repeated.ranking][:2] == ["orders", "front-end"]
    assert repeated.n_normal + repeated.n_anomalous == len(twice)


def test_text_cells_are_missing_values() -> None:
    frame = _frame().astype(str)
    frame.loc[3, "carts_cpu"] = ""
    frame.loc[4, "carts_cpu"] = "n/a"
    frame.loc[5, "user_mem"] = "inf"
    result = triage(frame, AT)
    assert result.ranking[0].service == "orders"
    assert all(np.isfinite(s.score) for s in result.metrics)


def test_column_names_split_at_the_first_underscore() -> None:
    assert split_column("carts_lat_99") == ("carts", "lat_99")
    assert split_column("front-end_cpu") == ("front-end", "cpu")
    assert split_column("solo") == ("solo", "")
    frame = pd.DataFrame({"time": [0, 1, 2], " solo ": [1.0, 1.0, 5.0]})
    [suspect] = triage(frame, at=2).ranking
    assert (suspect.service, suspect.metric, suspect.column) == ("solo", "", "solo")


def test_thousands_of_columns_at_once() -> None:
    rng = np.random.default_rng(3)
    n_rows, n_services = 200, 1_000
    values = rng.standard_normal((n_rows, n_services * 3))
    values[100:, 1_234] += 50.0  # service 411's third metric
    names = [f"s{i:04d}_m{k}" for i in range(n_services) for k in range(3)]
    frame = pd.DataFrame(values, columns=names)
    frame.insert(0, "time", np.arange(n_rows))
    result = triage(frame, at=100)
    assert len(result.ranking) == n_services
    assert (result.ranking[0].service, result.ranking[0].metric) == ("s0411", "m1")


def test_to_dict_is_plain_json_with_the_contract_keys() -> None:
    result = triage(_frame(), AT)
    data = json.loads(json.dumps(result.to_dict()))
    assert [e["service"] for e in data["ranking"]] == [s.service for s in result.ranking]
    assert {"service", "metric", "score", "changed_at", "direction"} <= set(data["ranking"][0])
    assert len(data["metrics"]) == 15
    assert data["at"] == AT
    assert isinstance(result, Triage)


@pytest.mark.parametrize(
    ("frame", "at", "words"),
    [
        (pd.DataFrame({"ts": [0, 1, 2], "a_x": [1, 2, 3]}), 1, "expected a 'time' column"),
        (pd.DataFrame({"time": [0, 1, 2]}), 1, "expected metric columns"),
        (pd.DataFrame({"time": ["0", "soon", "2"], "a_x": [1, 2, 3]}), 1, "'soon' in data row 2"),
        (pd.DataFrame({"time": [0, np.nan, 2], "a_x": [1, 2, 3]}), 1, "in data row 2"),
        (pd.DataFrame({"time": [5, 6, 7], "a_x": [1, 2, 3]}), 5, "no row before it"),
        (pd.DataFrame({"time": [5, 6, 7], "a_x": [1, 2, 3]}), 2, "no row before it"),
        (pd.DataFrame({"time": [5, 6, 7], "a_x": [1, 2, 3]}), 8, "no row at or after it"),
        (pd.DataFrame({"time": [5, 6, 7], "a_x": [1, 2, 3]}), float("nan"), "finite"),
    ],
)
def test_bad_input_is_refused_in_one_line(frame: pd.DataFrame, at: float, words: str) -> None:
    with pytest.raises(ValidationError) as caught:
        triage(frame, at)
    message = str(caught.value)
    assert words in message
    assert "\n" not in message
    assert "Fix:" in message
