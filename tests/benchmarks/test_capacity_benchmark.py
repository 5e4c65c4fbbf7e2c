"""The autoscaling replay benchmark's peers and scores: the HPA simulation on hand-made
demand, the PHPA's extrapolation, the SPEC RG metrics on a hand-computed case, and the
trace loaders (skipped without ``../shared/data/capacity``)."""

from __future__ import annotations

import sys
from types import ModuleType

import numpy as np
import pytest

from support.scripts import BENCHMARKS, load_script


def _load(monkeypatch: pytest.MonkeyPatch, name: str) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # its sibling modules
    for sibling in ("_traces", "_hpa", "_elasticity", "capacity"):
        monkeypatch.delitem(sys.modules, sibling, raising=False)
    return load_script(name, BENCHMARKS / f"{name}.py", monkeypatch)


@pytest.fixture
def hpa(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    return _load(monkeypatch, "_hpa")


@pytest.fixture
def elasticity(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    return _load(monkeypatch, "_elasticity")


@pytest.fixture
def traces(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    return _load(monkeypatch, "_traces")


def test_a_step_up_is_limited_by_the_rate_policy_and_the_start_up(
    hpa: ModuleType, elasticity: ModuleType
) -> None:
    demand = np.array([8.0] * 10 + [40.0] * 10)
    asked = hpa.simulate(demand, 1.0, utilisation=1.0, startup=2)
    # minute 11 sees the step: max(8 + 4, 2 x 8) = 16, then 32, then the 40 it needs
    assert asked[:11].tolist() == [8] * 11
    assert asked[11:14].tolist() == [16, 32, 40]
    serving = elasticity.supply(asked, 2)
    assert serving[12:16].tolist() == [8, 16, 32, 40]
    assert elasticity.score(demand[2:], serving[2:], 1.0)["under_minutes"] == 5


def test_starting_pods_count_against_a_second_scale_up(hpa: ModuleType) -> None:
    # 10 ready, 10 starting, demand for 21: over every pod the ratio is 1.05, within
    # the tolerance: the HPA waits for the pods it asked for
    assert hpa.calculate(21.0, 10, 10, 1.0, 20) == 20
    assert hpa.calculate(30.0, 10, 10, 1.0, 20) == 30
    assert hpa.calculate(15.0, 10, 10, 1.0, 20) == 20  # enough once they are ready


def test_a_step_down_holds_for_the_stabilisation_window(hpa: ModuleType) -> None:
    demand = np.array([40.0] * 20 + [8.0] * 10)
    asked = hpa.simulate(demand, 1.0, utilisation=1.0, startup=2)
    # minute 21 first sees 8; minute 20's recommendation of 40 leaves the 300 s window
    # at minute 25
    assert asked[:25].tolist() == [40] * 25
    assert asked[25:].tolist() == [8] * 5


def test_within_the_tolerance_nothing_changes(hpa: ModuleType) -> None:
    demand = np.array([10.0, 10.9, 9.1, 10.5, 9.5, 10.0])
    assert hpa.simulate(demand, 1.0, utilisation=1.0).tolist() == [10] * 6
    assert hpa.simulate(np.array([10.0, 11.5, 11.5]), 1.0, utilisation=1.0)[-1] == 12
    # the target utilisation: 10 at 80% of C = 1 needs ceil(12.5) = 13
    assert hpa.simulate(np.array([10.0, 10.0]), 1.0, utilisation=0.8).tolist() == [13, 13]


def test_phpa_extrapolates_a_linear_ramp_by_the_look_ahead(hpa: ModuleType) -> None:
    predict = hpa.linear_predictor(history_size=6, look_ahead_s=120.0)
    history = [(60.0 * k, 2 + 3 * k) for k in range(10)]
    # the last 6 of 10 points, two minutes past the last: 2 + 3 * 11
    assert predict(history, 540.0) == 35
    assert len(history) == 6
    assert predict([(0.0, 5)], 0.0) is None
    ramp = np.arange(1.0, 41.0)
    plain = hpa.simulate(ramp, 1.0, utilisation=1.0)
    ahead = hpa.simulate(ramp, 1.0, utilisation=1.0, predictor=hpa.linear_predictor(6, 120.0))
    assert (ahead >= plain).all()
    assert (ahead[10:] > plain[10:]).all()


def test_elasticity_metrics_on_a_hand_computed_case(elasticity: ModuleType) -> None:
    demand = np.array([0.5, 2.5, 1.0, 3.0])
    serving = np.array([1, 2, 3, 2])
    m = elasticity.score(demand, serving, 1.0)
    # needed [1, 3, 1, 3]: short by 1 at minutes 1 and 3, 2 too many at minute 2
    assert m["under_minutes"] == 2
    assert m["replica_minutes"] == 8
    assert m["idle_replica_minutes"] == pytest.approx(0.5 + 2.0)
    assert m["accuracy_U"] == pytest.approx(2 / 4)
    assert m["accuracy_O"] == pytest.approx(2 / 4)
    assert m["theta_U"] == pytest.approx((1 / 3 + 1 / 3) / 4)
    assert m["theta_O"] == pytest.approx(2 / 4)
    assert m["timeshare_U"] == pytest.approx(2 / 4)
    assert m["timeshare_O"] == pytest.approx(1 / 4)
    assert np.isnan(elasticity.supply(np.array([5, 6, 7, 8]), 2)[:2]).all()
    assert elasticity.supply(np.array([5, 6, 7, 8]), 2)[2:].tolist() == [5, 6]
    with pytest.raises(ValueError, match="no NaN"):
        elasticity.score(demand, np.array([np.nan, 1, 1, 1]), 1.0)


def test_carry_forward_drops_stale_sources(traces: ModuleType) -> None:
    got = traces.carry_forward(
        np.array([0.0, 100.0]), np.array([1.0, 2.0]), np.array([-1.0, 50.0, 150.0, 800.0]), 600
    )
    assert got.tolist() == [0.0, 1.0, 2.0, 0.0]


def test_the_target_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    bench = _load(monkeypatch, "capacity")
    base = {"under_minutes": 10, "replica_minutes": 100}
    assert bench.meets_target({"under_minutes": 5, "replica_minutes": 110}, base)
    assert not bench.meets_target({"under_minutes": 5, "replica_minutes": 111}, base)
    assert bench.meets_target({"under_minutes": 10, "replica_minutes": 80}, base)
    assert not bench.meets_target({"under_minutes": 11, "replica_minutes": 50}, base)


def test_our_row_is_skipped_without_the_command(monkeypatch: pytest.MonkeyPatch) -> None:
    bench = _load(monkeypatch, "capacity")
    monkeypatch.setattr(bench.shutil, "which", lambda _: None)
    with pytest.raises(bench.SkippedError, match="not on PATH"):
        bench.modelphase_command()


@pytest.fixture
def data(traces: ModuleType) -> ModuleType:
    if not traces.DATA.is_dir():
        pytest.skip(f"no capacity traces at {traces.DATA}")
    return traces


def test_the_trace_loaders(data: ModuleType) -> None:
    loaded = {t.name: t for t in data.load_all(per_type=True)}
    assert set(loaded) == {
        "alibaba",
        "alibaba/generative",
        "alibaba/api",
        "azure_code",
        "azure_conv",
    }
    for trace in loaded.values():
        d = trace.demand
        assert not d.isna().any()
        assert (d >= 0).all()
        assert d.index.is_monotonic_increasing
        assert (d.index[1:] - d.index[:-1] == data.STEP).all()
        assert str(d.index.tz) == "UTC"
        assert trace.n_fit == int(0.7 * len(d))
        assert trace.fit_end == d.index[trace.n_fit - 1]
        fit = d.to_numpy()[: trace.n_fit]
        assert trace.capacity == pytest.approx(np.percentile(fit, 99) / 10)
    # 22.3 hours of Alibaba, about an hour of each Azure trace
    assert 1300 <= len(loaded["alibaba"].demand) <= 1345
    assert 50 <= len(loaded["azure_code"].demand) <= 62
    assert 50 <= len(loaded["azure_conv"].demand) <= 62
    # the service is the sum of its request types, minute by minute, where both span
    gen, api = loaded["alibaba/generative"].demand, loaded["alibaba/api"].demand
    both = gen.index.intersection(api.index)
    assert len(both) > 1300
    assert np.allclose(gen[both] + api[both], loaded["alibaba"].demand[both])
    # Azure: arrivals per minute / 60, so a whole number of requests per minute
    per_min = loaded["azure_code"].demand.to_numpy() * 60
    assert np.allclose(per_min, np.round(per_min))
