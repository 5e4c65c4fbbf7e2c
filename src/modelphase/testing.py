"""Conformance checks every model must pass, as scikit-learn's ``check_estimator``.

>>> from modelphase.forecast import SeasonalNaive
>>> check_forecaster(lambda: SeasonalNaive(season_length=24))
"""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["check_forecaster"]


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
