"""The default detector (``modelphase``): calibrated magnitude, persistence and
novelty scores with a cool-down.

Each value is scored four ways, and the largest score counts (:class:`MaxOf`): by how
many deviations it lies from the stream's exponentially weighted mean (:class:`ZScore`,
half-life 10,000 points: about five weeks of 5-minute data, so that the normal is the
stream's long-run behaviour); against the same time of day on earlier days
(:class:`SeasonalProfile`, weighted by how much of the stream's spread its daily rhythm
explains, so that it speaks only for streams that have one); by how far the shape of its
last four points is from every shape of the last 500 (:class:`NearestNeighbor`, at a
twentieth of its weight: it speaks only for shapes far outside the usual); and by how far
the least deviant of the last four hours of points still sits on the same side of
normal (:class:`Sustained`, at 1.5 times its weight: a slow sag that no single point
gives away). To that maximum is added the contextual novelty of the point
(:class:`ContextualNovelty`, 0 to 1: the share of its recent contexts after which the
stream never took this step), so that among points equally far from the normal, a
step the stream never took before ranks above a familiar one (:class:`SumOf`). That
raw score is calibrated into how rare it is among the stream's last 20,000 raw scores
(:class:`Calibrated`, ``-log10`` of the tail probability); past the largest raw score
seen, once the history spans a day, the probability comes from a generalised Pareto
tail fitted to the top 2% (``tail="pareto"``), so that a stream with 500 points of
history can still score an 18-sd outage past 3 (the empirical ceiling is
``log10(n + 1)``). A score is reported only
when it rises above the last one decayed over 2,000 points, so that an incident reads as
one alert, and not when the stream had a raw score at least three quarters as high
within half an hour of the same time of day on one of the last three days: a job that
spikes at 02:00 every night alerts once, not every night.

Each part earned its place on NAB's development subset, measured over the whole corpus
with one parameter set, and each was checked again leaving one NAB category out (the
parameters and threshold chosen on the other three; ``benchmarks/_gen_anomaly.py``):
dropping any member or rule lowers the left-out scores, and the fitted tail leaves them
unchanged (it only lifts scores past the empirical ceiling). BENCHMARKS.md has the
numbers.

>>> d = Modelphase()
>>> d.get_params()["cooldown"], d.get_params()["detector"]["name"], d.get_params()["tail"]
(2000, 'sumof', 'pareto')
"""

from __future__ import annotations

from typing import Any

from modelphase.anomaly.base import Detector
from modelphase.anomaly.calibrated import Calibrated

__all__ = ["DEFAULT_DETECTOR_PARAMS", "DEFAULT_MEMBERS", "Modelphase"]

#: the magnitude scores, of which the largest counts
DEFAULT_MEMBERS: list[dict[str, Any]] = [
    {"name": "zscore", "params": {"halflife": 10_000.0, "min_periods": 10}},
    {"name": "seasonal", "params": {"floor": 0.3, "strength": 2.0}},
    {"name": "knn", "params": {"history": 500}, "weight": 0.05},
    {"name": "sustained", "params": {"hours": 4.0}, "weight": 1.5},
]
#: the raw score the default calibrates: that largest magnitude plus the novelty
DEFAULT_DETECTOR_PARAMS: dict[str, Any] = {
    "name": "sumof",
    "params": {
        "members": [
            {"name": "maxof", "params": {"members": DEFAULT_MEMBERS}},
            {"name": "context", "params": {}, "weight": 1.0},
        ]
    },
}


class Modelphase(Calibrated):
    """The default detector: :class:`Calibrated` with the project's defaults."""

    name = "modelphase"

    def __init__(
        self,
        detector: Detector | dict[str, Any] | None = None,
        window: int = 20_000,
        warmup: int = 200,
        cooldown: int = 2000,
        recur_days: int = 3,
        recur_ratio: float = 0.75,
        recur_minutes: float = 15.0,
        recur_band: int = 2,
        tail: str = "pareto",
        tail_share: float = 0.02,
        tail_days: float = 1.0,
        cooldown_days: float = 0.0,
    ) -> None:
        if detector is None:
            detector = DEFAULT_DETECTOR_PARAMS
        super().__init__(
            detector,
            window,
            warmup,
            cooldown,
            recur_days,
            recur_ratio,
            recur_minutes,
            recur_band,
            tail,
            tail_share,
            tail_days,
            cooldown_days,
        )
