"""The safety clamp on a predictive replica count (:class:`Clamp`, :func:`clamp`).

A forecast can be wrong in both directions, so the replicas a plan asks for are held
between two bounds an SRE can state and check:

- **the reactive floor**: never below ``ceil((1 - margin) x reactive)``, where
  ``reactive`` is what the reactive HPA would answer now (:func:`reactive_replicas`:
  ``ceil(current_replicas x current_metric / target)``, unchanged within the HPA's 10%
  tolerance). A plan may run ahead of a fall in demand by at most ``margin``; it can
  never ignore demand that is already here.
- **the peak cap**: never above ``ceil(max_factor x peak)``, where ``peak`` is the
  replicas the last hour's peak demand needed (:func:`peak_replicas`:
  ``ceil(peak_demand / capacity)``). A forecast gone wild (a bad model, a unit error)
  costs at most ``max_factor`` times what the busiest minute of the last hour needed.

When the two disagree (the reactive answer above the cap: demand now beyond anything
the last hour saw), the floor wins: under-provisioning breaks the service, the cap only
guards the bill. Then the answer is held within ``[min_replicas, max_replicas]``, as
the HPA holds it. The result says which bound decided (``bound``: ``none``,
``reactive_floor``, ``peak_cap``, ``min_replicas`` or ``max_replicas``), a small fixed
set fit for a metric label or a log line.

A ``reactive`` or ``peak`` that is unknown (None, or NaN in an array: no metric yet, no
hour of history) leaves its bound out. Products such as ``0.7 x 10`` are rounded to 9
decimals before the ceiling, so that floating-point noise (``7.000000000000001``) does
not add a replica.

The same bounds are written into the KEDA manifests (:mod:`.keda`), so that they hold in
the cluster even when the server that applies this function is down.

>>> settings = Clamp(margin=0.2, max_factor=3.0, min_replicas=1, max_replicas=50)
>>> clamp(2, reactive=10, peak=5, settings=settings)
Clamped(replicas=8, bound='reactive_floor', floor=8, cap=15)
>>> clamp(40, reactive=10, peak=5, settings=settings).bound
'peak_cap'
>>> reactive_replicas(10, 105.0, 100.0), reactive_replicas(10, 150.0, 100.0)
(10, 15)
>>> clamp(np.array([2.0, 9.0, 40.0]), reactive=10, peak=5, settings=settings).bound.tolist()
['reactive_floor', 'none', 'peak_cap']
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, overload

import numpy as np
from numpy.typing import NDArray

from modelphase.exceptions import ValidationError

__all__ = [
    "BOUNDS",
    "HPA_TOLERANCE",
    "MAX_REPLICA_COUNT",
    "Clamp",
    "Clamped",
    "ClampedArray",
    "clamp",
    "peak_replicas",
    "reactive_replicas",
]

#: the Kubernetes HPA's default tolerance (``--horizontal-pod-autoscaler-tolerance``)
HPA_TOLERANCE = 0.1
#: replica counts are int32 in the HPA and ScaledObject APIs
MAX_REPLICA_COUNT = 2**31 - 1
#: what decided a clamped count, in the order they are applied
BOUNDS = ("none", "reactive_floor", "peak_cap", "min_replicas", "max_replicas")
_NONE, _FLOOR, _CAP, _MIN, _MAX = BOUNDS


def _ceil(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """The ceiling after rounding to 9 decimals, so that ``0.7 * 10`` gives 7, not 8."""
    return np.ceil(np.round(x, 9))


def _count(value: object, what: str, low: int, hint: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValidationError(f"{what}: expected a whole number, got {value!r}", hint=hint)
    if not low <= int(value) <= MAX_REPLICA_COUNT:
        raise ValidationError(
            f"{what}: expected between {low} and {MAX_REPLICA_COUNT:,}, got {int(value)}", hint=hint
        )
    return int(value)


@dataclass(frozen=True)
class Clamp:
    """The clamp's settings: how far below the reactive HPA's answer a plan may go
    (``margin``, a share in ``[0, 1)``), how many times the replicas of the last hour's
    peak it may ask for at most (``max_factor`` >= 1), and the replica bounds (the
    ScaledObject's ``minReplicaCount``/``maxReplicaCount``). Checked when made."""

    margin: float = 0.2
    max_factor: float = 3.0
    min_replicas: int = 1
    max_replicas: int = 100

    def __post_init__(self) -> None:
        margin, factor = self.margin, self.max_factor
        if isinstance(margin, bool) or not isinstance(margin, int | float):
            raise ValidationError(f"--margin: expected a number, got {margin!r}")
        if not (math.isfinite(margin) and 0 <= margin < 1):
            raise ValidationError(
                f"--margin: expected a share in [0, 1) (how far a plan may go below the "
                f"reactive HPA's answer), got {margin:g}",
                hint="pass e.g. --margin 0.2, or 0 for never below the reactive answer",
            )
        if isinstance(factor, bool) or not isinstance(factor, int | float):
            raise ValidationError(f"--max-factor: expected a number, got {factor!r}")
        if not (math.isfinite(factor) and factor >= 1):
            raise ValidationError(
                f"--max-factor: expected a number >= 1 (times the replicas of the last hour's "
                f"peak), got {factor:g}",
                hint="pass e.g. --max-factor 3",
            )
        low = _count(self.min_replicas, "--min-replicas", 0, "pass e.g. --min-replicas 1")
        high = _count(self.max_replicas, "--max-replicas", 1, "pass e.g. --max-replicas 50")
        if low > high:
            raise ValidationError(
                f"expected --min-replicas <= --max-replicas, got {low} > {high}",
                hint="raise --max-replicas or lower --min-replicas",
            )


@dataclass(frozen=True)
class Clamped:
    """One clamped count: the ``replicas`` to run, the ``bound`` that decided it (one of
    :data:`BOUNDS`), and the two bounds themselves (None where unknown)."""

    replicas: int
    bound: str
    floor: int | None
    cap: int | None


@dataclass(frozen=True)
class ClampedArray:
    """Clamped counts, element by element: ``replicas`` (int64), ``bound`` (text, one of
    :data:`BOUNDS`), ``floor`` and ``cap`` (float64, NaN where unknown)."""

    replicas: NDArray[np.int64]
    bound: NDArray[np.str_]
    floor: NDArray[np.float64]
    cap: NDArray[np.float64]


def _known(value: Any, what: str, shape: tuple[int, ...]) -> NDArray[np.float64]:
    """``value`` as floats broadcast to ``shape``; None and NaN are unknown; a negative
    or infinite value is refused."""
    arr = np.asarray(np.nan if value is None else value, dtype=np.float64)
    try:
        arr = np.broadcast_to(arr, shape)
    except ValueError:
        raise ValidationError(
            f"expected {what} as one number or one per recommendation ({shape}), got {arr.shape}"
        ) from None
    bad = np.isinf(arr) | (arr < 0)
    if bad.any():
        raise ValidationError(
            f"expected {what} >= 0 and finite (NaN for unknown), got {float(arr[bad][0]):g}"
        )
    return arr


def _apply(recommended: Any, reactive: Any, peak: Any, settings: Clamp) -> ClampedArray:
    want = np.asarray(recommended, dtype=np.float64)
    bad = ~np.isfinite(want) | (want < 0)
    if bad.any():
        raise ValidationError(
            f"expected recommended replicas >= 0 and finite, got {float(want[bad][0]):g}",
            hint="pass the plan's replicas; leave unknown bounds as None or NaN, not the plan",
        )
    want = np.minimum(_ceil(want), float(MAX_REPLICA_COUNT))
    react = _known(reactive, "the reactive replicas", want.shape)
    top = _known(peak, "the peak replicas", want.shape)
    with np.errstate(invalid="ignore"):
        floor = _ceil((1.0 - settings.margin) * react)
        cap = _ceil(settings.max_factor * top)
        capped = np.where(cap < want, cap, want)  # NaN compares False: no cap
        floored = np.where(floor > capped, floor, capped)
    bound = np.where(floored > capped, _FLOOR, np.where(capped < want, _CAP, _NONE))
    held = np.clip(floored, settings.min_replicas, settings.max_replicas)
    bound = np.where(held > floored, _MIN, np.where(held < floored, _MAX, bound))
    return ClampedArray(held.astype(np.int64), bound.astype(np.str_), floor, cap)


@overload
def clamp(
    recommended: float,
    *,
    reactive: float | None,
    peak: float | None,
    settings: Clamp = ...,
) -> Clamped: ...


@overload
def clamp(
    recommended: NDArray[Any],
    *,
    reactive: NDArray[Any] | float | None,
    peak: NDArray[Any] | float | None,
    settings: Clamp = ...,
) -> ClampedArray: ...


def clamp(
    recommended: float | NDArray[Any],
    *,
    reactive: NDArray[Any] | float | None,
    peak: NDArray[Any] | float | None,
    settings: Clamp = Clamp(),  # frozen: one shared default is safe
) -> Clamped | ClampedArray:
    """The ``recommended`` replicas (rounded up) held above the reactive floor and
    below the peak cap, then within the replica bounds; ``reactive`` is the reactive
    HPA's answer (:func:`reactive_replicas`), ``peak`` the replicas the last hour's peak
    needed (:func:`peak_replicas`), either unknown as None/NaN. A number gives a
    :class:`Clamped`, an array a :class:`ClampedArray` of its shape."""
    if not isinstance(settings, Clamp):
        raise ValidationError(f"expected the settings as a Clamp, got {type(settings).__name__}")
    if isinstance(recommended, np.ndarray):
        return _apply(recommended, reactive, peak, settings)
    found = _apply(recommended, reactive, peak, settings)
    floor, cap = float(found.floor), float(found.cap)
    return Clamped(
        int(found.replicas),
        str(found.bound),
        int(floor) if math.isfinite(floor) else None,
        int(cap) if math.isfinite(cap) else None,
    )


def _replicas(values: NDArray[np.float64], what: str) -> None:
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        raise ValidationError(f"expected {what} >= 0 and finite, got {float(values[bad][0]):g}")


@overload
def reactive_replicas(
    current_replicas: int, current_metric: float, target: float, *, tolerance: float = ...
) -> int: ...


@overload
def reactive_replicas(
    current_replicas: NDArray[Any] | int,
    current_metric: NDArray[Any],
    target: float,
    *,
    tolerance: float = ...,
) -> NDArray[np.int64]: ...


def reactive_replicas(
    current_replicas: NDArray[Any] | int,
    current_metric: NDArray[Any] | float,
    target: float,
    *,
    tolerance: float = HPA_TOLERANCE,
) -> int | NDArray[np.int64]:
    """What the reactive HPA answers now, by its algorithm: ``ratio = current_metric /
    target``; within ``tolerance`` of 1 the replicas stay as they are, otherwise
    ``ceil(current_replicas x ratio)``. ``current_metric`` is the average per replica
    (CPU utilisation, requests/s per pod); for a total, pass total / replicas. The HPA
    does not act on a workload at 0 replicas, so ``current_replicas`` must be >= 1.
    The arithmetic is the HPA's float64 arithmetic, unrounded, so that the answer is
    the one the cluster gives."""
    if not (math.isfinite(target) and target > 0):
        raise ValidationError(f"expected a metric target > 0, got {target:g}")
    if not (math.isfinite(tolerance) and 0 <= tolerance < 1):
        raise ValidationError(f"expected an HPA tolerance in [0, 1), got {tolerance:g}")
    current = np.asarray(current_replicas, dtype=np.float64)
    metric = np.asarray(current_metric, dtype=np.float64)
    _replicas(metric, "the current metric")
    _replicas(current, "the current replicas")
    if (current < 1).any() or (current != np.round(current)).any():
        raise ValidationError(
            "expected the current replicas as whole numbers >= 1 (the HPA does not act at 0)"
        )
    ratio = metric / target
    # the HPA's float arithmetic as it is (no rounding guard): at 110/100 it scales,
    # since 1.1 - 1 is just above 0.1 in binary floating point
    out = np.where(np.abs(1.0 - ratio) <= tolerance, current, np.ceil(current * ratio))
    out = np.minimum(out, float(MAX_REPLICA_COUNT)).astype(np.int64)
    if isinstance(current_metric, np.ndarray) or isinstance(current_replicas, np.ndarray):
        return out
    return int(out)


@overload
def peak_replicas(peak_demand: float, capacity: float) -> int: ...


@overload
def peak_replicas(peak_demand: NDArray[Any], capacity: float) -> NDArray[np.int64]: ...


def peak_replicas(peak_demand: NDArray[Any] | float, capacity: float) -> int | NDArray[np.int64]:
    """The replicas the peak demand needed: ``ceil(peak_demand / capacity)``, the
    demand in the units ``capacity`` (the demand one replica holds) is in."""
    if not (math.isfinite(capacity) and capacity > 0):
        raise ValidationError(
            f"expected a capacity > 0 (the demand one replica holds), got {capacity:g}",
            hint="pass e.g. --capacity 50 for 50 requests/s per replica",
        )
    demand = np.asarray(peak_demand, dtype=np.float64)
    _replicas(demand, "the peak demand")
    out = np.minimum(_ceil(demand / capacity), float(MAX_REPLICA_COUNT)).astype(np.int64)
    return out if isinstance(peak_demand, np.ndarray) else int(out)
