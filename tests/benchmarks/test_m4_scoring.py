"""The M4 benchmark's sMAPE, MASE, Naive2 and OWA against the reference scorer.

``benchmarks/`` is not a package, so the benchmark and ``../shared/tools/m4score.py`` are
imported by path. Only the scoring functions are used: no statsforecast, no prophet.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from support.scripts import BENCHMARKS, ROOT, load_script

SHARED = ROOT.parent / "shared"
M4 = SHARED / "data" / "m4"
OFFICIAL = M4 / "official_hourly_forecasts"

# published M4 Hourly results (README): sMAPE, MASE, OWA
PUBLISHED = {"Naive2": (18.383, 2.395, 1.000), "sNaive": (13.912, 1.193, 0.627)}


if not (SHARED / "tools" / "m4score.py").exists() or not OFFICIAL.exists():
    pytest.skip("shared M4 data and reference scorer not present", allow_module_level=True)

bench = load_script("m4_benchmark", BENCHMARKS / "m4.py")
ref = load_script("m4score_reference", SHARED / "tools" / "m4score.py")


@pytest.fixture(scope="module")
def data() -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    return ref.load_wide(M4 / "Hourly-train.csv"), ref.load_wide(M4 / "Hourly-test.csv")


def official(name: str, ids: list[str]) -> dict[str, np.ndarray]:
    df = pd.read_csv(OFFICIAL / f"submission-{name}-hourly.csv", index_col=0)
    return {s: df.loc[s].to_numpy(dtype=float) for s in ids}


def test_hand_computed_values() -> None:
    y, f = np.array([100.0, 200.0]), np.array([50.0, 200.0])
    assert bench.smape(y, f) == pytest.approx((200 * 50 / 150 + 0) / 2)
    x = np.arange(30.0)  # seasonal naive at lag 24 is off by 24 at every step
    assert bench.mase_scale(x) == pytest.approx(24.0)
    assert bench.mase(y, f, 25.0) == pytest.approx(1.0)
    assert bench.owa(9.0, 1.0, 18.0, 2.0) == pytest.approx(0.5)
    cover = bench.coverage({"a": y}, {"a": y - 1}, {"a": np.array([101.0, 199.0])})
    assert cover == pytest.approx(0.5)


def test_long_files_hold_the_wide_files(data: tuple[dict, dict]) -> None:
    for split, wide in zip(("train", "test"), data, strict=True):
        long = bench.load_long(M4 / f"Hourly-{split}-long.csv")
        assert long.keys() == wide.keys()
        for s in wide:
            np.testing.assert_array_equal(long[s], wide[s])


def test_naive2_matches_reference_and_official_file(data: tuple[dict, dict]) -> None:
    train, test = data
    ids = list(test)
    published = official("Naive2", ids)
    for s in ids:
        assert bench.is_seasonal(train[s]) == ref.seasonal(train[s])
        assert bench.mase_scale(train[s]) == pytest.approx(ref.mase_scale(train[s]), rel=1e-12)
        ours = bench.naive2(train[s])
        np.testing.assert_allclose(ours, ref.naive2(train[s]), rtol=1e-12)
        np.testing.assert_allclose(ours, published[s], rtol=1e-7)


@pytest.mark.parametrize("name", ["Naive", "sNaive", "Naive2", "SES"])
def test_scores_match_reference_scorer(name: str, data: tuple[dict, dict]) -> None:
    train, test = data
    fc = official(name, list(test))
    n2 = {s: ref.naive2(train[s]) for s in test}
    ref_n2 = ref.errors(train, test, n2)
    ref_fc = ref.errors(train, test, fc)
    ours_n2 = bench.errors(train, test, bench.naive2_system(train, 48, [])["mean"])
    ours_fc = bench.errors(train, test, fc)
    assert ours_n2 == pytest.approx(ref_n2, rel=1e-12)
    assert ours_fc == pytest.approx(ref_fc, rel=1e-12)
    ours_owa = bench.owa(*ours_fc, *ours_n2)
    assert ours_owa == pytest.approx(0.5 * (ref_fc[0] / ref_n2[0] + ref_fc[1] / ref_n2[1]))
    if name in PUBLISHED:
        smape, mase, owa = PUBLISHED[name]
        assert ours_fc == pytest.approx((smape, mase), abs=5e-4)
        # the published OWA comes from the rounded sMAPE and MASE: sNaive 0.62750 -> 0.627
        assert ours_owa == pytest.approx(owa, abs=1e-3)
