"""The leave-one-category-out protocol on a tiny NAB-layout corpus (not the real data)."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import pytest

from support.scripts import BENCHMARKS, load_script


@pytest.fixture
def gen(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    return load_script("_gen_anomaly", BENCHMARKS / "_gen_anomaly.py", monkeypatch)


def tiny_corpus(root: Path) -> None:
    """Two files of 400 rows per category, spikes inside the windows; the category
    without anomalies has one spike, which is a false positive."""
    rng = np.random.default_rng(0)
    times = pd.date_range("2021-01-01", periods=400, freq="5min").strftime("%Y-%m-%d %H:%M:%S")
    labels: dict[str, list[list[str]]] = {}
    files = {
        "artificialNoAnomaly/a.csv": [],
        "artificialNoAnomaly/b.csv": [],
        "artificialWithAnomaly/a.csv": [(200, 220)],
        "artificialWithAnomaly/b.csv": [(300, 320)],
        "realAWSCloudwatch/a.csv": [(250, 270)],
        "realAWSCloudwatch/b.csv": [(150, 160), (330, 350)],
        "realKnownCause/a.csv": [(280, 300)],
        "realKnownCause/b.csv": [(220, 240)],
    }
    for rel, windows in files.items():
        values = 10.0 + rng.normal(0, 1, 400)
        for a, _ in windows:
            values[a + 3] += 15.0
        if rel == "artificialNoAnomaly/b.csv":
            values[350] += 15.0
        path = root / "data" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame({"timestamp": times, "value": values.round(3)}).to_csv(path, index=False)
        labels[rel] = [[times[a] + ".000000", times[b] + ".000000"] for a, b in windows]
    (root / "labels").mkdir()
    (root / "labels" / "combined_windows.json").write_text(json.dumps(labels))


def _args(nab: Path, **extra: Any) -> Any:
    base = {"nab_dir": nab, "configs": ["calibrated"], "sim_seeds": 1, "sim_services": 1,
            "sim_days": 1.0}  # fmt: skip
    return type("Args", (), base | extra)()


def test_run_anomaly_leaves_each_category_out(gen: ModuleType, tmp_path: Path) -> None:
    tiny_corpus(tmp_path / "nab")
    result = gen.run_anomaly(_args(tmp_path / "nab"))
    json.dumps(result)  # plain data, for the caller to write
    assert list(result["configs"]) == ["baseline", "calibrated"]  # the baseline always
    assert set(result["protocol"]) == set(gen.CATEGORIES)
    for cat, p in result["protocol"].items():
        assert p["chosen"] in result["configs"]
        row = result["configs"][p["chosen"]]
        assert p["left_out"] == row["left_out"][cat]
        assert p["threshold"] == row["threshold"][cat]
    base = result["configs"]["baseline"]
    assert base["left_out"]["artificialNoAnomaly"] >= 0  # false positives per file
    assert set(base["own_threshold"]) == set(gen.PUBLISHED)
    assert base["rows"] == 3200
    assert {"precision", "recall", "f1"} <= set(base["sim"])
    assert result["verdicts"]["baseline"] == "reference"
    assert result["verdicts"]["calibrated"].startswith(("kept", "dropped"))


def test_the_left_out_category_is_scored_at_the_threshold_of_the_others(
    gen: ModuleType, tmp_path: Path
) -> None:
    from modelphase.backtest import load_nab_corpus, nab_score

    tiny_corpus(tmp_path / "nab")
    corpus = load_nab_corpus(tmp_path / "nab")
    scores, _, _ = gen.score_config(gen.GRID["calibrated"], corpus)
    thr, _, figure = gen.left_out(corpus, scores, "realKnownCause")
    others = gen.subset(
        corpus, ["artificialNoAnomaly", "artificialWithAnomaly", "realAWSCloudwatch"]
    )
    assert thr == nab_score(others, scores)["standard"].threshold
    alone = gen.subset(corpus, ["realKnownCause"])
    assert figure == nab_score(alone, scores, {"standard": thr})["standard"].score


def test_the_rule_keeps_only_a_change_that_generalises(gen: ModuleType) -> None:
    def row(scores: list[float], fp: float, f1: float) -> dict[str, Any]:
        cats = [c for c in gen.CATEGORIES if c != gen.NO_WINDOWS]
        left = dict(zip(cats, scores, strict=True)) | {gen.NO_WINDOWS: fp}
        return {"left_out": left, "mean_left_out": float(np.mean(scores)), "sim": {"f1": f1}}

    rows = {
        "baseline": row([90.0, 70.0, 60.0], 0.4, 0.70),
        "better": row([91.0, 71.0, 59.5], 0.4, 0.70),
        "one set down 3%": row([95.0, 75.0, 58.0], 0.4, 0.70),
        "more false positives": row([95.0, 75.0, 60.0], 0.8, 0.70),
        "worse on the simulator": row([95.0, 75.0, 60.0], 0.4, 0.60),
        "same mean": row([90.0, 70.0, 60.0], 0.4, 0.70),
    }
    verdicts = gen.judge(rows)
    assert verdicts["better"].startswith("kept")
    for name in ("one set down 3%", "more false positives", "worse on the simulator"):
        assert verdicts[name].startswith("dropped"), name
    assert verdicts["same mean"].startswith("neutral")


def test_print_anomaly_prints_the_tables(
    gen: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tiny_corpus(tmp_path / "nab")
    nab = str(tmp_path / "nab")
    assert gen.main(["--nab-dir", nab, "--config", "calibrated", "--sim-seeds", "0"]) == 0
    text = capsys.readouterr().out
    for part in ("leave one category out", "left-out score", "ARTime", "HTM", "rows/s",
                 "not evidence", "verdict"):  # fmt: skip
        assert part in text


def test_quick_runs_the_baseline_and_the_default(gen: ModuleType, tmp_path: Path) -> None:
    tiny_corpus(tmp_path / "nab")
    args = type("Args", (), {"nab_dir": tmp_path / "nab", "quick": True, "sim_seeds": 0})()
    result = gen.run_anomaly(args)
    assert list(result["configs"]) == ["baseline", "pareto tail"]
    assert "sim" not in result["configs"]["baseline"]
