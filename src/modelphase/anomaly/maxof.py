"""The largest of several detectors' scores: each member watches for its own kind of
anomaly, and a point is as anomalous as the most alarmed member says.

Members are given as ``{"name": ..., "params": ..., "weight": ...}`` (plain JSON, so the
combination is rebuilt from its parameters) or as detectors; each member's score is
multiplied by its weight (default 1) before the maximum. Every member learns every point.

>>> d = MaxOf([{"name": "zscore", "params": {"halflife": 50}},
...            {"name": "seasonal", "params": {}, "weight": 0.5}])
>>> scores = d.score_many([10.0, 11.0, 9.0] * 30 + [40.0])
>>> bool(scores[-1] > 10 * scores[-2])
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from modelphase.anomaly._wrap import describe, fresh
from modelphase.anomaly.base import Detector

__all__ = ["MaxOf"]


class MaxOf(Detector):
    """``max(weight_i * score_i)`` over the member detectors."""

    name = "maxof"

    def __init__(self, members: Sequence[Detector | dict[str, Any]] | None = None) -> None:
        self.members = list(members) if members is not None else None
        super().__init__()

    def get_params(self) -> dict[str, Any]:
        members = self.members or []
        out = []
        for m in members:
            d = describe(m)
            if isinstance(m, dict) and "weight" in m and d is not None:
                d = {**d, "weight": m["weight"]}
            out.append(d)
        return {"members": out if self.members is not None else None}

    def reset(self) -> MaxOf:
        members = self.members or [{"name": "zscore", "params": {}}]
        self.detectors_ = [fresh(m) for m in members]
        self.weights_ = [
            float(m.get("weight", 1.0)) if isinstance(m, dict) else 1.0 for m in members
        ]
        return self

    def score_one(self, x: float, t: int | None = None) -> float:
        return max(
            w * d.score_one(x, t) for d, w in zip(self.detectors_, self.weights_, strict=True)
        )

    def learn_one(self, x: float, t: int | None = None) -> None:
        for d in self.detectors_:
            d.learn_one(x, t)

    def score_many(
        self,
        values: Sequence[float] | NDArray[np.float64],
        times: Sequence[int] | NDArray[np.int64] | None = None,
    ) -> NDArray[np.float64]:
        """Each member scores the whole stretch (they learn every point, so they do not
        depend on each other), then the weighted maximum."""
        parts = [
            w * d.score_many(values, times)
            for d, w in zip(self.detectors_, self.weights_, strict=True)
        ]
        return np.max(np.vstack(parts), axis=0) if parts else np.zeros(len(values))
