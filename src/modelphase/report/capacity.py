"""The capacity plan drawn and reported: a plot per series (the recent demand, the
forecast with its interval at the plan's risk, and the capacity the planned replicas
give, with the limit) and the weekly capacity report, one self-contained HTML file in
the training report's manner (inline CSS, plots as ``data:`` PNGs, no script, no
network): per series the peak, the peak's replicas, the headroom under the limit, the
date the limit is crossed (expected and at the stated risk), the cost and the risk
taken, then the plots. Nothing reads the clock: the same plan gives the same bytes.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from modelphase.decide.capacity.plan import CapacityPlan
from modelphase.decide.capacity.warm import WarmPlan
from modelphase.files import write_atomic
from modelphase.frame import Panel

__all__ = [
    "plan_figure",
    "warm_figure",
    "write_capacity_report",
    "write_plan_plot",
    "write_warm_plot",
]

#: series drawn at most (the largest peaks first)
MAX_PLOTS = 12
#: how much history a plot shows before the plan, as a multiple of the plan's span
HISTORY_SPANS = 1.0


def _ids(plan: CapacityPlan, limit: int = MAX_PLOTS) -> list[str]:
    ranked = sorted(plan.series, key=lambda s: (-s.peak_demand_hi, s.unique_id))
    return [s.unique_id for s in ranked[:limit]]


def plan_figure(
    plan: CapacityPlan, history: Panel | None = None, ids: Sequence[str] | None = None
) -> Figure:
    """One panel per series: demand (recent history, forecast, interval at the plan's
    level) against the planned capacity (replicas x capacity per replica), on a UTC axis."""
    chosen = list(ids) if ids is not None else _ids(plan)
    fig = Figure(figsize=(10, 2.6 * max(1, len(chosen))), layout="constrained")
    axes = fig.subplots(max(1, len(chosen)), 1, squeeze=False)[:, 0]
    cap = plan.capacity.capacity
    for ax, uid in zip(axes, chosen, strict=False):
        rows = plan.table[plan.table["unique_id"] == uid]
        ds = rows["ds"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
        if history is not None and uid in set(history.ids):
            h_ds, h_y = history.series(uid)
            span = int(rows["ds"].iloc[-1].value - rows["ds"].iloc[0].value) + plan.step
            keep = h_ds >= int(rows["ds"].iloc[0].value) - HISTORY_SPANS * span
            ax.plot(
                pd.to_datetime(h_ds[keep]).to_numpy(), h_y[keep], color="0.35", lw=0.9,
                label="demand (history)",
            )  # fmt: skip
        ax.plot(ds, rows["yhat"], color="C0", lw=1.2, label="forecast")
        ax.fill_between(
            ds, rows["yhat"], np.maximum(rows["demand_hi"], rows["yhat"]), color="C0",
            alpha=0.18, label=f"up to the {100 * (1 - plan.risk):g}% quantile",
        )  # fmt: skip
        ax.step(
            ds, rows["replicas"] * cap, where="post", color="C2", lw=1.4,
            label=f"planned capacity (replicas x {cap:.3g})",
        )  # fmt: skip
        top = max(float(rows["demand_hi"].max()), float((rows["replicas"] * cap).max()))
        if plan.max_replicas is not None and plan.max_replicas * cap <= 1.5 * top:
            ax.axhline(
                plan.max_replicas * cap, color="C3", ls="--", lw=1,
                label=f"limit ({plan.max_replicas} replicas)",
            )  # fmt: skip
        figures = next(s for s in plan.series if s.unique_id == uid)
        ax.set_title(
            f"{uid}: peak {figures.peak_replicas} replicas, "
            f"{figures.replica_hours:,.1f} replica-hours, "
            f"expected {figures.expected_breach_steps:.2f} steps in breach",
            fontsize=9, loc="left",
        )  # fmt: skip
        ax.set_ylabel("demand", fontsize=8)
        locator = mdates.AutoDateLocator()  # type: ignore[no-untyped-call]
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left", ncols=2)
    axes[-1].set_xlabel("time (UTC)", fontsize=8)
    return fig


def write_plan_plot(
    path: Path, plan: CapacityPlan, history: Panel | None = None, ids: Sequence[str] | None = None
) -> Path:
    """The plan's plot as a PNG at ``path`` (atomically)."""
    write_atomic(Path(path), _png_bytes(plan_figure(plan, history, ids)))
    return Path(path)


def _png_bytes(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    return buf.getvalue()


_CSS = (
    "body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}"
    "table{border-collapse:collapse;margin:1em 0;font-size:0.9em}"
    "th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}"
    "th:first-child,td:first-child{text-align:left}th{background:#f3f3f3}"
    ".warn{color:#a40}.ok{color:#070}img{max-width:100%}"
)


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    return _esc(value)


def write_capacity_report(
    path: Path, plan: CapacityPlan, history: Panel | None = None, *, title: str = "capacity"
) -> Path:
    """The weekly capacity report of ``plan`` as one HTML file at ``path`` (atomically)."""
    cols = [
        ("series", "unique_id"), ("peak demand", "peak_demand"),
        (f"peak at {100 * (1 - plan.risk):g}%", "peak_demand_hi"), ("when", "peak_ds"),
        ("peak replicas", "peak_replicas"), ("headroom", "headroom"),
        ("limit crossed (expected)", "limit_crossed_expected"),
        (f"limit crossed (at risk {plan.risk:g})", "limit_crossed_at_risk"),
        ("replica-hours", "replica_hours"), ("expected steps in breach", "expected_breach_steps"),
        ("largest step risk", "max_step_risk"),
    ]  # fmt: skip
    rows = []
    for s in sorted(plan.series, key=lambda s: (-s.peak_demand_hi, s.unique_id)):
        d = s.to_dict()
        if d["headroom"] is not None:
            d["headroom"] = f"{100 * d['headroom']:.1f}%"
        cells = "".join(f"<td>{_cell(d[key])}</td>" for _, key in cols)
        warn = ' class="warn"' if s.limit_crossed_at_risk else ""
        rows.append(f"<tr{warn}>{cells}</tr>")
    head = "".join(f"<th>{_esc(name)}</th>" for name, _ in cols)
    start, end = plan.table["ds"].min(), plan.table["ds"].max()
    crossed = [s for s in plan.series if s.limit_crossed_at_risk]
    if plan.max_replicas is None:
        verdict = "No limit given (--max-replicas): no headroom to report."
    elif crossed:
        first = min(crossed, key=lambda s: str(s.limit_crossed_at_risk))
        verdict = (
            f'<span class="warn">{len(crossed)} of {len(plan.series)} series cross the limit of '
            f"{plan.max_replicas} replicas at risk {plan.risk:g}; first: "
            f"{_esc(first.unique_id)} at {_esc(first.limit_crossed_at_risk)}.</span>"
        )
    else:
        verdict = (
            f'<span class="ok">Every series stays under the limit of {plan.max_replicas} '
            f"replicas at risk {plan.risk:g}.</span>"
        )
    settings = (
        f"risk {plan.risk:g} per step (the forecast's {plan.level:g}% interval), capacity "
        f"{plan.capacity.capacity:.4g} per replica ({_esc(plan.capacity.source)}), start-up "
        f"{plan.startup // 10**9} s, scale-down stabilisation {plan.stabilise // 10**9} s"
    )
    png = base64.b64encode(_png_bytes(plan_figure(plan, history))).decode("ascii")
    notes = "".join(f"<li>{_esc(n)}</li>" for n in plan.notes)
    total = sum(s.replica_hours for s in plan.series)
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_esc(title)} · capacity report</title><style>{_CSS}</style></head>\n<body>\n"
        f"<h1>{_esc(title)}: capacity report</h1>\n"
        f"<p>{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC, {len(plan.series)} series; "
        f"{settings}.</p>\n<p>{verdict}</p>\n"
        f"<p>Expected cost: {total:,.1f} replica-hours.</p>\n"
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>\n"
        f'<h2>Plans</h2>\n<img alt="demand forecast against planned capacity" '
        f'src="data:image/png;base64,{png}">\n'
        f"<h2>Notes</h2><ul>{notes}</ul>\n</body></html>\n"
    )
    write_atomic(Path(path), page)
    return Path(path)


def warm_figure(plans: Sequence[WarmPlan], now: str, cost_ratio: float, limit: int = 8) -> Figure:
    """The probability of at least one invocation in each minute ahead for the most
    invoked functions with a model (the fallback's are unknown), against the cost
    ratio's break-even probability; each function's warm window shaded on its line."""
    modelled = [p for p in plans if p.basis == "idle-time model"]
    shown = sorted(modelled, key=lambda p: (-p.n_invocation_minutes, p.function))[:limit]
    fig = Figure(figsize=(10, 3.6), layout="constrained")
    ax = fig.subplots()
    for n, p in enumerate(shown):
        ax.plot(
            np.arange(1, len(p.p_invocation) + 1), p.p_invocation, color=f"C{n % 10}",
            lw=1.2, label=f"{p.function[:40]}: pre-warm {p.prewarm}, keep {p.keep_alive} min",
        )  # fmt: skip
    ax.axhline(
        1 / (1 + cost_ratio), color="0.5", ls="--", lw=1,
        label=f"break-even 1 / (1 + cost ratio {cost_ratio:g})",
    )  # fmt: skip
    ax.set_xlabel(f"minutes after {now}", fontsize=8)
    ax.set_ylabel("p(>= 1 invocation in the minute)", fontsize=8)
    ax.set_ylim(0, 1.02)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
    if not shown:
        ax.set_title("no function with enough idle times for a model", fontsize=9, loc="left")
    ax.legend(fontsize=7, loc="upper right")
    return fig


def write_warm_plot(path: Path, plans: Sequence[WarmPlan], now: str, cost_ratio: float) -> Path:
    """:func:`warm_figure` as a PNG at ``path`` (atomically)."""
    write_atomic(Path(path), _png_bytes(warm_figure(plans, now, cost_ratio)))
    return Path(path)
