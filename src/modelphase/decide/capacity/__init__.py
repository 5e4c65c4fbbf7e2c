"""Capacity decisions: how many replicas to run so that the demand to come stays within
their capacity at a stated risk (``modelphase capacity``).

Pure: arrays and panels in, plans out; the CLI reads and writes the files.
"""

from modelphase.decide.capacity.clamp import (
    Clamp,
    Clamped,
    clamp,
    peak_replicas,
    reactive_replicas,
)
from modelphase.decide.capacity.keda import (
    CAPACITY_METRIC,
    FORECAST_METRIC,
    RECOMMENDED_METRIC,
    Autoscaling,
    horizontal_pod_autoscaler,
    manifests,
    scaled_object,
)
from modelphase.decide.capacity.model import CapacityModel, declared, learn_capacity
from modelphase.decide.capacity.plan import (
    CapacityPlan,
    SeriesPlan,
    breach_probability,
    forecast_demand,
    plan_capacity,
    plan_levels,
)
from modelphase.decide.capacity.replay import (
    DEFAULT_REFIT,
    DEFAULT_STABILISE,
    replay,
    replay_series,
)
from modelphase.decide.capacity.tradeoff import (
    LatencyQuantileModel,
    Prices,
    Tradeoff,
    tradeoff,
    tradeoff_json,
)
from modelphase.decide.capacity.warm import (
    DEFAULT_COST_RATIO,
    WarmPlan,
    invocation_probability,
    plan_function,
    warm_plans,
)

__all__ = [
    "CAPACITY_METRIC",
    "DEFAULT_COST_RATIO",
    "DEFAULT_REFIT",
    "DEFAULT_STABILISE",
    "FORECAST_METRIC",
    "RECOMMENDED_METRIC",
    "Autoscaling",
    "CapacityModel",
    "CapacityPlan",
    "Clamp",
    "Clamped",
    "LatencyQuantileModel",
    "Prices",
    "SeriesPlan",
    "Tradeoff",
    "WarmPlan",
    "breach_probability",
    "clamp",
    "declared",
    "forecast_demand",
    "horizontal_pod_autoscaler",
    "invocation_probability",
    "learn_capacity",
    "manifests",
    "peak_replicas",
    "plan_capacity",
    "plan_function",
    "plan_levels",
    "reactive_replicas",
    "replay",
    "replay_series",
    "scaled_object",
    "tradeoff",
    "tradeoff_json",
    "warm_plans",
]
