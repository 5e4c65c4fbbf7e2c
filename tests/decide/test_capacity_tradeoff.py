"""Cost/performance trade-offs (``modelphase.decide.capacity.tradeoff``) against a known
latency model: the chosen configuration truly meets the SLO at the stated risk and is
within one replica of the true cheapest; the front is non-dominated; predictions are
monotone; configurations beyond the telemetry are flagged and never chosen; bad input
is one clear error."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from modelphase.decide.capacity.tradeoff import (
    LatencyQuantileModel,
    Prices,
    Tradeoff,
    tradeoff,
    tradeoff_json,
)
from modelphase.exceptions import MissingColumnsError, ValidationError
from modelphase.simulate.resources import ResourceModel, resource_telemetry

TRUTH = ResourceModel(core_rate={"a": 40.0, "b": 60.0})
CONFIGS = [(2.0, 8.0, "a"), (4.0, 8.0, "a"), (2.0, 2.0, "b"), (2.0, 8.0, "b")]
PRICES = Prices(instance={"a": 0.0, "b": 0.03}, core_hour=0.04, gib_hour=0.005)
SLO, LOAD, RISK = 0.3, 1500.0, 0.02
#: cores and memory tried: those seen (2, 4 and 2, 8) and others, never seen
CPUS, MEMORY = [1.0, 2.0, 3.0, 4.0, 8.0], [1.0, 2.0, 4.0, 8.0, 16.0]
COLUMNS = {
    "latency": "p99", "load": "rps", "replicas": "replicas", "cpu": "cpu", "memory": "memory",
    "instance": "instance_type",
}  # fmt: skip


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    return resource_telemetry(TRUTH, CONFIGS, days=7, seed=11)


@pytest.fixture(scope="module")
def found(rows: pd.DataFrame) -> Tradeoff:
    return tradeoff(
        rows, **COLUMNS, slo_latency=SLO, planned_load=LOAD, risk=RISK, prices=PRICES,
        max_replicas=80, cpu_values=CPUS, memory_values=MEMORY,
    )  # fmt: skip


def _cost(replicas: float, cpu: float, memory: float, kind: str) -> float:
    per = PRICES.instance[kind] + cpu * PRICES.core_hour + memory * PRICES.gib_hour
    return replicas * per


def _true_exceedance(record: dict[str, object]) -> float:
    kind = np.array(record["instance_type"], dtype=object)
    args = (record["replicas"], record["cpu"], record["memory"])
    return float(TRUTH.exceedance(SLO, LOAD, *args, kind))


def test_the_choice_truly_meets_the_slo_and_is_within_one_replica_of_the_cheapest(
    found: Tradeoff,
) -> None:
    assert _true_exceedance(found.chosen) <= RISK
    assert found.chosen["estimated_risk"] <= RISK  # the point estimate, below the bound
    truth = []  # the true cheapest among the configurations the telemetry ran
    for cpu, memory, kind in CONFIGS:
        r = np.arange(1, 81)
        ok = TRUTH.exceedance(SLO, LOAD, r, cpu, memory, np.array(kind, dtype=object)) <= RISK
        need = int(r[ok][0])
        truth.append((_cost(need, cpu, memory, kind), need, cpu, memory, kind))
    _, need, cpu, memory, kind = min(truth)
    assert found.chosen["cost_per_hour"] <= _cost(need + 1, cpu, memory, kind) + 1e-9
    assert found.chosen["cost_per_hour"] == pytest.approx(
        _cost(found.chosen["replicas"], found.chosen["cpu"], found.chosen["memory"],
              found.chosen["instance_type"])
    )  # fmt: skip


def test_the_front_is_non_dominated_and_holds_the_choice(found: Tradeoff) -> None:
    front = found.front
    cost, lat = front["cost_per_hour"].to_numpy(), front["predicted_latency"].to_numpy()
    for i in range(len(front)):
        dominated = (cost <= cost[i]) & (lat <= lat[i]) & ((cost < cost[i]) | (lat < lat[i]))
        assert not dominated.any(), front.iloc[i]
    trusted = found.candidates[found.candidates["trusted"]]
    for _, row in trusted.iterrows():  # every trusted candidate is matched by the front
        assert ((cost <= row["cost_per_hour"]) & (lat <= row["predicted_latency"])).any()
    assert int(front["chosen"].sum()) == 1
    chosen = front[front["chosen"]].iloc[0]
    assert chosen["predicted_latency"] <= SLO
    cheaper = front[front["cost_per_hour"] < chosen["cost_per_hour"]]
    assert (cheaper["predicted_latency"] > SLO).all()


def test_predictions_are_monotone_in_load_cores_and_memory(found: Tradeoff) -> None:
    c = found.candidates
    assert len(c) == 80 * len(CPUS) * len(MEMORY) * 2
    for _, group in c.groupby(["cpu", "memory", "instance_type"]):
        lat = group.sort_values("replicas")["predicted_latency"].to_numpy()
        assert (np.diff(lat) <= 1e-12).all()  # more replicas: less load each, never slower
    for key, others in (("cpu", ["memory"]), ("memory", ["cpu"])):
        for _, group in c.groupby(["replicas", "instance_type", *others]):
            lat = group.sort_values(key)["predicted_latency"].to_numpy()
            assert (np.diff(lat) <= 1e-12).all(), key
    a = c[(c["cpu"] == 2.0) & (c["memory"] == 8.0) & (c["replicas"] == 20)]
    assert a["predicted_latency"].nunique() == 2  # the faster type is told apart


def test_configurations_beyond_the_telemetry_are_flagged_and_never_chosen(
    found: Tradeoff,
) -> None:
    c = found.candidates
    unseen = c[(c["cpu"] == 4.0) & (c["instance_type"] == "b")]  # never ran together
    assert len(unseen)
    assert not unseen["trusted"].any()
    assert unseen["untrusted_because"].str.contains("never ran in the telemetry").all()
    seen = c[["cpu", "memory", "instance_type"]].apply(tuple, axis=1).isin(CONFIGS)
    few = c[seen & (c["replicas"] == 1)]  # 1500 rps on one replica: far above any seen
    assert len(few) == len(CONFIGS)
    assert not few["trusted"].any()
    assert few["untrusted_because"].str.contains("load per replica").all()
    front_keys = set(map(tuple, found.front[["replicas", "cpu", "memory", "instance_type"]].values))
    bad = c[~c["trusted"]][["replicas", "cpu", "memory", "instance_type"]]
    assert not front_keys & set(map(tuple, bad.values))


def test_the_hold_out_reports_calibration_and_skill(found: Tradeoff) -> None:
    fit = found.fit
    assert fit["fit_rows"] + fit["holdout_rows"] == fit["rows"]
    assert fit["holdout_rows"] == pytest.approx(0.2 * fit["rows"], abs=1)
    assert fit["holdout_in_range"] > 0.5 * fit["holdout_rows"]
    assert 0 < fit["exceedance"] < 3 * RISK
    assert fit["pinball_log"] < 0.5 * fit["pinball_log_constant"]


def test_the_json_entry_gives_the_same_answer_as_plain_data(
    rows: pd.DataFrame, found: Tradeoff
) -> None:
    payload = {
        "telemetry": {c: rows[c].tolist() for c in ("rps", "p99", "replicas", "cpu", "memory")}
        | {"instance_type": rows["instance_type"].tolist()},
        "latency_column": "p99", "load_column": "rps", "replicas_column": "replicas",
        "cpu_column": "cpu", "memory_column": "memory", "instance_column": "instance_type",
        "slo_latency": SLO, "load": LOAD, "risk": RISK, "max_replicas": 80,
        "cpu_values": CPUS, "memory_values": MEMORY,
        "prices": {"instance": dict(PRICES.instance), "core_hour": 0.04, "gib_hour": 0.005},
    }  # fmt: skip
    answer = tradeoff_json(json.loads(json.dumps(payload)))  # a second fit: deterministic
    assert json.loads(json.dumps(answer)) == answer
    assert answer == json.loads(json.dumps(found.to_dict()))
    assert answer["chosen"] == found.chosen
    assert answer["front"] == json.loads(json.dumps(found.to_dict()["front"]))
    assert answer["candidates"]["total"] == len(found.candidates)
    with pytest.raises(ValidationError, match="unknown"):
        tradeoff_json(payload | {"colour": "red"})
    with pytest.raises(ValidationError, match="'load'"):
        tradeoff_json({k: v for k, v in payload.items() if k != "load"})


def test_resources_left_out_are_not_part_of_the_configuration(rows: pd.DataFrame) -> None:
    one = rows[(rows["cpu"] == 4.0) & (rows["memory"] == 8.0) & (rows["instance_type"] == "a")]
    found = tradeoff(
        one, latency="p99", load="rps", replicas="replicas", slo_latency=SLO, planned_load=LOAD,
        risk=RISK, prices=Prices(replica_hour=0.1), max_replicas=80,
    )  # fmt: skip
    assert set(found.chosen) == {
        "replicas", "load_per_replica", "cost_per_hour", "predicted_latency", "meets_slo",
        "estimated_risk",
    }  # fmt: skip
    assert found.chosen["cost_per_hour"] == pytest.approx(0.1 * found.chosen["replicas"])
    record = {"replicas": found.chosen["replicas"], "cpu": 4.0, "memory": 8.0, "instance_type": "a"}
    assert _true_exceedance(record) <= RISK


def test_the_model_refuses_to_predict_unfitted() -> None:
    with pytest.raises(ValidationError, match="not fitted"):
        LatencyQuantileModel().predict(np.zeros((1, 1)))


SMALL = resource_telemetry(TRUTH, CONFIGS[1:3], days=1, seed=3)


def _call(data: object = None, **options: object) -> Tradeoff:
    settings: dict[str, object] = {
        **COLUMNS, "slo_latency": SLO, "planned_load": LOAD, "risk": RISK, "prices": PRICES,
    }  # fmt: skip
    settings.update(options)
    frame = SMALL if data is None else data
    return tradeoff(frame, **settings)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("data", "options", "needle"),
    [
        (SMALL.iloc[:0], {}, "expected telemetry rows, got none"),
        (SMALL.assign(p99=np.nan), {}, "no finite one"),
        (SMALL.assign(p99=-1.0), {}, "no finite one"),
        (None, {"planned_load": 0.0}, "planned load > 0"),
        (None, {"planned_load": -5.0}, "planned load > 0"),
        (None, {"risk": 0.0}, r"risk in \(0, 0.5\)"),
        (None, {"risk": 0.5}, r"risk in \(0, 0.5\)"),
        (None, {"risk": 1.5}, r"risk in \(0, 0.5\)"),
        (None, {"slo_latency": 0.0}, "SLO latency > 0"),
        (None, {"max_replicas": 0}, "max replicas"),
        (None, {"prices": Prices(instance={"a": 0.1})}, "no price for \\['b'\\]|none for"),
        (None, {"prices": Prices(instance={"a": 0.0, "b": 0.0})}, "all zero"),
        (None, {"prices": Prices(instance={"a": -1.0, "b": 1.0})}, "prices >= 0"),
        (None, {"cpu_values": [0.0, 2.0]}, "cpu values > 0"),
        (None, {"max_replicas": 10_000, "cpu_values": list(range(1, 65))}, "at most 200,000"),
        (SMALL.iloc[:30], {}, "at least 50 complete rows"),
        (SMALL.assign(rps=SMALL["rps"].astype(str).where(SMALL.index != 4, "fast")), {}, "rows: 5"),
    ],
)
def test_bad_input_is_one_clear_error(
    data: object, options: dict[str, object], needle: str
) -> None:
    with pytest.raises(ValidationError, match=needle) as info:
        _call(data, **options)
    assert "\n" not in str(info.value)


def test_a_missing_column_is_named() -> None:
    with pytest.raises(MissingColumnsError, match="gpu") as info:
        _call(None, cpu="gpu")
    assert info.value.missing == ["gpu"]


def test_prices_by_type_without_a_type_column_are_refused() -> None:
    with pytest.raises(ValidationError, match="no instance type column"):
        _call(None, instance=None)


def test_no_configuration_meeting_the_slo_names_the_best_and_what_to_change() -> None:
    with pytest.raises(ValidationError, match=r"best trusted one, .* replicas") as info:
        _call(None, slo_latency=0.05)  # below the latency of an idle replica
    assert "relax the SLO" in info.value.hint
    with pytest.raises(ValidationError, match=r"more than 3 replicas|above what the") as info:
        _call(None, max_replicas=3)  # 1500 rps on 3 replicas: never seen
    assert "replicas" in info.value.hint
