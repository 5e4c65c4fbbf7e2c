"""The safety clamp on a predictive replica count: the reactive floor, the peak cap, the
replica bounds, which bound bit, and the reactive HPA's own arithmetic."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelphase.decide.capacity.clamp import (
    BOUNDS,
    Clamp,
    clamp,
    peak_replicas,
    reactive_replicas,
)
from modelphase.exceptions import ValidationError

S = Clamp(margin=0.2, max_factor=3.0, min_replicas=2, max_replicas=40)


@pytest.mark.parametrize(
    ("recommended", "reactive", "peak", "replicas", "bound"),
    [
        (9, 10, 5, 9, "none"),  # 9 >= ceil(0.8 x 10) = 8 and <= 15
        (3, 10, 5, 8, "reactive_floor"),
        (30, 10, 5, 15, "peak_cap"),
        (30, 30, 5, 24, "reactive_floor"),  # the floor (24) wins over the cap (15)
        (1, 1, 5, 2, "min_replicas"),
        (60, 60, 50, 40, "max_replicas"),  # max_replicas wins over the floor (48)
        (7.2, 1, 5, 8, "none"),  # a fractional plan is rounded up
        (3, None, None, 3, "none"),  # unknown bounds are left out
        (90, None, 5, 15, "peak_cap"),
        (3, 10, None, 8, "reactive_floor"),
    ],
)
def test_each_bound_bites_where_it_should(
    recommended: float, reactive: float | None, peak: float | None, replicas: int, bound: str
) -> None:
    found = clamp(recommended, reactive=reactive, peak=peak, settings=S)
    assert (found.replicas, found.bound) == (replicas, bound)


def test_the_bounds_are_reported_and_unknown_ones_are_none() -> None:
    found = clamp(3, reactive=10, peak=5, settings=S)
    assert (found.floor, found.cap) == (8, 15)
    none = clamp(3, reactive=None, peak=float("nan"), settings=S)
    assert (none.floor, none.cap) == (None, None)


def test_floating_point_noise_adds_no_replica() -> None:
    # 0.7 * 10 is 7.000000000000001 in floating point: the floor is 7, not 8
    assert clamp(1, reactive=10, peak=None, settings=Clamp(margin=0.3)).replicas == 7
    assert clamp(1, reactive=None, peak=10, settings=Clamp(max_factor=1.1)).replicas == 1
    assert clamp(20, reactive=None, peak=10, settings=Clamp(max_factor=1.1)).replicas == 11


def test_margin_zero_is_never_below_the_reactive_answer() -> None:
    found = clamp(1, reactive=17, peak=None, settings=Clamp(margin=0.0))
    assert (found.replicas, found.bound) == (17, "reactive_floor")


recommendations = st.floats(0, 500, allow_nan=False)
maybe = st.one_of(st.none(), st.floats(0, 500, allow_nan=False))


@given(st.lists(st.tuples(recommendations, maybe, maybe), min_size=1, max_size=20))
def test_an_array_is_clamped_as_its_elements_are(
    rows: list[tuple[float, float | None, float | None]],
) -> None:
    rec = np.array([r for r, _, _ in rows])
    react = np.array([np.nan if x is None else x for _, x, _ in rows])
    peak = np.array([np.nan if x is None else x for _, _, x in rows])
    found = clamp(rec, reactive=react, peak=peak, settings=S)
    assert found.replicas.dtype == np.int64
    assert found.replicas.shape == rec.shape
    for i, (r, x, p) in enumerate(rows):
        one = clamp(r, reactive=x, peak=p, settings=S)
        assert (int(found.replicas[i]), str(found.bound[i])) == (one.replicas, one.bound)


@given(recommendations, maybe, maybe, st.floats(0, 0.9), st.floats(1, 10))
def test_the_promises_hold(
    rec: float, reactive: float | None, peak: float | None, margin: float, factor: float
) -> None:
    settings = Clamp(margin=margin, max_factor=factor, min_replicas=1, max_replicas=300)
    found = clamp(rec, reactive=reactive, peak=peak, settings=settings)
    assert found.bound in BOUNDS
    assert 1 <= found.replicas <= 300
    if found.floor is not None and found.bound != "max_replicas":
        assert found.replicas >= found.floor  # never below (1 - margin) x reactive
    if found.cap is not None and found.replicas > max(found.cap, 1):
        # above the cap only where the floor (or the minimum) is
        assert found.bound == "min_replicas" or (
            found.floor is not None and found.floor >= found.replicas
        )
    if found.bound == "none":
        assert found.replicas == math.ceil(round(rec, 9))


@pytest.mark.parametrize(
    ("settings", "needle"),
    [
        ({"margin": -0.1}, "--margin: expected a share in [0, 1)"),
        ({"margin": 1.0}, "--margin: expected a share in [0, 1)"),
        ({"margin": float("nan")}, "--margin"),
        ({"margin": True}, "--margin: expected a number"),
        ({"max_factor": 0.5}, "--max-factor: expected a number >= 1"),
        ({"max_factor": float("inf")}, "--max-factor"),
        ({"min_replicas": -1}, "--min-replicas"),
        ({"min_replicas": 1.5}, "--min-replicas: expected a whole number"),
        ({"max_replicas": 0}, "--max-replicas"),
        ({"max_replicas": 2**31}, "--max-replicas"),
        ({"min_replicas": 5, "max_replicas": 4}, "expected --min-replicas <= --max-replicas"),
    ],
)
def test_bad_settings_are_one_line_errors(settings: dict[str, object], needle: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Clamp(**settings)  # type: ignore[arg-type]
    assert needle in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("recommended", "reactive", "peak", "needle"),
    [
        (float("nan"), 1, 1, "recommended replicas"),
        (-1, 1, 1, "recommended replicas"),
        (1, -2, 1, "reactive replicas"),
        (1, 1, float("inf"), "peak replicas"),
    ],
)
def test_bad_inputs_are_refused(
    recommended: float, reactive: float, peak: float, needle: str
) -> None:
    with pytest.raises(ValidationError, match=needle):
        clamp(recommended, reactive=reactive, peak=peak)


def test_an_array_of_bounds_of_another_shape_is_refused() -> None:
    with pytest.raises(ValidationError, match="one per recommendation"):
        clamp(np.ones(3), reactive=np.ones(2), peak=None)


@pytest.mark.parametrize(
    ("current", "metric", "target", "expected"),
    [
        (10, 109.0, 100.0, 10),  # ratio 1.09: within the 10% tolerance, unchanged
        # |1 - 1.1| is 0.10000000000000009 in float64, as in the HPA's Go code: just
        # outside the tolerance, so it scales, to ceil(10 x 1.1) = 11
        (10, 110.0, 100.0, 11),
        (10, 111.0, 100.0, 12),  # ceil(10 x 1.11)
        (10, 90.0, 100.0, 10),  # 0.9: within
        (10, 50.0, 100.0, 5),
        (3, 0.0, 100.0, 0),  # no load at all: the HPA would go to its minimum
        (1, 250.0, 100.0, 3),
    ],
)
def test_reactive_replicas_is_the_hpa_algorithm(
    current: int, metric: float, target: float, expected: int
) -> None:
    assert reactive_replicas(current, metric, target) == expected


def test_reactive_replicas_on_arrays_and_a_tolerance() -> None:
    got = reactive_replicas(np.array([10, 10, 4]), np.array([104.0, 130.0, 50.0]), 100.0)
    assert got.tolist() == [10, 13, 2]
    assert reactive_replicas(10, 104.0, 100.0, tolerance=0.0) == 11


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        ((0, 10.0, 1.0), "whole numbers >= 1"),
        ((2.5, 10.0, 1.0), "whole numbers >= 1"),
        ((1, 10.0, 0.0), "target > 0"),
        ((1, float("nan"), 1.0), "current metric"),
    ],
)
def test_reactive_replicas_refuses_what_the_hpa_would_not_compute(
    args: tuple[float, float, float], needle: str
) -> None:
    with pytest.raises(ValidationError, match=needle):
        reactive_replicas(*args)  # type: ignore[call-overload]


def test_peak_replicas() -> None:
    assert peak_replicas(101.0, 50.0) == 3
    assert peak_replicas(100.0, 50.0) == 2
    assert peak_replicas(np.array([0.0, 49.0, 50.1]), 50.0).tolist() == [0, 1, 2]
    with pytest.raises(ValidationError, match="capacity > 0"):
        peak_replicas(10.0, 0.0)
