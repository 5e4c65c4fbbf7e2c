"""Monitoring: the models' accuracy as actuals arrive, drift since training, health
verdicts in the registry, retrain triggers and the rollout (shadow, canary, promote or
roll back) that acts on them. :class:`Monitor` is what ``modelphase monitor run`` runs.
"""

from modelphase.monitor.accuracy import (
    JoinCounts,
    accuracy,
    alert_rates,
    forecast_rows,
    join_actuals,
    score_rows,
    series_scales,
)
from modelphase.monitor.judge import Verdict, judge
from modelphase.monitor.loop import ACTED, DEGRADED, HEALTHY, ModelReport, Monitor, MonitorReport
from modelphase.monitor.metrics import MonitorMetrics
from modelphase.monitor.policy import Policy

__all__ = [
    "ACTED",
    "DEGRADED",
    "HEALTHY",
    "JoinCounts",
    "ModelReport",
    "Monitor",
    "MonitorMetrics",
    "MonitorReport",
    "Policy",
    "Verdict",
    "accuracy",
    "alert_rates",
    "forecast_rows",
    "join_actuals",
    "judge",
    "score_rows",
    "series_scales",
]
