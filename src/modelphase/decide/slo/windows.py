"""Multiwindow, multi-burn-rate alert windows (the SRE Workbook, ch. 5), and how they
scale to an SLO period of any length.

A tier alerts when the SLI's error ratio is above ``factor x error budget`` over both
its long window and its short one. Each tier is defined, as Sloth defines it, by the
share of the period's error budget it lets burn in its long window, for one period:
over 30 days, 2% of the budget in 1 hour is a burn rate of 14.4.

For another period, each tier keeps its budget share and its burn factor, and its
windows scale by ``period / 30d``, rounded to whole minutes and never shorter than 1m:

>>> page = WORKBOOK.for_period(7 * 86_400).tiers[0]
>>> page.severity, page.factor, page.long // 60, page.short // 60
('page', 14.4, 14, 1)
>>> [t.factor for t in WORKBOOK.tiers], [t.factor for t in SLOTH.tiers]
([14.4, 6.0, 1.0], [14.4, 6.0, 3.0, 1.0])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

import pydantic
from pydantic import Field

from modelphase.decide.slo._errors import (
    Problem,
    from_pydantic,
    raise_problems,
    strip_unknown,
)
from modelphase.decide.slo._fields import Strict, duration_seconds
from modelphase.decide.slo._promql import prom_duration

__all__ = [
    "BUILTIN_WINDOWS",
    "MAX_PERIOD",
    "SLOTH",
    "WORKBOOK",
    "AlertWindows",
    "Tier",
    "make_windows",
    "windows_from_data",
]

#: the longest SLO period accepted (a leap year)
MAX_PERIOD = 366 * 86_400
_DAY = 86_400


@dataclass(frozen=True)
class Tier:
    """One burn-rate condition: ``severity`` (page or ticket) and ``speed`` (quick or
    slow), the share of the period's budget it lets burn in ``long`` (seconds), its
    ``short`` window, and its burn ``factor``."""

    severity: str
    speed: str
    budget_percent: float
    long: int
    short: int
    factor: float

    @property
    def key(self) -> str:
        """``page-quick``, ``ticket-slow``, ..."""
        return f"{self.severity}-{self.speed}"


@dataclass(frozen=True)
class AlertWindows:
    """The tiers written for an SLO ``period`` (seconds), page tiers first, quick
    before slow (the order of the alert expressions)."""

    name: str
    period: int
    tiers: tuple[Tier, ...]

    @property
    def windows(self) -> list[int]:
        """Every short and long window, ascending, each once."""
        return sorted({w for t in self.tiers for w in (t.long, t.short)})

    def of(self, severity: str) -> list[Tier]:
        """The tiers of one alert."""
        return [t for t in self.tiers if t.severity == severity]

    def for_period(self, period: int, *, what: str = "--period", source: str = "") -> AlertWindows:
        """These windows for ``period`` seconds: scaled by ``period / self.period`` to
        whole minutes (at least 1m), factors kept; raise
        :class:`~modelphase.exceptions.SloSpecError` when the period is out of range or
        shorter than the longest window."""
        shown = prom_duration(period)
        source = "" if what == "--period" else source  # an option names itself
        if not 60 <= period <= MAX_PERIOD or period % 60:
            raise_problems(
                source,
                [
                    Problem(
                        what,
                        f"a period of whole minutes from 1m to {prom_duration(MAX_PERIOD)}",
                        shown,
                        "give the SLO period in days, e.g. 30d",
                    )
                ],
            )
        if period == self.period:
            tiers = self.tiers
        else:
            ratio = Fraction(period, self.period)
            tiers = tuple(
                replace(t, long=_scale(t.long, ratio), short=_scale(t.short, ratio))
                for t in self.tiers
            )
        longest = max(tiers, key=lambda t: t.long)
        if longest.long > period:
            raise_problems(
                source,
                [
                    Problem(
                        what,
                        f"a period at least as long as the longest alert window "
                        f"({prom_duration(longest.long)}, {longest.key})",
                        shown,
                        "lengthen the period, or use windows with shorter long windows",
                    )
                ],
            )
        return AlertWindows(self.name, period, tiers)


def _scale(seconds: int, ratio: Fraction) -> int:
    minutes = seconds * ratio / 60
    return max(1, int(minutes + Fraction(1, 2))) * 60


def _hours(seconds: int) -> float:
    """Go's ``time.Duration.Hours()``: whole hours plus the rest as a fraction."""
    return seconds // 3600 + (seconds % 3600) * 1e9 / (60 * 60 * 1e9)


def make_windows(
    name: str, period: int, rows: Sequence[tuple[str, str, float, int, int]]
) -> AlertWindows:
    """Windows from ``(severity, speed, budget_percent, long, short)`` rows, each
    factor computed as Sloth computes it: the hours the budget share lasts at the
    period's pace, over the long window's hours."""
    tiers = []
    for severity, speed, percent, long, short in rows:
        factor = (percent * _hours(period) / 100) / _hours(long)
        tiers.append(Tier(severity, speed, percent, long, short, factor))
    order = {"page": 0, "ticket": 1, "quick": 0, "slow": 1}
    tiers.sort(key=lambda t: (order[t.severity], order[t.speed]))
    return AlertWindows(name, period, tuple(tiers))


#: The SRE Workbook's recommendation for a 30-day SLO: page at 14.4x over 1h (and 5m)
#: or 6x over 6h (and 30m); ticket at 1x over 3d (and 6h).
WORKBOOK = make_windows(
    "workbook",
    30 * _DAY,
    [
        ("page", "quick", 2, 3600, 300),
        ("page", "slow", 5, 6 * 3600, 1800),
        ("ticket", "slow", 10, 3 * _DAY, 6 * 3600),
    ],
)
#: Sloth's default 30-day windows: the Workbook's, with a second ticket tier at 3x
#: over 1d (and 2h).
SLOTH = make_windows(
    "sloth",
    30 * _DAY,
    [
        ("page", "quick", 2, 3600, 300),
        ("page", "slow", 5, 6 * 3600, 1800),
        ("ticket", "quick", 10, _DAY, 2 * 3600),
        ("ticket", "slow", 10, 3 * _DAY, 6 * 3600),
    ],
)
BUILTIN_WINDOWS = {"workbook": WORKBOOK, "sloth": SLOTH}


class _Window(Strict):
    errorBudgetPercent: float = Field(gt=0, le=100, allow_inf_nan=False)  # noqa: N815
    shortWindow: str  # noqa: N815
    longWindow: str  # noqa: N815


class _Severity(Strict):
    quick: _Window | None = None
    slow: _Window | None = None


class _Spec(Strict):
    sloPeriod: str  # noqa: N815
    page: _Severity
    ticket: _Severity


class _Doc(Strict):
    apiVersion: str  # noqa: N815
    kind: str
    spec: _Spec


def windows_from_data(data: Any, source: str) -> AlertWindows:
    """Custom windows from a Sloth ``AlertWindows`` document (``apiVersion:
    sloth.slok.dev/v1``, ``kind: AlertWindows``, ``spec: {sloPeriod, page: {quick,
    slow}, ticket: {quick, slow}}``, each window ``errorBudgetPercent``, ``shortWindow``
    and ``longWindow``), or the older flat form (``version: alertWindows/v1``). A tier
    may be left out, but each alert needs one."""
    notes: list[str] = []
    if isinstance(data, dict) and data.get("version") == "alertWindows/v1":
        body = {k: v for k, v in data.items() if k != "version"}
        data = {"apiVersion": "sloth.slok.dev/v1", "kind": "AlertWindows", "spec": body}
    if not isinstance(data, dict) or (data.get("apiVersion"), data.get("kind")) != (
        "sloth.slok.dev/v1",
        "AlertWindows",
    ):
        got = data.get("kind") if isinstance(data, dict) else type(data).__name__
        raise_problems(
            source,
            [
                Problem(
                    "kind",
                    "a Sloth AlertWindows document (apiVersion: sloth.slok.dev/v1, "
                    "kind: AlertWindows)",
                    repr(got),
                    "start from Sloth's windows example",
                )
            ],
        )
    try:
        doc = _Doc.model_validate(strip_unknown(data, _Doc, "", notes))
    except pydantic.ValidationError as exc:
        raise_problems(source, from_pydantic(exc))
        raise AssertionError("unreachable") from None
    problems: list[Problem] = []
    try:
        period = duration_seconds(doc.spec.sloPeriod)
    except ValueError as exc:
        raise_problems(
            source, [Problem("spec.sloPeriod", "a duration", str(exc).split("got ")[-1])]
        )
        raise AssertionError("unreachable") from None
    rows = []
    for severity in ("page", "ticket"):
        tiers: _Severity = getattr(doc.spec, severity)
        if tiers.quick is None and tiers.slow is None:
            problems.append(
                Problem(
                    f"spec.{severity}",
                    "a quick or slow window",
                    "neither",
                    f"give the {severity} alert a window",
                )
            )
        for speed in ("quick", "slow"):
            window: _Window | None = getattr(tiers, speed)
            if window is None:
                continue
            where = f"spec.{severity}.{speed}"
            try:
                long = duration_seconds(window.longWindow)
                short = duration_seconds(window.shortWindow)
            except ValueError as exc:
                problems.append(
                    Problem(where, "durations such as 5m and 1h", str(exc).split("got ")[-1])
                )
                continue
            if short > long:
                problems.append(
                    Problem(
                        f"{where}.shortWindow",
                        f"at most the long window ({window.longWindow})",
                        window.shortWindow,
                        "swap them",
                    )
                )
            if long > period:
                problems.append(
                    Problem(
                        f"{where}.longWindow",
                        f"at most sloPeriod ({doc.spec.sloPeriod})",
                        window.longWindow,
                        "shorten the window or lengthen sloPeriod",
                    )
                )
            rows.append((severity, speed, window.errorBudgetPercent, long, short))
    raise_problems(source, problems)
    return make_windows(source, period, rows)
