"""Plots of a panel, one small chart per series, with shaded event windows.

The figure is laid out by matplotlib's constrained layout, so its title, the legend
below it and each chart's series id never overlap a chart. Every mark means something
and has a legend entry (under the charts): the series, the shaded windows (red: a ``Span`` with
``alert=True``, an incident; grey: other events), the orange ticks of missing points.
Labels of windows that start close together are stacked instead of drawn over each
other, and large values are labelled in engineering units (``400M``) so no ``1e8``
offset sits on the id above the chart.

>>> import tempfile, numpy as np
>>> from pathlib import Path
>>> from modelphase.frame import Panel
>>> p = Panel.from_series([("up", np.arange(3) * 60_000_000_000, np.ones(3))], step=60_000_000_000)
>>> with tempfile.TemporaryDirectory() as d:
...     plot_panel(p, Path(d) / "up.png").stat().st_size > 0
True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import EngFormatter

from modelphase.frame import Panel

__all__ = ["Span", "plot_panel"]

_COLORS = {True: "#d62728", False: "#7f7f7f"}
_LINE, _MISSING = "#1f77b4", "#ff7f0e"
#: the legend's entries, in order, for the marks a figure has
_LABELS = {
    "series": "value",
    "incident": "incident window (red)",
    "event": "other event window (grey)",
    "missing": "missing point (orange tick)",
}


@dataclass(frozen=True)
class Span:
    """A window to shade on the charts of ``unique_ids`` (all charts when empty)."""

    start: int
    end: int
    label: str
    unique_ids: tuple[str, ...] = ()
    alert: bool = True


def plot_panel(
    panel: Panel,
    path: Path,
    *,
    spans: Sequence[Span] = (),
    series: Sequence[str] | None = None,
    title: str = "",
    columns: int = 2,
) -> Path:
    """Write a PNG with one chart per series (``series`` picks them, in order)."""
    chosen = list(series) if series is not None else list(panel.ids)
    rows = max(1, -(-len(chosen) // columns))
    fig, axes = plt.subplots(
        rows,
        columns,
        figsize=(6.5 * columns, 2.2 * rows + 0.6),
        squeeze=False,
        sharex=True,
        layout="constrained",
    )
    for ax in axes.flat[len(chosen) :]:
        ax.set_visible(False)
    marks: dict[str, Any] = {}
    for ax, uid in zip(axes.flat, chosen, strict=False):
        ds, y = panel.series(uid)
        when = ds.astype("datetime64[ns]")
        marks["series"] = ax.plot(when, y, lw=0.7, color=_LINE)[0]
        missing = np.isnan(y)
        if missing.any():
            floor = np.full(missing.sum(), np.nanmin(y) if (~missing).any() else 0.0)
            marks["missing"] = ax.plot(when[missing], floor, "|", color=_MISSING)[0]
        _spans(ax, [s for s in spans if not s.unique_ids or uid in s.unique_ids], panel, marks)
        ax.set_title(uid, fontsize=7, loc="left")
        ax.tick_params(labelsize=6)
        if np.isfinite(y).any() and np.nanmax(np.abs(y)) >= 1e5:
            ax.yaxis.set_major_formatter(EngFormatter(sep=""))
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
    handles = [marks[k] for k in _LABELS if k in marks]
    for handle, key in zip(handles, [k for k in _LABELS if k in marks], strict=True):
        handle.set_label(_LABELS[key])
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize=7)
    for ax in axes[-1]:
        ax.tick_params(axis="x", labelrotation=30)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _spans(ax: Any, spans: Sequence[Span], panel: Panel, marks: dict[str, Any]) -> None:
    """Shade each window and label it at the top, a label a line lower than the one
    before when it starts before that label's text ends (a character of the 6-point
    labels is about 1/110 of a chart's width)."""
    if not len(panel.ds):
        return
    per_char = (int(panel.ds.max()) - int(panel.ds.min())) / 110
    last, level, text = None, 0, 0
    for span in sorted(spans, key=lambda s: s.start):
        color = _COLORS[span.alert]
        patch = ax.axvspan(
            np.datetime64(span.start, "ns"),
            np.datetime64(span.end, "ns") + (panel.step or 0),
            color=color,
            alpha=0.25,
            lw=0,
        )
        marks["incident" if span.alert else "event"] = patch
        level = level + 1 if last is not None and span.start - last < text * per_char else 0
        last, text = span.start, len(span.label) + 1
        ax.annotate(
            span.label,
            (np.datetime64(span.start, "ns"), 1.0 - 0.12 * (level % 4)),
            xycoords=("data", "axes fraction"),
            fontsize=6,
            va="top",
            ha="right" if span.start + text * per_char > int(panel.ds.max()) else "left",
            color=color,
        )
