"""Conformance checks every model must pass, as scikit-learn's ``check_estimator``.

>>> from modelphase.forecast import SeasonalNaive
>>> check_forecaster(lambda: SeasonalNaive(season_length=24))
>>> from modelphase.anomaly import ZScore
>>> check_detector(lambda: ZScore(halflife=50))
"""

from __future__ import annotations

import copy
import json
import pickle
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["check_detector", "check_forecaster"]


def check_forecaster(
    make: Callable[[], Any], *, season: int = 24, seed: int = 0, intervals: bool = True
) -> None:
    """Raise ``AssertionError`` unless the forecaster ``make()`` builds behaves:

    ``fit`` returns the model; ``predict(h)`` gives ``h`` finite values under "mean";
    with levels (unless ``intervals=False``: a model with no intervals of its own, such
    as statsforecast's window averages, which training calibrates from its backtest),
    ``lo <= mean <= hi`` and 95 % intervals contain 80 % ones; a copy made
    before fitting forecasts the same after the same fit (no hidden state, seeded); a
    pickled fitted model forecasts the same; refitting on other data forgets the first
    (the forecast equals a fresh fit's).
    """
    rng = np.random.default_rng(seed)
    n = season * 12
    t = np.arange(n)
    y1 = 50 + 10 * np.sin(2 * np.pi * t / season) + rng.normal(0, 1, n)
    y2 = 5 + 2 * np.cos(2 * np.pi * t / season) + 0.01 * t + rng.normal(0, 0.3, n)
    h = season * 2
    model = make()
    twin = copy.deepcopy(model)
    name = type(model).__name__

    fitted = model.fit(y1)
    assert fitted is model, f"{name}.fit must return the model itself"
    out = model.predict(h)
    assert "mean" in out, f"{name}.predict must return a 'mean' forecast"
    mean = np.asarray(out["mean"], dtype=float)
    assert mean.shape == (h,), f"{name}.predict({h}) gave shape {mean.shape}"
    assert np.isfinite(mean).all(), f"{name} forecast non-finite values"

    bands = model.predict(h, level=[80, 95]) if intervals else {}
    for lv in (80, 95) if intervals else ():
        lo = np.asarray(bands[f"lo-{lv}"], dtype=float)
        hi = np.asarray(bands[f"hi-{lv}"], dtype=float)
        assert np.all(lo <= bands["mean"] + 1e-9), f"{name}: lo-{lv} above the mean"
        assert np.all(hi >= bands["mean"] - 1e-9), f"{name}: hi-{lv} below the mean"
    if intervals:
        assert np.all(bands["lo-95"] <= bands["lo-80"] + 1e-9), f"{name}: 95% narrower"
        assert np.all(bands["hi-95"] >= bands["hi-80"] - 1e-9), f"{name}: 95% narrower"

    np.testing.assert_allclose(
        twin.fit(y1).predict(h)["mean"], mean, err_msg=f"{name}: same data, other forecast"
    )
    clone = pickle.loads(pickle.dumps(model))
    np.testing.assert_allclose(
        clone.predict(h)["mean"], mean, err_msg=f"{name}: pickling changed the forecast"
    )
    refit = model.fit(y2).predict(h)["mean"]
    fresh = make().fit(y2).predict(h)["mean"]
    np.testing.assert_allclose(refit, fresh, err_msg=f"{name}: refitting kept old state")


def _telemetry(n: int, seed: int) -> np.ndarray:
    """A 5-minute-like series: daily cycle, noise, a spike, a level shift, a gap."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    y = 50 + 10 * np.sin(2 * np.pi * t / 288) + rng.normal(0, 1, n)
    y[n // 3] += 40
    y[2 * n // 3 :] += 15
    y[n // 2 : n // 2 + 20] = np.nan
    return y


def _times(n: int) -> np.ndarray:
    """Times of a 5-minute grid from 2026-01-05 00:00 UTC, in ns."""
    return np.int64(1_767_571_200 * 10**9) + np.arange(n, dtype=np.int64) * 300 * 10**9


def check_detector(make: Callable[[], Any], *, seed: int = 0) -> None:
    """Raise ``AssertionError`` unless the streaming detector ``make()`` builds behaves:

    ``get_params()`` is plain JSON and rebuilds a twin that scores the same; scores are
    finite, one per value, through gaps, a constant stretch and a single point;
    ``score_many`` equals scoring then learning one point at a time; no look-ahead (the
    scores of a prefix are the prefix of the scores); ``reset`` forgets; a detector
    pickled mid-stream carries on identically; state is bounded (its pickle stops growing
    as the stream goes on).
    """
    y = _telemetry(6000, seed)
    t = _times(len(y))
    model = make()
    name = type(model).__name__
    params = model.get_params()
    json.dumps(params)  # plain JSON, or this raises
    twin = type(model)(**params)
    scores = model.score_many(y, t)
    assert scores.shape == y.shape, f"{name}.score_many gave shape {scores.shape}"
    assert np.isfinite(scores).all(), f"{name} gave non-finite scores"
    assert np.ptp(scores) > 0, f"{name} gave one score for a series with a spike and a shift"
    np.testing.assert_allclose(
        twin.score_many(y, t), scores, err_msg=f"{name}: the twin from get_params() differs"
    )

    one = make()
    stepwise = np.empty(len(y))
    for i, x in enumerate(y.tolist()):
        stepwise[i] = one.score_one(x, int(t[i]))
        one.learn_one(x, int(t[i]))
    np.testing.assert_allclose(
        stepwise, scores, rtol=1e-9, atol=1e-9, err_msg=f"{name}: score_many != one by one"
    )
    cut = 4321
    np.testing.assert_allclose(
        make().score_many(y[:cut], t[:cut]),
        scores[:cut],
        err_msg=f"{name}: a prefix scored otherwise",
    )

    used = make()
    used.score_many(y[::-1], t)
    used.reset()
    np.testing.assert_allclose(
        used.score_many(y, t), scores, err_msg=f"{name}: reset() kept old state"
    )

    half = make()
    first = half.score_many(y[:3000], t[:3000])
    clone = pickle.loads(pickle.dumps(half))
    np.testing.assert_allclose(
        np.concatenate([first, clone.score_many(y[3000:], t[3000:])]),
        scores,
        err_msg=f"{name}: a pickled detector carried on otherwise",
    )

    flat = make().score_many(np.full(500, 3.0), t[:500])
    assert np.isfinite(flat).all(), f"{name}: non-finite scores on a constant series"
    single = make().score_many(np.array([1.0]), t[:1])
    assert single.shape == (1,), f"{name}: a single point gave shape {single.shape}"
    assert np.isfinite(single).all(), f"{name}: a non-finite score for a single point"

    long = _telemetry(50_000, seed + 1)
    long_t = _times(len(long))
    grown = make()
    grown.score_many(long[:25_000], long_t[:25_000])
    size_early = len(pickle.dumps(grown))
    grown.score_many(long[25_000:], long_t[25_000:])
    size_late = len(pickle.dumps(grown))
    assert size_late <= 1.1 * size_early + 4096, (
        f"{name}: state grew from {size_early} to {size_late} bytes between 25,000 and "
        "50,000 points; a streaming detector's state must be bounded"
    )
