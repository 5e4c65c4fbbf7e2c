"""Two-sample drift per column: the statistics agree with scipy's, every shifted
column of a wide table is found and no other, a fleet of healthy columns does not cry
wolf, a large sample does not make a trivial shift a drift, and bad samples are refused
with the column named. Across a fleet of series (long frames): each series gets the
statistics it gets alone, one correction covers every series and feature, short or
absent series are reported rather than failing the fleet."""

from __future__ import annotations

import importlib

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from modelphase.drift import (
    SERIES_COLUMNS,
    compare,
    compare_columns,
    compare_series,
    effect_size,
    js_distance,
    psi,
)
from modelphase.exceptions import MissingColumnsError, ValidationError


@pytest.mark.parametrize(("n", "m"), [(300, 200), (40_000, 30_000)])
def test_ks_and_wasserstein_agree_with_scipy(n: int, m: int) -> None:
    rng = np.random.default_rng(n)
    shift = 0.2 if n < 10_000 else 0.02  # p-values near where decisions are made
    a, b = np.sort(rng.normal(0, 1, n)), np.sort(rng.normal(shift, 1.0, m))
    found = compare(a, b)
    want = stats.ks_2samp(a, b, method="asymp")
    assert found.value == pytest.approx(want.statistic, abs=1e-12)
    # the exact branch to rounding; the limiting distribution within 1% above 10,000
    assert found.p_raw == pytest.approx(want.pvalue, rel=1e-9 if n < 10_000 else 1e-2, abs=1e-300)
    assert found.effect_size * np.std(a) == pytest.approx(
        stats.wasserstein_distance(a, b), rel=1e-9
    )


def test_every_shifted_column_is_found_and_no_other() -> None:
    rng = np.random.default_rng(0)
    ref = {f"c{i}": rng.normal(0, 1, 20_000) for i in range(20)}
    cur = {f"c{i}": rng.normal(0.1 if i < 10 else 0.0, 1, 20_000) for i in range(20)}
    out = compare_columns(ref, cur)
    assert [c.column for c in out if c.drifted] == [f"c{i}" for i in range(10)]
    for c in out[:10]:
        assert c.effect_size == pytest.approx(0.1, abs=0.03)  # in reference sds
        assert c.statistic == "ks"
        assert c.p_value < 0.05
    assert all(c.effect_size < 0.05 for c in out[10:])


def test_a_fleet_of_healthy_columns_does_not_cry_wolf() -> None:
    rng = np.random.default_rng(1)
    ref = {f"s{i}": rng.normal(0, 1, 500) for i in range(400)}
    cur = {f"s{i}": rng.normal(0, 1, 500) for i in range(400)}
    out = compare_columns(ref, cur, min_effect=0.0)  # the correction alone
    assert sum(c.p_raw < 0.05 for c in out) > 5  # uncorrected, about 20 would alert
    assert not any(c.drifted for c in out)
    assert all(c.p_value >= c.p_raw for c in out)


def test_a_large_sample_does_not_turn_a_trivial_shift_into_drift() -> None:
    rng = np.random.default_rng(2)
    ref, cur = rng.normal(0, 1, 400_000), rng.normal(0.02, 1, 400_000)
    found = compare(ref, cur)
    assert found.p_value < 1e-6  # the test sees it
    assert found.effect_size < 0.05
    assert not found.drifted
    assert compare(ref, cur, min_effect=0.01).drifted


def test_psi_and_js_grow_with_the_shift_and_ignore_missing_values() -> None:
    rng = np.random.default_rng(3)
    ref = rng.normal(0, 1, 5000)
    same, moved = rng.normal(0, 1, 5000), rng.normal(1.0, 1, 5000)
    assert psi(ref, same) < 0.02 < 0.25 < psi(ref, moved)
    assert 0.0 <= js_distance(ref, same) < js_distance(ref, moved) <= 1.0
    holed = np.concatenate([same, [np.nan, np.inf, -np.inf]])
    assert psi(ref, holed) == pytest.approx(psi(ref, same))
    assert compare(ref, holed).current_rows == 5000


def test_a_constant_reference_still_gives_a_finite_effect() -> None:
    ref = np.full(100, 5.0)
    assert effect_size(ref, np.full(100, 5.0)) == 0.0
    assert effect_size(ref, np.full(100, 6.0)) == pytest.approx(0.2)  # 1 over |5|
    assert compare(ref, np.full(100, 6.0)).drifted


def test_bad_samples_are_refused_with_the_column_named() -> None:
    ok = np.arange(100.0)
    with pytest.raises(ValidationError, match=r"current column 'x': expected at least 20"):
        compare_columns({"x": ok}, {"x": [1.0, np.nan] * 5})
    with pytest.raises(ValidationError, match=r"expected both samples to have 'y'"):
        compare_columns({"x": ok, "y": ok}, {"x": ok})
    with pytest.raises(ValidationError, match=r"alpha: expected a number between 0 and 1"):
        compare(ok, ok, alpha=1.5)
    with pytest.raises(ValidationError, match=r"at least one column"):
        compare_columns({}, {})


def _fleet(
    rng: np.random.Generator, sizes: list[int], shifts: list[float], **features: float
) -> pd.DataFrame:
    """A long frame: series ``s0, s1, ...`` of ``sizes`` rows, ``y`` moved by ``shifts``
    (and each extra feature by its own shift times the series' shift)."""
    ids = np.repeat([f"s{i}" for i in range(len(sizes))], sizes)
    moved = np.repeat(shifts, sizes)
    frame = {"unique_id": ids, "y": rng.normal(0, 1, len(ids)) + moved}
    for name, scale in features.items():
        frame[name] = rng.normal(5, 2, len(ids)) + 2 * scale * moved
    return pd.DataFrame(frame).sample(frac=1.0, random_state=0)  # any row order


def test_each_series_gets_the_statistics_it_gets_alone() -> None:
    rng = np.random.default_rng(4)
    sizes = [40, 300, 1000, 1000, 2500]
    ref = _fleet(rng, sizes, [0.0] * 5, cpu=1.0)
    cur = _fleet(rng, [60, 250, 1000, 900, 3000], [0.0, 0.5, 0.0, 0.2, 1.0], cpu=1.0)
    ref.loc[ref.index[:30], "y"] = np.nan  # left out, as compare_columns leaves them
    cur.loc[cur.index[:10], "cpu"] = np.inf
    out = compare_series(ref, cur, features=["y", "cpu"], min_effect=0.0)
    assert list(out.columns) == list(SERIES_COLUMNS)
    assert list(out.unique_id) == [f"s{i // 2}" for i in range(10)]
    assert list(out.feature) == ["y", "cpu"] * 5
    for row in out.itertuples():
        a = ref.loc[ref.unique_id == row.unique_id, row.feature].to_numpy()
        b = cur.loc[cur.unique_id == row.unique_id, row.feature].to_numpy()
        alone = compare(a, b, min_effect=0.0)
        assert row.value == pytest.approx(alone.value, abs=1e-12)
        assert row.p_raw == pytest.approx(alone.p_raw, rel=1e-9, abs=1e-300)
        assert row.effect_size == pytest.approx(alone.effect_size, rel=1e-9)
        assert row.psi == pytest.approx(alone.psi, rel=1e-9, abs=1e-12)
        assert row.js_distance == pytest.approx(alone.js_distance, rel=1e-9, abs=1e-12)
        assert (row.reference_rows, row.current_rows) == (alone.reference_rows, alone.current_rows)
    # one correction over the ten: the same adjusted p-values compare_columns gives
    together = compare_columns(
        {
            str(i): ref.loc[ref.unique_id == r.unique_id, r.feature]
            for i, r in enumerate(out.itertuples())
        },
        {
            str(i): cur.loc[cur.unique_id == r.unique_id, r.feature]
            for i, r in enumerate(out.itertuples())
        },
        min_effect=0.0,
    )
    assert out.p_value.to_numpy() == pytest.approx([c.p_value for c in together], rel=1e-9)
    assert list(out.drifted) == [c.drifted for c in together]
    assert list(out.drifted[out.feature == "y"]) == [False, True, False, True, True]


def test_ties_are_counted_as_scipy_counts_them() -> None:
    rng = np.random.default_rng(5)  # integer telemetry: queue lengths, restarts
    ref = pd.DataFrame({"unique_id": np.repeat(["a", "b"], 800), "y": rng.poisson(3, 1600)})
    cur = pd.DataFrame({"unique_id": np.repeat(["a", "b"], 700), "y": rng.poisson(3.4, 1400)})
    out = compare_series(ref, cur)
    for row in out.itertuples():
        a, b = ref.y[ref.unique_id == row.unique_id], cur.y[cur.unique_id == row.unique_id]
        want = stats.ks_2samp(a, b, method="asymp")
        assert row.value == pytest.approx(want.statistic, abs=1e-12)
        assert row.p_raw == pytest.approx(want.pvalue, rel=1e-9)
        assert row.effect_size * np.std(a) == pytest.approx(
            stats.wasserstein_distance(a, b), rel=1e-9
        )
        assert row.psi == pytest.approx(psi(a, b), rel=1e-9)
        assert row.js_distance == pytest.approx(js_distance(a, b), rel=1e-9)


def test_a_fleet_finds_its_shifted_series_and_no_healthy_one() -> None:
    rng = np.random.default_rng(6)
    n_series, shifted = 1000, 10
    shifts = [0.6] * shifted + [0.0] * (n_series - shifted)
    ref = _fleet(rng, [500] * n_series, [0.0] * n_series)
    cur = _fleet(rng, [500] * n_series, shifts)
    out = compare_series(ref, cur)
    moved = out.unique_id.isin([f"s{i}" for i in range(shifted)])
    assert out.drifted[moved].all()
    # a false-discovery rate of 5%: about 0.05 * 10 healthy ones are expected among them
    assert out.drifted[~moved].sum() <= 1
    assert (out.p_raw[~moved] < 0.05).sum() > 20  # uncorrected, about 50 would alert
    # the threshold is the KS distance that passes the correction: it and p_value agree
    assert ((out.value >= out.threshold) == (out.p_value < 0.05)).all()
    # none shifted: none flagged, even with no minimum effect
    calm = compare_series(ref, _fleet(rng, [500] * n_series, [0.0] * n_series), min_effect=0.0)
    assert not calm.drifted.any()
    assert (calm.value < calm.threshold).all()


def test_short_or_absent_series_are_reported_not_raised() -> None:
    rng = np.random.default_rng(7)
    ref = pd.DataFrame(
        {"unique_id": np.repeat(["ok", "short", "gone", "holes"], [200, 200, 200, 200])}
    ).assign(y=rng.normal(0, 1, 800) + np.repeat([0.0, 0.0, 0.0, 0.0], 200))
    cur = pd.DataFrame(
        {"unique_id": np.repeat(["ok", "short", "holes", "new"], [200, 19, 200, 50])}
    )
    cur["y"] = rng.normal(3, 1, len(cur))
    cur.loc[cur.unique_id == "holes", "y"] = np.r_[np.full(190, np.nan), np.ones(10)]
    out = compare_series(ref, cur).set_index("unique_id")
    assert list(out.index) == ["gone", "holes", "new", "ok", "short"]
    assert out.tested.to_dict() == {
        "gone": False,
        "holes": False,
        "new": False,
        "ok": True,
        "short": False,
    }
    assert out.reason.to_dict() == {
        "gone": "no rows in the current",
        "holes": "10 finite values in the current, 20 needed",
        "new": "no rows in the reference",
        "ok": None,
        "short": "19 finite values in the current, 20 needed",
    }
    assert list(out.drifted) == [False, False, False, True, False]
    assert out.loc[~out.tested, ["value", "p_value", "effect_size", "psi"]].isna().all().all()
    assert out.loc["ok", "p_value"] == out.loc["ok", "p_raw"]  # corrected over the one tested
    assert (out.current_rows.to_dict(), out.reference_rows["new"]) == (
        {"gone": 0, "holes": 10, "new": 50, "ok": 200, "short": 19},
        0,
    )
    nothing = compare_series(ref, cur.assign(y=np.nan))  # none tested: still a frame
    assert not nothing.tested.any()
    assert not nothing.drifted.any()


def test_batches_of_series_give_the_same_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(8)
    sizes = [30, 31, 45, 80, 200, 210, 900, 4000]  # batched by size, padded within
    ref = _fleet(rng, sizes, [0.0] * 8)
    cur = _fleet(rng, sizes[::-1], [0.0, 0.3, 0.0, 0.5, 0.0, 0.0, 0.2, 1.0])
    whole = compare_series(ref, cur)
    monkeypatch.setattr(importlib.import_module("modelphase.drift.compare"), "_CELLS", 300)
    pd.testing.assert_frame_equal(compare_series(ref, cur), whole, rtol=1e-12)


def test_bad_fleets_are_refused_with_the_fix() -> None:
    ok = pd.DataFrame({"unique_id": ["a"] * 30, "y": np.arange(30.0), "host": ["h"] * 30})
    with pytest.raises(MissingColumnsError, match=r"current: .* missing cpu\. Fix: pass features="):
        compare_series(ok.assign(cpu=1.0), ok, features=["y", "cpu"])
    with pytest.raises(ValidationError, match=r"feature 'host': expected numbers"):
        compare_series(ok, ok, features=["host"])
    with pytest.raises(ValidationError, match=r"expected a unique_id on every row"):
        compare_series(ok, ok.assign(unique_id=[None] + ["a"] * 29))
    with pytest.raises(ValidationError, match=r"at least one feature"):
        compare_series(ok, ok, features=[])
    with pytest.raises(ValidationError, match=r"min_effect: expected 0 or more"):
        compare_series(ok, ok, min_effect=-1.0)
