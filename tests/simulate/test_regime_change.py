"""The persisting regime change: a new traffic mix and a latency regression that stays."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from modelphase.backtest import mase
from modelphase.exceptions import ValidationError
from modelphase.forecast import SeasonalNaive
from modelphase.frame import NS_PER_SECOND, parse_time, series_id
from modelphase.simulate import (
    EVENT_KINDS,
    REGIME_CHANGE,
    SERVICE_NAMES,
    Event,
    RegimeChange,
    Simulation,
    simulate,
)
from support.cli import RunCli

MINUTE = 60 * NS_PER_SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR
STEP = 5 * MINUTE
PER_DAY = DAY // STEP
METRICS = {
    "requests": ("http_requests_per_second", ""),
    "p50": ("http_request_duration_seconds", "0.5"),
    "p99": ("http_request_duration_seconds", "0.99"),
    "errors": ("http_errors_ratio", ""),
    "cpu": ("cpu_usage_cores", ""),
    "memory": ("memory_usage_bytes", ""),
}
WEEK = {"services": 3, "days": 7.0, "step": STEP, "seed": 11}


def uid(service: str, key: str) -> str:
    name, quantile = METRICS[key]
    return series_id({"__name__": name, "service": service, "quantile": quantile})


def matrix(sim: Simulation) -> NDArray[np.float64]:
    return sim.panel.y.reshape(sim.panel.n_series, -1)


def row(sim: Simulation, service: str, key: str) -> NDArray[np.float64]:
    values: NDArray[np.float64] = matrix(sim)[sim.panel.ids.index(uid(service, key))]
    return values


def changes(sim: Simulation) -> list[Event]:
    return [e for e in sim.events if e.kind == REGIME_CHANGE]


def first_point(sim: Simulation, event: Event) -> int:
    assert sim.panel.step is not None
    return (event.start - int(sim.panel.ds[0])) // sim.panel.step


def regime_mask(sim: Simulation) -> NDArray[np.bool_]:
    """True on the (series, point) cells of the regime-change events."""
    mask = np.zeros(matrix(sim).shape, dtype=bool)
    for event in changes(sim):
        for u in event.unique_ids:
            mask[sim.panel.ids.index(u), first_point(sim, event) :] = True
    return mask


def changed(a: Simulation, b: Simulation) -> NDArray[np.bool_]:
    y, z = matrix(a), matrix(b)
    out: NDArray[np.bool_] = ~((y == z) | (np.isnan(y) & np.isnan(z)))
    return out


@pytest.fixture(scope="module")
def week() -> tuple[Simulation, Simulation]:
    """A week with random events, with the default regime change and without it."""
    return simulate(regime_change=RegimeChange(), **WEEK), simulate(**WEEK)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def quiet_week() -> tuple[Simulation, Simulation]:
    """The same week without random events, with the default change and without it."""
    kwargs = {**WEEK, "events": False}
    return (
        simulate(regime_change=RegimeChange(), **kwargs),  # type: ignore[arg-type]
        simulate(**kwargs),  # type: ignore[arg-type]
    )


# ------------------------------------------------------------------ ground truth


def test_none_is_the_default() -> None:
    a = simulate(services=2, days=2, seed=5)
    b = simulate(services=2, days=2, seed=5, regime_change=None)
    assert a.panel.y.tobytes() == b.panel.y.tobytes()
    assert a.events == b.events


def test_one_event_per_service_from_the_middle_to_the_end(
    week: tuple[Simulation, Simulation],
) -> None:
    sim, base = week
    events = changes(sim)
    assert [e.service for e in events] == list(SERVICE_NAMES[:3])
    n = matrix(sim).shape[1]
    for event in events:
        assert event.start == int(sim.panel.ds[n // 2]) == parse_time("2026-01-08T12:00:00Z")
        assert event.end == int(sim.panel.ds[n - 1])
        assert event.unique_ids == tuple(sorted(uid(event.service, k) for k in METRICS))
        assert event.magnitude == 0.3
        assert not event.is_incident
        assert "+30%" in event.description
        assert "3 h later" in event.description
        assert "x1.50" in event.description
        data = json.loads(json.dumps(event.to_dict()))
        assert parse_time(str(data["end"])) == event.end
    assert EVENT_KINDS == (
        "spike", "level_shift", "drift", "latency_regression", "traffic_surge",
        "missing_scrapes", "deploy",
    )  # fmt: skip
    # the random events are those of the run without the change, renumbered
    others = [e for e in sim.events if e.kind != REGIME_CHANGE]
    strip = [(e.kind, e.service, e.unique_ids, e.start, e.end, e.magnitude) for e in others]
    assert strip == [
        (e.kind, e.service, e.unique_ids, e.start, e.end, e.magnitude) for e in base.events
    ]
    assert [e.event_id for e in sim.events] == [f"e{i:03d}" for i in range(len(sim.events))]
    assert [e for e in sim.events if e.start < events[0].start] == [
        e for e in base.events if e.start < events[0].start
    ]
    # not an incident: the point labels are those of the run without the change
    assert sim.truth()["is_anomaly"].equals(base.truth()["is_anomaly"])
    assert len(sim.events_frame()) == len(sim.events)


def test_change_touches_exactly_its_series_from_its_start(
    week: tuple[Simulation, Simulation], quiet_week: tuple[Simulation, Simulation]
) -> None:
    for sim, base in (week, quiet_week):
        assert np.array_equal(changed(sim, base), regime_mask(sim) & ~np.isnan(matrix(sim)))
        assert np.array_equal(np.isnan(matrix(sim)), np.isnan(matrix(base)))


def test_same_seed_same_change() -> None:
    change = RegimeChange(start=parse_time("2026-01-07T09:30:00Z"), services=("cart",))
    a = simulate(services=2, days=3, seed=2, regime_change=change)
    b = simulate(services=2, days=3, seed=2, regime_change=change)
    assert a.panel.y.tobytes() == b.panel.y.tobytes()
    assert a.events == b.events


def test_chosen_services_only() -> None:
    kwargs = {"services": 3, "days": 3.0, "step": STEP, "seed": 4}
    change = RegimeChange(services=("search", "checkout"))
    sim = simulate(regime_change=change, **kwargs)  # type: ignore[arg-type]
    base = simulate(**kwargs)  # type: ignore[arg-type]
    assert sorted(e.service for e in changes(sim)) == ["checkout", "search"]
    assert np.array_equal(changed(sim, base), regime_mask(sim) & ~np.isnan(matrix(sim)))
    assert np.array_equal(row(sim, "cart", "cpu"), row(base, "cart", "cpu"), equal_nan=True)


@settings(max_examples=15, deadline=None)
@given(
    points=st.integers(2, 600),
    step=st.sampled_from([MINUTE, 5 * MINUTE, HOUR]),
    seed=st.integers(0, 2**32 - 1),
    at=st.floats(0.0, 1.0),
    events=st.booleans(),
)
def test_start_moves_up_to_the_grid_and_nothing_before_changes(
    points: int, step: int, seed: int, at: float, events: bool
) -> None:
    kwargs = {"services": 2, "days": points * step / DAY, "step": step, "seed": seed}
    base = simulate(events=events, **kwargs)  # type: ignore[arg-type]
    ds = base.panel.ds[:points]
    start = int(ds[0]) + 1 + int(at * (int(ds[-1]) - int(ds[0]) - 1))
    sim = simulate(events=events, regime_change=RegimeChange(start=start), **kwargs)  # type: ignore[arg-type]
    for event in changes(sim):
        assert start <= event.start < start + step
        assert (event.start - int(ds[0])) % step == 0
        assert event.end == int(ds[-1])
    assert np.array_equal(changed(sim, base), regime_mask(sim) & ~np.isnan(matrix(sim)))


# ------------------------------------------------------------------ effect sizes


def hourly_profile(y: NDArray[np.float64]) -> NDArray[np.float64]:
    """The mean of each hour of the day over whole days of 5-minute points."""
    days = y[: len(y) // PER_DAY * PER_DAY].reshape(-1, 24, PER_DAY // 24)
    out: NDArray[np.float64] = days.mean(axis=(0, 2))
    return out


def test_traffic_mix_raises_the_level_and_moves_the_peak(
    quiet_week: tuple[Simulation, Simulation],
) -> None:
    sim, base = quiet_week
    first = first_point(sim, changes(sim)[0])
    after = slice(first, first + PER_DAY)
    for service in SERVICE_NAMES[:3]:
        requests, old = row(sim, service, "requests"), row(base, service, "requests")
        assert np.array_equal(requests[:first], old[:first])
        # the same hours of the day, with and without the change: +30% on the day
        assert requests[after].mean() / old[after].mean() == pytest.approx(1.3, rel=0.02)
        # the daily shape after the change is the one before, 3 h later
        before = hourly_profile(requests[first - 2 * PER_DAY : first])
        later = hourly_profile(requests[first : first + 2 * PER_DAY])
        lags = [float(np.corrcoef(np.roll(before, k), later)[0, 1]) for k in range(24)]
        assert int(np.argmax(lags)) == 3
        # load-driven series follow
        for key in ("cpu", "p50"):
            assert (
                row(sim, service, key)[after].mean() > 1.1 * row(base, service, key)[after].mean()
            )


def test_latency_regression_persists_by_its_factor() -> None:
    kwargs = {**WEEK, "events": False}
    only = RegimeChange(level=0.0, peak_shift_hours=0.0, latency_factor=1.5)
    sim = simulate(regime_change=only, **kwargs)  # type: ignore[arg-type]
    base = simulate(**kwargs)  # type: ignore[arg-type]
    for event in changes(sim):
        assert event.unique_ids == tuple(sorted(uid(event.service, k) for k in ("p50", "p99")))
        assert event.magnitude == 0.0
    first = first_point(sim, changes(sim)[0])
    for service in SERVICE_NAMES[:3]:
        p99, p50 = row(sim, service, "p99"), row(sim, service, "p50")
        # to the end of the data (a weekend: lower load, the same factor)
        assert np.allclose(p99[first:] / row(base, service, "p99")[first:], 1.5)
        assert np.allclose(p50[first:] / row(base, service, "p50")[first:], 1.25)
        # the day after over the day before, the same hours: about the factor
        ratio = p99[first : first + PER_DAY].mean() / p99[first - PER_DAY : first].mean()
        assert ratio == pytest.approx(1.5, rel=0.1)


def test_a_forecaster_trained_before_is_worse_after(
    quiet_week: tuple[Simulation, Simulation],
) -> None:
    sim, base = quiet_week  # no random events: the change alone makes the difference
    first = first_point(sim, changes(sim)[0])
    for service in SERVICE_NAMES[:3]:
        for key in ("requests", "p99", "cpu"):
            y, old = row(sim, service, key), row(base, service, key)
            train = y[:first]
            assert np.array_equal(train, old[:first], equal_nan=True)
            model = SeasonalNaive(season_length=int(PER_DAY)).fit(train)
            forecast = model.predict(int(PER_DAY))["mean"]
            after = slice(first, first + PER_DAY)
            kept = mase(old[after], forecast, insample=train, season=int(PER_DAY))
            moved = mase(y[after], forecast, insample=train, season=int(PER_DAY))
            assert moved > 3.0 * kept, (service, key, kept, moved)


# -------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("change", "word"),
    [
        ("2026-01-08", "regime_change: expected a RegimeChange"),
        (RegimeChange(start=parse_time("2026-01-05T00:00:00Z")), "regime_change.start"),
        (RegimeChange(start=parse_time("2026-01-04T00:00:00Z")), "regime_change.start"),
        (RegimeChange(start=parse_time("2026-01-08T00:00:00Z")), "regime_change.start"),
        (RegimeChange(start=-(10**20)), "regime_change.start"),
        (RegimeChange(start=1.5e18), "regime_change.start"),  # type: ignore[arg-type]
        (RegimeChange(services=("nope",)), "regime_change.services"),
        (RegimeChange(services=()), "regime_change.services"),
        (RegimeChange(services="cart"), "regime_change.services"),  # type: ignore[arg-type]
        (RegimeChange(level=-1.0), "regime_change.level"),
        (RegimeChange(level=math.inf), "regime_change.level"),
        (RegimeChange(level="0.3"), "regime_change.level"),  # type: ignore[arg-type]
        (RegimeChange(peak_shift_hours=13.0), "regime_change.peak_shift_hours"),
        (RegimeChange(peak_shift_hours=math.nan), "regime_change.peak_shift_hours"),
        (RegimeChange(latency_factor=0.5), "regime_change.latency_factor"),
        (RegimeChange(latency_factor=True), "regime_change.latency_factor"),
    ],
)
def test_bad_regime_changes_are_refused(change: object, word: str) -> None:
    with pytest.raises(ValidationError, match=word) as info:
        simulate(services=2, days=2, regime_change=change)  # type: ignore[arg-type]
    text = str(info.value)
    assert "\n" not in text
    for part in ("expected", "got", "Fix:"):
        assert part in text


# --------------------------------------------------------------------------- CLI


def test_cli_adds_the_change(cli: RunCli, tmp_path: Path) -> None:
    out = tmp_path / "sim"
    result = cli(
        "simulate", "--services", "2", "--days", "2", "--seed", "7", "--regime-change", "1d6h",
        "-o", str(out), "--json",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    truth = json.loads((out / "events.json").read_text())["events"]
    kinds = [e for e in truth if e["kind"] == REGIME_CHANGE]
    assert [e["start"] for e in kinds] == ["2026-01-06T06:00:00Z"] * 2
    plain = cli("simulate", "--services", "2", "--days", "2", "--seed", "7", "-o", str(out))
    assert plain.code == 0
    assert REGIME_CHANGE not in (out / "events.json").read_text()


def test_cli_refuses_a_change_outside_the_days(cli: RunCli, tmp_path: Path) -> None:
    result = cli("simulate", "--days", "2", "--regime-change", "3d", "-o", str(tmp_path / "x"))
    assert result.code != 0
    assert "--regime-change" in result.stderr + result.stdout
    assert "Fix:" in result.stderr + result.stdout
