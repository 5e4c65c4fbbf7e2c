"""The sum of several detectors' scores: evidence that adds up.

:class:`MaxOf` lets the most alarmed member speak; :class:`SumOf` adds what every member
says, each multiplied by its weight (default 1). It suits a member that is not a
magnitude of its own but a modifier of one: the default detector adds a contextual
novelty in [0, 1] (:class:`~modelphase.anomaly.context.ContextualNovelty`) to the largest
of its magnitude scores, so that among points equally far from the normal a step the
stream never took before ranks above a familiar one. Members are given as in
:class:`MaxOf`; every member learns every point.

>>> d = SumOf([{"name": "zscore", "params": {"halflife": 50}},
...            {"name": "zscore", "params": {"halflife": 50}, "weight": 0.5}])
>>> s = d.score_many([10.0, 11.0, 9.0] * 30 + [40.0])
>>> from modelphase.anomaly.zscore import ZScore
>>> z = ZScore(halflife=50).score_many([10.0, 11.0, 9.0] * 30 + [40.0])
>>> bool(abs(s[-1] - 1.5 * z[-1]) < 1e-9)
True
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from modelphase.anomaly._wrap import Weighted

__all__ = ["SumOf"]


class SumOf(Weighted):
    """``sum(weight_i * score_i)`` over the member detectors."""

    name = "sumof"

    @staticmethod
    def combine(scores: NDArray[np.float64]) -> NDArray[np.float64]:
        out: NDArray[np.float64] = scores.sum(axis=0)
        return out
