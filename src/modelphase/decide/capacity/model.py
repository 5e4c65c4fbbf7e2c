"""How much load one replica holds before the latency SLO breaks, learned from history
(:func:`learn_capacity`) or declared (:func:`declared`).

From samples of the load per replica (requests/s over ready replicas, say) and a latency
percentile at the same times, the latency is fitted as a non-decreasing function of the
load (isotonic regression: more load never makes a service faster, and no shape beyond
that is assumed), and the capacity is the load at which the fit reaches the SLO's
threshold. Its uncertainty comes from a moving-block bootstrap over time (blocks of
consecutive samples, since telemetry is autocorrelated); the stated ``capacity`` is the
lower end of the interval at ``level``, so a plan built on it errs towards more replicas.

A history whose load never drove the latency to the threshold says only that the
capacity is at least the highest load seen: the model says so (``censored``) and uses
that load.

>>> rng = np.random.default_rng(0)
>>> load = rng.uniform(10, 100, 2000)
>>> latency = 0.1 + 0.4 * (load / 80) ** 4 + rng.normal(0, 0.01, 2000)
>>> model = learn_capacity(load, latency, threshold=0.5, seed=1)
>>> 75 < model.capacity <= model.estimate < 85, model.censored
(True, False)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import isotonic_regression

from modelphase.exceptions import ValidationError

__all__ = ["CapacityModel", "declared", "learn_capacity"]


@dataclass(frozen=True)
class CapacityModel:
    """The load one replica holds: ``capacity`` (the one to plan with: the lower end of
    the interval at ``level``), the point ``estimate`` and the ``interval``; where it
    came from (``learned`` or ``declared``), the SLO ``threshold`` it is for, the
    samples it rests on, whether the history never reached the threshold
    (``censored``), and notes."""

    capacity: float
    estimate: float
    interval: tuple[float, float]
    source: str
    threshold: float | None = None
    level: float | None = None
    n: int = 0
    censored: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["interval"] = list(self.interval)
        out["notes"] = list(self.notes)
        return out


def declared(capacity: float) -> CapacityModel:
    """A capacity stated by the operator (no history to learn it from)."""
    if not (np.isfinite(capacity) and capacity > 0):
        raise ValidationError(
            f"expected a declared capacity > 0 (the load one replica holds), got {capacity:g}",
            hint="pass e.g. 50 for 50 requests/s per replica",
        )
    return CapacityModel(capacity, capacity, (capacity, capacity), "declared")


def _crossing(
    x: NDArray[np.float64], y: NDArray[np.float64], threshold: float
) -> tuple[float, bool]:
    """The load where the isotonic fit of ``y`` on ``x`` (sorted by ``x``) reaches
    ``threshold``, and whether it never does (then the highest load)."""
    fit = isotonic_regression(y, increasing=True).x
    above = np.flatnonzero(fit >= threshold)
    if not above.size:
        return float(x[-1]), True
    i = int(above[0])
    if i == 0:
        return float(x[0]), False
    x0, x1, y0, y1 = x[i - 1], x[i], fit[i - 1], fit[i]
    share = (threshold - y0) / (y1 - y0) if y1 > y0 else 1.0
    return float(x0 + share * (x1 - x0)), False


def learn_capacity(
    load: ArrayLike,
    latency: ArrayLike,
    *,
    threshold: float,
    level: float = 0.9,
    n_boot: int = 200,
    block: int = 60,
    seed: int = 0,
) -> CapacityModel:
    """The capacity per replica for a latency SLO of ``threshold`` (in the latency's
    units), from samples in time order; ``level`` is the interval's coverage."""
    x_all = np.asarray(load, dtype=np.float64).ravel()
    y_all = np.asarray(latency, dtype=np.float64).ravel()
    if x_all.shape != y_all.shape:
        raise ValidationError(
            f"expected as many latency samples as load samples, got {y_all.size} and {x_all.size}"
        )
    if not (np.isfinite(threshold) and threshold > 0):
        raise ValidationError(f"expected a latency threshold > 0, got {threshold:g}")
    if not 0 < level < 1:
        raise ValidationError(f"expected an interval level in (0, 1), got {level:g}")
    keep = np.isfinite(x_all) & np.isfinite(y_all) & (x_all > 0)
    x_t, y_t = x_all[keep], y_all[keep]
    if x_t.size < 10:
        raise ValidationError(
            f"expected at least 10 samples with load > 0 to learn a capacity from, got {x_t.size}",
            hint="give a longer history, or declare the capacity",
        )
    order = np.argsort(x_t, kind="stable")
    estimate, censored = _crossing(x_t[order], y_t[order], threshold)
    rng = np.random.default_rng(seed)
    n = x_t.size
    size = max(1, min(block, n))
    starts_n = -(-n // size)
    draws = np.empty(n_boot)
    for b in range(n_boot):
        starts = rng.integers(0, n - size + 1, starts_n)
        idx = (starts[:, None] + np.arange(size)[None, :]).ravel()[:n]
        xs, ys = x_t[idx], y_t[idx]
        o = np.argsort(xs, kind="stable")
        draws[b] = _crossing(xs[o], ys[o], threshold)[0]
    tail = (1 - level) / 2
    low, high = (float(v) for v in np.quantile(draws, [tail, 1 - tail]))
    low = min(low, estimate)
    notes = []
    if censored:
        notes.append(
            f"the latency never reached {threshold:g} in the history: the capacity is at "
            f"least the highest load seen ({estimate:.4g}), perhaps much more"
        )
    if estimate <= float(x_t.min()):
        notes.append(
            f"the latency is at {threshold:g} or more even at the lowest load seen "
            f"({float(x_t.min()):.4g}): check the threshold"
        )
    return CapacityModel(
        low, estimate, (low, high), "learned", threshold, level, int(n), censored, tuple(notes)
    )
