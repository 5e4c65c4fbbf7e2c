"""Prometheus rules for SLOs, named and shaped as Sloth generates them.

Per SLO (``<id>`` is ``<service>-<name>``), three rule groups:

- ``sloth-slo-sli-recordings-<id>``: ``slo:sli_error:ratio_rate<window>`` for every
  alert window (the SLI query with ``{{.window}}`` filled in), and for the SLO period
  from the shortest window (``sum_over_time / count_over_time``, as Sloth does);
- ``sloth-slo-meta-recordings-<id>``: ``slo:objective:ratio``, ``slo:error_budget:ratio``,
  ``slo:time_period:days``, ``slo:current_burn_rate:ratio``, ``slo:period_burn_rate:ratio``,
  ``slo:period_error_budget_remaining:ratio`` and ``sloth_slo_info``;
- ``sloth-slo-alerts-<id>``: the page and the ticket alert, both named
  ``alerting.name``, labelled ``sloth_severity`` (page, ticket) plus the file's alert
  labels, firing when any of their tiers burns too fast on both its windows.

Every recorded series carries ``sloth_id``, ``sloth_service``, ``sloth_slo`` (and
``sloth_window``) plus the SLO's labels. With the low-traffic guard (``min_events``),
a fourth group ``sloth-slo-sli-total-amount-<id>`` records the total query as
``slo:sli_total:amount<window>`` for each long window (the names of Sloth's
``sli_total_amount`` plugin), and each tier also needs ``amount x window >= min_events``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from modelphase.decide.slo._promql import (
    go_f,
    go_g,
    label_filter,
    prom_duration,
    render_window,
)
from modelphase.decide.slo.model import SLO, AlertMeta
from modelphase.decide.slo.windows import AlertWindows

__all__ = [
    "DEFAULT_PERIOD",
    "SloPlan",
    "alert_expr",
    "default_annotations",
    "dump_yaml",
    "plan_rules",
    "rule_groups",
    "sli_metric",
]

#: the SLO period when neither the file nor the caller gives one
DEFAULT_PERIOD = 30 * 86_400
SLI_ERROR = "slo:sli_error:ratio_rate"
SLI_TOTAL = "slo:sli_total:amount"
WINDOW_LABEL = "sloth_window"


@dataclass(frozen=True)
class SloPlan:
    """An SLO with the windows for its period (scaled) and its low-traffic guard
    (``min_events``; 0 when off, or when the SLO has no total query to count)."""

    slo: SLO
    windows: AlertWindows
    min_events: float = 0.0

    @property
    def period(self) -> int:
        return self.windows.period

    def alerts(self) -> list[tuple[str, AlertMeta]]:
        """The enabled alerts: ``("page", meta)``, ``("ticket", meta)``."""
        found = [("page", self.slo.page), ("ticket", self.slo.ticket)]
        return [(sev, meta) for sev, meta in found if not meta.disabled and self.windows.of(sev)]


def plan_rules(
    slos: Sequence[SLO],
    windows: AlertWindows,
    *,
    period: int = DEFAULT_PERIOD,
    min_events: float = 0.0,
    source: str = "",
) -> tuple[list[SloPlan], list[str]]:
    """Each SLO with ``windows`` scaled to its period (its own, else ``period``) and the
    guard, plus notes (SLOs the guard cannot apply to, having no total query)."""
    plans, notes = [], []
    for slo in slos:
        what = f"the period of SLO {slo.id} (timeWindow)" if slo.period else "--period"
        scaled = windows.for_period(slo.period or period, what=what, source=source)
        guard = min_events if slo.sli.total_query is not None else 0.0
        if min_events and not guard:
            notes.append(
                f"SLO {slo.id}: no low-traffic guard (a raw SLI has no total query to count)"
            )
        plans.append(SloPlan(slo, scaled, guard))
    return plans, notes


def sli_metric(window: int) -> str:
    """``slo:sli_error:ratio_rate<window>``."""
    return f"{SLI_ERROR}{prom_duration(window)}"


def rule_groups(plans: Sequence[SloPlan], *, generator: str = "modelphase") -> dict[str, Any]:
    """A Prometheus rule file (plain data) for the plans, groups in Sloth's order."""
    groups: list[dict[str, Any]] = []
    for plan in plans:
        slo = plan.slo
        sli = _group(f"sloth-slo-sli-recordings-{slo.id}", slo, "slierror", _sli_rules(plan))
        groups.append(sli)
        if plan.min_events:
            groups.append(
                _group(f"sloth-slo-sli-total-amount-{slo.id}", slo, "slierror", _totals(plan))
            )
        meta = _meta_rules(plan, generator)
        groups.append(_group(f"sloth-slo-meta-recordings-{slo.id}", slo, "metadata", meta))
        alerts = [_alert_rule(plan, sev, meta) for sev, meta in plan.alerts()]
        if alerts:
            groups.append(_group(f"sloth-slo-alerts-{slo.id}", slo, "alert", alerts))
    return {"groups": groups}


def _group(name: str, slo: SLO, kind: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    group: dict[str, Any] = {"name": name}
    if kind in slo.intervals:
        group["interval"] = prom_duration(slo.intervals[kind])
    group["rules"] = rules
    return group


def _sorted(labels: dict[str, str]) -> dict[str, str]:
    return {k: labels[k] for k in sorted(labels)}


def _sli_rules(plan: SloPlan) -> list[dict[str, Any]]:
    slo, sli = plan.slo, plan.slo.sli
    rules = []
    for window in plan.windows.windows:
        if sli.error_ratio_query is not None:
            expr = f"({render_window(sli.error_ratio_query, window)})"
        else:
            assert sli.error_query is not None
            assert sli.total_query is not None
            error = render_window(sli.error_query, window)
            total = render_window(sli.total_query, window)
            expr = f"({error})\n/\n({total})\n"
        labels = {**slo.id_labels, WINDOW_LABEL: prom_duration(window), **slo.labels}
        rules.append({"record": sli_metric(window), "expr": expr, "labels": _sorted(labels)})
    if plan.period not in plan.windows.windows:
        short = sli_metric(min(plan.windows.windows)) + label_filter(slo.id_labels)
        span = prom_duration(plan.period)
        expr = (
            f"sum_over_time({short}[{span}])\n/ ignoring ({WINDOW_LABEL})\n"
            f"count_over_time({short}[{span}])\n"
        )
        rules.append(
            {"record": sli_metric(plan.period), "expr": expr, "labels": {WINDOW_LABEL: span}}
        )
    return rules


def _totals(plan: SloPlan) -> list[dict[str, Any]]:
    slo = plan.slo
    assert slo.sli.total_query is not None
    labels = _sorted({**slo.id_labels, **slo.labels})
    return [
        {
            "record": f"{SLI_TOTAL}{prom_duration(window)}",
            "expr": render_window(slo.sli.total_query, window),
            "labels": labels,
        }
        for window in sorted({t.long for t in plan.windows.tiers})
    ]


def _meta_rules(plan: SloPlan, generator: str) -> list[dict[str, Any]]:
    slo = plan.slo
    labels = _sorted({**slo.id_labels, **slo.labels})
    flt = label_filter(slo.id_labels)
    on = "/ on(sloth_id, sloth_slo, sloth_service) group_left\n"
    short = sli_metric(min(plan.windows.windows))

    def burn(metric: str) -> str:
        return f"{metric}{flt}\n{on}slo:error_budget:ratio{flt}\n"

    info = {
        **labels,
        **slo.info_labels,
        "sloth_version": generator,
        "sloth_mode": "cli-gen-prom",
        "sloth_spec": slo.spec,
        "sloth_objective": go_f(slo.objective),
    }
    rows = [
        ("slo:objective:ratio", f"vector({go_g(slo.objective_ratio)})", labels),
        ("slo:error_budget:ratio", f"vector(1-{go_g(slo.objective_ratio)})", labels),
        ("slo:time_period:days", f"vector({go_g(_days(plan.period))})", labels),
        ("slo:current_burn_rate:ratio", burn(short), labels),
        ("slo:period_burn_rate:ratio", burn(sli_metric(plan.period)), labels),
        ("slo:period_error_budget_remaining:ratio", f"1 - slo:period_burn_rate:ratio{flt}", labels),
        ("sloth_slo_info", "vector(1)", _sorted(info)),
    ]
    return [{"record": r, "expr": e, "labels": lb} for r, e, lb in rows]


def _days(seconds: int) -> float:
    """Go's ``Duration.Hours() / 24``."""
    return (seconds // 3600 + (seconds % 3600) * 1e9 / (60 * 60 * 1e9)) / 24


def alert_expr(plan: SloPlan, severity: str) -> str:
    """The alert's PromQL, Sloth's text to the character: per tier, ``(short > (f *
    budget)) and ignoring (sloth_window) (long > (f * budget))``, tiers joined by
    ``or ignoring (sloth_window)``; with the guard, each tier also needs its long
    window to have seen ``min_events`` events."""
    slo = plan.slo
    flt = label_filter(slo.id_labels)
    budget = go_g(slo.error_budget)
    parts = []
    for tier in plan.windows.of(severity):
        threshold = f"({go_g(tier.factor)} * {budget})"
        lines = [
            f"    ({sli_metric(tier.short)}{flt} > {threshold})",
            f"    and ignoring ({WINDOW_LABEL})",
            f"    ({sli_metric(tier.long)}{flt} > {threshold})",
        ]
        if plan.min_events:
            amount = f"{SLI_TOTAL}{prom_duration(tier.long)}{flt}"
            lines += [
                f"    and ignoring ({WINDOW_LABEL})",
                f"    ({amount} * {tier.long} >= {go_g(plan.min_events)})",
            ]
        parts.append("(\n" + "\n".join(lines) + "\n)")
    return f"\nor ignoring ({WINDOW_LABEL})\n".join(parts) + "\n"


def default_annotations(severity: str) -> dict[str, str]:
    """Sloth's title and summary of an alert."""
    names = "{{$labels.sloth_service}} {{$labels.sloth_slo}}"
    return {
        "title": f"({severity}) {names} SLO error budget burn rate is too fast.",
        "summary": f"{names} SLO error budget burn rate is over expected.",
    }


def _alert_rule(plan: SloPlan, severity: str, meta: AlertMeta) -> dict[str, Any]:
    rule: dict[str, Any] = {"alert": meta.name, "expr": alert_expr(plan, severity)}
    if meta.for_seconds:
        rule["for"] = prom_duration(meta.for_seconds)
    rule["labels"] = _sorted({"sloth_severity": severity, **meta.labels})
    rule["annotations"] = _sorted({**default_annotations(severity), **meta.annotations})
    return rule


class _Dumper(yaml.SafeDumper):
    """Block style for text with line breaks (PromQL reads as written); no anchors."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value and not value.startswith((" ", "\t")) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def dump_yaml(data: Any, header: Sequence[str] = ()) -> str:
    """YAML text for a rule or test file: keys in the order given, multi-line text as
    ``|`` blocks, no line folding; ``header`` lines become ``#`` comments on top."""
    body = yaml.dump(
        data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1_000_000, indent=2
    )
    top = "".join(f"# {line}\n" for line in header)
    return f"---\n{top}\n{body}" if top else f"---\n{body}"
