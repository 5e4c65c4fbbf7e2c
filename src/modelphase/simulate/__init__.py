"""Realistic SRE telemetry with injected events and their exact ground truth.

:func:`simulate` produces, for each service, six series (request rate, p50 and p99
latency, error ratio, CPU cores, memory bytes) driven by one load model with daily and
weekly seasonality and a trend, plus seeded events: spikes, level shifts, drifts, latency
regressions after deploys (incidents), and traffic surges, missing scrapes and deploys
(not incidents). A :class:`RegimeChange` adds a change that lasts to the end of the
data (a new traffic mix and a latency regression never rolled back), recorded as events
of kind ``regime_change``: the new normal a monitoring loop must detect and retrain on.
Pure and reproducible: the same arguments give the same data.

>>> sim = simulate(services=2, days=1, seed=1)
>>> sim.panel.n_series, sim.panel.n_points // sim.panel.n_series
(12, 1440)
>>> sim.panel.ids[0]
'cpu_usage_cores{service="cart"}'
>>> sim.events[0].event_id
'e000'
>>> changed = simulate(services=2, days=1, seed=1, regime_change=RegimeChange())
>>> [e.service for e in changed.events if e.kind == "regime_change"]
['checkout', 'cart']
>>> first = 720  # the change starts at the middle of the grid
>>> a, b = changed.panel.y.reshape(12, -1), sim.panel.y.reshape(12, -1)
>>> bool((a[:, :first] == b[:, :first]).all()), bool((a[:, first:] != b[:, first:]).all())
(True, True)
"""

from modelphase.simulate._regime import RegimeChange
from modelphase.simulate._simulate import simulate
from modelphase.simulate._types import (
    EVENT_KINDS,
    REGIME_CHANGE,
    SERVICE_NAMES,
    Event,
    Simulation,
)

__all__ = [
    "EVENT_KINDS",
    "REGIME_CHANGE",
    "SERVICE_NAMES",
    "Event",
    "RegimeChange",
    "Simulation",
    "simulate",
]
