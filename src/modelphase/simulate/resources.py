"""Telemetry of a service under different resources, with its true latency model: for
cost/performance trade-offs (``modelphase capacity tradeoff``) and their tests.

The truth is a queue per replica. A replica of instance type ``k`` with ``cpu`` cores
is an M/M/c queue: ``c = max(1, floor(cpu))`` servers sharing ``cpu`` cores, each core
serving ``core_rate[k]`` requests/s, slowed by memory pressure when the replica has
less than ``memory_need`` GiB (service time x ``1 + memory_penalty * (need / memory -
1)``). Load is balanced evenly over the replicas. The recorded latency of a window is
the ``quantile`` (0.99) of the response time (``base_seconds`` plus the M/M/c sojourn,
whose distribution is closed-form: Erlang C), driven by the window's effective load,
which is the recorded load times a lognormal burst factor (``burst``: requests are not
spread evenly inside a window), times a lognormal measurement noise (``noise``: a
percentile estimated from a finite sample). At or beyond saturation the latency is the
``timeout``. Monotone by construction: more load per replica is never faster, more cores
or memory never slower.

:meth:`ResourceModel.exceedance` is the exact ``p(window latency > threshold)`` at a
load and configuration (Gauss-Hermite quadrature over the burst factor, the noise in
closed form): the ground truth a trade-off's stated risk is checked against.

:func:`resource_telemetry` writes one row per window and deployment (a region or a
cluster running one configuration): the deployment's load (a daily cycle, a share of the
service's), the replicas an autoscaler gave it (a utilisation target that changes from
day to day, acting on the previous window's load), its configuration and the window's
latency. Rows come in time order. Pure: the same arguments give the same frame.

>>> model = ResourceModel(core_rate={"a": 40.0, "b": 60.0})
>>> round(float(model.latency(100, 2, 2, 4, "a")), 3)  # 50 req/s on replicas that hold 80
0.192
>>> bool(model.latency(100, 2, 2, 4, "b") < model.latency(100, 2, 2, 4, "a"))
True
>>> frame = resource_telemetry(model, [(2, 4, "a"), (4, 8, "b")], days=1, seed=0)
>>> list(frame.columns)
['ds', 'deployment', 'rps', 'replicas', 'cpu', 'memory', 'instance_type', 'p99']
>>> len(frame), frame["ds"].is_monotonic_increasing
(576, True)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy.special import ndtr

from modelphase.exceptions import ValidationError
from modelphase.frame import NS_PER_SECOND

__all__ = ["Configuration", "ResourceModel", "resource_telemetry"]

F64 = NDArray[np.float64]
#: (cpu cores per replica, memory GiB per replica, instance type) of one deployment
Configuration = tuple[float, float, str]

#: 2026-01-05T00:00:00Z, a Monday (the simulator's default start)
_START = 1_767_571_200 * NS_PER_SECOND
_DAY = 86_400 * NS_PER_SECOND
_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(48)
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()
#: the most rows one call may produce
MAX_ROWS = 5_000_000


@dataclass(frozen=True)
class ResourceModel:
    """The true latency of a service as a function of load and resources (see the
    module docstring); ``core_rate`` maps each instance type to the requests/s one of
    its cores serves."""

    core_rate: Mapping[str, float] = field(default_factory=lambda: {"a": 40.0, "b": 60.0})
    base_seconds: float = 0.02
    memory_need: float = 4.0
    memory_penalty: float = 0.5
    quantile: float = 0.99
    burst: float = 0.1
    noise: float = 0.08
    timeout: float = 10.0

    def _rate(self, instance: ArrayLike) -> F64:
        names = np.asarray(instance, dtype=object)
        unknown = sorted({str(n) for n in np.unique(names)} - set(self.core_rate))
        if unknown:
            raise ValidationError(
                f"expected instance types among {sorted(self.core_rate)}, got {unknown}"
            )
        rates = [float(self.core_rate[str(n)]) for n in names.ravel()]
        return np.asarray(rates, dtype=np.float64).reshape(names.shape)

    def capacity(self, cpu: ArrayLike, memory: ArrayLike, instance: ArrayLike) -> F64:
        """Requests/s one replica serves at saturation."""
        c = np.asarray(cpu, dtype=np.float64)
        m = np.asarray(memory, dtype=np.float64)
        slow = 1.0 + self.memory_penalty * np.maximum(0.0, self.memory_need / m - 1.0)
        return np.asarray(c * self._rate(instance) / slow, dtype=np.float64)

    def latency(
        self,
        load: ArrayLike,
        replicas: ArrayLike,
        cpu: ArrayLike,
        memory: ArrayLike,
        instance: ArrayLike,
    ) -> F64:
        """The noise-free ``quantile`` of the response time (seconds) at ``load``."""
        lam = np.asarray(load, dtype=np.float64) / np.asarray(replicas, dtype=np.float64)
        c_cpu = np.asarray(cpu, dtype=np.float64)
        servers = np.maximum(1.0, np.floor(c_cpu))
        mu = self.capacity(cpu, memory, instance) / servers  # one server's rate
        lam, servers, mu = np.broadcast_arrays(lam, servers, mu)
        return _sojourn_quantile(lam, servers, mu, self.quantile, self.timeout) + self.base_seconds

    def exceedance(
        self,
        threshold: ArrayLike,
        load: ArrayLike,
        replicas: ArrayLike,
        cpu: ArrayLike,
        memory: ArrayLike,
        instance: ArrayLike,
    ) -> F64:
        """``p(a window's recorded latency > threshold)`` at ``load`` (exact up to the
        quadrature over the burst factor); every argument broadcasts."""
        limit = np.asarray(threshold, dtype=np.float64)
        out: F64 = np.zeros(())
        for z, w in zip(_NODES, _WEIGHTS, strict=True):
            burst = np.exp(self.burst * z - self.burst**2 / 2)
            lat = self.latency(np.asarray(load) * burst, replicas, cpu, memory, instance)
            out = out + w * ndtr(np.log(lat / limit) / self.noise - self.noise / 2)
        return out

    def sample(
        self,
        load: ArrayLike,
        replicas: ArrayLike,
        cpu: ArrayLike,
        memory: ArrayLike,
        instance: ArrayLike,
        rng: np.random.Generator,
    ) -> F64:
        """Recorded window latencies: the burst and the measurement noise drawn."""
        x = np.asarray(load, dtype=np.float64)
        burst = np.exp(rng.normal(0.0, self.burst, x.shape) - self.burst**2 / 2)
        noise = np.exp(rng.normal(0.0, self.noise, x.shape) - self.noise**2 / 2)
        return self.latency(x * burst, replicas, cpu, memory, instance) * noise


def _erlang_c(servers: F64, a: F64) -> F64:
    """The chance that an arrival waits in an M/M/c queue with offered load ``a``
    (Erlangs), ``a < servers``, by the stable recursion on the Erlang B formula."""
    b = np.ones_like(a)
    top = int(servers.max()) if servers.size else 0
    for k in range(1, top + 1):
        step = a * b / (k + a * b)
        b = np.where(k <= servers, step, b)
    rho = a / servers
    return np.asarray(b / (1.0 - rho + rho * b), dtype=np.float64)


def _sojourn_quantile(lam: F64, servers: F64, mu: F64, q: float, timeout: float) -> F64:
    """The ``q`` quantile of the M/M/c sojourn time (wait + service), by bisection on
    its closed-form survival function; ``timeout`` at or beyond saturation."""
    stable = lam < servers * mu * (1 - 1e-9)
    lam_s = np.where(stable, lam, 0.0)
    wait = _erlang_c(servers, lam_s / mu)
    theta = servers * mu - lam_s  # the rate of a wait, given one
    tail = 1.0 - q

    def survival(t: F64) -> F64:
        both = np.where(
            np.abs(theta - mu) > 1e-9 * mu,
            (theta * np.exp(-mu * t) - mu * np.exp(-theta * t)) / (theta - mu + 1e-300),
            (1 + mu * t) * np.exp(-mu * t),
        )
        return np.asarray((1 - wait) * np.exp(-mu * t) + wait * both, dtype=np.float64)

    low = np.zeros_like(lam_s)
    high = np.full_like(lam_s, timeout)
    for _ in range(60):
        mid = (low + high) / 2
        above = survival(mid) > tail
        low = np.where(above, mid, low)
        high = np.where(above, high, mid)
    return np.where(stable, np.minimum((low + high) / 2, timeout), timeout)


def resource_telemetry(
    model: ResourceModel,
    configurations: Sequence[Configuration],
    *,
    days: float = 14.0,
    step: int = 300 * NS_PER_SECOND,
    peak_replicas: float = 12.0,
    utilisation: tuple[float, float] = (0.3, 0.95),
    max_replicas: int = 100,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per window and deployment: ``ds`` (UTC), ``deployment``, ``rps``,
    ``replicas``, ``cpu``, ``memory``, ``instance_type``, ``p99`` (the model's
    ``quantile``, seconds). Each deployment runs one configuration; its daily peak load
    is about ``peak_replicas`` replicas' worth of its capacity, and its autoscaler
    targets a utilisation drawn each day from ``utilisation``."""
    if not configurations:
        raise ValidationError("expected at least one configuration, got none")
    if not (0 < days <= 366 and step > 0):
        raise ValidationError(f"expected 0 < days <= 366 and a step > 0, got {days} and {step}")
    n = int(days * _DAY // step)
    if n * len(configurations) > MAX_ROWS:
        raise ValidationError(
            f"expected at most {MAX_ROWS:,} rows, got {n * len(configurations):,}",
            hint="simulate fewer days, a longer step or fewer configurations",
        )
    low, high = utilisation
    if not 0 < low <= high < 1.5:
        raise ValidationError(f"expected 0 < low <= high < 1.5 utilisation, got {utilisation}")
    rng = np.random.default_rng(seed)
    ds = _START + np.arange(n, dtype=np.int64) * step
    hours = (ds % _DAY) / (3600 * NS_PER_SECOND)
    day = ((ds - _START) // _DAY).astype(np.int64)
    daily = 0.55 + 0.45 * np.sin(2 * np.pi * (hours - 9) / 24)
    frames = []
    for d, (cpu, memory, instance) in enumerate(configurations):
        cap = float(model.capacity(cpu, memory, instance))
        slow = np.exp(np.convolve(rng.normal(0, 0.05, n), np.ones(12) / np.sqrt(12), "same"))
        load = peak_replicas * cap * daily * slow * rng.uniform(0.6, 1.4)
        target = rng.uniform(low, high, int(day.max()) + 1)[day]
        seen = np.concatenate([load[:1], load[:-1]])  # the autoscaler acts on the last window
        replicas = np.clip(np.ceil(seen / (target * cap)), 1, max_replicas)
        latency = model.sample(load, replicas, cpu, memory, np.full(n, instance, object), rng)
        frames.append(
            pd.DataFrame(
                {
                    "ds": pd.to_datetime(ds, utc=True),
                    "deployment": f"d{d}",
                    "rps": load,
                    "replicas": replicas.astype(np.int64),
                    "cpu": float(cpu),
                    "memory": float(memory),
                    "instance_type": instance,
                    "p99": latency,
                }
            )
        )
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values(["ds", "deployment"], kind="stable", ignore_index=True)
