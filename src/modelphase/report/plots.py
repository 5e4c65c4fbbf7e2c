"""Plots of a panel, one small chart per series, with shaded event windows.

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

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np

from modelphase.frame import Panel

__all__ = ["Span", "plot_panel"]

_COLORS = {True: "#d62728", False: "#7f7f7f"}


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
        rows, columns, figsize=(6.5 * columns, 2.2 * rows), squeeze=False, sharex=True
    )
    for ax in axes.flat[len(chosen) :]:
        ax.set_visible(False)
    for ax, uid in zip(axes.flat, chosen, strict=False):
        ds, y = panel.series(uid)
        when = ds.astype("datetime64[ns]")
        ax.plot(when, y, lw=0.7, color="#1f77b4")
        missing = np.isnan(y)
        if missing.any():
            ax.plot(when[missing], np.full(missing.sum(), np.nanmin(y)), "|", color="#ff7f0e")
        for span in spans:
            if span.unique_ids and uid not in span.unique_ids:
                continue
            ax.axvspan(
                np.datetime64(span.start, "ns"),
                np.datetime64(span.end, "ns") + (panel.step or 0),
                color=_COLORS[span.alert],
                alpha=0.25,
                lw=0,
            )
            ax.annotate(
                span.label,
                (np.datetime64(span.start, "ns"), 1.0),
                xycoords=("data", "axes fraction"),
                fontsize=6,
                va="top",
                color=_COLORS[span.alert],
            )
        ax.set_title(uid, fontsize=7, loc="left")
        ax.tick_params(labelsize=6)
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.autofmt_xdate()
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
