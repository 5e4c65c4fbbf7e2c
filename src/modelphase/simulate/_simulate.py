"""``simulate``: check the arguments, build the grid, run each service, assemble."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from modelphase.exceptions import ValidationError
from modelphase.frame import NS_PER_SECOND, Panel, format_duration, series_id
from modelphase.simulate._events import (
    Planned,
    assign_kinds,
    inject,
    make_events,
    plan_service,
    slots_per_service,
    surge_factor,
)
from modelphase.simulate._regime import RegimeChange, resolve_regime
from modelphase.simulate._telemetry import DAY_NS, SERIES_KEYS, calendar, draw_params, telemetry
from modelphase.simulate._types import SERVICE_NAMES, Simulation

__all__ = ["DEFAULT_START", "MAX_SAMPLES", "service_names", "simulate", "unique_id"]

#: 2026-01-05T00:00:00Z, a Monday.
DEFAULT_START = 1_767_571_200 * NS_PER_SECOND
#: The most samples one call may produce (about 3 GB of ``ds`` and ``y``).
MAX_SAMPLES = 200_000_000

_METRICS: dict[str, tuple[str, str]] = {
    "requests": ("http_requests_per_second", ""),
    "p50": ("http_request_duration_seconds", "0.5"),
    "p99": ("http_request_duration_seconds", "0.99"),
    "errors": ("http_errors_ratio", ""),
    "cpu": ("cpu_usage_cores", ""),
    "memory": ("memory_usage_bytes", ""),
}
# spawn keys of the independent random streams
_SCHEDULE, _SERVICE = 0, 1
_PARAMS, _NOISE, _EVENTS = 0, 1, 2


def service_names(services: int) -> list[str]:
    """The first ``services`` names: :data:`SERVICE_NAMES`, then ``svc12``, ``svc13``..."""
    return [SERVICE_NAMES[i] if i < len(SERVICE_NAMES) else f"svc{i:02d}" for i in range(services)]


def unique_id(service: str, key: str) -> str:
    """The ``unique_id`` of a service's series by short key (``requests``, ``p99``, ...)."""
    name, quantile = _METRICS[key]
    return series_id({"__name__": name, "service": service, "quantile": quantile})


def simulate(
    *,
    services: int = 3,
    days: float = 7.0,
    step: int = 60 * NS_PER_SECOND,
    start: int = DEFAULT_START,
    seed: int = 0,
    events: bool = True,
    regime_change: RegimeChange | None = None,
) -> Simulation:
    """Simulate six series per service for ``days`` from ``start``, every ``step`` ns.

    The grid has ``floor(days * 86400 s / step)`` points. With ``events`` each service
    gets about four events a week after its first day of data (or its first quarter when
    ``days < 2``); with ``services >= 3``, ``days >= 7`` and a step of at most an hour,
    every kind of :data:`EVENT_KINDS` occurs. Events of one service never overlap.

    ``regime_change`` (a :class:`RegimeChange`) adds a change that lasts to the end of
    the data for its services: by default, from the middle of the grid, the request rate
    is 30% higher with its daily peak 3 h later (latency, errors, CPU and memory follow
    through the load model) and p99 latency is 1.5 times higher (p50 1.25). Each of its
    services gets an event of kind ``regime_change`` (not an incident) from the change
    to the grid's last point, listing the series it changes; the random events keep
    their times and magnitudes.

    The same arguments give bit-identical results. ``events=False`` gives exactly the
    same values outside the events' series and windows, and more services keep the data
    and events of the first ones (only event ids are renumbered). Likewise, a regime
    change leaves every value outside its event's series and window as without it.

    ``services`` (>= 1) are named :data:`SERVICE_NAMES` then ``svc12``, ``svc13``...;
    ``step`` and ``start`` are nanoseconds; ``seed`` is an integer >= 0. Raises
    :class:`~modelphase.exceptions.ValidationError` on bad arguments, fewer than two
    points, more than :data:`MAX_SAMPLES` samples, or a bad ``regime_change``.
    """
    n = _check(services, days, step, start, seed, events)
    ds = int(start) + np.arange(n, dtype=np.int64) * int(step)
    names = service_names(int(services))
    regime = resolve_regime(regime_change, ds, int(step), names)
    cal = calendar(ds, int(start), int(step))
    slots = slots_per_service(float(days))
    root = int(seed)
    kinds = assign_kinds(_rng(root, _SCHEDULE), len(names), slots) if events else []
    lo = -(-DAY_NS // int(step)) if days >= 2 else n // 4
    planned: list[tuple[int, str, Planned]] = []
    columns: dict[str, NDArray[np.float64]] = {}
    for i, name in enumerate(names):
        params = draw_params(_rng(root, _SERVICE, i, _PARAMS))
        plans = (
            plan_service(_rng(root, _SERVICE, i, _EVENTS), kinds[i], n, lo, step) if events else []
        )
        changed = regime if regime is not None and name in regime.services else None
        series = telemetry(
            params,
            cal,
            surge_factor(plans, n),
            _rng(root, _SERVICE, i, _NOISE),
            changed.mix if changed is not None else None,
        )
        if changed is not None:
            changed.apply_latency(series)
            plans = [*plans, changed.plan(name, n)]
        inject(series, plans)
        series["memory"] = np.round(series["memory"])  # whole bytes
        columns.update({unique_id(name, key): series[key] for key in SERIES_KEYS})
        planned.extend((i, name, plan) for plan in plans)
    ids = sorted(columns)
    panel = Panel(
        ids=ids,
        indptr=np.arange(len(ids) + 1, dtype=np.int64) * n,
        ds=np.tile(ds, len(ids)),
        y=np.concatenate([columns[uid] for uid in ids]).astype(np.float64, copy=False),
        step=int(step),
    )
    return Simulation(panel=panel, events=make_events(planned, int(ds[0]), int(step), unique_id))


def _rng(*key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(key[0], spawn_key=key[1:]))


def _as_int(value: object) -> int | None:
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        return int(value)
    return None


def _check(
    services: object, days: object, step: object, start: object, seed: object, events: object
) -> int:
    """The number of grid points, after checking every argument."""
    n_services = _as_int(services)
    if n_services is None or n_services < 1:
        raise ValidationError(
            f"services: expected an integer >= 1, got {services!r}",
            hint="pass services=3 (the first names are checkout, cart, search, ...)",
        )
    n_days = math.nan
    if isinstance(days, int | float | np.integer | np.floating) and not isinstance(days, bool):
        n_days = float(days)
    if not math.isfinite(n_days) or n_days <= 0:
        raise ValidationError(
            f"days: expected a finite number of days > 0, got {days!r}",
            hint="pass days=7 (fractions such as 0.5 are fine)",
        )
    step_ns = _as_int(step)
    if step_ns is None or step_ns <= 0:
        raise ValidationError(
            f"step: expected a positive integer of nanoseconds, got {step!r}",
            hint="pass step=60 * NS_PER_SECOND, or modelphase.frame.parse_duration('1m')",
        )
    if _as_int(start) is None:
        raise ValidationError(
            f"start: expected nanoseconds since the epoch as an integer, got {start!r}",
            hint="pass start=modelphase.frame.parse_time('2026-01-05T00:00:00Z')",
        )
    seed_int = _as_int(seed)
    if seed_int is None or seed_int < 0:
        raise ValidationError(
            f"seed: expected an integer >= 0, got {seed!r}", hint="pass seed=0 or any other"
        )
    if not isinstance(events, bool | np.bool_):
        raise ValidationError(
            f"events: expected True or False, got {events!r}", hint="pass events=False"
        )
    n = round(n_days * DAY_NS) // step_ns
    if n < 2:
        raise ValidationError(
            f"expected at least 2 points, got {n} from days={days!r} and step "
            f"{format_duration(step_ns)}",
            hint="simulate more days or use a smaller step",
        )
    total = n * len(SERIES_KEYS) * n_services
    if total > MAX_SAMPLES:
        raise ValidationError(
            f"expected at most {MAX_SAMPLES:,} samples, got {total:,} "
            f"({n_services} services x {len(SERIES_KEYS)} series x {n:,} points)",
            hint="simulate fewer services or days, or use a larger step",
        )
    return n
