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

import numpy as np
from numpy.typing import NDArray

from modelphase.anomaly._wrap import Weighted

__all__ = ["MaxOf"]


class MaxOf(Weighted):
    """``max(weight_i * score_i)`` over the member detectors."""

    name = "maxof"

    @staticmethod
    def combine(scores: NDArray[np.float64]) -> NDArray[np.float64]:
        out: NDArray[np.float64] = scores.max(axis=0)
        return out
