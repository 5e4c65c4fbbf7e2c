"""A faithful simulation of the Kubernetes Horizontal Pod Autoscaler (autoscaling/v2, its
default behaviour), and the PHPA's linear-regression model on top of it.

Kubernetes documentation, "Horizontal Pod Autoscaling", algorithm details; the replica
calculator and ``normalizeDesiredReplicasWithBehaviors`` of
``pkg/controller/podautoscaler``:

- the metric is the average demand per *ready* pod (pending pods are not ready; they
  take no traffic) against a target value per pod, ``target = utilisation x C``;
- ``ratio = metric / target``; within the tolerance (``|ratio - 1| <= 0.1``) the
  recommendation is the current replica count, else ``ceil(ratio x ready)``;
- when scaling up while pods are still starting, the starting pods count as using 0
  and the ratio is recomputed over every pod: no scale if that ratio is within the
  tolerance or crosses 1 (the pods already asked for are enough);
- stabilisation: the recommendation is the current count clamped between the minimum
  of the raw recommendations of the scale-up window (0 s) and the maximum of those of
  the scale-down window (300 s), the current one included;
- scale-up rate: the default policies, 4 pods or 100% per 15 s, the larger (``Max``);
  scale-down: 100% per 15 s, i.e. no limit; then ``[min_replicas, max_replicas]``.

The simulation steps a minute (``step_s``) at a time and evaluates every ``sync_s``
(default 60: once a minute, the demand being per minute; 15 evaluates four times on
the same minute's demand, all at the minute's start). An evaluation at minute ``t``
sees the demand of minute ``t - 1`` (the last complete one). Replica requests take
effect after ``startup`` minutes: the replicas serving minute ``t`` are those asked
for at ``t - startup`` (the rule every policy of the benchmark is scored by); the HPA
sees as ready ``min(those, its current count)`` (a ReplicaSet removes pending pods
first), the rest as starting.

PHPA (github.com/jthomperoo/predictive-horizontal-pod-autoscaler, its controller and
``algorithms/linear_regression``): every evaluation appends the HPA's raw calculated
count (tolerance applied, no stabilisation) to the model's replica history, keeps the
last ``history_size`` (its example: 6), fits ordinary least squares of replicas on
time and predicts ``ceil`` of it at ``now + look_ahead``; the decision is the maximum
of the calculated count and the prediction (its default ``decisionType: maximum``),
which then goes through the same stabilisation (300 s) and default scale-up limit
(``max(2 x current, 4)``, the same as the HPA's with one evaluation per 15 s).
``look_ahead`` here is the start-up delay.

    >>> import numpy as np
    >>> simulate(np.full(5, 10.0), capacity=1.0, utilisation=1.0, initial=10).tolist()
    [10, 10, 10, 10, 10]
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

TOLERANCE = 0.1
DOWN_WINDOW_S = 300
UP_WINDOW_S = 0
UP_PODS, UP_PERCENT, UP_PERIOD_S = 4, 100, 15

#: (replica history as (time s, replicas), now s) -> predicted replicas, or None
Predictor = Callable[[list[tuple[float, int]], float], int | None]


def calculate(demand: float, ready: int, starting: int, target: float, current: int) -> int:
    """The replica calculator for an average-value pods metric (``calcPlainMetricReplicas``)."""
    ratio = demand / ready / target
    if not (starting > 0 and ratio > 1.0):
        if abs(1.0 - ratio) <= TOLERANCE:
            return current
        return math.ceil(ratio * ready - 1e-9)
    every = ready + starting
    new_ratio = demand / every / target  # the starting pods use 0
    if abs(1.0 - new_ratio) <= TOLERANCE or new_ratio < 1.0:
        return current
    proposed = math.ceil(new_ratio * every - 1e-9)
    return current if proposed < current else proposed


@dataclass
class _Event:
    time: float
    change: int


def simulate(
    demand: np.ndarray,
    capacity: float,
    *,
    utilisation: float = 0.8,
    startup: int = 2,
    step_s: int = 60,
    sync_s: int = 60,
    min_replicas: int = 1,
    max_replicas: int = 10**6,
    initial: int | None = None,
    predictor: Predictor | None = None,
) -> np.ndarray:
    """The replicas asked for at each step (``demand`` per step, ``capacity`` the demand
    one replica holds). ``initial``: the count before the first step (default: what the
    first step's demand needs at the target)."""
    target = utilisation * capacity
    n = len(demand)
    if initial is None:
        initial = max(min_replicas, math.ceil(demand[0] / target)) if n else min_replicas
    asked = np.empty(n, dtype=np.int64)
    current = initial
    recommendations: list[tuple[float, int]] = []
    ups: list[_Event] = []
    downs: list[_Event] = []
    history: list[tuple[float, int]] = []
    for t in range(n):
        serving = int(asked[t - startup]) if t - startup >= 0 else initial
        seen = float(demand[t - 1]) if t >= 1 else float(demand[0])
        for k in range(max(1, step_s // sync_s)):
            now = float(t * step_s + k * sync_s)
            ready = max(1, min(serving, current))
            raw = calculate(seen, ready, max(0, current - ready), target, current)
            if predictor is not None:
                history.append((now, raw))
                predicted = predictor(history, now)
                raw = raw if predicted is None else max(raw, predicted)
            raw = min(max(raw, min_replicas), max_replicas)
            up_rec, down_rec = raw, raw
            for when, rec in recommendations:
                if when > now - UP_WINDOW_S:
                    up_rec = min(up_rec, rec)
                if when > now - DOWN_WINDOW_S:
                    down_rec = max(down_rec, rec)
            recommendations = [r for r in recommendations if r[0] > now - DOWN_WINDOW_S]
            recommendations.append((now, raw))
            desired = min(max(current, up_rec), down_rec)
            if desired > current:
                added = sum(e.change for e in ups if e.time > now - UP_PERIOD_S)
                deleted = sum(e.change for e in downs if e.time > now - UP_PERIOD_S)
                start = current - added + deleted
                limit = max(start + UP_PODS, math.ceil(start * (1 + UP_PERCENT / 100)))
                desired = min(desired, limit)
            desired = min(max(desired, min_replicas), max_replicas)
            if desired > current:
                ups.append(_Event(now, desired - current))
            elif desired < current:
                downs.append(_Event(now, current - desired))
            ups = [e for e in ups if e.time > now - UP_PERIOD_S]
            downs = [e for e in downs if e.time > now - UP_PERIOD_S]
            current = desired
        asked[t] = current
    return asked


def linear_predictor(history_size: int = 6, look_ahead_s: float = 120.0) -> Predictor:
    """The PHPA's linear model: OLS of the last ``history_size`` replica counts on time,
    ``ceil`` of its value ``look_ahead_s`` after now (None with fewer than 2 points).

    >>> p = linear_predictor(history_size=3, look_ahead_s=60)
    >>> p([(0.0, 2), (60.0, 4), (120.0, 6)], 120.0)
    8
    """

    def predict(history: list[tuple[float, int]], now: float) -> int | None:
        del history[: max(0, len(history) - history_size)]
        if len(history) < 2:
            return None
        x = np.array([now + look_ahead_s - when for when, _ in history])
        y = np.array([float(r) for _, r in history])
        slope, intercept = np.polyfit(x, y, 1)
        del slope
        return math.ceil(float(intercept) - 1e-9)

    return predict
