"""The triage benchmark's scores, loaders and peers on tiny hand-made cases: AC@k and
Avg@5, the service order a ranking gives, RCD's and PetShop's formats read into the wide
frame, the window, BARO (against RCAEval's own when installed), epsilon-Diagnosis, HT
with and without a call graph, and one end-to-end run on a hand-made corpus."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

from support.scripts import BENCHMARKS, load_script


def _load(monkeypatch: pytest.MonkeyPatch, name: str) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # its sibling modules
    for sibling in ("_rca", "_rca_peers", "triage"):
        monkeypatch.delitem(sys.modules, sibling, raising=False)
    return load_script(name, BENCHMARKS / f"{name}.py", monkeypatch)


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    return _load(monkeypatch, "triage")


@pytest.fixture
def rca(bench: ModuleType) -> ModuleType:
    return sys.modules["_rca"]


@pytest.fixture
def peers(bench: ModuleType) -> ModuleType:
    return sys.modules["_rca_peers"]


def _rcd(root: Path, name: str, normal_times: list[int], anomalous_times: list[int]) -> Path:
    folder = root / "rcd" / "sock-shop-data" / name
    folder.mkdir(parents=True)
    for file, times, level in (("normal", normal_times, 1.0), ("anomalous", anomalous_times, 9.0)):
        pd.DataFrame(
            {
                "time": times,
                "carts_cpu": [level + 0.1 * (i % 3) for i in range(len(times))],
                "orders_lat_99": [5.0 + 0.2 * (i % 2) for i in range(len(times))],
                "carts-db_mem": [2e8 + 1e6 * (i % 4) for i in range(len(times))],
            }
        ).to_csv(folder / f"{file}.csv", index=False)
    return folder


def _petshop(root: Path, issue: str, node: str = "pay_ECS::Container") -> Path:
    folder = root / "petshop" / "dataset" / "low" / "train" / issue
    folder.mkdir(parents=True)
    lines = [
        "microservice,PetSite,PetSite,pay_ECS::Container",
        "metric,latency,requests,latency",
        "statistic,Average,Sum,p90",
        "unix_timestamp,,,",
        "1000.0,0.2,10,0.5",
        "1300.0,0.2,,0.5",
        "1600.0,0.9,12,",
        "1900.0,0.8,11,3.0",
    ]
    (folder / "metrics.csv").write_text("\n".join(lines) + "\n")
    target = {
        "target": {"node": "PetSite", "metric": "latency", "agg": "Average", "timestamp": 1500},
        "root_cause": {"node": node, "metric": None},
    }
    (folder / "target.json").write_text(json.dumps(target))
    graph = "," + "PetSite,pay_ECS::Container\nPetSite,0,1\npay_ECS::Container,0,0\n"
    (folder.parents[1] / "graph.csv").write_text(graph)
    return folder


# -- scores --------------------------------------------------------------------------------


def test_ac_at_k_and_avg5_on_hand_computed_ranks(bench: ModuleType) -> None:
    assert bench.truth_rank(["a", "b", "c"], "b") == 2
    assert bench.truth_rank(["a"], "z") is None
    got = bench.scores([1, 3, None])
    assert got["ac1"] == pytest.approx(1 / 3)
    assert got["ac3"] == pytest.approx(2 / 3)
    assert got["ac5"] == pytest.approx(2 / 3)
    assert got["avg5"] == pytest.approx((1 / 3 + 1 / 3 + 2 / 3 + 2 / 3 + 2 / 3) / 5)
    assert bench.scores([6])["avg5"] == 0.0


def test_services_follow_their_first_column_and_the_rest_a_seeded_order(
    peers: ModuleType,
) -> None:
    services = ["a", "b", "c", "d", "e"]
    ranked = peers.rank_services(["c_cpu", "a_mem", "c_mem", "time"], services, seed=7)
    assert ranked[:2] == ["c", "a"]
    assert sorted(ranked) == services
    assert ranked == peers.rank_services(["c_lat_50", "a_cpu"], services, seed=7)
    orders = {tuple(peers.rank_services([], services, seed)) for seed in range(20)}
    assert len(orders) > 1  # random, yet the same for a seed
    assert peers.case_seed("carts-cpu/1") == peers.case_seed("carts-cpu/1")


# -- loaders -------------------------------------------------------------------------------


def test_an_rcd_run_is_normal_then_anomalous(rca: ModuleType, tmp_path: Path) -> None:
    _rcd(tmp_path, "carts-cpu/1", [10, 11, 12], [500, 501])
    (case,) = rca.load("rcd", tmp_path)
    assert (case.name, case.root_cause, case.fault, case.split) == (
        "carts-cpu/1",
        "carts",
        "cpu",
        "all",
    )
    assert case.at == 500
    assert case.frame["time"].tolist() == [10, 11, 12, 500, 501]
    assert case.services == ["carts", "orders", "carts-db"]
    assert rca.window(case, 0)["time"].tolist() == [10, 11, 12, 500]


def test_an_rcd_anomalous_file_recorded_first_is_moved_after(
    rca: ModuleType, tmp_path: Path
) -> None:
    _rcd(tmp_path, "orders-mem/5", [100, 101, 102], [50, 51])
    (case,) = rca.load("rcd", tmp_path)
    assert case.frame["time"].tolist() == [100, 101, 102, 103, 104]
    assert case.at == 103
    assert case.frame["carts_cpu"].iloc[3] == pytest.approx(9.0)  # the anomalous rows


def test_a_petshop_issue_becomes_a_wide_frame(rca: ModuleType, tmp_path: Path) -> None:
    _petshop(tmp_path, "issue_0")
    (case,) = rca.load("petshop", tmp_path)
    assert list(case.frame.columns) == [
        "time",
        "PetSite_latency_Average",
        "PetSite_requests_Sum",
        "pay-ECS::Container_latency_p90",
    ]
    assert case.root_cause == "pay-ECS::Container"
    assert (case.at, case.fault, case.group, case.split, case.period) == (
        1500, "latency", "low", "train", 300
    )  # fmt: skip
    # missing cells: forward-filled, then 0
    assert case.frame["PetSite_requests_Sum"].tolist() == [10, 10, 12, 11]
    assert case.frame["pay-ECS::Container_latency_p90"].tolist() == [0.5, 0.5, 0.5, 3.0]
    assert rca.window(case, 300)["time"].tolist() == [1000, 1300, 1600]
    assert rca.petshop_graph(tmp_path, "low") == [("PetSite", "pay-ECS::Container")]


def test_a_petshop_root_cause_without_a_column_is_refused(rca: ModuleType, tmp_path: Path) -> None:
    _petshop(tmp_path, "issue_0", node="nowhere_AWS")
    with pytest.raises(ValueError, match="nowhere-AWS"):
        rca.load("petshop", tmp_path)


# -- peers ---------------------------------------------------------------------------------


def _shift_frame(seed: int = 0) -> pd.DataFrame:
    """40 normal rows, 20 anomalous; carts' cpu jumps, the others are noise."""
    rng = np.random.default_rng(seed)
    n = 60
    return pd.DataFrame(
        {
            "time": np.arange(n, dtype=float),
            "carts_cpu": rng.normal(1, 0.1, n) + np.where(np.arange(n) >= 40, 5.0, 0.0),
            "orders_lat_99": rng.normal(5, 0.2, n),
            "user_mem": rng.normal(3e8, 1e6, n),
            "user_cpu": np.full(n, 2.0),  # constant: BARO drops it
        }
    )


def test_baro_ranks_the_metric_that_jumped_first(peers: ModuleType) -> None:
    ranked = peers.baro_restated(_shift_frame(), 40.0)
    assert ranked[0] == "carts_cpu"
    assert "user_cpu" not in ranked
    assert peers.baro_restated(_shift_frame(), 100.0) == []  # no anomalous row


def test_baro_restated_agrees_with_rcaeval(peers: ModuleType) -> None:
    if peers.rcaeval_baro() is None:
        pytest.skip("rcaeval is not installed")
    for seed in range(5):
        frame = _shift_frame(seed)
        assert peers.baro(frame, 40.0) == peers.baro_restated(frame, 40.0)


def test_epsilon_diagnosis_puts_the_correlated_metric_first(peers: ModuleType) -> None:
    rng = np.random.default_rng(1)
    normal = rng.normal(size=(30, 3))
    anomalous = np.column_stack([rng.normal(size=30), 2 * normal[:, 1] + 5, rng.normal(size=30)])
    frame = pd.DataFrame(np.vstack([normal, anomalous]), columns=["a_x", "b_x", "c_x"])
    frame.insert(0, "time", np.arange(60.0))
    ranked = peers.epsilon_diagnosis(frame, 30.0, seed=0)
    assert ranked[0] == "b_x"
    assert sorted(ranked) == ["a_x", "b_x", "c_x"]
    assert ranked == peers.epsilon_diagnosis(frame, 30.0, seed=0)
    assert peers.epsilon_diagnosis(frame.iloc[:31], 30.0) == []  # one anomalous row


def test_ht_with_the_call_graph_blames_the_callee_not_its_caller(peers: ModuleType) -> None:
    rng = np.random.default_rng(2)
    n = 60
    callee = rng.normal(1, 0.1, n) + np.where(np.arange(n) >= 40, 3.0, 0.0)
    caller = 2 * callee + rng.normal(0, 0.01, n)  # the caller waits on the callee
    frame = pd.DataFrame({"time": np.arange(n, dtype=float), "db_lat": callee, "web_lat": caller})
    assert peers.metric_parents(["db_lat", "web_lat"], [("web", "db")]) == {
        "db_lat": [],
        "web_lat": ["db_lat"],
    }
    assert peers.hypothesis_testing(frame, 40.0, [("web", "db")])[0] == "db_lat"
    # without the graph the caller's bigger jump wins
    assert peers.hypothesis_testing(frame, 40.0, None)[0] == "web_lat"


# -- the harness ---------------------------------------------------------------------------


def test_a_run_scores_every_ranker_and_writes_json(
    bench: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _rcd(tmp_path, "carts-cpu/1", list(range(30)), list(range(100, 130)))
    _rcd(tmp_path, "carts-cpu/2", list(range(30)), list(range(100, 130)))
    out = tmp_path / "out.json"
    argv = ["--data", str(tmp_path), "--corpus", "rcd", "--only", "baro", "--only", "random"]
    bench.main([*argv, "--limit", "1", "--json", str(out)])
    found = json.loads(out.read_text())
    assert found["rankers"] == ["baro", "random"]
    assert [c["case"] for c in found["cases"]] == ["carts-cpu/1", "carts-cpu/1"]
    baro = found["summary"]["rcd"]["all"]["baro"]
    assert (baro["ac1"], baro["avg5"], baro["n"]) == (1.0, 1.0, 1.0)
    assert "fault=cpu" in found["summary"]["rcd"]
    assert "rcd: 1 cases" in capsys.readouterr().out
