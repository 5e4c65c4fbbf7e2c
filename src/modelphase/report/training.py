"""The HTML report of a training run: what an SRE reads before promoting a model.

One self-contained file (inline CSS, plots as base64 PNG ``data:`` URIs, no script, no
network), in this order:

1. the verdict: all gates passed (green) or which ones failed (red);
2. the run summary: dataset, series, points, step, horizon, windows, selection, ...;
3. the gates: metric, value, threshold and pass or fail of each;
4. the candidates' backtest metrics, scale-free only (MASE, MASE relative to the
   baseline's, sMAPE, coverage: a mean of MAE over bytes and ratios is the bytes'), with
   the best value of each column highlighted (lowest error; coverage closest to its
   nominal level), and a line for each model name saying what the model is;
5. interval coverage of the selected model's backtest: empirical against nominal for
   each level, and by horizon step;
6. how many series chose each model;
7. actual against backtest forecasts with their interval bands, and the final forecast
   after the end of the history, for a seeded sample of series and for the worst series
   (highest MASE relative to the seasonal-naive baseline), zoomed on the backtest windows
   and the forecast with a short panel of the last seasons below for context (see
   :mod:`modelphase.report._forecast_plot`), the window shown in each caption;
8. the per-series metrics, worst first, at most :data:`MAX_ROWS` rows;
9. the series that fell back to the baseline model, and why;
10. the spec, verbatim.

Only the plotted series are handled one by one and tables are capped, so the report of
10,000 series is written about as fast as that of 12. Every string that comes from data
(series ids, model names, reasons, the spec) is HTML-escaped. The same inputs give the
same bytes: nothing reads the clock.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter
from numpy.typing import NDArray

from modelphase.exceptions import MissingColumnsError
from modelphase.files import write_atomic
from modelphase.frame import Panel
from modelphase.report._forecast_plot import CONTEXT_SEASONS, Window, forecast_figure, window_text
from modelphase.report._glossary import glossary
from modelphase.report._html import _esc, _fmt, _img, _none, _png, _table, _td

__all__ = ["MAX_ROWS", "scale_free", "write_training_report"]

#: The most rows a table shows; the rest are counted, not listed.
MAX_ROWS = 300

_DASH = "—"
_HOUR = 3_600 * 10**9
_DAY = 24 * _HOUR
_WEEK = 7 * _DAY
_YEAR = 365 * _DAY
_LOWER_IS_BETTER = ("mae", "rmse", "smape", "mase", "pinball", "vs_baseline")
_DPI = 90

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#222;
margin:0 auto;max-width:1280px;padding:0 24px 48px}
h1{margin:0;font-size:26px}h2{margin-top:36px;border-bottom:1px solid #ddd;padding-bottom:4px}
header{margin:24px 0 8px;padding:18px 22px;border-radius:8px;border-left:10px solid}
header.pass{background:#e8f5e9;border-color:#2e7d32}header.fail{background:#fdecea;border-color:#c62828}
header.none{background:#f3f3f3;border-color:#888}
.verdict{font-size:20px;font-weight:700;margin:6px 0 0}.pass .verdict{color:#2e7d32}
.fail .verdict{color:#c62828}nav a{margin-right:14px}
table{border-collapse:collapse;margin:8px 0;font-size:13px}
th,td{padding:4px 10px;border-bottom:1px solid #e5e5e5;text-align:left;vertical-align:top}
th{background:#f5f5f5;position:sticky;top:0}tr:nth-child(even) td{background:#fafafa}
td.num{text-align:right;font-variant-numeric:tabular-nums}
td.best{background:#d7f0dc!important;font-weight:700}td.bad{color:#c62828}
.ok{color:#2e7d32;font-weight:700}.ko{color:#c62828;font-weight:700}
tr.selected td{border-top:2px solid #999}code,pre{font-family:ui-monospace,Menlo,monospace}
pre{background:#f6f8fa;padding:12px;overflow:auto;border-radius:6px;font-size:12px}
.bar{display:inline-block;height:10px;background:#1f77b4;vertical-align:middle}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:14px}
figure{margin:0;border:1px solid #e5e5e5;border-radius:6px;padding:6px}
figure img{width:100%;height:auto}figcaption{font-size:12px;word-break:break-all}
.note{color:#666;font-size:12px}
dl.glossary{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;font-size:13px}
dl.glossary dd{margin:0}
"""


def write_training_report(
    path: Path,
    *,
    title: str,
    summary: Mapping[str, Any],
    gates: Sequence[Mapping[str, Any]],
    candidates: pd.DataFrame,
    per_series: pd.DataFrame,
    backtest: pd.DataFrame,
    history: Panel,
    forecast: pd.DataFrame,
    levels: Sequence[float],
    fallbacks: Sequence[Mapping[str, str]] = (),
    spec_text: str = "",
    sample: int = 6,
    worst: int = 6,
    seed: int = 0,
    season_length: int | None = None,
    models: Sequence[Any] = (),
) -> Path:
    """Write the report of one training run to ``path`` (atomically) and return it.

    ``per_series`` needs ``unique_id``, ``model`` and ``vs_baseline``; ``backtest``
    ``unique_id``, ``ds``, ``cutoff``, ``y`` and ``yhat``; ``forecast`` ``unique_id``,
    ``ds`` and ``yhat``; interval columns ``yhat-lo-<l>``/``yhat-hi-<l>`` (``l`` as
    ``f"{l:g}"``) are drawn where present. ``sample`` series picked with ``seed`` and the
    ``worst`` series are plotted. ``season_length`` (points) sets how much history the
    plots' context panel shows (three seasons); by default a day, a week or a year, from
    the step. ``models`` are the built candidates, whose classes and parameters explain
    their names in the report's glossary (without them, names are explained as known
    aliases).
    """
    _require(per_series, "per_series", ("unique_id", "model", "vs_baseline"))
    _require(backtest, "backtest", ("unique_id", "ds", "cutoff", "y", "yhat"))
    _require(forecast, "forecast", ("unique_id", "ds", "yhat"))
    tags = [f"{float(level):g}" for level in levels]
    ranked = per_series.assign(unique_id=per_series["unique_id"].astype(str)).sort_values(
        ["vs_baseline", "unique_id"], ascending=[False, True], na_position="last", kind="stable"
    )
    ids = sorted(ranked["unique_id"].unique()) if len(ranked) else list(history.ids)
    picked = np.random.default_rng(seed).choice(len(ids), size=min(sample, len(ids)), replace=False)
    sample_ids = [ids[i] for i in sorted(picked)]
    worst_ids = list(ranked["unique_id"].head(max(worst, 0)))
    plots = _SeriesPlots(history, backtest, forecast, tags, sample_ids + worst_ids, season_length)
    info = ranked.drop_duplicates("unique_id").set_index("unique_id")
    body = [
        _header(title, gates),
        _nav(),
        _section("summary", "Summary", _kv_table(summary)),
        _section("gates", "Validation gates", _gates_table(gates)),
        _section(
            "candidates",
            "Candidate models (backtest)",
            _candidates_table(candidates) + _glossary_list(candidates, per_series, models),
        ),
        _section("coverage", "Interval coverage of the selected model", _coverage(backtest, tags)),
        _section("chosen", "Model chosen per series", _chosen_table(per_series)),
        _section("sample", "Sample of series", plots.html(sample_ids, info, seed=seed)),
        _section("worst", "Worst series (MASE vs baseline)", plots.html(worst_ids, info)),
        _section("per-series", "Per-series metrics, worst first", _per_series_table(ranked)),
        _section("fallbacks", "Fallbacks", _fallbacks_table(fallbacks)),
        _section("spec", "Spec", f"<pre>{_esc(spec_text)}</pre>" if spec_text else _none()),
    ]
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{_esc(title)} · training report</title><style>{_CSS}</style></head>\n"
        "<body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
    write_atomic(Path(path), page)
    return Path(path)


# -- sections --------------------------------------------------------------------------


def _header(title: str, gates: Sequence[Mapping[str, Any]]) -> str:
    failed = [str(g.get("name")) for g in gates if not g.get("passed")]
    if not gates:
        state, verdict, detail = "none", "NO GATES", "No validation gate was declared."
    elif failed:
        state, verdict = "fail", "GATES FAILED"
        detail = f"{len(failed)} of {len(gates)} gates failed: " + ", ".join(map(_esc, failed))
    else:
        state, verdict, detail = "pass", "GATES PASSED", f"All {len(gates)} gates passed."
    return (
        f'<header class="{state}"><h1>{_esc(title)}</h1>'
        f'<p class="verdict">{verdict}</p><p>{detail}</p></header>'
    )


def _nav() -> str:
    names = ("summary", "gates", "candidates", "coverage", "chosen", "sample", "worst")
    more = ("per-series", "fallbacks", "spec")
    return "<nav>" + "".join(f'<a href="#{n}">{n}</a>' for n in names + more) + "</nav>"


def _section(anchor: str, heading: str, content: str) -> str:
    return f'<section id="{anchor}"><h2>{heading}</h2>\n{content}</section>'


def _kv_table(summary: Mapping[str, Any]) -> str:
    rows = [[f"<th>{_esc(k)}</th>", _td(v)] for k, v in summary.items()]
    return _table([], rows) if rows else _none()


def _gates_table(gates: Sequence[Mapping[str, Any]]) -> str:
    rows = []
    for gate in gates:
        ok = bool(gate.get("passed"))
        status = '<td class="ok">PASS</td>' if ok else '<td class="ko">FAIL</td>'
        rows.append(
            [
                f"<td>{_esc(gate.get('name', ''))}</td>",
                f"<td><code>{_esc(gate.get('metric', ''))}</code></td>",
                status,
                _td(gate.get("value")),
                f"<td><code>{_esc(gate.get('threshold', ''))}</code></td>",
            ]
        )
    return _table(["gate", "metric", "status", "value", "threshold"], rows) if rows else _none()


def scale_free(candidates: pd.DataFrame) -> pd.DataFrame:
    """The candidates' metrics that can be compared across series of different units:
    MASE (each series' MAE over its own in-sample seasonal-naive MAE, then the mean),
    MASE relative to the baseline's (``mase_vs_baseline``, below 1 beats the seasonal
    naive), sMAPE (percent), interval coverage and the series that chose each. MAE,
    RMSE and pinball loss are in each series' units, so their mean over bytes and ratios
    is dominated by the largest series: they are shown per series only."""
    out = pd.DataFrame(index=candidates.index)
    if "mase" in candidates.columns:
        mase = pd.to_numeric(candidates["mase"], errors="coerce")
        out["mase"] = mase
        base = mase.get("baseline") if "baseline" in mase.index else None
        if base is not None and np.isfinite(base) and base > 0:
            out["mase_vs_baseline"] = mase / base
    if "smape" in candidates.columns:
        out["smape"] = candidates["smape"]
    for col in candidates.columns:
        if str(col).startswith("coverage_"):
            out[str(col)] = candidates[col]
    if "series_chosen" in candidates.columns:
        out["series_chosen"] = candidates["series_chosen"]
    return out


def _candidates_table(candidates: pd.DataFrame) -> str:
    if candidates.empty:
        return _none()
    shown = scale_free(candidates)
    best = {col: _best(str(col), shown[col]) for col in shown.columns}
    rows, classes = [], []
    for i, (name, *values) in enumerate(shown.itertuples(name=None)):
        cells = [f"<th>{_esc(name)}</th>"]
        for col, value in zip(shown.columns, values, strict=True):
            cell = _td(value, percent=str(col).startswith("coverage_"))
            cells.append(cell.replace('class="num"', 'class="num best"') if best[col][i] else cell)
        rows.append(cells)
        classes.append("selected" if name == "selected" else "")
    head = ["model", *map(str, shown.columns)]
    note = (
        '<p class="note">Every column is scale-free, so series in different units (bytes, '
        "ratios, seconds) average fairly: <em>mase</em> is each series' MAE over its own "
        "in-sample seasonal-naive MAE, averaged; <em>mase_vs_baseline</em> that over the "
        "baseline's (below 1 beats the seasonal naive); <em>smape</em> in percent; "
        "<em>coverage_NN</em> the share of actuals inside the NN% interval (the selected "
        "model's: candidates have none of their own). MAE, RMSE and pinball loss are in "
        "each series' units: see the per-series table. Highlighted: the best of each "
        "column (lowest error; coverage closest to its nominal level).</p>"
    )
    return _table(head, rows, row_classes=classes) + note


def _glossary_list(
    candidates: pd.DataFrame, per_series: pd.DataFrame, models: Sequence[Any]
) -> str:
    """What each model name in the report is: a line a name, under the candidates."""
    names = [str(n) for n in candidates.index]
    names += sorted(per_series["model"].dropna().astype(str).unique())
    lines = glossary(names, models)
    if not lines:
        return ""
    items = "".join(f"<dt><b>{_esc(n)}</b></dt><dd>{_esc(t)}</dd>" for n, t in lines.items())
    return f'<h3>Model names</h3><dl class="glossary">{items}</dl>'


def _best(col: str, values: pd.Series[Any]) -> NDArray[np.bool_]:
    score = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
    if col.startswith("coverage_"):
        try:
            score = np.abs(score - float(col.removeprefix("coverage_")) / 100)
        except ValueError:
            return np.zeros(len(score), dtype=bool)
    elif not col.startswith(_LOWER_IS_BETTER):
        return np.zeros(len(score), dtype=bool)
    if np.isnan(score).all():
        return np.zeros(len(score), dtype=bool)
    best: NDArray[np.bool_] = np.isclose(score, np.nanmin(score), rtol=1e-12, atol=0.0)
    return best


def _coverage(backtest: pd.DataFrame, tags: Sequence[str]) -> str:
    present = [t for t in tags if {f"yhat-lo-{t}", f"yhat-hi-{t}"} <= set(backtest.columns)]
    if backtest.empty or not present:
        return _none("No backtest intervals to check.")
    keys = [backtest["unique_id"], backtest["cutoff"]]
    step = backtest.groupby(keys, sort=False, observed=True)["ds"].rank(method="first")
    y = backtest["y"].to_numpy(dtype=np.float64)
    inside = {}
    for t in present:
        lo = backtest[f"yhat-lo-{t}"].to_numpy(dtype=np.float64)
        hi = backtest[f"yhat-hi-{t}"].to_numpy(dtype=np.float64)
        ok = np.isfinite(y) & np.isfinite(lo) & np.isfinite(hi)
        inside[t] = np.where(ok, (y >= lo) & (y <= hi), np.nan)
    by_step = pd.DataFrame(inside).groupby(step.to_numpy(dtype=np.int64)).mean()
    overall = {
        t: float(np.nanmean(v)) if np.isfinite(v).any() else math.nan for t, v in inside.items()
    }
    counts = {t: int(np.isfinite(v).sum()) for t, v in inside.items()}
    rows = [
        [
            f"<td>{t}%</td>",
            _td(float(t) / 100, percent=True),
            _td(overall[t], percent=True),
            _td(counts[t]),
        ]
        for t in present
    ]
    table = _table(["level", "nominal", "empirical", "points"], rows)
    return table + _img(_coverage_png(overall, by_step), "coverage against nominal level")


def _coverage_png(overall: Mapping[str, float], by_step: pd.DataFrame) -> str:
    fig = Figure(figsize=(10, 2.8), layout="constrained")
    bars, lines = fig.subplots(1, 2, width_ratios=[1, 2])
    x = np.arange(len(overall))
    bars.bar(x, list(overall.values()), 0.6, color=[f"C{n}" for n in x], alpha=0.8)
    bars.hlines([float(t) / 100 for t in overall], x - 0.4, x + 0.4, color="black", lw=2)
    bars.set_xticks(x, [f"{t}%" for t in overall])
    bars.set_title("overall (black: nominal)", fontsize=9)
    for n, t in enumerate(overall):
        color = f"C{n}"
        lines.plot(by_step.index, by_step[t], marker=".", color=color, label=f"{t}% empirical")
        lines.axhline(float(t) / 100, color=color, ls="--", lw=0.8)
    lines.set_xlabel("horizon step", fontsize=8)
    lines.set_title("by horizon step (dashed: nominal)", fontsize=9)
    for ax in (bars, lines):
        ax.set_ylim(0, 1.05)
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    lines.legend(fontsize=7, loc="best")
    return _png(fig)


def _chosen_table(per_series: pd.DataFrame) -> str:
    if per_series.empty:
        return _none()
    counts = per_series["model"].astype(str).value_counts()
    counts = counts.sort_index().sort_values(ascending=False, kind="stable")
    total = int(counts.sum())
    rows = [
        [
            f"<td>{_esc(model)}</td>",
            _td(int(n)),
            _td(n / total, percent=True),
            f'<td><span class="bar" style="width:{200 * n / total:.0f}px"></span></td>',
        ]
        for model, n in counts.items()
    ]
    table = _table(["model", "series", "share", ""], rows)
    if "fallback" in per_series.columns:
        n_fb = int(per_series["fallback"].fillna(False).astype(bool).sum())
        table += f'<p class="note">{n_fb:,} of {total:,} series fell back to the baseline.</p>'
    return table


def _per_series_table(ranked: pd.DataFrame) -> str:
    if ranked.empty:
        return _none()
    shown = ranked.head(MAX_ROWS)
    cols = list(shown.columns)
    rows = []
    for values in shown.itertuples(index=False, name=None):
        cells = []
        for col, v in zip(cols, values, strict=True):
            if col in ("unique_id", "model"):
                cells.append(f"<td><code>{_esc(v)}</code></td>" if col == "unique_id" else _td(v))
                continue
            cell = _td(v, percent=str(col).startswith("coverage_"))
            if col == "vs_baseline" and isinstance(v, float) and v > 1:
                cell = cell.replace('class="num"', 'class="num bad"')
            cells.append(cell)
        rows.append(cells)
    left = len(ranked) - len(shown)
    note = f'<p class="note">{left:,} more series not shown (they rank better).</p>' if left else ""
    return _table(list(map(str, cols)), rows) + note


def _fallbacks_table(fallbacks: Sequence[Mapping[str, str]]) -> str:
    if not fallbacks:
        return _none("No series fell back.")
    rows = [
        [
            f"<td><code>{_esc(f.get('unique_id', ''))}</code></td>",
            _td(f.get("model", "")),
            _td(f.get("reason", "")),
        ]
        for f in fallbacks[:MAX_ROWS]
    ]
    left = len(fallbacks) - len(rows)
    note = f'<p class="note">{left:,} more not shown.</p>' if left else ""
    return (
        f"<p>{len(fallbacks):,} series fell back.</p>"
        + _table(["unique_id", "model", "reason"], rows)
        + note
    )


# -- series plots ----------------------------------------------------------------------


class _SeriesPlots:
    """History, backtest and forecast of the few series that get a plot, looked up once."""

    def __init__(
        self,
        history: Panel,
        backtest: pd.DataFrame,
        forecast: pd.DataFrame,
        tags: Sequence[str],
        wanted: Sequence[str],
        season_length: int | None,
    ) -> None:
        self.history = history
        self.known = set(history.ids)
        self.step = history.step or _median_step(history)
        self.season = season_length * self.step if season_length else _season_ns(self.step)
        self.tags = tags
        self.backtest = _by_series(backtest, wanted, ("ds", "cutoff"))
        self.forecast = _by_series(forecast, wanted, ("ds",))
        self.cache: dict[str, tuple[str, str]] = {}

    def html(self, ids: Sequence[str], info: pd.DataFrame, *, seed: int | None = None) -> str:
        if not ids:
            return _none("No series.")
        figures = []
        for uid in ids:
            if uid not in self.cache:
                fig, shown = self.figure(uid)
                self.cache[uid] = (_png(fig), shown)
            png, shown = self.cache[uid]
            figures.append(
                f"<figure>{_img(png, f'actual and forecasts of {uid}')}"
                f"<figcaption>{_caption(uid, info)}<br>{_esc(shown)}</figcaption></figure>"
            )
        how = f"{len(ids)} series picked at random with seed {seed}. " if seed is not None else ""
        key = (
            f'<p class="note">{how}Each plot is zoomed on the backtest windows and the final '
            "forecast, with as much history before them (at most a season); the short panel "
            f"below shows the last {CONTEXT_SEASONS} seasons for context, the zoomed span "
            "shaded. Black: actual; blue: backtest forecasts from each cutoff (grey dotted) "
            "with their intervals; orange: the final forecast after the end of the history "
            "(orange dotted). Each caption gives the window shown. Time in UTC.</p>"
        )
        return key + '<div class="grid">' + "".join(figures) + "</div>"

    def figure(self, uid: str) -> tuple[Figure, str]:
        """The series' figure and the sentence that says which window it shows."""
        bt, fc = self.backtest.get(uid), self.forecast.get(uid)
        ds, y = self.history.series(uid) if uid in self.known else (_EMPTY_I, _EMPTY_F)
        end = int(ds[-1]) if len(ds) else (int(fc["ds"].min()) if fc is not None else 0)
        first = int(bt["cutoff"].min()) if bt is not None and len(bt) else end
        stop = max(
            end,
            int(fc["ds"].max()) if fc is not None and len(fc) else end,
            int(bt["ds"].max()) if bt is not None and len(bt) else end,
        )
        window = Window.of(first, end, stop, self.step, self.season)
        n_cutoffs = int(bt["cutoff"].nunique()) if bt is not None else 0
        fig = forecast_figure(ds, y, bt, fc, self.tags, window)
        return fig, window_text(window, n_cutoffs)


_EMPTY_I = np.empty(0, dtype=np.int64)
_EMPTY_F = np.empty(0, dtype=np.float64)


def _by_series(
    frame: pd.DataFrame, wanted: Sequence[str], times: Sequence[str]
) -> dict[str, pd.DataFrame]:
    """The rows of the ``wanted`` series, times as int64 ns UTC, sorted by ``ds``."""
    uid = frame["unique_id"].astype(str) if len(frame) else frame["unique_id"]
    rows = frame[uid.isin(set(wanted)).to_numpy()].copy()
    rows["unique_id"] = rows["unique_id"].astype(str)
    for col in times:
        rows[col] = _ns(rows[col])
    rows = rows.sort_values("ds", kind="stable")
    return {str(k): g for k, g in rows.groupby("unique_id", sort=False)}


def _caption(uid: str, info: pd.DataFrame) -> str:
    text = f"<code>{_esc(uid)}</code>"
    if uid in info.index:
        row = info.loc[uid]
        parts = [f"model {_esc(row['model'])}"]
        for col in ("mase", "vs_baseline"):
            if col in info.columns:
                parts.append(f"{col} {_fmt(row[col])}")
        if "fallback" in info.columns and _fmt(row["fallback"]) == "yes":
            parts.append("<b>fallback</b>")
        text += " · " + ", ".join(parts)
    return text


def _season_ns(step: int) -> int:
    return _DAY if step <= _HOUR else _WEEK if step <= _DAY else _YEAR


def _median_step(history: Panel) -> int:
    gaps = np.diff(history.ds)
    gaps = gaps[gaps > 0]
    return int(np.median(gaps)) if len(gaps) else _HOUR


def _ns(values: pd.Series[Any]) -> NDArray[np.int64]:
    stamps = pd.DatetimeIndex(pd.to_datetime(values, utc=True)).as_unit("ns")
    return stamps.asi8


# -- input checks ----------------------------------------------------------------------


def _require(frame: pd.DataFrame, name: str, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise MissingColumnsError(
            f"the {name} frame of the training report needs the columns {list(columns)}; "
            f"missing {missing}",
            missing=missing,
            found=[str(c) for c in frame.columns],
        )
