"""Validation gates: thresholds on backtest metrics that a model must pass.

A gate is declared in the spec as ``{"name": ..., "metric": ..., and one of "max",
"min" or "between": [lo, hi]}``. The metric is looked up in the run's aggregate metrics
(``mase``, ``coverage_80``, ``mase_vs_baseline``, ``worst_series_vs_baseline``...).
Results have the shape the registry stores: ``{"name", "passed", "value",
"threshold"}``; a metric that is missing or NaN fails its gate.

>>> result = evaluate([{"name": "accuracy", "metric": "mase_vs_baseline", "max": 0.9}],
...                   {"mase_vs_baseline": 0.82})
>>> result[0]["passed"], result[0]["threshold"]
(True, '<= 0.9')
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from modelphase.exceptions import ValidationError

__all__ = ["check_gates", "evaluate"]

_BOUNDS = ("max", "min", "between")


def check_gates(gates: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Validate gate declarations; return them as plain dicts."""
    out = []
    names: set[str] = set()
    for n, gate in enumerate(gates, 1):
        if not isinstance(gate, Mapping):
            raise ValidationError(f"gate {n}: expected a mapping, got {gate!r}")
        metric = gate.get("metric")
        if not isinstance(metric, str) or not metric:
            raise ValidationError(f"gate {n}: expected a 'metric' name, got {metric!r}")
        bounds = [b for b in _BOUNDS if b in gate]
        if len(bounds) != 1:
            raise ValidationError(
                f"gate {n} ({metric}): expected exactly one of max, min or between, got "
                f"{bounds or 'none'}"
            )
        bound = gate[bounds[0]]
        if bounds[0] == "between":
            if (
                not isinstance(bound, Sequence)
                or len(bound) != 2
                or not all(_number(b) for b in bound)
                or bound[0] > bound[1]
            ):
                raise ValidationError(
                    f"gate {n} ({metric}): expected between: [low, high], got {bound!r}"
                )
        elif not _number(bound):
            raise ValidationError(f"gate {n} ({metric}): expected a number, got {bound!r}")
        name = str(gate.get("name") or metric)
        if name in names:
            raise ValidationError(f"gate {n}: the name {name!r} is used twice")
        names.add(name)
        out.append({**dict(gate), "name": name})
    return out


def evaluate(
    gates: Sequence[Mapping[str, Any]], metrics: Mapping[str, float]
) -> list[dict[str, Any]]:
    """Each gate's result against the run's aggregate metrics."""
    results = []
    for gate in check_gates(gates):
        raw = metrics.get(gate["metric"])
        value = float(raw) if raw is not None and _number(raw) else None
        if "max" in gate:
            threshold = f"<= {gate['max']:g}"
            passed = value is not None and value <= gate["max"]
        elif "min" in gate:
            threshold = f">= {gate['min']:g}"
            passed = value is not None and value >= gate["min"]
        else:
            lo, hi = gate["between"]
            threshold = f"in [{lo:g}, {hi:g}]"
            passed = value is not None and lo <= value <= hi
        results.append(
            {
                "name": gate["name"],
                "metric": gate["metric"],
                "passed": bool(passed),
                "value": value,
                "threshold": threshold,
            }
        )
    return results


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
