"""The capacity model: the load per replica at which the latency SLO breaks, learned
by a monotone fit with a block-bootstrap interval, or declared."""

from __future__ import annotations

import numpy as np
import pytest

from modelphase.decide.capacity import declared, learn_capacity
from modelphase.exceptions import ValidationError


def history(n: int = 3000, seed: int = 0, top: float = 120.0):
    """Load per replica wandering in time (autocorrelated), p99 latency rising past
    0.5 s at 80 requests/s per replica."""
    rng = np.random.default_rng(seed)
    load = np.clip(60 + np.cumsum(rng.normal(0, 2, n)), 5, top)
    latency = 0.1 + 0.4 * (load / 80) ** 4 * rng.lognormal(0, 0.05, n)
    return load, latency


def test_the_capacity_is_where_the_fit_crosses_the_threshold() -> None:
    load, latency = history()
    model = learn_capacity(load, latency, threshold=0.5, seed=2)
    assert model.source == "learned"
    assert not model.censored
    assert model.estimate == pytest.approx(80, rel=0.05)
    low, high = model.interval
    assert low <= model.estimate <= high
    assert model.capacity == low  # the plan errs towards more replicas
    assert learn_capacity(load, latency, threshold=0.5, seed=2) == model  # seeded
    assert model.to_dict()["interval"] == [low, high]


def test_a_tighter_slo_holds_less_load() -> None:
    load, latency = history()
    tight = learn_capacity(load, latency, threshold=0.3, seed=2)
    loose = learn_capacity(load, latency, threshold=0.5, seed=2)
    assert tight.estimate < loose.estimate


def test_a_history_that_never_breached_is_censored() -> None:
    load, latency = history(top=50.0)
    model = learn_capacity(load, latency, threshold=0.5)
    assert model.censored
    assert model.estimate == pytest.approx(float(load.max()))
    assert "at least the highest load seen" in model.notes[0]


def test_a_breach_at_the_lowest_load_is_said() -> None:
    load, latency = history()
    model = learn_capacity(load, latency, threshold=0.05)
    assert any("even at the lowest load" in note for note in model.notes)


@pytest.mark.parametrize(
    ("load", "latency", "options", "needle"),
    [
        (np.zeros(100), np.ones(100), {}, "load > 0"),
        (np.full(100, np.nan), np.ones(100), {}, "load > 0"),
        (np.ones(5), np.ones(6), {}, "as many latency samples"),
        (np.ones(100), np.ones(100), {"threshold": 0.0}, "threshold > 0"),
        (np.ones(100), np.ones(100), {"level": 1.0}, "level in"),
    ],
)
def test_bad_histories_are_clear_errors(load, latency, options, needle) -> None:
    settings = {"threshold": 0.5, **options}
    with pytest.raises(ValidationError, match=needle):
        learn_capacity(load, latency, **settings)


def test_a_declared_capacity() -> None:
    model = declared(50.0)
    assert (model.capacity, model.source, model.interval) == (50.0, "declared", (50.0, 50.0))
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValidationError, match="capacity > 0"):
            declared(bad)
