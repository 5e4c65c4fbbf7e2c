"""Scores of an autoscaling replay: the SPEC RG elasticity metrics, under-provisioned
minutes, idle and total replica-minutes.

Supply and demand in resource units (replicas): the supply ``s_t`` serving minute ``t``
is what was asked for at ``t - startup``; the demand ``d_t = ceil(D_t / C)``, the
fewest replicas that hold the minute's demand ``D_t`` (one replica holds ``C``). Over
the ``T`` scored minutes (``dt`` = 1 minute):

- SPEC RG Cloud, "Ready for Rain? A View from SPEC Research on the Future of Cloud
  Metrics" (Herbst et al., SPEC-RG-2016-01, sec. on elasticity):
  ``accuracy_U = sum((d_t - s_t)^+) / T`` and ``accuracy_O = sum((s_t - d_t)^+) / T``
  (replicas missing / in excess, on average), ``timeshare_U = sum(sgn(d_t - s_t)^+) / T``
  and ``timeshare_O = sum(sgn(s_t - d_t)^+) / T`` (shares of the time under / over);
- the same accuracies normalised by the demand, as Herbst et al. (ACM TOMPECS 2018)
  and Bauer et al.'s Chameleon (IEEE TPDS 2019) report them:
  ``theta_U = sum((d_t - s_t)^+ / max(d_t, eps)) / T`` (and ``theta_O``), with
  ``eps`` = 1 replica;
- under-provisioned minutes: ``D_t > s_t x C`` (the same minutes as ``timeshare_U``);
- idle replica-minutes: ``sum((s_t - D_t / C)^+)``, capacity asked for beyond the demand,
  fractional; replica-minutes: ``sum(s_t)``.

    >>> import numpy as np
    >>> m = score(np.array([0.5, 2.5, 1.0]), np.array([1, 2, 3]), capacity=1.0)
    >>> m["under_minutes"], m["replica_minutes"], round(m["idle_replica_minutes"], 2)
    (1, 6, 2.5)
"""

from __future__ import annotations

from typing import Any

import numpy as np

EPS = 1.0


def supply(asked: np.ndarray, startup: int) -> np.ndarray:
    """The replicas serving each step: those asked for ``startup`` steps before (the
    first ``startup`` steps have none asked for and are NaN)."""
    out = np.full(len(asked), np.nan)
    out[startup:] = np.asarray(asked, dtype=float)[: len(asked) - startup]
    return out


def score(demand: np.ndarray, serving: np.ndarray, capacity: float) -> dict[str, Any]:
    """Scores of ``serving`` replicas against ``demand`` (same steps, no NaN)."""
    demand = np.asarray(demand, dtype=float)
    s = np.asarray(serving, dtype=float)
    if demand.shape != s.shape or np.isnan(demand).any() or np.isnan(s).any():
        raise ValueError("demand and serving replicas need the same steps and no NaN")
    need = np.ceil(demand / capacity - 1e-9)
    n = len(demand)
    under = np.clip(need - s, 0, None)
    over = np.clip(s - need, 0, None)
    return {
        "minutes": n,
        "under_minutes": int((demand > s * capacity * (1 + 1e-12)).sum()),
        "idle_replica_minutes": float(np.clip(s - demand / capacity, 0, None).sum()),
        "replica_minutes": round(float(s.sum())),
        "accuracy_U": float(under.sum() / n),
        "accuracy_O": float(over.sum() / n),
        "theta_U": float((under / np.maximum(need, EPS)).sum() / n),
        "theta_O": float((over / np.maximum(need, EPS)).sum() / n),
        "timeshare_U": float((need > s).sum() / n),
        "timeshare_O": float((s > need).sum() / n),
    }
