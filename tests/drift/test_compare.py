"""Two-sample drift per column: the statistics agree with scipy's, every shifted
column of a wide table is found and no other, a fleet of healthy columns does not cry
wolf, a large sample does not make a trivial shift a drift, and bad samples are refused
with the column named."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from modelphase.drift import compare, compare_columns, effect_size, js_distance, psi
from modelphase.exceptions import ValidationError


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
