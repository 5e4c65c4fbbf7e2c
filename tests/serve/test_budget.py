"""A latency budget that fits the model, and a fallback that stays non-negative."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from modelphase.registry import ModelVersion
from modelphase.serve.resilience import seasonal_naive
from modelphase.serve.table import DEFAULT_BUDGET_S, MAX_FITTED_BUDGET_S, latency_budget


def version(spec: dict[str, Any] | None, metrics: dict[str, Any]) -> ModelVersion:
    return ModelVersion(
        name="m",
        version=1,
        flavor="modelphase.forecast",
        model_class="TrainedForecaster",
        params={},
        artifact_digest="0" * 64,
        artifact_size=1,
        created_by="test",
        created_at="2026-12-07T00:00:00Z",
        spec=spec,
        metrics=metrics,
    )


def test_a_budget_left_out_of_the_spec_fits_the_measured_refit() -> None:
    assert latency_budget(version({}, {"refit_p95_ms": 51.0})) == pytest.approx(0.204)
    assert latency_budget(version({}, {"refit_p95_ms": 2.0})) == DEFAULT_BUDGET_S
    assert latency_budget(version({}, {"refit_p95_ms": 60_000.0})) == MAX_FITTED_BUDGET_S
    assert latency_budget(version(None, {})) == DEFAULT_BUDGET_S  # not measured: the default
    # a budget the spec gives is kept, even below the refit time (training warns)
    assert latency_budget(version({"latency_budget": "20ms"}, {"refit_p95_ms": 51.0})) == 0.02


def test_the_fallback_of_a_non_negative_series_has_no_negative_bound() -> None:
    rng = np.random.default_rng(1)
    counts = rng.poisson(2.0, 24 * 7).astype(float)
    mean, bands = seasonal_naive(counts, 24, 24, [80, 95])
    assert (mean >= 0).all()
    for lo, hi in bands.values():
        assert (lo >= 0).all()
        assert (hi > 0).all()
    assert (bands[95.0][1] > bands[80.0][1]).all()
    # a series that does go below zero keeps its negative bounds
    _, signed = seasonal_naive(counts - 2.0, 24, 24, [95])
    assert (signed[95.0][0] < 0).any()
