"""Rolling-origin splits never leak; metrics match their definitions; gates decide."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelphase.backtest import (
    check_gates,
    coverage,
    evaluate,
    folds,
    interval_pinball,
    mae,
    mase,
    mase_scale,
    pinball,
    rmse,
    score_series,
    smape,
    split,
)
from modelphase.exceptions import ValidationError
from modelphase.frame import Panel

STEP = 60


def _panel(lengths: list[int], offsets: list[int]) -> Panel:
    items = []
    for i, (n, off) in enumerate(zip(lengths, offsets, strict=True)):
        ds = (off + np.arange(n)) * STEP
        items.append((f"s{i}", ds.astype(np.int64), np.arange(n, dtype=np.float64) + 1000 * i))
    return Panel.from_series(items, step=STEP)


@settings(max_examples=150, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 60), min_size=1, max_size=4),
    data=st.data(),
    h=st.integers(1, 8),
    n_windows=st.integers(1, 4),
    step=st.integers(1, 8),
    gap=st.integers(0, 3),
)
def test_no_fold_uses_data_after_its_cutoff(
    lengths: list[int], data: st.DataObject, h: int, n_windows: int, step: int, gap: int
) -> None:
    offsets = data.draw(st.lists(st.integers(0, 20), min_size=len(lengths), max_size=len(lengths)))
    panel = _panel(lengths, offsets)
    try:
        chosen = folds(panel, h=h, n_windows=n_windows, step=step, gap=gap)
    except ValidationError:
        span = (int(panel.ds.max()) - int(panel.ds.min())) // STEP + 1
        assert span <= gap + h + (n_windows - 1) * step
        return
    assert len(chosen) == n_windows
    assert [f.cutoff for f in chosen] == sorted(f.cutoff for f in chosen)
    for fold in chosen:
        assert fold.test_start == fold.cutoff + (gap + 1) * STEP
        assert fold.test_end - fold.test_start == (h - 1) * STEP
        train, test = split(panel, fold)
        assert (train.ds <= fold.cutoff).all(), "training data after the cutoff"
        assert (test.ds > fold.cutoff + gap * STEP).all()
        assert (test.ds <= fold.test_end).all()
        assert train.ids == test.ids
        for uid in test.ids:
            _, tr_y = train.series(uid)
            te_ds, te_y = test.series(uid)
            full_ds, full_y = panel.series(uid)
            assert np.array_equal(tr_y, full_y[full_ds <= fold.cutoff])
            window = (full_ds >= fold.test_start) & (full_ds <= fold.test_end)
            assert np.array_equal(te_ds, full_ds[window])
            assert np.array_equal(te_y, full_y[window])
    assert chosen[-1].test_end == int(panel.ds.max())


def test_folds_need_enough_history() -> None:
    panel = _panel([10], [0])
    with pytest.raises(ValidationError, match="too few"):
        folds(panel, h=5, n_windows=3)
    with pytest.raises(ValidationError, match="h >= 1"):
        folds(panel, h=0)
    with pytest.raises(ValidationError, match="grid"):
        folds(Panel.from_series([("a", np.arange(3), np.ones(3))]), h=1)


def test_metrics_against_their_definitions() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(10, 2, 50)
    f = y + rng.normal(0, 1, 50)
    y[3] = np.nan
    ok = np.isfinite(y)
    assert mae(y, f) == pytest.approx(np.mean(np.abs(y[ok] - f[ok])))
    assert rmse(y, f) == pytest.approx(np.sqrt(np.mean((y[ok] - f[ok]) ** 2)))
    expected = np.mean(200 * np.abs(y[ok] - f[ok]) / (np.abs(y[ok]) + np.abs(f[ok])))
    assert smape(y, f) == pytest.approx(expected)
    insample = rng.normal(10, 2, 100)
    scale = np.mean(np.abs(insample[24:] - insample[:-24]))
    assert mase_scale(insample, 24) == pytest.approx(scale)
    assert mase(y, f, insample=insample, season=24) == pytest.approx(mae(y, f) / scale)
    assert smape(np.zeros(3), np.zeros(3)) == 0.0
    assert np.isnan(mae(np.full(3, np.nan), np.ones(3)))
    assert np.isnan(mase(y, f, scale=0.0))


def test_interval_metrics() -> None:
    y = np.array([0.0, 1.0, 2.0, 3.0])
    assert coverage(y, lo=np.zeros(4), hi=np.full(4, 2.0)) == 0.75
    assert pinball(y, np.ones(4), 0.5) == pytest.approx(np.mean(np.abs(y - 1)) / 2)
    wide = interval_pinball(y, lo=y - 10, hi=y + 10, level=80)
    tight = interval_pinball(y, lo=y - 0.1, hi=y + 0.1, level=80)
    assert tight < wide
    scores = score_series(y, y + 0.5, scale=1.0, intervals={80: (y - 1, y + 1)}, levels=(80, 95))
    assert scores["mase"] == 0.5
    assert scores["coverage_80"] == 1.0
    assert "coverage_95" not in scores


def test_gates_decide_and_refuse_bad_declarations() -> None:
    gates = [
        {"name": "beats_naive", "metric": "mase_vs_baseline", "max": 0.9},
        {"metric": "coverage_80", "between": [0.75, 0.85]},
        {"metric": "n_series", "min": 1},
    ]
    results = evaluate(gates, {"mase_vs_baseline": 0.95, "coverage_80": 0.8})
    assert [(r["name"], r["passed"]) for r in results] == [
        ("beats_naive", False),
        ("coverage_80", True),
        ("n_series", False),
    ]
    assert results[2]["value"] is None, "a missing metric fails its gate"
    assert evaluate(gates[:1], {"mase_vs_baseline": float("nan")})[0]["passed"] is False
    for bad, message in [
        ({"max": 1}, "metric"),
        ({"metric": "mase"}, "exactly one"),
        ({"metric": "mase", "max": 1, "min": 0}, "exactly one"),
        ({"metric": "mase", "between": [2, 1]}, "between"),
        ({"metric": "mase", "max": "low"}, "number"),
    ]:
        with pytest.raises(ValidationError, match=message):
            check_gates([bad])
    with pytest.raises(ValidationError, match="twice"):
        check_gates([{"metric": "mase", "max": 1}, {"metric": "mase", "max": 2}])
