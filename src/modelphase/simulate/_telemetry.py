"""The load model: one service's six series, event-free except for traffic surges.

Everything derives from a request rate with daily, weekly and trend components:

- rate = base * daily(hour) * weekly(weekend) * trend * slow noise * surge
- utilisation u = rate / capacity, capped at 0.92; queueing factor q = u / (1 - u)
- p50 = b * (1 + a * q) * noise; p99 = p50 + b * (r - 1) * (1 + a' * q) * heavier noise
- error ratio = e * (1 + c * u^2) * slow noise, sampled like a binomial ratio
- cpu = idle + cores per request * requests; memory = base + lagged load + sawtooth (GC)

A :class:`Mix` (the traffic mix of a regime change) replaces the daily shape and level
of the rate from a grid point on; everything derived from the rate follows.

Sampling noise is drawn with fixed shapes from its own generator, so the same seed gives
the same noise with or without events: a simulation with events equals the event-free one
outside the events' series and windows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from modelphase.frame import NS_PER_SECOND

__all__ = [
    "SERIES_KEYS",
    "Calendar",
    "Mix",
    "ServiceParams",
    "calendar",
    "draw_params",
    "telemetry",
]

HOUR_NS = 3600 * NS_PER_SECOND
DAY_NS = 24 * HOUR_NS
WEEK_NS = 7 * DAY_NS

#: The six series of a service, by short key, in the order they are generated.
SERIES_KEYS: tuple[str, ...] = ("requests", "p50", "p99", "errors", "cpu", "memory")

_U_CAP = 0.92  # utilisation beyond which the queue no longer grows (shedding, timeouts)
_SLOW_HOURS = 2.0  # width of the window that smooths the slow noise

F64 = NDArray[np.float64]


@dataclass(frozen=True)
class Calendar:
    """Time features shared by every service: UTC hour, weekend weight, weeks elapsed."""

    hours: F64
    weekend: F64
    weeks: F64
    hours_since_start: F64
    step_seconds: float
    smooth: int


def calendar(ds: NDArray[np.int64], start: int, step: int) -> Calendar:
    """The calendar of the grid ``ds``; weekends ramp in and out over six hours."""
    hours = (ds % DAY_NS).astype(np.float64) / HOUR_NS
    # days since Monday 00:00 UTC (1970-01-01 was a Thursday)
    week_day = ((ds + 3 * DAY_NS) % WEEK_NS).astype(np.float64) / DAY_NS
    u = (week_day - 5.0) % 7.0  # days since Saturday 00:00
    inside = u <= 2.0
    signed = np.where(inside, np.minimum(u, 2.0 - u), -np.minimum(u - 2.0, 7.0 - u))
    weekend = np.clip(0.5 + signed / 0.25, 0.0, 1.0)
    elapsed = (ds - start).astype(np.float64)
    return Calendar(
        hours=hours,
        weekend=weekend,
        weeks=elapsed / WEEK_NS,
        hours_since_start=elapsed / HOUR_NS,
        step_seconds=step / NS_PER_SECOND,
        smooth=max(1, min(round(_SLOW_HOURS * HOUR_NS / step), len(ds))),
    )


@dataclass(frozen=True)
class ServiceParams:
    """The constants of one service, drawn once from its own generator."""

    base_rps: float  # mean-ish request rate
    daily_1: float  # amplitude of the 24 h harmonic
    daily_2: float  # amplitude of the 12 h harmonic (broad business-hours plateau)
    shift_hours: float  # where the trough sits relative to 04:00 UTC
    weekend_drop: float  # relative drop on weekends
    trend: float  # relative change per week (log scale)
    peak_utilisation: float  # utilisation at the daily peak
    p50_base: float  # seconds
    p50_load: float
    tail_ratio: float  # p99 / p50 at no load
    tail_load: float
    error_base: float  # ratio
    error_load: float
    idle_cores: float
    cores_per_rps: float
    memory_base: float  # bytes
    memory_load: float  # share of memory that follows the (lagged) load
    memory_lag_hours: float
    saw_amplitude: float  # GC / restart sawtooth, share of base memory
    saw_period_hours: float
    saw_phase: float


@dataclass(frozen=True)
class Mix:
    """A new traffic mix from grid point ``first`` on: the daily shape ``shift_hours``
    later (its peak and trough move with it) and the level times ``1 + level``."""

    first: int
    level: float
    shift_hours: float


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def draw_params(rng: np.random.Generator) -> ServiceParams:
    """Draw one service's constants."""
    daily_1 = float(rng.uniform(0.40, 0.55))
    base_rps = _log_uniform(rng, 20.0, 2000.0)
    peak_cores = _log_uniform(rng, 0.5, 8.0)
    daily_2 = daily_1 * float(rng.uniform(0.15, 0.25))
    return ServiceParams(
        base_rps=base_rps,
        daily_1=daily_1,
        daily_2=daily_2,
        shift_hours=float(rng.uniform(-1.0, 1.0)),
        weekend_drop=float(rng.uniform(0.30, 0.40)),
        trend=float(rng.uniform(0.01, 0.04) * rng.choice([-1.0, 1.0])),
        peak_utilisation=float(rng.uniform(0.45, 0.65)),
        p50_base=_log_uniform(rng, 0.02, 0.15),
        p50_load=float(rng.uniform(0.2, 0.4)),
        tail_ratio=float(rng.uniform(3.0, 8.0)),
        tail_load=float(rng.uniform(0.6, 1.0)),
        error_base=_log_uniform(rng, 0.001, 0.01),
        error_load=float(rng.uniform(0.5, 1.5)),
        idle_cores=float(rng.uniform(0.05, 0.3)),
        cores_per_rps=peak_cores / (base_rps * (1.0 + daily_1 + daily_2)),
        memory_base=_log_uniform(rng, 3e8, 3e9),
        memory_load=float(rng.uniform(0.1, 0.3)),
        memory_lag_hours=float(rng.uniform(0.5, 2.0)),
        saw_amplitude=float(rng.uniform(0.05, 0.15)),
        saw_period_hours=float(rng.uniform(6.0, 24.0)),
        saw_phase=float(rng.uniform(0.0, 1.0)),
    )


def _daily(p: ServiceParams, hours: F64) -> F64:
    """Trough at 04:00 UTC (plus the service's shift), broad peak in the afternoon."""
    x = 2.0 * np.pi * (hours - 4.0 - p.shift_hours) / 24.0
    out: F64 = 1.0 - p.daily_1 * np.cos(x) - p.daily_2 * np.cos(2.0 * x)
    return out


def _expected(
    p: ServiceParams, cal: Calendar, lag_hours: float = 0.0, mix: Mix | None = None
) -> F64:
    """The noise-free request rate, optionally as it was ``lag_hours`` earlier.

    With ``mix``, the points from ``mix.first`` on have the new shape and level (lagged
    too: the change itself is not delayed, so it starts exactly at ``mix.first``).
    """
    hours = cal.hours - lag_hours if lag_hours else cal.hours
    weekly = 1.0 - p.weekend_drop * cal.weekend
    out: F64 = p.base_rps * _daily(p, hours) * weekly * np.exp(p.trend * cal.weeks)
    if mix is not None:
        after = slice(mix.first, None)
        out[after] = (
            p.base_rps
            * _daily(p, hours[after] - mix.shift_hours)
            * weekly[after]
            * np.exp(p.trend * cal.weeks[after])
            * (1.0 + mix.level)
        )
    return out


def _slow(rng: np.random.Generator, n: int, width: int) -> F64:
    """Unit-variance noise smoothed over ``width`` points (a moving sum of white noise)."""
    z = rng.standard_normal(n + width - 1)
    c = np.concatenate([[0.0], np.cumsum(z)])
    out: F64 = (c[width:] - c[:-width]) / np.sqrt(width)
    return out


def _lognormal(z: F64, sigma: F64 | float) -> F64:
    """Mean-one multiplicative noise with log-sd ``sigma``."""
    out: F64 = np.exp(sigma * z - 0.5 * np.square(sigma))
    return out


def telemetry(
    p: ServiceParams,
    cal: Calendar,
    surge: F64,
    rng: np.random.Generator,
    mix: Mix | None = None,
) -> dict[str, F64]:
    """The six series of one service (keys :data:`SERIES_KEYS`), surges included, with
    the traffic ``mix`` of a regime change if given."""
    n = len(cal.hours)
    # every draw has a fixed shape, in a fixed order: the noise never depends on events
    slow_load = _slow(rng, n, cal.smooth)
    z_requests = rng.standard_normal(n)
    z_p50 = rng.standard_normal(n)
    z_p99 = rng.standard_normal(n)
    slow_errors = _slow(rng, n, cal.smooth)
    z_errors = rng.standard_normal(n)
    z_cpu = rng.standard_normal(n)
    z_memory = rng.standard_normal(n)

    rate = _expected(p, cal, mix=mix) * _lognormal(slow_load, 0.05) * surge
    count = np.maximum(rate * cal.step_seconds, 1e-9)  # requests expected in one step
    # Poisson-like sampling: same mean and variance as count / step, always positive
    requests = rate * _lognormal(z_requests, np.sqrt(np.log1p(1.0 / count)))

    capacity = p.base_rps * (1.0 + p.daily_1 + p.daily_2) / p.peak_utilisation
    utilisation = np.minimum(rate / capacity, _U_CAP)
    queue = utilisation / (1.0 - utilisation)
    p50 = p.p50_base * (1.0 + p.p50_load * queue) * _lognormal(z_p50, 0.04)
    tail = p.p50_base * (p.tail_ratio - 1.0) * (1.0 + p.tail_load * queue)
    p99 = p50 + tail * _lognormal(z_p99, 0.15)

    error_p = p.error_base * (1.0 + p.error_load * np.square(utilisation))
    error_p = np.minimum(error_p * _lognormal(slow_errors, 0.15), 0.5)
    # binomial-like sampling of errors / requests: same mean and variance, positive
    rel_var = (1.0 - error_p) / (error_p * count)
    errors = np.clip(error_p * _lognormal(z_errors, np.sqrt(np.log1p(rel_var))), 0.0, 1.0)

    cpu = (p.idle_cores + p.cores_per_rps * requests) * _lognormal(z_cpu, 0.03)

    peak = p.base_rps * (1.0 + p.daily_1 + p.daily_2)
    lagged = _expected(p, cal, p.memory_lag_hours, mix) / peak
    saw = (cal.hours_since_start / p.saw_period_hours + p.saw_phase) % 1.0
    memory = (
        p.memory_base
        * (1.0 + p.memory_load * lagged + p.saw_amplitude * saw)
        * _lognormal(z_memory, 0.005)
    )
    return {
        "requests": requests,
        "p50": p50,
        "p99": p99,
        "errors": errors,
        "cpu": cpu,
        "memory": memory,
    }
