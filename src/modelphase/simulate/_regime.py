"""The persisting regime change: a new traffic mix and a lasting latency regression.

From the change's grid point to the end of the data, for the chosen services:

- the request rate's daily shape moves ``peak_shift_hours`` later and its level rises by
  ``level`` (as when a new region's users arrive); utilisation, latency, errors, CPU and
  memory follow through the load model, as they follow the rate everywhere;
- p99 latency is multiplied by ``latency_factor`` and p50 by half as much (``1.5`` gives
  p99 x1.5 and p50 x1.25), as after a latency regression that is never rolled back.

Nothing in it is random, and nothing before the change differs from a simulation
without it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from modelphase.exceptions import ValidationError
from modelphase.frame import format_time
from modelphase.simulate._events import Planned
from modelphase.simulate._telemetry import SERIES_KEYS, Mix
from modelphase.simulate._types import REGIME_CHANGE

__all__ = ["Regime", "RegimeChange", "resolve_regime"]

_MAX_LEVEL = 10.0  # +1000%: beyond this the load model is pinned at its utilisation cap
_MAX_SHIFT_HOURS = 12.0
_MAX_LATENCY_FACTOR = 20.0


@dataclass(frozen=True)
class RegimeChange:
    """A lasting change of traffic mix and latency, from ``start`` to the end of the data.

    ``start`` is nanoseconds since the epoch, moved up to the next grid point; it must be
    after the grid's first point and at most its last. ``None`` is the grid point in the
    middle (``n // 2``). ``services`` names the simulated services it applies to
    (``None``: all). ``level`` is the relative change of the request rate (``0.3`` is
    +30%), ``peak_shift_hours`` moves the daily shape later (negative: earlier) and
    ``latency_factor`` multiplies p99 latency (p50 rises by half as much; ``1.0`` is no
    regression). Checked by :func:`~modelphase.simulate.simulate`.

    >>> from modelphase.frame import format_time, parse_time
    >>> from modelphase.simulate import simulate
    >>> change = RegimeChange(start=parse_time("2026-01-06T00:00:00Z"), services=("cart",))
    >>> sim = simulate(services=2, days=2, seed=1, regime_change=change)
    >>> (event,) = [e for e in sim.events if e.kind == "regime_change"]
    >>> event.service, format_time(event.start), format_time(event.end), event.magnitude
    ('cart', '2026-01-06T00:00:00Z', '2026-01-06T23:59:00Z', 0.3)
    >>> print(event.description)  # doctest: +NORMALIZE_WHITESPACE
    regime change of cart to the end of the data: request rate +30%,
    daily peak 3 h later, p99 latency x1.50 (p50 x1.25)
    """

    start: int | None = None
    services: tuple[str, ...] | None = None
    level: float = 0.3
    peak_shift_hours: float = 3.0
    latency_factor: float = 1.5


@dataclass(frozen=True)
class Regime:
    """A checked :class:`RegimeChange` on one grid: its first point and its services."""

    first: int
    services: frozenset[str]
    level: float
    shift_hours: float
    latency_factor: float

    @property
    def mix(self) -> Mix | None:
        """The new traffic mix, or ``None`` when the rate keeps its level and shape."""
        if self.level == 0.0 and self.shift_hours == 0.0:
            return None
        return Mix(self.first, self.level, self.shift_hours)

    @property
    def keys(self) -> tuple[str, ...]:
        """The series (by key) whose values change, in :data:`SERIES_KEYS` order."""
        if self.mix is not None:
            return SERIES_KEYS
        return ("p50", "p99") if self.latency_factor != 1.0 else ()

    def apply_latency(self, series: dict[str, NDArray[np.float64]]) -> None:
        """Multiply p50 and p99 from the change on, in place."""
        if self.latency_factor == 1.0:
            return
        after = slice(self.first, None)
        series["p50"][after] *= 1.0 + (self.latency_factor - 1.0) / 2.0
        series["p99"][after] *= self.latency_factor

    def plan(self, service: str, n: int) -> Planned:
        """The change as a planned event of ``service`` on a grid of ``n`` points."""
        parts = []
        if self.level != 0.0:
            parts.append(f"request rate {self.level:+.0%}")
        if self.shift_hours != 0.0:
            way = "later" if self.shift_hours > 0 else "earlier"
            parts.append(f"daily peak {abs(self.shift_hours):g} h {way}")
        if self.latency_factor != 1.0:
            f = self.latency_factor
            parts.append(f"p99 latency x{f:.2f} (p50 x{1.0 + (f - 1.0) / 2.0:.2f})")
        what = ", ".join(parts) if parts else "no change of any value"
        detail = f"regime change of {service} to the end of the data: {what}"
        return Planned(REGIME_CHANGE, self.first, n - 1, self.level, self.keys, detail)


def _number(value: object) -> float:
    if isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool):
        return float(value)
    return math.nan


def _time(ns: int) -> str:
    try:
        return format_time(ns)
    except (ValueError, OverflowError):
        return f"{ns} ns"


def resolve_regime(
    change: object, ds: NDArray[np.int64], step: int, names: Sequence[str]
) -> Regime | None:
    """Check ``change`` against the grid ``ds`` and the service ``names``."""
    if change is None:
        return None
    if not isinstance(change, RegimeChange):
        raise ValidationError(
            f"regime_change: expected a RegimeChange or None, got {change!r}",
            hint="pass regime_change=RegimeChange() (the defaults) or leave it out",
        )
    n = len(ds)
    span = f"{format_time(int(ds[0]))} to {format_time(int(ds[-1]))}"
    start = change.start
    if start is None:
        first = n // 2
    elif isinstance(start, int | np.integer) and not isinstance(start, bool):
        first = -(-(int(start) - int(ds[0])) // step)  # the next grid point
        if not 1 <= first <= n - 1:
            raise ValidationError(
                "regime_change.start: expected a time after the first point of the grid "
                f"and at most its last ({span}), got {_time(int(start))}",
                hint="pass a time inside the grid, or start=None for its middle",
            )
    else:
        raise ValidationError(
            f"regime_change.start: expected nanoseconds since the epoch as an integer or "
            f"None, got {start!r}",
            hint="pass start=modelphase.frame.parse_time('2026-01-08T12:00:00Z'), or None",
        )
    services = change.services
    if services is None:
        chosen = frozenset(names)
    elif (
        isinstance(services, tuple | list)
        and services
        and all(isinstance(s, str) for s in services)
    ):
        unknown = [s for s in services if s not in names]
        if unknown:
            shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
            raise ValidationError(
                f"regime_change.services: expected names of simulated services ({shown}), "
                f"got {', '.join(map(repr, unknown))}",
                hint=f"pass services=({names[0]!r},), or None for every service",
            )
        chosen = frozenset(services)
    else:
        raise ValidationError(
            f"regime_change.services: expected a non-empty tuple of service names or None, "
            f"got {services!r}",
            hint=f"pass services=({names[0]!r},), or None for every service",
        )
    level = _number(change.level)
    if not -1.0 < level <= _MAX_LEVEL:
        raise ValidationError(
            f"regime_change.level: expected a relative change > -1 and <= {_MAX_LEVEL:g} "
            f"(0.3 is +30%), got {change.level!r}",
            hint="pass level=0.3, or 0.0 to keep the level",
        )
    shift = _number(change.peak_shift_hours)
    if not -_MAX_SHIFT_HOURS <= shift <= _MAX_SHIFT_HOURS:
        raise ValidationError(
            f"regime_change.peak_shift_hours: expected hours from -{_MAX_SHIFT_HOURS:g} to "
            f"{_MAX_SHIFT_HOURS:g}, got {change.peak_shift_hours!r}",
            hint="pass peak_shift_hours=3.0 (later), -3.0 (earlier) or 0.0",
        )
    factor = _number(change.latency_factor)
    if not 1.0 <= factor <= _MAX_LATENCY_FACTOR:
        raise ValidationError(
            f"regime_change.latency_factor: expected a factor from 1 to "
            f"{_MAX_LATENCY_FACTOR:g}, got {change.latency_factor!r}",
            hint="pass latency_factor=1.5 (p99 +50%), or 1.0 for no regression",
        )
    return Regime(first, chosen, level, shift, factor)
