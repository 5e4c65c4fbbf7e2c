"""The telemetry simulator: shapes, realism, events and their ground truth."""

from __future__ import annotations

import doctest
import itertools
import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

import modelphase.simulate
from modelphase.exceptions import ValidationError
from modelphase.frame import NS_PER_SECOND, parse_time, series_id
from modelphase.simulate import EVENT_KINDS, SERVICE_NAMES, Event, Simulation, simulate

MINUTE = 60 * NS_PER_SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR
METRICS = {
    "requests": ("http_requests_per_second", ""),
    "p50": ("http_request_duration_seconds", "0.5"),
    "p99": ("http_request_duration_seconds", "0.99"),
    "errors": ("http_errors_ratio", ""),
    "cpu": ("cpu_usage_cores", ""),
    "memory": ("memory_usage_bytes", ""),
}
INCIDENTS = {"spike", "level_shift", "drift", "latency_regression"}


def uid(service: str, key: str) -> str:
    name, quantile = METRICS[key]
    return series_id({"__name__": name, "service": service, "quantile": quantile})


def matrix(sim: Simulation) -> NDArray[np.float64]:
    """The panel's values as (series, time); every series spans the same grid."""
    panel = sim.panel
    return panel.y.reshape(panel.n_series, -1)


def row(sim: Simulation, service: str, key: str) -> NDArray[np.float64]:
    values: NDArray[np.float64] = matrix(sim)[sim.panel.ids.index(uid(service, key))]
    return values


def window(sim: Simulation, event: Event) -> slice:
    assert sim.panel.step is not None
    origin = int(sim.panel.ds[0])
    return slice(
        (event.start - origin) // sim.panel.step, (event.end - origin) // sim.panel.step + 1
    )


def event_mask(sim: Simulation, kinds: set[str]) -> NDArray[np.bool_]:
    """True on the (series, point) cells of the events of ``kinds``."""
    mask = np.zeros(matrix(sim).shape, dtype=bool)
    for event in sim.events:
        if event.kind in kinds:
            for u in event.unique_ids:
                mask[sim.panel.ids.index(u), window(sim, event)] = True
    return mask


def acf(x: NDArray[np.float64], lag: int) -> float:
    x = x - x.mean()
    return float((x[:-lag] * x[lag:]).sum() / (x * x).sum())


@pytest.fixture(scope="module")
def pair() -> tuple[Simulation, Simulation]:
    """Two weeks, three services, with events and the same data without them."""
    kwargs = {"services": 3, "days": 14.0, "step": 5 * MINUTE, "seed": 11}
    return simulate(events=True, **kwargs), simulate(events=False, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def quiet() -> Simulation:
    return simulate(services=4, days=14, step=5 * MINUTE, seed=3, events=False)


# ------------------------------------------------------------------ reproducibility


def test_same_arguments_give_identical_results() -> None:
    a, b = simulate(seed=7), simulate(seed=7)
    assert a.panel.ids == b.panel.ids
    assert np.array_equal(a.panel.ds, b.panel.ds)
    assert np.array_equal(a.panel.y, b.panel.y, equal_nan=True)
    assert a.events == b.events


def test_different_seeds_give_different_data() -> None:
    a, b = simulate(seed=1, days=2), simulate(seed=2, days=2)
    assert a.panel.ids == b.panel.ids
    assert not np.array_equal(a.panel.y, b.panel.y, equal_nan=True)
    assert [e.to_dict() for e in a.events] != [e.to_dict() for e in b.events]


def test_adding_services_keeps_the_first_ones() -> None:
    small = simulate(services=2, days=3, seed=4, events=False)
    large = simulate(services=5, days=3, seed=4, events=False)
    for u in small.panel.ids:
        assert np.array_equal(small.panel.series(u)[1], large.panel.series(u)[1])


# -------------------------------------------------------------------- shape and grid


def test_panel_shape_ids_and_grid() -> None:
    step = 5 * MINUTE
    sim = simulate(services=2, days=2, step=step)
    panel = sim.panel
    expected = sorted(uid(s, key) for s in ("checkout", "cart") for key in METRICS)
    assert panel.ids == expected
    assert panel.n_series == 12
    assert panel.step == step
    n = 2 * DAY // step
    assert list(panel.sizes()) == [n] * 12
    assert panel.y.dtype == np.float64
    assert panel.ds.dtype == np.int64
    grid = parse_time("2026-01-05T00:00:00Z") + np.arange(n) * step
    for u in panel.ids:
        assert np.array_equal(panel.series(u)[0], grid)
    assert pd.Timestamp(int(panel.ds[0]), tz="UTC").day_name() == "Monday"


def test_service_names() -> None:
    assert len(SERVICE_NAMES) >= 12
    assert len(set(SERVICE_NAMES)) == len(SERVICE_NAMES)
    n = len(SERVICE_NAMES) + 2
    sim = simulate(services=n, days=0.1, events=False)
    services = {u.split('service="')[1].rstrip('"}') for u in sim.panel.ids}
    assert services == {*SERVICE_NAMES, f"svc{n - 2:02d}", f"svc{n - 1:02d}"}


def test_start_and_step_are_respected() -> None:
    start = parse_time("2025-03-01T12:00:00Z")
    sim = simulate(services=1, days=1, step=HOUR, start=start)
    assert sim.panel.ds[0] == start
    assert sim.panel.sizes()[0] == 24
    for event in sim.events:
        assert start <= event.start <= event.end <= start + 23 * HOUR


# ------------------------------------------------------------------------- realism


def test_daily_seasonality_with_night_trough(quiet: Simulation) -> None:
    per_day = DAY // (5 * MINUTE)
    hours = (quiet.panel.ds[: per_day * 14] % DAY) / HOUR
    for service in SERVICE_NAMES[:4]:
        requests = row(quiet, service, "requests")
        assert acf(requests, per_day) > acf(requests, per_day // 2) + 0.8
        night = requests[(hours >= 3) & (hours < 5)].mean()
        afternoon = requests[(hours >= 13) & (hours < 17)].mean()
        assert afternoon > 1.8 * night


def test_weekends_are_quieter(quiet: Simulation) -> None:
    weekday = ((quiet.panel.ds[: matrix(quiet).shape[1]] // DAY) + 3) % 7  # Monday is 0
    for service in SERVICE_NAMES[:4]:
        requests = row(quiet, service, "requests")
        ratio = requests[weekday >= 5].mean() / requests[weekday < 5].mean()
        assert 0.55 < ratio < 0.8


def test_latency_rises_with_load(quiet: Simulation) -> None:
    for service in SERVICE_NAMES[:4]:
        requests = row(quiet, service, "requests")
        assert np.corrcoef(requests, row(quiet, service, "p50"))[0, 1] > 0.4
        assert np.corrcoef(requests, row(quiet, service, "p99"))[0, 1] > 0.3
        assert np.corrcoef(requests, row(quiet, service, "cpu"))[0, 1] > 0.9


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_value_ranges(seed: int) -> None:
    sim = simulate(services=4, days=8, seed=seed)
    for service in SERVICE_NAMES[:4]:
        p50, p99 = row(sim, service, "p50"), row(sim, service, "p99")
        seen = ~np.isnan(p50)
        assert np.all(p99[seen] > p50[seen])
        assert np.all((p50[seen] > 0.001) & (p99[seen] < 60))
        errors = row(sim, service, "errors")[seen]
        assert np.all((errors >= 0) & (errors <= 1))
        assert 0.0005 < np.median(errors) < 0.03
        memory = row(sim, service, "memory")[seen]
        assert np.all(memory > 1e8)
        assert np.all(memory < 2e10)
        assert np.array_equal(memory, np.round(memory))
        assert np.all(row(sim, service, "requests")[seen] > 0)
        assert np.all(row(sim, service, "cpu")[seen] > 0)


# -------------------------------------------------------------------------- events


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("step", [MINUTE, HOUR])
def test_every_kind_occurs_with_three_services_over_a_week(seed: int, step: int) -> None:
    sim = simulate(services=3, days=7, step=step, seed=seed)
    assert {e.kind for e in sim.events} == set(EVENT_KINDS)


def test_event_records(pair: tuple[Simulation, Simulation]) -> None:
    sim, _ = pair
    panel = sim.panel
    assert [e.event_id for e in sim.events] == [f"e{i:03d}" for i in range(len(sim.events))]
    assert [e.start for e in sim.events] == sorted(e.start for e in sim.events)
    by_id = {e.event_id: e for e in sim.events}
    for event in sim.events:
        assert event.kind in EVENT_KINDS
        assert event.is_incident == (event.kind in INCIDENTS)
        assert panel.ds[0] + DAY <= event.start <= event.end <= panel.ds[-1]
        assert (event.start - panel.ds[0]) % (5 * MINUTE) == 0
        assert set(event.unique_ids) <= set(panel.ids)
        assert all(f'service="{event.service}"' in u for u in event.unique_ids)
        assert event.description
        if event.kind == "deploy":
            assert event.start == event.end
            assert event.unique_ids == ()
        if event.kind == "latency_regression":
            deploy = by_id[event.description.split("after deploy ")[1].split()[0]]
            assert deploy.kind == "deploy"
            assert deploy.service == event.service
            assert deploy.start == event.start
    for service in {e.service for e in sim.events}:
        spans = sorted(
            (e.start, e.end) for e in sim.events if e.service == service and e.kind != "deploy"
        )
        assert all(a_end < b_start for (_, a_end), (b_start, _) in itertools.pairwise(spans))


def test_events_change_exactly_their_series_and_windows(
    pair: tuple[Simulation, Simulation],
) -> None:
    sim, base = pair
    y, b = matrix(sim), matrix(base)
    changed = ~((y == b) | (np.isnan(y) & np.isnan(b)))
    assert np.array_equal(changed, event_mask(sim, set(EVENT_KINDS)))


def test_missing_scrapes_are_the_only_nans(pair: tuple[Simulation, Simulation]) -> None:
    sim, base = pair
    assert np.array_equal(np.isnan(matrix(sim)), event_mask(sim, {"missing_scrapes"}))
    assert base.panel.n_missing == 0
    for event in sim.events:
        if event.kind == "missing_scrapes":
            assert len(event.unique_ids) == 6
            assert event.magnitude == window(sim, event).stop - window(sim, event).start


def ratios(
    sim: Simulation, base: Simulation, kind: str
) -> list[tuple[Event, dict[str, NDArray[np.float64]]]]:
    """Per event of ``kind``: the series' values over the event-free ones in the window."""
    out = []
    for event in sim.events:
        if event.kind == kind:
            sl = window(sim, event)
            keys = [k for k in METRICS if uid(event.service, k) in event.unique_ids]
            out.append(
                (
                    event,
                    {
                        k: row(sim, event.service, k)[sl] / row(base, event.service, k)[sl]
                        for k in keys
                    },
                )
            )
    assert out, f"no {kind} event to check"
    return out


def test_level_shift_moves_the_mean(pair: tuple[Simulation, Simulation]) -> None:
    for event, r in ratios(*pair, "level_shift"):
        (ratio,) = r.values()
        assert np.allclose(ratio, 1 + event.magnitude) or "error" in event.description
        assert ratio.mean() > 1.15


def test_spike_multiplies(pair: tuple[Simulation, Simulation]) -> None:
    for event, r in ratios(*pair, "spike"):
        (ratio,) = r.values()
        assert 1 <= len(ratio) <= 10
        assert np.all(ratio > 2)
        assert np.allclose(ratio, event.magnitude) or "error" in event.description


def test_drift_ramps_up(pair: tuple[Simulation, Simulation]) -> None:
    for event, r in ratios(*pair, "drift"):
        (ratio,) = r.values()
        assert len(ratio) >= 3 * HOUR // (5 * MINUTE)
        assert np.all(np.diff(ratio) > 0)
        assert ratio[-1] == pytest.approx(1 + event.magnitude)


def test_surge_raises_requests_and_load_driven_series(pair: tuple[Simulation, Simulation]) -> None:
    for event, r in ratios(*pair, "traffic_surge"):
        assert not event.is_incident
        assert r["requests"].mean() == pytest.approx(event.magnitude, rel=0.1)
        assert r["cpu"].mean() > 1.3
        for key in ("p50", "p99", "errors"):  # up through the queueing model, even at night
            assert r[key].mean() > 1.02


def test_regression_raises_p99_after_the_deploy(pair: tuple[Simulation, Simulation]) -> None:
    sim, _ = pair
    for event, r in ratios(*pair, "latency_regression"):
        assert np.allclose(r["p99"], 1 + event.magnitude)
        assert np.allclose(r["p50"], 1 + event.magnitude / 2)
        assert r["cpu"].mean() > 1
        p99 = row(sim, event.service, "p99")
        sl = window(sim, event)
        hour = HOUR // (5 * MINUTE)
        before = p99[max(sl.start - hour, 0) : sl.start]
        assert np.nanmean(p99[sl.start : sl.start + hour]) > 1.3 * np.nanmean(before)


def test_truth_marks_exactly_the_incident_windows(pair: tuple[Simulation, Simulation]) -> None:
    sim, _ = pair
    truth = sim.truth()
    long = sim.panel.to_long()
    assert list(truth.columns) == ["unique_id", "ds", "is_anomaly", "event_id"]
    assert len(truth) == sim.panel.n_points
    assert truth["unique_id"].astype(str).equals(long["unique_id"].astype(str))
    assert truth["ds"].equals(long["ds"])
    assert str(truth["ds"].dt.tz) == "UTC"
    assert truth["is_anomaly"].dtype == bool
    expected = event_mask(sim, INCIDENTS).ravel()
    assert np.array_equal(truth["is_anomaly"].to_numpy(), expected)
    assert (truth["event_id"] != "").equals(truth["is_anomaly"])
    incidents = {e.event_id for e in sim.events if e.is_incident}
    assert set(truth.loc[truth["is_anomaly"], "event_id"]) == incidents
    for event in sim.events:
        if event.is_incident:
            rows = truth[truth["event_id"] == event.event_id]
            assert set(rows["unique_id"].astype(str)) == set(event.unique_ids)
            assert rows["ds"].min() == pd.Timestamp(event.start, tz="UTC")
            assert rows["ds"].max() == pd.Timestamp(event.end, tz="UTC")


def test_events_frame_and_to_dict(pair: tuple[Simulation, Simulation]) -> None:
    sim, base = pair
    frame = sim.events_frame()
    assert list(frame.columns) == [
        "event_id", "kind", "service", "unique_ids", "start", "end",
        "magnitude", "is_incident", "description",
    ]  # fmt: skip
    assert len(frame) == len(sim.events)
    assert str(frame["start"].dt.tz) == "UTC"
    first = sim.events[0]
    assert frame.loc[0, "start"] == pd.Timestamp(first.start, tz="UTC")
    assert frame.loc[0, "unique_ids"] == ";".join(first.unique_ids)
    for event in sim.events:
        data = json.loads(json.dumps(event.to_dict()))
        assert parse_time(str(data["start"])) == event.start
        assert parse_time(str(data["end"])) == event.end
        assert data["unique_ids"] == list(event.unique_ids)
        assert str(data["start"]).endswith("Z")
    empty = base.events_frame()
    assert base.events == ()
    assert list(empty.columns) == list(frame.columns)
    assert len(empty) == 0
    assert not base.truth()["is_anomaly"].any()


def test_short_runs_still_get_history_before_events() -> None:
    sim = simulate(services=3, days=1, seed=5)
    assert sim.events
    for event in sim.events:
        assert event.start >= sim.panel.ds[0] + 6 * HOUR


# ---------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [
        ({"services": 0}, "services"),
        ({"services": 2.0}, "services"),
        ({"services": True}, "services"),
        ({"days": 0}, "days"),
        ({"days": -1.0}, "days"),
        ({"days": math.nan}, "days"),
        ({"days": "7"}, "days"),
        ({"step": 0}, "step"),
        ({"step": 60.0}, "step"),
        ({"start": "2026-01-05"}, "start"),
        ({"seed": -1}, "seed"),
        ({"days": 1 / 1440}, "at least 2 points"),
        ({"services": 10_000, "days": 365}, "at most"),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict[str, object], word: str) -> None:
    with pytest.raises(ValidationError, match=word) as info:
        simulate(**kwargs)  # type: ignore[arg-type]
    text = str(info.value)
    for part in ("expected", "got", "Fix:"):
        assert part in text


def test_docstring_example_runs() -> None:
    result = doctest.testmod(modelphase.simulate, raise_on_error=False, verbose=False)
    assert result.attempted > 0
    assert result.failed == 0


# -------------------------------------------------------------------------- property


@settings(max_examples=15, deadline=None)
@given(
    services=st.integers(1, 4),
    points=st.integers(2, 1500),
    step=st.sampled_from([MINUTE, 5 * MINUTE, HOUR]),
    seed=st.integers(0, 2**32 - 1),
)
def test_nans_only_in_missing_scrapes_and_events_inside(
    services: int, points: int, step: int, seed: int
) -> None:
    sim = simulate(services=services, days=points * step / DAY, step=step, seed=seed)
    panel = sim.panel
    assert panel.n_points == services * 6 * points
    assert np.array_equal(np.isnan(matrix(sim)), event_mask(sim, {"missing_scrapes"}))
    for event in sim.events:
        assert panel.ds[0] <= event.start <= event.end <= panel.ds[-1]
        assert (event.start - panel.ds[0]) % step == 0
        assert (event.end - panel.ds[0]) % step == 0
        if event.kind == "missing_scrapes":
            assert event.magnitude == (event.end - event.start) // step + 1
