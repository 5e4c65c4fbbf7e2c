"""The default detector (``modelphase``): calibrated level and time-of-day scores with a
cool-down.

Each value is scored three ways, and the largest score counts (:class:`MaxOf`): by how
many deviations it lies from the stream's exponentially weighted mean (:class:`ZScore`,
half-life 10,000 points: about five weeks of 5-minute data, so that the normal is the
stream's long-run behaviour); against the same time of day on earlier days
(:class:`SeasonalProfile`, weighted by how much of the stream's spread its daily rhythm
explains, so that it speaks only for streams that have one); and by how far the shape
of its last four points is from every shape of the last 500 (:class:`NearestNeighbor`,
at a twentieth of its weight: it speaks only for shapes far outside the usual). That
raw score is
calibrated into how rare it is among the stream's last 20,000 raw scores
(:class:`Calibrated`, ``-log10`` of the tail probability), and a score is reported only
when it rises above the last one decayed over 2,000 points, so that an incident reads as
one alert.

On NAB's development subset this is the measured baseline of the project
(BENCHMARKS.md); richer detectors join it as they beat it there.

>>> d = Modelphase()
>>> d.get_params()["cooldown"], d.get_params()["detector"]["name"]
(2000, 'maxof')
"""

from __future__ import annotations

from typing import Any

from modelphase.anomaly.base import Detector
from modelphase.anomaly.calibrated import Calibrated

__all__ = ["DEFAULT_MEMBERS", "Modelphase"]

#: the members of the default raw score (see the module's docstring)
DEFAULT_MEMBERS: list[dict[str, Any]] = [
    {"name": "zscore", "params": {"halflife": 10_000.0, "min_periods": 10}},
    {"name": "seasonal", "params": {"floor": 0.3, "strength": 2.0}},
    {"name": "knn", "params": {"history": 500}, "weight": 0.05},
]


class Modelphase(Calibrated):
    """The default detector: :class:`Calibrated` with the project's defaults."""

    name = "modelphase"

    def __init__(
        self,
        detector: Detector | dict[str, Any] | None = None,
        window: int = 20_000,
        warmup: int = 200,
        cooldown: int = 2000,
    ) -> None:
        if detector is None:
            detector = {"name": "maxof", "params": {"members": DEFAULT_MEMBERS}}
        super().__init__(detector, window, warmup, cooldown)
