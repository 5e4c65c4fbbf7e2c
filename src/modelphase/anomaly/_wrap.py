"""Detectors that wrap another: its description as plain JSON, and a fresh copy."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from modelphase.anomaly.base import Detector

__all__ = ["Weighted", "describe", "fresh"]


def describe(detector: Detector | dict[str, Any] | None) -> dict[str, Any] | None:
    """A wrapped detector as plain JSON (``{"name", "params"}``) for ``get_params``."""
    if detector is None or isinstance(detector, dict):
        return detector
    return {"name": detector.name, "params": detector.get_params()}


def fresh(
    detector: Detector | dict[str, Any] | None,
    default: tuple[str, dict[str, Any]] = ("zscore", {"halflife": 1000.0}),
) -> Detector:
    """A fresh copy of a wrapped detector (``default``, by name and params, without one)."""
    from modelphase.anomaly.catalog import build_detector

    if detector is None:
        return build_detector(default[0], default[1])
    if isinstance(detector, dict):
        return build_detector(detector["name"], detector.get("params"))
    return type(detector)(**detector.get_params())


class Weighted(Detector):
    """Detectors over weighted members (``{"name", "params", "weight"}`` or detectors):
    every member scores and learns every point; :meth:`combine` folds their weighted
    scores (one row per member) into one."""

    def __init__(self, members: Sequence[Detector | dict[str, Any]] | None = None) -> None:
        self.members = list(members) if members is not None else None
        super().__init__()

    @staticmethod
    @abstractmethod
    def combine(scores: NDArray[np.float64]) -> NDArray[np.float64]:
        """One score per column of ``scores`` (members x points)."""

    def get_params(self) -> dict[str, Any]:
        out = []
        for m in self.members or []:
            d = describe(m)
            if isinstance(m, dict) and "weight" in m and d is not None:
                d = {**d, "weight": m["weight"]}
            out.append(d)
        return {"members": out if self.members is not None else None}

    def reset(self) -> Weighted:
        members = self.members or [{"name": "zscore", "params": {}}]
        self.detectors_ = [fresh(m) for m in members]
        self.weights_ = [
            float(m.get("weight", 1.0)) if isinstance(m, dict) else 1.0 for m in members
        ]
        return self

    def score_one(self, x: float, t: int | None = None) -> float:
        scores = [
            w * d.score_one(x, t) for d, w in zip(self.detectors_, self.weights_, strict=True)
        ]
        return float(self.combine(np.array(scores)[:, None])[0])

    def learn_one(self, x: float, t: int | None = None) -> None:
        for d in self.detectors_:
            d.learn_one(x, t)

    def score_many(
        self,
        values: Sequence[float] | NDArray[np.float64],
        times: Sequence[int] | NDArray[np.int64] | None = None,
    ) -> NDArray[np.float64]:
        """Each member scores the whole stretch (they learn every point, so they do not
        depend on each other), then :meth:`combine`."""
        parts = [
            w * d.score_many(values, times)
            for d, w in zip(self.detectors_, self.weights_, strict=True)
        ]
        return self.combine(np.vstack(parts))
