"""``modelphase slo status``: an SLO's error budget now, its burn over every alert
window, and the forecast of when the budget runs out (:func:`slo_status`).

The windows are those the rules alert on (:func:`~modelphase.decide.slo.plan_rules`:
the Workbook's, or Sloth's, scaled to the period), so a burn rate here is the number
the matching alert compares with its factor; each shows whether its tier's condition
holds now. :func:`exposition` writes the status as Prometheus metrics (the text format
node_exporter's textfile collector and Pushgateway read), so that Alertmanager can
route "budget exhausted within 3 days" before it happens (docs/slo.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from modelphase.decide.slo.budget import Burn, SliEvents, burn_rates, window_ratio
from modelphase.decide.slo.exhaustion import Exhaustion, forecast_exhaustion
from modelphase.decide.slo.model import SLO
from modelphase.decide.slo.windows import AlertWindows
from modelphase.frame import NS_PER_SECOND

__all__ = ["METRIC_PREFIX", "SloStatus", "TierState", "exposition", "slo_status"]

METRIC_PREFIX = "modelphase_slo"


@dataclass(frozen=True)
class TierState:
    """One alert tier now: its key (``page-quick``...), factor, windows and whether
    both its windows burn above the factor (the rule's condition, without ``for``)."""

    key: str
    factor: float
    long: int
    short: int
    firing: bool


@dataclass(frozen=True)
class SloStatus:
    """An SLO's budget at ``as_of`` (ns): the error ratio and events over the period
    (``covered`` seconds of it had data), the budget remaining (a ratio of the
    budget, negative once overspent), the burn over each window, the tiers, and the
    exhaustion forecast (None when not asked for)."""

    slo: SLO
    period: int
    as_of: int
    covered: int
    events: float
    error_ratio: float | None
    budget_remaining: float | None
    burn: tuple[Burn, ...]
    tiers: tuple[TierState, ...]
    exhaustion: Exhaustion | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON: ``slo``, ``service``, ``objective`` (percent), ``period`` and
        times in seconds, ratios as numbers (None where there were no events)."""
        return {
            "slo": self.slo.id,
            "service": self.slo.service,
            "name": self.slo.name,
            "objective": self.slo.objective,
            "period": self.period,
            "as_of": self.as_of / NS_PER_SECOND,
            "covered": self.covered,
            "events": self.events,
            "error_ratio": self.error_ratio,
            "budget_remaining": self.budget_remaining,
            "burn": [
                {
                    "window": b.window,
                    "error_ratio": b.error_ratio,
                    "burn_rate": b.burn_rate,
                    "events": b.events,
                    "coverage": b.coverage,
                }
                for b in self.burn
            ],
            "alerts": [
                {"tier": t.key, "factor": t.factor, "long": t.long, "short": t.short}
                | {"firing": t.firing}
                for t in self.tiers
            ],
            "exhaustion": None if self.exhaustion is None else self.exhaustion.to_dict(),
            "notes": list(self.notes),
        }


def slo_status(
    slo: SLO,
    events: SliEvents,
    windows: AlertWindows,
    *,
    forecast: bool = True,
    horizon: int | None = None,
    level: float = 80.0,
    models: Any = None,
) -> SloStatus:
    """The status of ``slo`` from its SLI's ``events``, at their end.

    ``windows`` are the alert windows for the SLO's period (``windows.period``);
    ``horizon`` (seconds, default the period) bounds the exhaustion forecast, which
    ``forecast=False`` skips.
    """
    period = windows.period
    budget = slo.error_budget
    ratio, n, coverage = window_ratio(events, period)
    remaining = None if ratio is None else 1.0 - ratio / budget
    spans = sorted({*windows.windows, period})
    burn = tuple(burn_rates(events, budget, spans))
    by_window = {b.window: b for b in burn}
    tiers = tuple(
        TierState(t.key, t.factor, t.long, t.short, _above(by_window, t.long, t.short, t.factor))
        for t in windows.tiers
    )
    notes: list[str] = []
    steps = max(1, -(-period * NS_PER_SECOND // events.step))
    covered = round(coverage * steps * events.step / NS_PER_SECOND)
    if coverage < 1:
        notes.append(
            f"the SLI has data for {covered / 86_400:.1f} of the period's "
            f"{period / 86_400:g} days: the budget is of the data there is"
        )
    exhaustion = None
    if forecast:
        exhaustion = forecast_exhaustion(
            events, budget, period, horizon=horizon or period, level=level, models=models
        )
    return SloStatus(
        slo, period, events.end, covered, n, ratio, remaining, burn, tiers, exhaustion,
        tuple(notes),
    )  # fmt: skip


def _above(by_window: dict[int, Burn], long: int, short: int, factor: float) -> bool:
    rates = [by_window[long].burn_rate, by_window[short].burn_rate]
    return all(r is not None and r > factor for r in rates)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _num(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def exposition(statuses: Sequence[SloStatus]) -> str:
    """The statuses as Prometheus text exposition (format 0.0.4), one family each:

    - ``modelphase_slo_error_budget_remaining_ratio``: the budget left (1 = untouched,
      0 = spent, negative = overspent);
    - ``modelphase_slo_error_ratio{window}`` and ``modelphase_slo_burn_rate{window}``
      per window (``window`` as Prometheus writes durations), NaN without events;
    - ``modelphase_slo_alert_condition{tier}``: 1 when a tier's windows both burn
      above its factor;
    - ``modelphase_slo_budget_exhaustion_seconds{bound}``: seconds until the budget is
      spent, ``bound`` ``earliest``, ``expected`` or ``latest`` (the interval at
      ``modelphase_slo_budget_exhaustion_level``), +Inf when not within the horizon,
      0 when spent; absent without a forecast;
    - ``modelphase_slo_status_timestamp_seconds``: when the status is of.

    Every series has the SLO's ``sloth_id``, ``sloth_service`` and ``sloth_slo``
    labels, as the rules' series do.
    """
    from modelphase.decide.slo._promql import prom_duration

    families: dict[str, tuple[str, list[str]]] = {
        "error_budget_remaining_ratio": ("The share of the error budget left over the period", []),
        "error_ratio": ("Bad events over all events, over a window", []),
        "burn_rate": ("The error ratio over a window, over the error budget", []),
        "alert_condition": ("1 when both windows of an alert tier burn above its factor", []),
        "budget_exhaustion_seconds": ("Seconds until the error budget is spent", []),
        "budget_exhaustion_level": ("The level (percent) of the exhaustion interval", []),
        "objective_ratio": ("The SLO's objective", []),
        "period_seconds": ("The SLO's rolling period", []),
        "status_timestamp_seconds": ("When the status is of (Unix seconds)", []),
    }

    def add(name: str, labels: dict[str, str], value: float | None) -> None:
        text = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
        families[name][1].append(f"{METRIC_PREFIX}_{name}{{{text}}} {_num(value)}")

    for status in statuses:
        ids = status.slo.id_labels
        add("error_budget_remaining_ratio", ids, status.budget_remaining)
        add("objective_ratio", ids, status.slo.objective_ratio)
        add("period_seconds", ids, status.period)
        add("status_timestamp_seconds", ids, status.as_of / NS_PER_SECOND)
        for b in status.burn:
            window = {**ids, "window": prom_duration(b.window)}
            add("error_ratio", window, b.error_ratio)
            add("burn_rate", window, b.burn_rate)
        for t in status.tiers:
            add("alert_condition", {**ids, "tier": t.key}, float(t.firing))
        ex = status.exhaustion
        if ex is not None and ex.forecast:
            for bound in ("earliest", "expected", "latest"):
                value = getattr(ex, bound)
                add(
                    "budget_exhaustion_seconds",
                    {**ids, "bound": bound},
                    math.inf if value is None else value,
                )
            add("budget_exhaustion_level", ids, ex.level)
    lines = []
    for name, (help_text, samples) in families.items():
        if samples:
            lines += [f"# HELP {METRIC_PREFIX}_{name} {help_text}."]
            lines += [f"# TYPE {METRIC_PREFIX}_{name} gauge", *samples]
    return "\n".join(lines) + "\n"
