"""Capacity decisions: how many replicas to run so that the demand to come stays within
their capacity at a stated risk (``modelphase capacity``).

Pure: arrays and panels in, plans out; the CLI reads and writes the files.
"""

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

__all__ = [
    "DEFAULT_REFIT",
    "DEFAULT_STABILISE",
    "CapacityModel",
    "CapacityPlan",
    "SeriesPlan",
    "breach_probability",
    "forecast_demand",
    "plan_capacity",
    "plan_levels",
    "declared",
    "learn_capacity",
    "replay",
    "replay_series",
]
