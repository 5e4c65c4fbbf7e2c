"""Streaming anomaly detection: detectors, deciders, alerts.

Detectors score one point at a time from what they learned before it
(:class:`~modelphase.anomaly.base.Detector`); :func:`score_stream` scores a series.
Deciders flag scores; :class:`EpisodeTracker` merges a series' flags into episodes with
an :class:`Explanation`, and :func:`detect_alerts` groups them into one :class:`Alert`
per service and incident.
"""

from modelphase.anomaly._tail import TAILS, tail_probability
from modelphase.anomaly.alerts import (
    DECIDERS,
    DEFAULT_THRESHOLDS,
    FLAVOR,
    Alert,
    Alerter,
    default_decider,
    detect_alerts,
    group_episodes,
)
from modelphase.anomaly.base import Detector, score_stream
from modelphase.anomaly.calibrated import RELIABLE_HISTORY, Calibrated
from modelphase.anomaly.catalog import DEFAULT_DETECTOR, DETECTORS, build_detector
from modelphase.anomaly.context import ContextualNovelty
from modelphase.anomaly.deciders import (
    Decider,
    Decision,
    FixedThreshold,
    LikelihoodThreshold,
    Monitor,
    QuantileThreshold,
)
from modelphase.anomaly.episodes import Episode, EpisodeTracker
from modelphase.anomaly.explain import PATTERNS, Explanation, explain
from modelphase.anomaly.flagship import Modelphase
from modelphase.anomaly.knn import NearestNeighbor
from modelphase.anomaly.likelihood import Likelihood
from modelphase.anomaly.maxof import MaxOf
from modelphase.anomaly.seasonal import SeasonalProfile
from modelphase.anomaly.sumof import SumOf
from modelphase.anomaly.sustained import Sustained
from modelphase.anomaly.zscore import ZScore

__all__ = [
    "DECIDERS",
    "DEFAULT_DETECTOR",
    "DEFAULT_THRESHOLDS",
    "DETECTORS",
    "FLAVOR",
    "PATTERNS",
    "RELIABLE_HISTORY",
    "TAILS",
    "Alert",
    "Alerter",
    "Calibrated",
    "ContextualNovelty",
    "Decider",
    "Decision",
    "Detector",
    "Episode",
    "EpisodeTracker",
    "Explanation",
    "FixedThreshold",
    "Likelihood",
    "LikelihoodThreshold",
    "MaxOf",
    "Modelphase",
    "Monitor",
    "NearestNeighbor",
    "QuantileThreshold",
    "SeasonalProfile",
    "SumOf",
    "Sustained",
    "ZScore",
    "build_detector",
    "default_decider",
    "detect_alerts",
    "explain",
    "group_episodes",
    "score_stream",
    "tail_probability",
]
