"""The HTML report of a training run, on small synthetic runs (12 hourly series)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelphase.exceptions import MissingColumnsError
from modelphase.frame import Panel
from modelphase.report import training, write_training_report

STEP = 3_600 * 10**9
H = 24
N_POINTS = 10 * 24
START = np.datetime64("2024-03-01T00:00", "ns").astype(np.int64)
NASTY = 'up{job="<script>alert(1)</script>"}'


def _ids(n: int = 12) -> list[str]:
    return [f'http_requests_total{{instance="web-{k:02d}",job="api"}}' for k in range(n)]


def _run(
    ids: list[str], *, passed: bool = True, levels: tuple[float, ...] = (80.0, 95.0)
) -> dict[str, Any]:
    """The arguments of one run: two backtest windows of 24 h, then a 24 h forecast.

    ``vs_baseline`` grows with the series' position, so the last id is the worst, and
    the first series has NaN metrics.
    """
    rng = np.random.default_rng(7)
    ds = START + np.arange(N_POINTS, dtype=np.int64) * STEP
    t = np.arange(N_POINTS)
    items, backtests, forecasts, rows = [], [], [], []
    for k, uid in enumerate(ids):
        y = 10.0 + k + 3 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 0.5, N_POINTS)
        items.append((uid, ds, y))
        for w in range(2):
            at = np.arange(N_POINTS - H * (2 - w), N_POINTS - H * (1 - w))
            yhat = y[at] + rng.normal(0, 0.7, H)
            frame = {"unique_id": uid, "ds": ds[at], "cutoff": ds[at[0] - 1], "y": y[at]}
            frame["yhat"] = yhat
            for level in levels:
                half = 0.02 * level
                frame[f"yhat-lo-{level:g}"] = yhat - half
                frame[f"yhat-hi-{level:g}"] = yhat + half
            backtests.append(pd.DataFrame(frame))
        ahead = ds[-1] + np.arange(1, H + 1, dtype=np.int64) * STEP
        mean = 10.0 + k + 3 * np.sin(2 * np.pi * np.arange(N_POINTS, N_POINTS + H) / 24)
        fc = {"unique_id": uid, "ds": ahead, "yhat": mean}
        for level in levels:
            fc[f"yhat-lo-{level:g}"] = mean - 0.03 * level
            fc[f"yhat-hi-{level:g}"] = mean + 0.03 * level
        forecasts.append(pd.DataFrame(fc))
        mase = np.nan if k == 0 else 0.5 + 0.05 * k
        rows.append(
            {
                "unique_id": uid,
                "model": "MSTL" if k % 3 else "SeasonalNaive",
                "mae": np.nan if k == 0 else 0.4 + 0.01 * k,
                "mase": mase,
                "baseline_mase": 1.0,
                "vs_baseline": mase,
                "coverage_80": 0.8,
                "coverage_95": 0.95,
                "fallback": k % 3 == 0,
            }
        )
    backtest = pd.concat(backtests, ignore_index=True)
    forecast = pd.concat(forecasts, ignore_index=True)
    for frame in (backtest, forecast):
        for col in ("ds", "cutoff"):
            if col in frame.columns:
                frame[col] = pd.to_datetime(frame[col], utc=True)
    candidates = pd.DataFrame(
        {
            "mae": [0.61, 0.42, 0.45, 0.43, 0.61],
            "mase": [1.0, 0.71, 0.75, 0.72, 1.0],
            "coverage_80": [0.74, 0.79, np.nan, 0.83, 0.74],
            "series_chosen": [4, 8, 0, 12, 4],
        },
        index=pd.Index(["SeasonalNaive", "MSTL", "Ensemble", "selected", "baseline"]),
    )
    gates = [
        {"name": "accuracy", "metric": "mase_vs_baseline", "passed": True, "value": 0.72,
         "threshold": "<= 0.9"},
        {"name": "coverage", "metric": "coverage_80", "passed": passed, "value": 0.83,
         "threshold": "between 0.75 and 0.85" if passed else ">= 0.9"},
        {"name": "no-regression", "metric": "worst_series_vs_baseline", "passed": True,
         "value": None, "threshold": "<= 2"},
    ]  # fmt: skip
    return {
        "title": "api-latency",
        "summary": {
            "dataset": "ds-3f2a9c",
            "series": len(ids),
            "points": len(ids) * N_POINTS,
            "step": "1h",
            "horizon": H,
            "windows": 2,
            "gates passed": passed,
            "duration_seconds": 12.5,
        },
        "gates": gates,
        "candidates": candidates,
        "per_series": pd.DataFrame(rows),
        "backtest": backtest,
        "history": Panel.from_series(items, step=STEP),
        "forecast": forecast,
        "levels": list(levels),
        "fallbacks": [
            {"unique_id": r["unique_id"], "model": "SeasonalNaive", "reason": "too short"}
            for r in rows
            if r["fallback"]
        ],
        "spec_text": "name: api-latency\nhorizon: 24\n# <b>not bold</b>\n",
    }


def _section(page: str, anchor: str) -> str:
    start = page.index(f'<section id="{anchor}">')
    return page[start : page.index("</section>", start)]


def _text(page: str) -> str:
    """The page without its embedded images (base64 can spell anything)."""
    return re.sub(r'src="data:image/png;base64,[^"]*"', 'src=""', page)


@pytest.fixture(scope="module")
def passing(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("pass") / "reports" / "new" / "run.html"
    run = _run([*_ids(11), NASTY])
    assert write_training_report(path, **run, sample=3, worst=2) == path
    return path.read_text(encoding="utf-8")


def test_page_is_one_self_contained_html_file(passing: str) -> None:
    assert passing.startswith("<!DOCTYPE html>")
    assert passing.rstrip().endswith("</html>")
    assert "<title>api-latency" in passing
    assert "<h1>api-latency</h1>" in passing
    assert "<script" not in passing
    assert "http://" not in _text(passing)
    assert "https://" not in _text(passing)
    for anchor in ("summary", "gates", "candidates", "coverage", "chosen", "sample", "worst"):
        assert f'<section id="{anchor}">' in passing


def test_passing_run_shows_the_verdict_and_every_gate(passing: str) -> None:
    assert '<header class="pass">' in passing
    assert "GATES PASSED" in passing
    gates = _section(passing, "gates")
    for name in ("accuracy", "coverage", "no-regression"):
        assert f"<td>{name}</td>" in gates
    assert gates.count(">PASS<") == 3
    assert ">FAIL<" not in gates
    assert "&lt;= 0.9" in gates


def test_failing_run_names_the_failed_gate(tmp_path: Path) -> None:
    path = tmp_path / "run.html"
    write_training_report(path, **_run(_ids(), passed=False), sample=1, worst=0)
    page = path.read_text(encoding="utf-8")
    assert '<header class="fail">' in page
    assert "GATES FAILED" in page
    assert "1 of 3 gates failed: coverage" in page
    gates = _section(page, "gates")
    assert gates.count(">PASS<") == 2
    assert gates.count(">FAIL<") == 1


def test_one_plot_per_series_shown_and_one_for_coverage(passing: str) -> None:
    assert passing.count("<img") == 1 + 3 + 2
    assert _section(passing, "coverage").count("<img") == 1
    assert _section(passing, "sample").count("<figure>") == 3
    assert _section(passing, "worst").count("<figure>") == 2
    assert all(src.startswith("data:image/png;base64,") for src in _srcs(passing))


def _srcs(page: str) -> list[str]:
    return re.findall(r'<img src="([^"]*)"', page)


def test_worst_series_come_first(passing: str) -> None:
    worst = _section(passing, "worst")
    ids = _ids(11)
    # the nasty id is 12th, so the worst; then the 11th
    assert worst.index("up{job=&quot;&lt;script&gt;") < worst.index(ids[10].replace('"', "&quot;"))
    table = _section(passing, "per-series")
    first_row = table[table.index("<tbody>") :]
    assert "up{job=&quot;&lt;script&gt;" in first_row[: first_row.index("</tr>")]


def test_data_strings_are_escaped(passing: str) -> None:
    assert "<script>" not in passing
    assert "up{job=&quot;&lt;script&gt;alert(1)&lt;/script&gt;&quot;}" in passing
    assert "# &lt;b&gt;not bold&lt;/b&gt;" in _section(passing, "spec")


def test_nan_and_none_render_as_a_dash(passing: str) -> None:
    text = _text(passing)
    assert not re.search(r">\s*(nan|NaN|None|<NA>)\s*<", text)
    assert "—" in _section(passing, "per-series")
    assert "—" in _section(passing, "gates")  # the gate whose value is None


def test_best_candidate_per_column_is_highlighted(passing: str) -> None:
    table = _section(passing, "candidates")
    mstl = table[table.index("<th>MSTL</th>") :]
    mstl = mstl[: mstl.index("</tr>")]
    # lowest mae, lowest mase, and coverage (79 %) the closest to its nominal 80 %
    assert mstl.count('class="num best"') == 3
    assert '<td class="num best">79.0%</td>' in mstl
    selected = table[table.index("<th>selected</th>") :]
    assert "best" not in selected[: selected.index("</tr>")]
    assert "series_chosen" in table
    assert '<td class="num">8</td>' in mstl  # counts stay integers


def test_chosen_models_and_fallbacks_are_counted(passing: str) -> None:
    chosen = _section(passing, "chosen")
    assert "<td>MSTL</td>" in chosen
    assert "<td>SeasonalNaive</td>" in chosen
    assert "4 of 12 series fell back" in chosen
    assert "4 series fell back" in _section(passing, "fallbacks")


def test_per_series_table_is_capped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(training, "MAX_ROWS", 5)
    path = tmp_path / "run.html"
    write_training_report(path, **_run(_ids()), sample=0, worst=0)
    table = _section(path.read_text(encoding="utf-8"), "per-series")
    assert table.count("<tr>") == 1 + 5
    assert "7 more series not shown" in table


def test_existing_file_is_replaced_atomically(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "run.html"
    path.write_text("old report", encoding="utf-8")
    run = _run(_ids(3))
    real_replace = os.replace

    def broken(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        write_training_report(path, **run, sample=1, worst=0)
    assert path.read_text(encoding="utf-8") == "old report"
    assert os.listdir(tmp_path) == ["run.html"]

    monkeypatch.setattr(os, "replace", real_replace)
    write_training_report(path, **run, sample=1, worst=0)
    assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert os.listdir(tmp_path) == ["run.html"]


def test_same_inputs_give_the_same_file(tmp_path: Path) -> None:
    run = _run(_ids(4), levels=(90.0,))
    first, second = tmp_path / "a.html", tmp_path / "b.html"
    write_training_report(first, **run, sample=1, worst=1, seed=3)
    write_training_report(second, **run, sample=1, worst=1, seed=3)
    assert first.read_bytes() == second.read_bytes()
    assert "90%" in _section(first.read_text(encoding="utf-8"), "coverage")


def test_missing_column_is_named(tmp_path: Path) -> None:
    run = _run(_ids(2))
    run["per_series"] = run["per_series"].drop(columns="vs_baseline")
    with pytest.raises(MissingColumnsError, match="vs_baseline") as info:
        write_training_report(tmp_path / "run.html", **run)
    assert info.value.missing == ["vs_baseline"]
    assert not (tmp_path / "run.html").exists()


def test_empty_run_without_gates_still_writes_a_report(tmp_path: Path) -> None:
    run = _run(_ids(2))
    run.update(
        gates=[],
        candidates=run["candidates"].iloc[:0],
        per_series=run["per_series"].iloc[:0],
        backtest=run["backtest"].iloc[:0],
        forecast=run["forecast"].iloc[:0],
        history=Panel.from_series([], step=STEP),
        fallbacks=[],
        spec_text="",
    )
    path = write_training_report(tmp_path / "run.html", **run)
    page = path.read_text(encoding="utf-8")
    assert '<header class="none">' in page
    assert "NO GATES" in page
    assert "<img" not in page
