"""NAB scoring: hand-made cases from the rules, the exact sweep against brute force, and
agreement with the reference scorer (``../shared/tools/nabscore.py``, run as a program)
on a small corpus of real NAB files plus a synthetic file with every edge case."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelphase.backtest import (
    NAB_PROFILES,
    NabCorpus,
    NabFile,
    NabProfile,
    load_nab_corpus,
    nab_probation,
    nab_score,
)
from modelphase.exceptions import (
    MissingColumnsError,
    SourceError,
    ValidationError,
    ValueParseError,
)

SHARED = Path(__file__).resolve().parents[3] / "shared"
NAB = SHARED / "data" / "nab"
REFERENCE = SHARED / "tools" / "nabscore.py"
MINUTE = 60_000_000_000
FP_STANDARD = NAB_PROFILES["standard"].fp_weight


def one_file(n: int, windows: list[tuple[int, int]], **profiles: NabProfile) -> NabCorpus:
    f = NabFile("cat/a.csv", np.arange(n, dtype=np.int64) * MINUTE, tuple(windows))
    return NabCorpus((f,), profiles or dict(NAB_PROFILES))


def spikes(n: int, rows: dict[int, float]) -> dict[str, np.ndarray]:
    s = np.zeros(n)
    for i, v in rows.items():
        s[i] = v
    return {"cat/a.csv": s}


def sigmoid(y: float) -> float:
    return 2.0 / (1.0 + math.exp(5.0 * y)) - 1.0


# --- the rules, by hand --------------------------------------------------------------------


def test_detection_on_a_windows_first_row_is_worth_a_tp() -> None:
    corpus = one_file(100, [(40, 49)])  # probation: 15 rows
    for name, r in nab_score(corpus, spikes(100, {40: 1.0})).items():
        assert r.raw == 1.0, name
        assert r.score == 100.0
        assert (r.threshold, r.tp, r.fp, r.fn) == (1.0, 1, 0, 0)


def test_only_the_earliest_detection_of_a_window_counts() -> None:
    corpus = one_file(100, [(40, 49)])
    late = nab_score(corpus, spikes(100, {45: 1.0}))["standard"]
    assert late.raw == pytest.approx(sigmoid(-5 / 10) / sigmoid(-1.0))
    assert 0 < late.raw < 1
    twice = nab_score(corpus, spikes(100, {45: 1.0, 47: 1.0}))["standard"]
    assert twice.raw == pytest.approx(late.raw)
    assert (twice.tp, twice.fp) == (1, 0)


def test_false_positives_are_discounted_just_after_a_window() -> None:
    corpus = one_file(100, [(40, 49)])  # width 10
    fixed = {"standard": 1.0}
    just_after = nab_score(corpus, spikes(100, {40: 1.0, 52: 1.0}), fixed)["standard"]
    assert just_after.raw == pytest.approx(1.0 + FP_STANDARD * sigmoid(3 / 9))
    assert (just_after.tp, just_after.fp) == (1, 1)
    far = nab_score(corpus, spikes(100, {40: 1.0, 80: 1.0}), fixed)["standard"]  # > 3 widths
    before = nab_score(corpus, spikes(100, {40: 1.0, 20: 1.0}), fixed)["standard"]
    assert far.raw == before.raw == pytest.approx(1.0 - FP_STANDARD)
    assert 1.0 - FP_STANDARD < just_after.raw < 1.0
    width_one = one_file(100, [(40, 40)])
    right_after = nab_score(width_one, spikes(100, {40: 1.0, 41: 1.0}), fixed)["standard"]
    assert right_after.raw == pytest.approx(1.0 - FP_STANDARD)


def test_a_given_threshold_is_used_as_given_and_the_others_still_optimised() -> None:
    """Leave-one-category-out scores a category at a threshold chosen elsewhere."""
    corpus = one_file(100, [(40, 49)])
    scores = spikes(100, {30: 2.0, 40: 1.0})  # an FP above the window's detection
    best = nab_score(corpus, scores)
    assert best["standard"].threshold == 1.0  # the window is worth the FP
    fixed = nab_score(corpus, scores, {"standard": 1.5})
    assert (fixed["standard"].threshold, fixed["standard"].tp, fixed["standard"].fp) == (1.5, 0, 1)
    assert fixed["standard"].score < best["standard"].score
    assert fixed["reward_low_FP_rate"] == best["reward_low_FP_rate"]
    none = nab_score(corpus, scores, {"standard": math.inf})["standard"]
    assert (none.tp, none.fp, none.score) == (0, 0, 0.0)


def test_probation_rows_are_ignored() -> None:
    assert nab_probation(100) == 15
    assert nab_probation(10_000) == 750
    n = np.arange(200_000)  # NAB's own float formula, everywhere
    expected = np.minimum(np.floor(0.15 * n), 0.15 * 5000).astype(int)
    assert [nab_probation(int(k)) for k in n[::997]] == expected[::997].tolist()
    assert all(nab_probation(int(k)) == expected[k] for k in range(0, 200_000, 20))

    corpus = one_file(100, [(40, 49)])
    early = nab_score(corpus, spikes(100, {14: 5.0, 40: 1.0}), {"standard": 1.0})["standard"]
    assert (early.raw, early.fp) == (1.0, 0)
    # a window inside probation: out of the null score (no row can find it), in perfect
    corpus = one_file(100, [(5, 10), (40, 49)])
    r = nab_score(corpus, spikes(100, {7: 9.0, 40: 1.0}))["standard"]
    assert (r.null, r.perfect, r.raw) == (-1.0, 2.0, 1.0)
    assert r.score == pytest.approx(100 * 2 / 3)
    assert (r.tp, r.fn) == (1, 0)


def test_a_label_names_the_first_row_with_its_timestamp() -> None:
    t = np.array([0, 1, 2, 2, 2, 3, 4, 5, 6, 7, 8, 5, 6, 7, 8, 9], dtype=np.int64) * MINUTE
    f = NabFile.from_labels("cat/a.csv", t, [(2 * MINUTE, 3 * MINUTE), (6 * MINUTE, 7 * MINUTE)])
    assert f.windows == ((2, 5), (8, 9))  # 2 repeats (DST), 5..8 come back (a step back)
    with pytest.raises(ValidationError, match=r"cat/a.csv: window bound .* not the time"):
        NabFile.from_labels("cat/a.csv", t, [(2 * MINUTE, 100 * MINUTE)])


def test_threshold_ties_go_to_the_highest_threshold() -> None:
    corpus = one_file(100, [(40, 49)])
    # the later in-window detection adds nothing: 0.9 and 0.8 tie, 0.9 wins
    r = nab_score(corpus, spikes(100, {40: 0.9, 45: 0.8}))["standard"]
    assert (r.threshold, r.raw) == (0.9, 1.0)
    # two FPs at 1 each cancel the window's gain of 2: a tie with "no detection", which wins
    costly = NabProfile(tp_weight=1.0, fp_weight=1.0, fn_weight=1.0)
    corpus = one_file(100, [(40, 49)], costly=costly)
    r = nab_score(corpus, spikes(100, {20: 0.95, 21: 0.95, 40: 0.9}))["costly"]
    assert (r.threshold, r.raw, r.score, r.tp) == (math.inf, -1.0, 0.0, 0)


def test_infinite_scores_are_detections_and_inf_means_none() -> None:
    corpus = one_file(100, [(40, 49)])
    r = nab_score(corpus, spikes(100, {40: math.inf}))["standard"]
    assert (r.score, r.tp, r.fp) == (100.0, 1, 0)
    assert r.threshold == np.finfo(np.float64).max  # fires on +inf only: inf is "none"
    nan = nab_score(corpus, {"cat/a.csv": np.full(100, np.nan)})["standard"]
    assert (nan.threshold, nan.score, nan.fn) == (math.inf, 0.0, 1)


def test_per_file_breakdown_adds_up() -> None:
    files = (
        NabFile("x/b.csv", np.arange(200, dtype=np.int64) * MINUTE, ((100, 119),)),
        NabFile("x/a.csv", np.arange(100, dtype=np.int64) * MINUTE, ((40, 49), (70, 79))),
        NabFile("y/c.csv", np.arange(100, dtype=np.int64) * MINUTE),
    )
    scores = {"x/a.csv": np.zeros(100), "x/b.csv": np.zeros(200), "y/c.csv": np.zeros(100)}
    scores["x/a.csv"][[40, 60]] = 1.0
    scores["x/b.csv"][110] = 1.0
    scores["y/c.csv"][50] = 1.0
    r = nab_score(NabCorpus(files), scores, {"standard": 1.0})["standard"]
    assert list(r.files) == ["x/a.csv", "x/b.csv", "y/c.csv"]
    assert sum(f.raw for f in r.files.values()) == pytest.approx(r.raw)
    a, b, c = r.files["x/a.csv"], r.files["x/b.csv"], r.files["y/c.csv"]
    assert (a.tp, a.fn, a.fp, a.n_windows, a.perfect, a.null) == (1, 1, 1, 2, 2.0, -2.0)
    assert a.lost == pytest.approx(a.perfect - a.raw)
    assert (b.tp, b.fp, c.fp, c.raw, c.perfect) == (1, 0, 1, -FP_STANDARD, 0.0)
    assert (r.tp, r.fp, r.fn) == (2, 2, 1)


# --- errors ----------------------------------------------------------------------------


def test_missing_or_misshapen_scores_say_which_file() -> None:
    corpus = one_file(100, [(40, 49)])
    with pytest.raises(ValidationError, match=r"no scores for 1 of .*cat/a.csv"):
        nab_score(corpus, {"cat/b.csv": np.zeros(100)})
    with pytest.raises(ValidationError, match=r"cat/a.csv: expected 100 scores .*got 99 rows"):
        nab_score(corpus, {"cat/a.csv": np.zeros(99)})
    with pytest.raises(ValidationError, match=r"expected 100 scores .*got shape \(100, 1\)"):
        nab_score(corpus, {"cat/a.csv": np.zeros((100, 1))})


def test_bad_corpora_are_refused() -> None:
    with pytest.raises(ValidationError, match="sorted, disjoint"):
        one_file(100, [(40, 49), (45, 60)])
    with pytest.raises(ValidationError, match="inside the file's 100 rows"):
        one_file(100, [(90, 100)])
    with pytest.raises(ValidationError, match="no anomaly windows"):
        nab_score(one_file(100, []), spikes(100, {}))
    with pytest.raises(ValidationError, match="tp_weight > 0"):
        one_file(100, [], bad=NabProfile(0.0, 1.0, 1.0))


# --- the sweep is exact ------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(20, 160),
    cuts=st.lists(st.integers(0, 159), max_size=6, unique=True),
    seed=st.integers(0, 2**32 - 1),
)
def test_sweep_matches_brute_force(n: int, cuts: list[int], seed: int) -> None:
    edges = sorted(c for c in cuts if c < n)
    windows = list(zip(edges[0::2], edges[1::2], strict=False))
    corpus = one_file(n, windows)
    if not windows:
        return
    rng = np.random.default_rng(seed)
    s = rng.integers(0, 6, n).astype(float)  # many ties
    s[rng.random(n) < 0.1] = np.nan
    best = nab_score(corpus, {"cat/a.csv": s})
    for name in corpus.profiles:
        candidates = [math.inf, *np.unique(s[~np.isnan(s)])[::-1].tolist()]  # descending
        raws = [nab_score(corpus, {"cat/a.csv": s}, {name: t})[name].raw for t in candidates]
        top = max(raws)
        assert best[name].raw == pytest.approx(top, abs=1e-9)
        first = next(t for t, r in zip(candidates, raws, strict=True) if r >= top - 1e-9)
        assert best[name].threshold == first


# --- files -------------------------------------------------------------------------------


def test_load_nab_corpus_reads_the_layout(tmp_path: Path) -> None:
    (tmp_path / "data" / "cat").mkdir(parents=True)
    (tmp_path / "labels").mkdir()
    rows = ["2014-03-09 01:55:00,1", "2014-03-09 03:00:00,2", "2014-03-09 03:00:00,3"]
    rows += [f"2014-03-09 03:0{i}:00,{i}" for i in range(1, 8)]
    (tmp_path / "data" / "cat" / "a.csv").write_text("timestamp,value\n" + "\n".join(rows))
    labels = {"cat/a.csv": [["2014-03-09 03:00:00.000000", "2014-03-09 03:02:00.000000"]]}
    (tmp_path / "labels" / "combined_windows.json").write_text(json.dumps(labels))
    corpus = load_nab_corpus(tmp_path)
    (f,) = corpus.files
    assert (f.relpath, f.category, f.n_rows, f.windows) == ("cat/a.csv", "cat", 10, ((1, 4),))
    assert f.times[0] == pd.Timestamp("2014-03-09 01:55", tz="UTC").value
    assert f.values is not None
    assert f.values.tolist() == [1.0, 2.0, 3.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    assert corpus.profiles == NAB_PROFILES  # no config/profiles.json
    with pytest.raises(SourceError, match=r"no labels/combined_windows\.json"):
        load_nab_corpus(tmp_path / "data")
    (tmp_path / "data" / "cat" / "a.csv").write_text("timestamp,value\n2014-03-09 01:55:00,x\n")
    with pytest.raises(ValueParseError, match=r"a\.csv: a value is not a number"):
        load_nab_corpus(tmp_path)
    (tmp_path / "data" / "cat" / "a.csv").write_text("time,value\n2014-03-09 01:55:00,1\n")
    with pytest.raises(MissingColumnsError, match="expected columns timestamp,value"):
        load_nab_corpus(tmp_path)


# --- agreement with the reference scorer ---------------------------------------------------

REAL = (
    "realKnownCause/rogue_agent_key_hold.csv",  # 1,882 rows, 2 windows
    "realAWSCloudwatch/ec2_disk_write_bytes_1ef3de.csv",  # repeats a timestamp 11 times
    "realKnownCause/machine_temperature_system_failure.csv",  # steps back an hour
    "artificialNoAnomaly/art_noisy.csv",  # no window
)


def synthetic_edges(root: Path) -> list[list[str]]:
    """400 rows with a repeated timestamp and a step back; windows in probation, of
    width one, starting on a repeated timestamp, after the step back, on the last row."""
    step = pd.Timedelta(minutes=5)
    idx = list(range(400))
    pos = [i - (2 if i >= 300 else 0) - min(max(i - 150, 0), 2) for i in idx]
    times = [pd.Timestamp("2020-01-01") + p * step for p in pos]
    rng = np.random.default_rng(1)
    values = np.sin(np.arange(400) / 12.0) + rng.normal(0, 0.1, 400)
    values[[95, 160, 305, 399]] += 4.0
    text = [t.strftime("%Y-%m-%d %H:%M:%S") for t in times]
    (root / "data" / "synthetic").mkdir(parents=True)
    frame = pd.DataFrame({"timestamp": text, "value": values.round(4)})
    frame.to_csv(root / "data" / "synthetic" / "edges.csv", index=False)
    label = [text[i] + ".000000" for i in (10, 20, 90, 90, 152, 170, 300, 320, 380, 399)]
    return [label[k : k + 2] for k in range(0, len(label), 2)]


def rolling_z(values: np.ndarray, window: int = 60) -> np.ndarray:
    """An online z-score: the mean and deviation of the previous ``window`` rows."""
    s = pd.Series(values)
    past = s.shift(1).rolling(window, min_periods=10)
    return ((s - past.mean()).abs() / past.std()).fillna(0.0).to_numpy()


@pytest.mark.skipif(not REFERENCE.exists(), reason="shared NAB data and reference not present")
def test_scores_match_the_reference_scorer(tmp_path: Path) -> None:
    root = tmp_path / "nab"
    labels_all = json.loads((NAB / "labels" / "combined_windows.json").read_text())
    labels = {"synthetic/edges.csv": synthetic_edges(root)}
    for rel in REAL:
        (root / "data" / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(NAB / "data" / rel, root / "data" / rel)
        labels[rel] = labels_all[rel]
    (root / "labels").mkdir()
    (root / "labels" / "combined_windows.json").write_text(json.dumps(labels))
    shutil.copytree(NAB / "config", root / "config")
    corpus = load_nab_corpus(root)
    assert corpus.files[-1].windows == ((10, 20), (90, 90), (150, 170), (298, 320), (380, 399))

    rng = np.random.default_rng(0)
    detectors: dict[str, dict[str, np.ndarray]] = {"random": {}, "zscore": {}, "zround": {}}
    for f in corpus.files:
        assert f.values is not None
        detectors["random"][f.relpath] = rng.random(f.n_rows)
        detectors["zscore"][f.relpath] = z = rolling_z(f.values)
        detectors["zround"][f.relpath] = np.where(rng.random(f.n_rows) < 0.05, np.nan, z.round(1))
    for det, scores in detectors.items():
        for f in corpus.files:
            text = pd.read_csv(root / "data" / f.relpath, dtype=str)
            text["anomaly_score"] = scores[f.relpath]
            (tmp_path / det / f.relpath).parent.mkdir(parents=True, exist_ok=True)
            text.to_csv(tmp_path / det / f.relpath, index=False)
    cmd = [sys.executable, str(REFERENCE), "--data", str(root), "--json", str(tmp_path / "r.json")]
    cmd += ["--per-file", str(tmp_path / "per_file.csv"), "--results"]
    done = subprocess.run([*cmd, *(str(tmp_path / d) for d in detectors)], capture_output=True)
    assert done.returncode == 0, done.stderr.decode()
    ref = json.loads((tmp_path / "r.json").read_text())
    per_file = pd.read_csv(tmp_path / "per_file.csv")

    for det, scores in detectors.items():
        ours = nab_score(corpus, scores)
        for name, r in ours.items():
            theirs = ref[det][name]
            assert r.score == pytest.approx(theirs["score"], abs=1e-6), (det, name)
            if theirs["threshold"] is not None:
                assert r.threshold == theirs["threshold"]
            elif r.threshold != math.inf:  # the reference's inf also fires on +inf scores
                assert r.threshold == np.finfo(np.float64).max
                assert any(np.isposinf(s).any() for s in scores.values())
            assert (r.tp, r.fp) == (theirs["windows_hit"], theirs["fp_rows"])
            rows = per_file[(per_file["detector"] == det) & (per_file["profile"] == name)]
            for rel, raw in zip(rows["file"], rows["raw_score"], strict=True):
                assert r.files[rel].raw == pytest.approx(raw, abs=1e-9), (det, name, rel)
