"""The NAB benchmark's main path on a tiny synthetic NAB-layout corpus (not the real data).

``benchmarks/`` is not a package, so the script is imported by path. It sets the thread
variables at import; the test puts them back afterwards.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

from modelphase.anomaly import DETECTORS
from support.scripts import BENCHMARKS, load_script


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    return load_script("nab_benchmark", BENCHMARKS / "nab.py", monkeypatch)


def tiny_corpus(root: Path) -> dict[str, list[list[str]]]:
    """Three files of 300 rows in two categories, with spikes inside their windows."""
    rng = np.random.default_rng(0)
    times = pd.date_range("2021-01-01", periods=300, freq="5min").strftime("%Y-%m-%d %H:%M:%S")
    labels: dict[str, list[list[str]]] = {}
    for rel, windows in {
        "alpha/one.csv": [(120, 140)],
        "alpha/two.csv": [(100, 110), (200, 230)],
        "beta/flat.csv": [],
    }.items():
        values = 10.0 + rng.normal(0, 1, 300)
        for a, _ in windows:
            values[a + 3] += 12.0
        path = root / "data" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame({"timestamp": times, "value": values.round(3)}).to_csv(path, index=False)
        labels[rel] = [[times[a] + ".000000", times[b] + ".000000"] for a, b in windows]
    (root / "labels").mkdir()
    (root / "labels" / "combined_windows.json").write_text(json.dumps(labels))
    return labels


def test_main_scores_reports_and_writes_results(
    bench: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tiny_corpus(tmp_path / "nab")
    out = tmp_path / "results"
    args = ["--nab-dir", str(tmp_path / "nab"), "--results-dir", str(out), "--worst", "2"]
    args += ["--sim-seeds", "1", "--sim-services", "1", "--sim-days", "1"]  # a small simulation
    check = bench.REFERENCE.is_file()  # the reference scorer, when ../shared is here
    for name in sorted(DETECTORS):
        args += ["--detector", name]
    assert bench.main(args + (["--check"] if check else [])) == 0
    text = capsys.readouterr().out
    assert "UTC, " in text
    assert "load average" in text
    assert "3 files, 900 rows, 3 windows" in text
    for name in DETECTORS:
        assert f"modelphase:{name}" in text
    assert "simulated telemetry: 1 services x 1 days" in text
    for part in ("ARTime", "Numenta HTM", "rows/s", "by category", "files losing most points"):
        assert part in text
    if check:
        assert "check: modelphase's scorer vs the reference" in text
        assert " NO " not in text

    name = sorted(DETECTORS)[0]
    written = pd.read_csv(out / name / "alpha" / "two.csv", dtype=str)
    source = pd.read_csv(tmp_path / "nab" / "data" / "alpha" / "two.csv", dtype=str)
    assert list(written.columns) == ["timestamp", "value", "anomaly_score"]
    assert written["timestamp"].tolist() == source["timestamp"].tolist()
    assert written["value"].tolist() == source["value"].tolist()
    assert len(written) == 300


def test_check_needs_a_results_dir(bench: ModuleType, tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        bench.main(["--nab-dir", str(tmp_path), "--check"])
