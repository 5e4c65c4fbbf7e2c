"""The training report and the CLI tables a training run prints are readable: plots
zoomed on the backtests and the forecast with legends, scale-free cross-series tables,
every model name explained, tables within 80 columns."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from modelphase.cli._render import FitTable
from modelphase.cli.models import events_table
from modelphase.cli.train import candidates_table, gates_table
from modelphase.frame import Panel
from modelphase.report import Span, plot_panel, write_training_report
from modelphase.report._forecast_plot import Window, forecast_figure
from modelphase.report._glossary import glossary
from modelphase.report.training import scale_free

MIN = 60 * 10**9
DAY = 1440 * MIN


def _run() -> dict[str, object]:
    """Three days of minute data, three 60-step backtest windows and a 60-step forecast."""
    n = 3 * 1440
    ds = np.arange(n, dtype=np.int64) * MIN
    y = 1.0 + np.sin(2 * np.pi * np.arange(n) / 1440)
    history = Panel.from_series([("a", ds, y), ("b", ds, y * 1e9)], step=MIN)
    cutoffs = [ds[-181], ds[-121], ds[-61]]
    rows = []
    for uid, scale in (("a", 1.0), ("b", 1e9)):
        for c in cutoffs:
            for k in range(1, 61):
                t = c + k * MIN
                v = scale * (1.0 + np.sin(2 * np.pi * (t // MIN) / 1440))
                rows.append((uid, t, c, v, v * 1.01, v * 0.9, v * 1.1))
    bt = pd.DataFrame(
        rows, columns=["unique_id", "ds", "cutoff", "y", "yhat", "yhat-lo-80", "yhat-hi-80"]
    )
    for col in ("ds", "cutoff"):
        bt[col] = pd.to_datetime(bt[col], utc=True)
    fc = pd.DataFrame(
        [(u, ds[-1] + k * MIN, 1.0, 0.9, 1.1) for u in ("a", "b") for k in range(1, 61)],
        columns=["unique_id", "ds", "yhat", "yhat-lo-80", "yhat-hi-80"],
    )
    fc["ds"] = pd.to_datetime(fc["ds"], utc=True)
    candidates = pd.DataFrame(
        {
            "mae": [5e8, 6e8, 5e8, 4e8],
            "rmse": [6e8, 7e8, 6e8, 5e8],
            "smape": [10.0, 12.0, 10.0, 9.0],
            "mase": [0.7, 0.8, 0.7, 0.6],
            "coverage_80": [np.nan, np.nan, np.nan, 0.8],
            "pinball_80": [np.nan, np.nan, np.nan, 3e7],
            "series_chosen": [1, 1, 0, 2],
        },
        index=["SeasonalNaive", "SeasWA", "baseline", "selected"],
    )
    per_series = pd.DataFrame(
        {"unique_id": ["a", "b"], "model": ["SeasWA", "SeasonalNaive"], "mae": [0.01, 1e7],
         "mase": [0.5, 0.7], "vs_baseline": [0.9, 1.1]}
    )  # fmt: skip
    return {
        "title": "t", "summary": {}, "gates": [], "candidates": candidates,
        "per_series": per_series, "backtest": bt, "history": history, "forecast": fc,
        "levels": [80], "season_length": 1440, "sample": 2, "worst": 1,
    }  # fmt: skip


def test_plot_is_zoomed_on_backtests_and_forecast_not_three_days() -> None:
    run = _run()
    history = run["history"]
    assert isinstance(history, Panel)
    ds, y = history.series("a")
    bt, fc = run["backtest"], run["forecast"]
    assert isinstance(bt, pd.DataFrame)
    assert isinstance(fc, pd.DataFrame)
    bt = bt[bt["unique_id"] == "a"].assign(
        ds=lambda f: f["ds"].astype("int64"), cutoff=lambda f: f["cutoff"].astype("int64")
    )
    fc = fc[fc["unique_id"] == "a"].assign(ds=lambda f: f["ds"].astype("int64"))
    window = Window.of(int(bt["cutoff"].min()), int(ds[-1]), int(fc["ds"].max()), MIN, DAY)
    fig = forecast_figure(ds, y, bt, fc, ["80"], window)
    zoom = fig.axes[0]
    lo, hi = (
        np.datetime64(int(v * DAY / MIN), "m").astype("datetime64[ns]").astype(np.int64)
        for v in zoom.get_xlim()
    )
    assert lo <= bt["cutoff"].min()
    assert hi >= fc["ds"].max()
    assert hi - lo < DAY / 2  # four hours of interest are not squeezed into three days
    assert hi - lo <= 3 * (fc["ds"].max() - bt["cutoff"].min())
    assert len(fig.axes) == 2
    assert fig.axes[1].get_xlim()[1] - fig.axes[1].get_xlim()[0] > 2.5
    for ax in fig.axes:  # every mark drawn has a label that the legend shows
        drawn = [
            a
            for a in [*ax.lines, *ax.collections, *ax.patches]
            if not a.get_label().startswith("_")
        ]
        assert drawn
    labels = {t.get_text() for t in fig.legends[0].get_texts()}
    assert {
        "actual",
        "backtest",
        "backtest 80%",
        "forecast",
        "forecast 80%",
        "backtest cutoff",
        "end of history",
    } <= labels
    assert [t.get_text() for t in fig.axes[1].get_legend().get_texts()] == [
        "actual",
        "zoomed above",
    ]


def test_report_tables_are_scale_free_and_every_model_explained(tmp_path: Path) -> None:
    run = _run()
    path = write_training_report(tmp_path / "r.html", **run)  # type: ignore[arg-type]
    page = path.read_text()
    section = page[page.index('id="candidates"') : page.index('id="coverage"')]
    head = re.findall(r"<th>([^<]+)</th>", section[: section.index("</thead>")])
    assert head == ["model", "mase", "mase_vs_baseline", "smape", "coverage_80", "series_chosen"]
    assert "mae" not in head
    assert "rmse" not in head
    assert "pinball_80" not in head
    shown = scale_free(run["candidates"])  # type: ignore[arg-type]
    assert shown.loc["SeasWA", "mase_vs_baseline"] == pytest.approx(0.8 / 0.7)
    for name in ("SeasonalNaive", "SeasWA", "baseline", "selected"):
        assert f"<dt><b>{name}</b></dt><dd>" in section
    assert "statsforecast SeasonalWindowAverage" in section
    assert "per series" in page
    assert "<th>mae</th>" in page
    assert page.count("shown: ") == 3  # each plotted series says which window it shows


def test_glossary_explains_spec_aliases_from_their_model() -> None:
    from modelphase.forecast.naive import SeasonalNaive

    lines = glossary(
        ["fast", "Ensemble", "mystery"], [SeasonalNaive(season_length=24, alias="fast")]
    )
    assert lines["fast"].startswith("seasonal naive")
    assert "24" in lines["fast"]
    assert "median" in lines["Ensemble"]
    assert "spec" in lines["mystery"]


def test_telemetry_plot_has_a_legend_and_no_overlapping_title(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import matplotlib.figure

    saved: list[matplotlib.figure.Figure] = []
    real = matplotlib.figure.Figure.savefig

    def keep(self: matplotlib.figure.Figure, *args: object, **kwargs: object) -> None:
        saved.append(self)
        real(self, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", keep)
    ds = np.arange(200, dtype=np.int64) * MIN
    y = np.where(np.arange(200) == 50, np.nan, 3e8 + np.arange(200.0))
    panel = Panel.from_series([("mem", ds, y), ("cpu", ds, np.ones(200))], step=MIN)
    spans = [
        Span(int(ds[10]), int(ds[20]), "e1 spike", ("mem",), True),
        Span(int(ds[12]), int(ds[14]), "e2 deploy", (), False),
    ]
    plot_panel(panel, tmp_path / "t.png", spans=spans, title="telemetry")
    fig = saved[0]
    assert fig.get_layout_engine() is not None  # constrained: the title gets its own room
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == [
        "value",
        "incident window (red)",
        "other event window (grey)",
        "missing point (orange tick)",
    ]
    texts = list(fig.axes[1].texts)  # mem: both windows
    assert len({t.get_position()[1] for t in texts}) == 2  # close labels are stacked


def _render(table: FitTable, width: int = 80) -> str:
    console = Console(width=width, record=True, soft_wrap=True, file=io.StringIO())
    console.print(table)
    return console.export_text()


def _within(text: str, words: list[str], width: int = 80) -> None:
    assert max(len(line) for line in text.splitlines()) <= width
    for word in words:  # no word, id or number split across lines
        assert word in text, word


def test_training_tables_fit_80_columns() -> None:
    cands = _run()["candidates"]
    assert isinstance(cands, pd.DataFrame)
    text = _render(candidates_table(cands, [80, 95]))
    assert "┃ candidate" in text
    assert "mae" not in text.lower().split()
    _within(text, ["SeasonalNaive", "SeasWA", "selected", "80.0%"])
    gates = [
        {"name": "no_series_much_worse", "metric": "worst_series_vs_baseline",
         "value": 1.0123, "threshold": "<= 2", "passed": True},
        {"name": "calibrated_80", "metric": "coverage_80", "value": 0.75,
         "threshold": "in [0.7, 0.9]", "passed": False},
    ]  # fmt: skip
    text = _render(gates_table(gates))
    assert "┃" in text  # still a table
    _within(text, ["no_series_much_worse", "worst_series_vs_baseline", "[0.7,", "FAIL"])


def test_a_table_too_wide_becomes_lines_without_split_words() -> None:
    from modelphase.registry import AliasEvent

    fields = AliasEvent.__dataclass_fields__
    event = AliasEvent(**dict.fromkeys(fields))  # type: ignore[arg-type]
    values = {"at": "2026-12-08T06:10:11", "alias": "production", "action": "promote",
              "from_version": None, "to_version": 1, "actor": "local-admin",
              "actor_token": None, "reason": "demo: gates passed on the latest dataset",
              "forced": False}  # fmt: skip
    for k, v in values.items():
        if k in fields:
            object.__setattr__(event, k, v)
    text = _render(events_table("demo-forecast", [event]))
    assert "┃" not in text  # too wide for a table at 80 columns: one line a row
    _within(text, ["production", "promote", "local-admin", "latest", "dataset", "06:10:11"])
    assert "┃" in _render(events_table("demo-forecast", [event]), width=160)
