"""promtool unit tests for generated SLO rules: per SLO, a fast burn that pages (and
when), a slow burn that only opens a ticket, a clean period that fires nothing, and,
with the low-traffic guard on, a low-traffic burn that fires nothing.

Sloth's SLI queries are arbitrary PromQL, so the tests cannot feed them raw series in
general. They feed the recorded SLI series instead, ``slo:sli_error:ratio_rate<window>``
for every window (and ``slo:sli_total:amount<window>`` with the guard), with the values
those rules would record for an error ratio that steps from 0 to ``r`` at one time under
constant traffic: over a window ``w``, ``r x min(elapsed, w) / w``. The tests therefore
check the alerting rules (factors, windows, budget, guard, names, labels, annotations,
``for``) end to end in Prometheus' own engine, not the SLI queries themselves.

The expected alerts come from simulating Prometheus on the same numbers: series values
as promtool expands ``a+bxN`` (repeated float addition), thresholds as PromQL computes
them, an alert's labels from the first tier of its expression that holds, and ``for``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from modelphase.decide.slo._promql import go_f, go_g, prom_duration, quote
from modelphase.decide.slo._templates import expand
from modelphase.decide.slo.rules import (
    SLI_TOTAL,
    WINDOW_LABEL,
    SloPlan,
    default_annotations,
    sli_metric,
)
from modelphase.decide.slo.windows import Tier

__all__ = ["TestFile", "promtool_tests"]

#: the step of the fed series is at most Prometheus' 5 min lookback, so every
#: evaluation sees a sample
_MAX_STEP = 300
_ZERO_STEPS = 2  # samples of a clean service before a burn starts
_TIE = 1e-9  # a value this close to its threshold could compare either way: avoided


@dataclass(frozen=True)
class TestFile:
    """A promtool test file (plain data), how many tests it holds, and notes on tests
    that could not be written (an SLO whose objective leaves no room for a scenario,
    an annotation template the generator cannot predict)."""

    data: dict[str, Any]
    n_tests: int
    notes: tuple[str, ...] = ()


@dataclass
class _Feed:
    """The fed series of one scenario: each window's values by sample, and the text."""

    step: int
    errors: dict[int, list[float]] = field(default_factory=dict)
    texts: dict[int, str] = field(default_factory=dict)
    traffic: float = 0.0
    traffic_text: str = ""


def _num(x: float) -> str:
    return "0" if x == 0 else go_f(x)


def _ramp(start: int, rate: float, width: int, n: int) -> tuple[list[float], str]:
    """Values (and promtool text) of a window ``width`` samples long over an error ratio
    that steps to ``rate`` after sample ``start``, for ``n`` samples."""
    values = [0.0] * (start + 1)
    parts = [f"0x{start}"]
    delta = rate / width
    if width == 1:
        values.append(rate)
        parts.append(_num(rate))
    else:
        v = delta
        for _ in range(width):
            values.append(v)
            v += delta
        parts.append(f"{_num(delta)}+{_num(delta)}x{width - 1}")
    rest = max(1, n - len(values))
    values += [rate] * rest
    parts.append(f"{_num(rate)}x{rest - 1}")
    return values, " ".join(parts)


def _constant(value: float, n: int) -> tuple[list[float], str]:
    return [value] * n, f"{_num(value)}x{n - 1}"


class _Sim:
    """Prometheus evaluating one SLO's alerts over fed series, every ``tick`` seconds."""

    def __init__(self, plan: SloPlan, tick: int) -> None:
        self.plan, self.tick = plan, tick
        self.budget = plan.slo.error_budget
        self.alerts = plan.alerts()

    def threshold(self, tier: Tier) -> float:
        return tier.factor * self.budget

    def holds(self, tier: Tier, feed: _Feed, t: int) -> bool:
        k, thr = t // feed.step, self.threshold(tier)
        short, long = feed.errors[tier.short][k], feed.errors[tier.long][k]
        guard = not self.plan.min_events or feed.traffic * tier.long >= self.plan.min_events
        return short > thr and long > thr and guard

    def run(self, feed: _Feed, until: int) -> list[dict[str, tuple[Tier, bool]]]:
        """Per tick up to ``until``: each alert's active instance (its tier) and whether
        it fires."""
        active: dict[str, tuple[Tier, int]] = {}
        out = []
        for t in range(0, until + 1, self.tick):
            state = {}
            for severity, meta in self.alerts:
                tier = next(
                    (x for x in self.plan.windows.of(severity) if self.holds(x, feed, t)), None
                )
                if tier is None:
                    active.pop(severity, None)
                    continue
                if severity not in active or active[severity][0].short != tier.short:
                    active[severity] = (tier, t)
                state[severity] = (tier, t - active[severity][1] >= meta.for_seconds)
            out.append(state)
        return out

    def tie(self, feed: _Feed, until: int) -> bool:
        """Whether a value comes within ``_TIE`` of its threshold at some tick."""
        for t in range(0, until + 1, self.tick):
            k = t // feed.step
            for tier in self.plan.windows.tiers:
                thr = self.threshold(tier)
                for w in (tier.short, tier.long):
                    if abs(feed.errors[w][k] - thr) <= _TIE * thr:
                        return True
        return False

    def first(self, feed: _Feed, severity: str, until: int) -> int | None:
        for i, state in enumerate(self.run(feed, until)):
            if state.get(severity, (None, False))[1]:
                return i * self.tick
        return None


def _labels(plan: SloPlan, window: int) -> dict[str, str]:
    slo = plan.slo
    return {**slo.id_labels, WINDOW_LABEL: prom_duration(window), **slo.labels}


def _series(name: str, labels: dict[str, str]) -> str:
    return name + "{" + ", ".join(f"{k}={quote(labels[k])}" for k in sorted(labels)) + "}"


def promtool_tests(plans: Sequence[SloPlan], rule_files: Sequence[str]) -> TestFile:
    """A promtool rule-test file for the rules of ``plans`` (in ``rule_files``, paths
    relative to the test file)."""
    steps = {id(p): math.gcd(_MAX_STEP, *p.windows.windows) for p in plans}
    tick = math.gcd(*steps.values()) if steps else 60
    tests: list[dict[str, Any]] = []
    notes: list[str] = []
    for plan in plans:
        found, why = _plan_tests(plan, steps[id(plan)], tick)
        tests += found
        notes += why
    data: dict[str, Any] = {
        "rule_files": list(rule_files),
        "evaluation_interval": prom_duration(tick),
        "tests": tests,
    }
    return TestFile(data=data, n_tests=len(tests), notes=tuple(notes))


class _Builder:
    """The scenarios of one SLO."""

    def __init__(self, plan: SloPlan, step: int, tick: int) -> None:
        self.plan, self.step, self.tick = plan, step, tick
        self.sim = _Sim(plan, tick)
        self.budget = plan.slo.error_budget
        self.enabled = {s for s, _ in self.sim.alerts}
        self.thresholds = {
            s: [self.sim.threshold(t) for t in plan.windows.of(s)] for s in self.enabled
        }
        self.longest = max(plan.windows.windows)
        self.wait = max(meta.for_seconds for _, meta in self.sim.alerts)
        self.t0 = _ZERO_STEPS * step
        self.horizon = self.t0 + 2 * self.longest + self.wait + 2 * tick
        shortest_long = min(t.long for t in plan.windows.tiers)
        self.ok_traffic = 2 * plan.min_events / shortest_long if plan.min_events else 0.0
        self.tests: list[dict[str, Any]] = []
        self.notes: list[str] = []

    def feed(self, rate: float, traffic: float, until: int, *, constant: bool = False) -> _Feed:
        n = until // self.step + 2
        out = _Feed(step=self.step, traffic=traffic)
        for w in self.plan.windows.windows:
            if constant:
                out.errors[w], out.texts[w] = _constant(rate, n)
            else:
                out.errors[w], out.texts[w] = _ramp(_ZERO_STEPS, rate, w // self.step, n)
        if self.plan.min_events:
            out.traffic_text = _constant(traffic, n)[1]
        return out

    def burn(self, rate: float, severity: str) -> tuple[_Feed, float, int] | None:
        """A burn at about ``rate`` (nudged off ties with the thresholds) and the time
        the ``severity`` alert first fires, or None when it never does."""
        for _ in range(8):
            fed = self.feed(rate, self.ok_traffic, self.horizon)
            when = self.sim.first(fed, severity, self.horizon)
            if when is None:
                return None
            if not self.sim.tie(fed, min(self.horizon, when + self.longest + self.wait)):
                return fed, rate, when
            rate = rate * 1.0137 if rate * 1.0137 <= 1 else rate * 0.9863
        return None

    def name(self, what: str) -> str:
        return f"{self.plan.slo.id}: {what}"

    def fast(self) -> float:
        """A fast burn that pages: the checks before the burn, one tick before the page
        and when it fires. Returns the error ratio (0 when there is no such test)."""
        if "page" not in self.enabled:
            return 0.0
        factor = max(t.factor for t in self.plan.windows.of("page"))
        got = self.burn(min(1.0, 4.137931 * factor * self.budget), "page")
        if got is None:
            self.notes.append(self.name("no fast-burn test (a 100% error ratio does not page)"))
            return 0.0
        fed, rate, when = got
        after = prom_duration(when - self.t0)
        what = f"fast burn ({_x(rate, self.budget)}) pages {after} after it starts"
        self.tests.append(
            _test(self.plan, self.sim, fed, [self.t0, when - self.tick, when], self.name(what))
        )
        return rate

    def slow(self) -> None:
        """A slow burn that opens a ticket and never pages."""
        if "ticket" not in self.enabled:
            return
        high = min([1.0, *self.thresholds.get("page", [])])
        low = min(self.thresholds["ticket"])
        got = self.burn(low + 0.8 * (high - low), "ticket") if low < high else None
        if got is None:
            self.notes.append(
                self.name("no slow-burn test (no error ratio tickets without paging)")
            )
            return
        fed, rate, when = got
        # never pages: checked until every page window is full of the burn
        page_long = max((t.long for t in self.plan.windows.of("page")), default=0)
        end = min(self.horizon, max(when, self.t0 + page_long + self.wait) + self.tick)
        assert not any("page" in s and s["page"][1] for s in self.sim.run(fed, end))
        after = prom_duration(when - self.t0)
        what = f"slow burn ({_x(rate, self.budget)}) tickets {after} after it starts, never pages"
        self.tests.append(
            _test(self.plan, self.sim, fed, [when - self.tick, when, end], self.name(what))
        )

    def clean(self) -> None:
        """An error ratio at half the lowest threshold, all along: nothing fires."""
        rate = 0.5 * min(min(v) for v in self.thresholds.values())
        end = self.wait + 10 * self.tick
        fed = self.feed(rate, self.ok_traffic, end, constant=True)
        what = f"clean ({_x(rate, self.budget)}) fires nothing"
        self.tests.append(_test(self.plan, self.sim, fed, [0, end], self.name(what)))

    def low_traffic(self, rate: float) -> None:
        """The fast burn with too few events in every long window: nothing fires, at the
        times the alerts fire with enough traffic."""
        events = self.plan.min_events
        traffic = events / (2 * max(t.long for t in self.plan.windows.tiers))
        fed = self.feed(rate, traffic, self.horizon)
        enough = _Feed(self.step, fed.errors, fed.texts, self.ok_traffic)
        whens = [self.sim.first(enough, s, self.horizon) for s in sorted(self.enabled)]
        checks = sorted({w for w in whens if w is not None} | {self.t0})
        assert not any(f for s in self.sim.run(fed, checks[-1]) for _, f in s.values())
        what = f"fast burn at low traffic (under {go_g(events)} events a window) fires nothing"
        self.tests.append(_test(self.plan, self.sim, fed, checks, self.name(what)))


def _plan_tests(plan: SloPlan, step: int, tick: int) -> tuple[list[dict[str, Any]], list[str]]:
    slo = plan.slo
    alerts = plan.alerts()
    if not alerts:
        return [], [f"{slo.id}: no tests (its alerts are disabled)"]
    for _, meta in alerts:
        if any(
            expand(t, {}, 0.0) is None for t in [*meta.labels.values(), *meta.annotations.values()]
        ):
            return [], [
                f"{slo.id}: no tests (an alert label or annotation uses a template beyond "
                "$labels and $value, whose text a test cannot predict)"
            ]
    builder = _Builder(plan, step, tick)
    rate = builder.fast()
    builder.slow()
    builder.clean()
    if plan.min_events and rate:
        builder.low_traffic(rate)
    return builder.tests, builder.notes


def _x(rate: float, budget: float) -> str:
    return f"error ratio {rate:.4g}, {rate / budget:.3g}x the budget"


def _test(plan: SloPlan, sim: _Sim, fed: _Feed, checks: list[int], name: str) -> dict[str, Any]:
    inputs = [
        {"series": _series(sli_metric(w), _labels(plan, w)), "values": fed.texts[w]}
        for w in plan.windows.windows
    ]
    if plan.min_events:
        labels = {**plan.slo.id_labels, **plan.slo.labels}
        for w in sorted({t.long for t in plan.windows.tiers}):
            inputs.append(
                {
                    "series": _series(f"{SLI_TOTAL}{prom_duration(w)}", labels),
                    "values": fed.traffic_text,
                }
            )
    states = sim.run(fed, max(checks))
    asserts = []
    names = list(dict.fromkeys(meta.name for _, meta in sim.alerts))
    for t in checks:
        state = states[t // sim.tick]
        for alertname in names:
            expected = []
            for severity, meta in sim.alerts:
                found = state.get(severity)
                if meta.name != alertname or found is None or not found[1]:
                    continue
                tier = found[0]
                series = _labels(plan, tier.short)
                value = fed.errors[tier.short][t // fed.step]
                data = {"__name__": sli_metric(tier.short), **series}
                rule = {k: expand(v, data, value) or "" for k, v in meta.labels.items()}
                labels = {**series, "sloth_severity": severity, **rule}
                annotations = {
                    k: expand(v, data, value) or ""
                    for k, v in _annotations(severity, meta.annotations).items()
                }
                expected.append(
                    {"exp_labels": _sorted(labels), "exp_annotations": _sorted(annotations)}
                )
            asserts.append(
                {"eval_time": prom_duration(t), "alertname": alertname, "exp_alerts": expected}
            )
    return {
        "name": name,
        "interval": prom_duration(fed.step),
        "input_series": inputs,
        "alert_rule_test": asserts,
    }


def _annotations(severity: str, given: dict[str, str]) -> dict[str, str]:
    return {**default_annotations(severity), **given}


def _sorted(labels: dict[str, str]) -> dict[str, str]:
    return {k: labels[k] for k in sorted(labels)}
