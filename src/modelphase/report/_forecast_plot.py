"""The training report's plot of one series: its backtests and its forecast, zoomed.

What an SRE checks in this plot is the few windows the model was judged on and the
forecast it will serve: a few hours at the end of days of history. Drawn over the whole
history, those hours are a few pixels wide. So each figure has two panels:

- the **zoom** (top): from the first backtest cutoff to the end of the forecast, with as
  much history before it as that span (at least :data:`MIN_CONTEXT_STEPS` points and at
  most one season), so the backtest windows and the forecast take most of the width;
- the **context** (bottom, short): the last :data:`CONTEXT_SEASONS` seasons before the
  first cutoff and the zoomed span, the zoomed span shaded, so the season the forecast
  continues is in view; left out when it would show little more than the zoom.

Every mark has a legend entry (actual, backtest forecasts, each interval band, forecast,
cutoffs, end of history, the zoomed span), and :func:`window_text` says in words which
window is drawn, for the figure's caption. Times are UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from numpy.typing import NDArray

from modelphase.frame import format_duration

__all__ = ["CONTEXT_SEASONS", "MIN_CONTEXT_STEPS", "Window", "forecast_figure", "window_text"]

#: seasons of history the context panel shows before the first backtest cutoff
CONTEXT_SEASONS = 3
#: the fewest points of history the zoom shows before the first backtest cutoff
MIN_CONTEXT_STEPS = 24

BACKTEST, FORECAST, ACTUAL = "#1f77b4", "#ff7f0e", "#222222"
_CUTOFF = "#999999"


@dataclass(frozen=True)
class Window:
    """The spans a series' figure draws, as int64 ns UTC: ``start`` to ``stop`` in the
    zoom (``first_cutoff`` the first backtest cutoff, ``end`` the end of the history),
    ``context_start`` to ``stop`` in the context panel (``None``: no context panel)."""

    start: int
    first_cutoff: int
    end: int
    stop: int
    context_start: int | None

    @classmethod
    def of(cls, first_cutoff: int, end: int, stop: int, step: int, season: int) -> Window:
        """The windows for a series whose backtests start at ``first_cutoff``, whose
        history ends at ``end`` and whose forecast ends at ``stop``; ``step`` and
        ``season`` in ns."""
        span = max(stop - first_cutoff, step)
        before = min(max(span, MIN_CONTEXT_STEPS * step), max(season, MIN_CONTEXT_STEPS * step))
        start = first_cutoff - before
        context = first_cutoff - CONTEXT_SEASONS * season
        wide_enough = (stop - context) >= 2 * (stop - start)
        return cls(start, first_cutoff, end, stop, context if wide_enough else None)


def window_text(window: Window, n_cutoffs: int) -> str:
    """The window of a figure in words, e.g. ``shown: 2026-01-11 20:00 to 2026-01-12
    05:00 UTC: 4 h of history, 3 backtest windows, the 1 h forecast; below: the last 3
    days``."""
    fmt = "%Y-%m-%d %H:%M"
    start, stop = (pd.Timestamp(t, tz="UTC").strftime(fmt) for t in (window.start, window.stop))
    parts = [
        f"{format_duration(window.first_cutoff - window.start)} of history",
        f"{n_cutoffs} backtest window{'s' if n_cutoffs != 1 else ''}",
        f"the {format_duration(window.stop - window.end)} forecast"
        if window.stop > window.end
        else "no forecast",
    ]
    text = f"shown: {start} to {stop} UTC: {', '.join(parts)}"
    if window.context_start is not None:
        span = format_duration(window.first_cutoff - window.context_start)
        text += f"; below: the {span} before the first cutoff, for context (shaded: the zoom)"
    return text


def forecast_figure(
    ds: NDArray[np.int64],
    y: NDArray[np.float64],
    backtest: pd.DataFrame | None,
    forecast: pd.DataFrame | None,
    tags: Sequence[str],
    window: Window,
) -> Figure:
    """The figure of one series (``ds`` int64 ns, ``backtest`` and ``forecast`` with
    int64 ns ``ds`` and ``cutoff``, ``yhat`` and interval columns ``yhat-lo-<tag>``)."""
    fig = Figure(figsize=(6.4, 3.4 if window.context_start is not None else 2.6))
    fig.set_layout_engine("constrained")
    if window.context_start is not None:
        zoom, context = fig.subplots(2, 1, height_ratios=[3, 1])
    else:
        zoom, context = fig.subplots(), None
    keep = (ds >= window.start) & (ds <= window.stop)
    zoom.plot(_when(ds[keep]), y[keep], color=ACTUAL, lw=0.9, label="actual")
    if backtest is not None and len(backtest):
        for n, (cutoff, rows) in enumerate(backtest.groupby("cutoff", sort=True)):
            zoom.axvline(
                _when(np.array([cutoff]))[0],
                color=_CUTOFF,
                ls=":",
                lw=0.9,
                label="backtest cutoff" if n == 0 else None,
            )
            _draw(zoom, rows, tags, BACKTEST, "backtest" if n == 0 else None)
    if forecast is not None and len(forecast):
        zoom.axvline(
            _when(np.array([window.end]))[0], color=FORECAST, ls=":", lw=0.9, label="end of history"
        )
        _draw(zoom, forecast, tags, FORECAST, "forecast")
    zoom.set_xlim(_when(np.array([window.start, window.stop])))
    _axis(zoom)
    fig.legend(loc="outside upper center", ncol=4, fontsize=6, frameon=False)
    if context is not None and window.context_start is not None:
        shown = (ds >= window.context_start) & (ds <= window.stop)
        context.plot(_when(ds[shown]), y[shown], color=ACTUAL, lw=0.6, label="actual")
        if forecast is not None and len(forecast):
            when = _when(forecast["ds"].to_numpy(dtype=np.int64))
            context.plot(when, forecast["yhat"].to_numpy(dtype=np.float64), color=FORECAST, lw=0.8)
        span = _when(np.array([window.start, window.stop]))
        context.axvspan(span[0], span[1], color=BACKTEST, alpha=0.15, lw=0, label="zoomed above")
        context.set_xlim(_when(np.array([window.context_start, window.stop])))
        context.legend(loc="best", fontsize=6, ncol=2)
        _axis(context)
    zoom.set_xlabel("time (UTC)", fontsize=7)
    return fig


def _draw(ax: Any, rows: pd.DataFrame, tags: Sequence[str], color: str, label: str | None) -> None:
    when = _when(rows["ds"].to_numpy(dtype=np.int64))
    for n, t in enumerate(sorted(tags, key=float, reverse=True)):
        if f"yhat-lo-{t}" in rows.columns and f"yhat-hi-{t}" in rows.columns:
            lo = rows[f"yhat-lo-{t}"].to_numpy(dtype=np.float64)
            hi = rows[f"yhat-hi-{t}"].to_numpy(dtype=np.float64)
            band = f"{label} {t}%" if label else None
            ax.fill_between(when, lo, hi, color=color, alpha=0.15 + 0.12 * n, lw=0, label=band)
    ax.plot(when, rows["yhat"].to_numpy(dtype=np.float64), color=color, lw=1.1, label=label)


def _axis(ax: Any) -> None:
    locator = mdates.AutoDateLocator()  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)


def _when(ns: NDArray[np.int64]) -> NDArray[np.datetime64]:
    return np.asarray(ns, dtype=np.int64).view("datetime64[ns]")
