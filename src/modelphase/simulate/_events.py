"""The event schedule (which kinds, when, how big) and its injection into the series.

Each service gets a fixed number of slots; slot kinds come round-robin from one seeded
permutation of the slot kinds across all services, so any seven consecutive slots hold
every kind. A ``latency_regression`` slot holds its ``deploy`` too. Within a service,
slots are shuffled, then placed at random without overlap, an hour or more apart, after
the first day of data.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from modelphase.frame import format_duration
from modelphase.simulate._telemetry import HOUR_NS, SERIES_KEYS
from modelphase.simulate._types import EVENT_KINDS, INCIDENT_KINDS, REGIME_CHANGE, Event

__all__ = ["Planned", "assign_kinds", "inject", "make_events", "plan_service", "surge_factor"]

F64 = NDArray[np.float64]

#: The kinds a slot can hold (a regression slot also holds its deploy).
SLOT_KINDS: tuple[str, ...] = EVENT_KINDS
_GAP_NS = HOUR_NS  # least quiet time between two events of one service
_TOUCHES: dict[str, tuple[str, ...]] = {
    "latency_regression": ("p50", "p99", "cpu"),
    "traffic_surge": ("requests", "p50", "p99", "errors", "cpu"),
    "missing_scrapes": SERIES_KEYS,
    "deploy": (),
}
# targets of the single-series kinds, with the range of their magnitude
_TARGETS: dict[str, tuple[tuple[str, float, float], ...]] = {
    "spike": (("errors", 5.0, 20.0), ("p99", 2.5, 6.0)),
    "level_shift": (
        ("p99", 0.4, 1.0),
        ("errors", 1.0, 3.0),
        ("cpu", 0.3, 0.6),
        ("memory", 0.2, 0.5),
    ),
    "drift": (("memory", 0.3, 1.0), ("memory", 0.3, 1.0), ("p99", 0.5, 1.5)),
}
_NOUN = {
    "requests": "request rate",
    "p50": "p50 latency",
    "p99": "p99 latency",
    "errors": "error ratio",
    "cpu": "CPU usage",
    "memory": "memory usage",
}
# a deploy sorts before the regression that starts with it, a regime change last
_ORDER = {
    kind: i
    for i, kind in enumerate(sorted((*SLOT_KINDS, REGIME_CHANGE), key=lambda k: k != "deploy"))
}


@dataclass(frozen=True)
class Planned:
    """An event in point indices of the grid (``first`` and ``last`` inclusive)."""

    kind: str
    first: int
    last: int
    magnitude: float
    keys: tuple[str, ...]  # the series (by key) whose values change
    detail: str = ""  # the description, when the plan brings its own (regime changes)


def slots_per_service(days: float) -> int:
    """About four events a week per service, at least one."""
    return max(1, round(4.0 * days / 7.0))


def assign_kinds(rng: np.random.Generator, services: int, slots: int) -> list[list[str]]:
    """Slot kinds per service, round-robin over one permutation of :data:`SLOT_KINDS`."""
    perm = rng.permutation(len(SLOT_KINDS))
    return [
        [SLOT_KINDS[int(perm[(i * slots + j) % len(SLOT_KINDS)])] for j in range(slots)]
        for i in range(services)
    ]


def _points(ns: float, step: int) -> int:
    return max(1, int(np.ceil(ns / step)))


def _draw(rng: np.random.Generator, kind: str, step: int) -> tuple[int, float, tuple[str, ...]]:
    """Length in points, magnitude and touched series of one slot."""
    hour = float(HOUR_NS)
    if kind in _TARGETS:
        options = _TARGETS[kind]
        key, lo, hi = options[int(rng.integers(len(options)))]
        magnitude = float(rng.uniform(lo, hi))
        if kind == "spike":  # 1 to 10 points, at most an hour
            length = min(int(rng.integers(1, 11)), _points(hour, step))
        elif kind == "level_shift":
            length = _points(rng.uniform(4.0, 24.0) * hour, step)
        else:
            length = _points(rng.uniform(3.0, 12.0) * hour, step)
        return length, magnitude, (key,)
    if kind == "latency_regression":
        length = _points(rng.uniform(1.0, 8.0) * hour, step)
        return length, float(rng.uniform(0.5, 1.5)), _TOUCHES[kind]
    if kind == "traffic_surge":
        length = _points(rng.uniform(1.0, 2.0) * hour, step)
        return length, float(rng.uniform(1.8, 3.0)), _TOUCHES[kind]
    if kind == "missing_scrapes":  # 3 to 30 points, at most two hours
        length = min(int(rng.integers(3, 31)), _points(2.0 * hour, step))
        return length, float(length), _TOUCHES[kind]
    return 1, 0.0, ()  # deploy


def plan_service(
    rng: np.random.Generator, kinds: Sequence[str], n: int, lo: int, step: int
) -> list[Planned]:
    """Place one service's slots on the points ``lo .. n-1``, without overlap.

    Events cover at most a third of those points (so coarse steps keep most data clean);
    slots that do not fit are dropped, last first.
    """
    kinds = [kinds[int(i)] for i in rng.permutation(len(kinds))]
    room = n - lo
    drawn = [_draw(rng, kind, step) for kind in kinds]
    lasting = bool(rng.random() < 0.5)  # a final level shift runs to the end of the data
    gap = _points(_GAP_NS, step)
    lengths = [min(length, max(room // 3, 1)) for length, _, _ in drawn]
    while kinds and (
        sum(lengths) + gap * (len(kinds) - 1) > room or 3 * sum(lengths) > max(room, 3)
    ):
        kinds, drawn, lengths = kinds[:-1], drawn[:-1], lengths[:-1]
    if not kinds:
        return []
    free = room - sum(lengths) - gap * (len(kinds) - 1)
    offsets = np.sort(rng.integers(0, free + 1, size=len(kinds)))
    plans: list[Planned] = []
    used = 0
    for j, (kind, (_, magnitude, keys), length) in enumerate(
        zip(kinds, drawn, lengths, strict=True)
    ):
        first = lo + int(offsets[j]) + used + gap * j
        last = first + length - 1
        used += length
        if kind == "missing_scrapes":
            magnitude = float(length)  # the window may have been shortened to fit
        if kind == "level_shift" and j == len(kinds) - 1 and lasting:
            last = n - 1
        if kind == "latency_regression":
            plans.append(Planned("deploy", first, first, 0.0, ()))
        plans.append(Planned(kind, first, last, magnitude, keys))
    return plans


def surge_factor(plans: Sequence[Planned], n: int) -> F64:
    """The multiplier of the request rate: ``magnitude`` inside surges, 1 elsewhere."""
    factor = np.ones(n)
    for plan in plans:
        if plan.kind == "traffic_surge":
            factor[plan.first : plan.last + 1] = plan.magnitude
    return factor


def inject(series: dict[str, F64], plans: Sequence[Planned]) -> None:
    """Apply every event except surges (already in the load) to ``series`` in place."""
    for plan in plans:
        window = slice(plan.first, plan.last + 1)
        m = plan.magnitude
        if plan.kind == "spike":
            series[plan.keys[0]][window] *= m
        elif plan.kind == "level_shift":
            series[plan.keys[0]][window] *= 1.0 + m
        elif plan.kind == "drift":
            length = plan.last - plan.first + 1
            series[plan.keys[0]][window] *= 1.0 + m * np.arange(1, length + 1) / length
        elif plan.kind == "latency_regression":
            series["p50"][window] *= 1.0 + m / 2.0
            series["p99"][window] *= 1.0 + m
            series["cpu"][window] *= 1.0 + m / 5.0
        elif plan.kind == "missing_scrapes":
            for key in SERIES_KEYS:
                series[key][window] = np.nan
    np.clip(series["errors"], 0.0, 1.0, out=series["errors"])


def make_events(
    planned: Sequence[tuple[int, str, Planned]],
    origin: int,
    step: int,
    uid: Callable[[str, str], str],
) -> tuple[Event, ...]:
    """Events from ``(service index, service, plan)``, numbered in start order.

    ``uid(service, key)`` is the ``unique_id`` of a series; ``origin`` the first grid time.
    """
    ordered = sorted(planned, key=lambda item: (item[2].first, item[0], _ORDER[item[2].kind]))
    ids = [f"e{i:03d}" for i in range(len(ordered))]
    # a regression and its deploy share service and start
    pairs = {
        (service, plan.first, plan.kind): ids[i] for i, (_, service, plan) in enumerate(ordered)
    }
    events: list[Event] = []
    for event_id, (_, service, plan) in zip(ids, ordered, strict=True):
        if plan.kind == "latency_regression":
            other = pairs[(service, plan.first, "deploy")]
        elif plan.kind == "deploy":
            other = pairs.get((service, plan.first, "latency_regression"), "")
        else:
            other = ""
        length = (plan.last - plan.first + 1) * step
        events.append(
            Event(
                event_id=event_id,
                kind=plan.kind,
                service=service,
                unique_ids=tuple(sorted(uid(service, key) for key in plan.keys)),
                start=origin + plan.first * step,
                end=origin + plan.last * step,
                magnitude=plan.magnitude,
                is_incident=plan.kind in INCIDENT_KINDS,
                description=_describe(plan, service, format_duration(length), other),
            )
        )
    return tuple(events)


def _describe(plan: Planned, service: str, span: str, other: str) -> str:
    if plan.detail:
        return plan.detail
    m = plan.magnitude
    noun = _NOUN[plan.keys[0]] if plan.keys else ""
    if plan.kind == "spike":
        return f"{noun} of {service} spiked {m:.1f}x for {span}"
    if plan.kind == "level_shift":
        return f"{noun} of {service} up {m:.0%} for {span}"
    if plan.kind == "drift":
        what = "memory leak" if plan.keys[0] == "memory" else "slow degradation"
        return f"{noun} of {service} grows to +{m:.0%} over {span} ({what}), then recovers"
    if plan.kind == "latency_regression":
        return (
            f"p99 latency of {service} up {m:.0%} after deploy {other} "
            f"(p50 up {m / 2:.0%}) for {span} until rollback"
        )
    if plan.kind == "traffic_surge":
        return f"requests to {service} up {m:.1f}x for {span} (legitimate load, not an incident)"
    if plan.kind == "missing_scrapes":
        return f"no scrapes of {service} for {span} ({int(m)} points)"
    if other:
        return f"deploy of {service}, followed by latency regression {other}"
    return f"deploy of {service}, no regression"
