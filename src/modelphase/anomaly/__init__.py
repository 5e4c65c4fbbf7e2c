"""Streaming anomaly detection: detectors, deciders, alerts.

Detectors score one point at a time from what they learned before it
(:class:`~modelphase.anomaly.base.Detector`); :func:`score_stream` scores a series.
"""

from modelphase.anomaly.base import Detector, score_stream
from modelphase.anomaly.calibrated import Calibrated
from modelphase.anomaly.catalog import DEFAULT_DETECTOR, DETECTORS, build_detector
from modelphase.anomaly.deciders import (
    Decider,
    Decision,
    FixedThreshold,
    LikelihoodThreshold,
    Monitor,
    QuantileThreshold,
)
from modelphase.anomaly.flagship import Modelphase
from modelphase.anomaly.knn import NearestNeighbor
from modelphase.anomaly.likelihood import Likelihood
from modelphase.anomaly.seasonal import SeasonalProfile
from modelphase.anomaly.zscore import ZScore

__all__ = [
    "DEFAULT_DETECTOR",
    "DETECTORS",
    "Calibrated",
    "Decider",
    "Decision",
    "Detector",
    "FixedThreshold",
    "Likelihood",
    "LikelihoodThreshold",
    "Modelphase",
    "Monitor",
    "NearestNeighbor",
    "QuantileThreshold",
    "SeasonalProfile",
    "ZScore",
    "build_detector",
    "score_stream",
]
