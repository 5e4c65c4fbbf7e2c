"""Realistic SRE telemetry with injected events and their exact ground truth.

:func:`simulate` produces, for each service, six series (request rate, p50 and p99
latency, error ratio, CPU cores, memory bytes) driven by one load model with daily and
weekly seasonality and a trend, plus seeded events: spikes, level shifts, drifts, latency
regressions after deploys (incidents), and traffic surges, missing scrapes and deploys
(not incidents). Pure and reproducible: the same arguments give the same data.

>>> sim = simulate(services=2, days=1, seed=1)
>>> sim.panel.n_series, sim.panel.n_points // sim.panel.n_series
(12, 1440)
>>> sim.panel.ids[0]
'cpu_usage_cores{service="cart"}'
>>> sim.events[0].event_id
'e000'
"""

from modelphase.simulate._simulate import simulate
from modelphase.simulate._types import EVENT_KINDS, SERVICE_NAMES, Event, Simulation

__all__ = ["EVENT_KINDS", "SERVICE_NAMES", "Event", "Simulation", "simulate"]
