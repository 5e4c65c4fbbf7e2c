"""The simulator's public records: :class:`Event` and :class:`Simulation`."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from modelphase.frame import Panel, format_time

__all__ = [
    "EVENT_KINDS",
    "INCIDENT_KINDS",
    "REGIME_CHANGE",
    "SERVICE_NAMES",
    "Event",
    "Simulation",
]

SERVICE_NAMES: tuple[str, ...] = (
    "checkout",
    "cart",
    "search",
    "auth",
    "payments",
    "catalog",
    "inventory",
    "shipping",
    "frontend",
    "recommendations",
    "notifications",
    "gateway",
)
#: The kinds of the random events (``events=True``).
EVENT_KINDS: tuple[str, ...] = (
    "spike",
    "level_shift",
    "drift",
    "latency_regression",
    "traffic_surge",
    "missing_scrapes",
    "deploy",
)
#: The kind of the events that record a :class:`~modelphase.simulate.RegimeChange`.
REGIME_CHANGE = "regime_change"
#: The kinds that are incidents: what a detector should alert on.
INCIDENT_KINDS: frozenset[str] = frozenset({"spike", "level_shift", "drift", "latency_regression"})


@dataclass(frozen=True)
class Event:
    """One injected event and its ground truth.

    ``unique_ids`` are the series whose values the event changes, and only from ``start``
    to ``end`` (both inclusive, on the grid, nanoseconds since the epoch). ``magnitude``
    depends on ``kind``:

    - ``spike``: the multiplier of the series' values (``8.0`` is 8 times; an error ratio
      stays clipped to 1).
    - ``level_shift``: the relative change from start to end (``0.5`` is +50%).
    - ``drift``: the relative change reached at ``end``, growing linearly from the start
      (``0.6`` is +60% on the last point); the series is back to normal after ``end``.
    - ``latency_regression``: the relative rise of p99 latency (``0.8`` is +80%); p50
      rises by half of it and CPU by a fifth.
    - ``traffic_surge``: the multiplier of the request rate (``2.0`` is twice the load);
      latency, errors and CPU respond through the load model.
    - ``missing_scrapes``: the number of missing points (every series of the service is
      NaN in the window).
    - ``deploy``: ``0.0``; a deploy changes no value by itself (``start == end``).
    - ``regime_change`` (:data:`REGIME_CHANGE`, only from a
      :class:`~modelphase.simulate.RegimeChange`): the relative change of the request
      rate's level (``0.3`` is +30%); ``end`` is the grid's last point, and every listed
      series differs from the simulation without the change at every point from
      ``start`` on. Not an incident: what follows is the new normal, to retrain on. The
      description gives the peak shift and latency factor.
    """

    event_id: str
    kind: str
    service: str
    unique_ids: tuple[str, ...]
    start: int
    end: int
    magnitude: float
    is_incident: bool
    description: str

    def to_dict(self) -> dict[str, object]:
        """A JSON-able dict; times as RFC 3339 UTC strings."""
        return {
            "event_id": self.event_id,
            "kind": self.kind,
            "service": self.service,
            "unique_ids": list(self.unique_ids),
            "start": format_time(self.start),
            "end": format_time(self.end),
            "magnitude": float(self.magnitude),
            "is_incident": bool(self.is_incident),
            "description": self.description,
        }


_EVENT_COLUMNS = [f.name for f in fields(Event)]


@dataclass(frozen=True)
class Simulation:
    """Simulated telemetry on a regular grid and the events injected into it.

    ``panel`` has ``step`` set, sorted ids, every series spanning the whole range, and
    NaN exactly at the points of the ``missing_scrapes`` events. ``events`` are ordered
    by start (``event_id`` ``e000``, ``e001``, ...); a ``regime_change`` event sorts
    after the other events of its service that start at the same point.
    """

    panel: Panel
    events: tuple[Event, ...]

    def events_frame(self) -> pd.DataFrame:
        """One row per event; ``start``/``end`` tz-aware UTC, ``unique_ids`` joined by ``;``."""
        starts = np.array([e.start for e in self.events], dtype=np.int64)
        ends = np.array([e.end for e in self.events], dtype=np.int64)
        return pd.DataFrame(
            {
                "event_id": pd.Series([e.event_id for e in self.events], dtype=object),
                "kind": pd.Series([e.kind for e in self.events], dtype=object),
                "service": pd.Series([e.service for e in self.events], dtype=object),
                "unique_ids": pd.Series(
                    [";".join(e.unique_ids) for e in self.events], dtype=object
                ),
                "start": _utc(starts),
                "end": _utc(ends),
                "magnitude": np.array([e.magnitude for e in self.events], dtype=np.float64),
                "is_incident": np.array([e.is_incident for e in self.events], dtype=bool),
                "description": pd.Series([e.description for e in self.events], dtype=object),
            },
            columns=_EVENT_COLUMNS,
        )

    def truth(self) -> pd.DataFrame:
        """Point labels, one row per point of the panel in the panel's order.

        Columns ``unique_id`` (categorical, as :meth:`Panel.to_long`), ``ds`` (UTC),
        ``is_anomaly`` (True inside the window of an incident event, on the series it
        changes) and ``event_id`` (that event's id, else ``""``).
        """
        panel = self.panel
        is_anomaly = np.zeros(panel.n_points, dtype=bool)
        event_id = np.full(panel.n_points, "", dtype=object)
        position = {uid: i for i, uid in enumerate(panel.ids)}
        step = panel.step or 1
        for event in self.events:
            if not event.is_incident:
                continue
            for uid in event.unique_ids:
                i = position[uid]
                lo, hi = int(panel.indptr[i]), int(panel.indptr[i + 1])
                if hi == lo:
                    continue
                first = int(panel.ds[lo])
                a = lo + max((event.start - first) // step, 0)
                b = min(lo + (event.end - first) // step + 1, hi)
                is_anomaly[a:b] = True
                event_id[a:b] = event.event_id
        codes = panel.series_index()
        uid_col = pd.Categorical.from_codes(codes, categories=pd.Index(panel.ids, dtype=object))
        return pd.DataFrame(
            {
                "unique_id": uid_col,
                "ds": _utc(panel.ds),
                "is_anomaly": is_anomaly,
                "event_id": pd.Series(event_id, dtype=object, copy=False),
            },
            copy=False,
        )


def _utc(ns: NDArray[np.int64]) -> pd.Series:
    """Nanoseconds since the epoch as a tz-aware UTC series (without a slow conversion)."""
    return pd.Series(ns.view("datetime64[ns]"), copy=False).dt.tz_localize("UTC")
