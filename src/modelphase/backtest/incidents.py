"""Alerts against known incidents: precision, recall, detection delay, false alerts.

The simulator knows when and where it injected each incident; this scores any alerts
(or per-series episodes) against such ground truth, on plain time windows:

- an alert **matches** an incident when both name the same service (``match="service"``;
  with ``match="series"`` they must share a series) and the alert's ``[start, end]``
  overlaps the incident's ``[start - tolerance, end + tolerance]``;
- **precision**: the share of alerts that match an incident (NaN without alerts);
- **recall**: the share of incidents matched by an alert (NaN without incidents);
- **delay**: for each detected incident, the earliest start of its matching alerts
  minus the incident's start, at least 0 (an alert already open detects it at once);
  reported as the median and the 90th percentile, in minutes;
- **false alerts per service-day**: unmatched alerts divided by ``service_days`` (the
  number of services times the days of data; :func:`service_days` counts a panel's).

Anything with ``service``, ``start``, ``end`` (ns) and ``unique_ids`` attributes is a
window: the simulator's events (those whose ``is_incident`` is False are left out),
the alerts and episodes of :mod:`modelphase.anomaly`, or a :class:`Window`.

>>> hour = 3600 * 10**9
>>> incidents = [Window("cart", 10 * hour, 12 * hour), Window("search", 30 * hour, 31 * hour)]
>>> early = Window("cart", 10 * hour + hour // 2, 11 * hour)  # 30 minutes in
>>> alerts = [early, Window("cart", 50 * hour, 51 * hour)]  # and a false alert
>>> s = score_alerts(alerts, incidents, service_days=4.0)
>>> s.precision, s.recall, s.delay_median_minutes, s.false_alerts_per_service_day
(0.5, 0.5, 30.0, 0.25)
>>> s.alert_matches
((0,), ())
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

from modelphase.exceptions import ValidationError
from modelphase.frame import Panel, label_table

__all__ = ["IncidentScore", "Timed", "Window", "score_alerts", "service_days"]

_MINUTE = 60 * 10**9
_DAY = 86_400 * 10**9


class Timed(Protocol):
    """What is scored: a service, a time window (ns, inclusive) and its series."""

    @property
    def service(self) -> str: ...

    @property
    def start(self) -> int: ...

    @property
    def end(self) -> int: ...

    @property
    def unique_ids(self) -> Sequence[str]: ...


@dataclass(frozen=True)
class Window:
    """A plain time window of a service (ns, inclusive), for hand-made truth or alerts."""

    service: str
    start: int
    end: int
    unique_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class IncidentScore:
    """How alerts fared against incidents (see the module's docstring).

    ``alert_matches[i]`` holds the indices of the incidents alert ``i`` matched;
    ``incident_delays[j]`` the delay (ns) of incident ``j``, None when it was missed.
    Indices count the incidents kept (events that are not incidents are left out).
    """

    n_alerts: int
    n_incidents: int
    true_alerts: int
    detected: int
    precision: float
    recall: float
    delay_median_minutes: float | None
    delay_p90_minutes: float | None
    false_alerts: int
    service_days: float | None
    false_alerts_per_service_day: float | None
    alert_matches: tuple[tuple[int, ...], ...]
    incident_delays: tuple[int | None, ...]

    def to_dict(self) -> dict[str, Any]:
        """The summary as JSON (NaN as None), without the per-alert detail."""
        keys = (
            "n_alerts", "n_incidents", "true_alerts", "detected", "precision", "recall",
            "delay_median_minutes", "delay_p90_minutes", "false_alerts", "service_days",
            "false_alerts_per_service_day",
        )  # fmt: skip
        data = {k: getattr(self, k) for k in keys}
        return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in data.items()}


def score_alerts(
    alerts: Sequence[Timed],
    incidents: Sequence[Timed],
    *,
    tolerance: int = 3600 * 10**9,
    service_days: float | None = None,
    match: Literal["service", "series"] = "service",
) -> IncidentScore:
    """Score ``alerts`` against ``incidents`` (``tolerance`` in ns, default an hour)."""
    if match not in ("service", "series"):
        raise ValidationError(f"match: expected 'service' or 'series', got {match!r}")
    if not (isinstance(tolerance, int) and tolerance >= 0):
        raise ValidationError(f"tolerance: expected ns >= 0, got {tolerance!r}")
    if service_days is not None and not service_days > 0:
        raise ValidationError(f"service_days: expected a number > 0, got {service_days!r}")
    truth = [i for i in incidents if getattr(i, "is_incident", True)]
    matches: list[tuple[int, ...]] = []
    first: list[int | None] = [None] * len(truth)
    for alert in alerts:
        hit = tuple(j for j, inc in enumerate(truth) if _matches(alert, inc, tolerance, match))
        matches.append(hit)
        for j in hit:
            seen = first[j]
            first[j] = alert.start if seen is None else min(seen, alert.start)
    delays = tuple(
        None if t is None else max(0, t - inc.start) for t, inc in zip(first, truth, strict=True)
    )
    found = np.array([d for d in delays if d is not None], dtype=np.float64) / _MINUTE
    true_alerts = sum(1 for m in matches if m)
    detected = len(found)
    false_alerts = len(alerts) - true_alerts
    return IncidentScore(
        n_alerts=len(alerts),
        n_incidents=len(truth),
        true_alerts=true_alerts,
        detected=detected,
        precision=true_alerts / len(alerts) if alerts else math.nan,
        recall=detected / len(truth) if truth else math.nan,
        delay_median_minutes=float(np.median(found)) if detected else None,
        delay_p90_minutes=float(np.percentile(found, 90)) if detected else None,
        false_alerts=false_alerts,
        service_days=service_days,
        false_alerts_per_service_day=(
            false_alerts / service_days if service_days is not None else None
        ),
        alert_matches=tuple(matches),
        incident_delays=delays,
    )


def _matches(alert: Timed, incident: Timed, tolerance: int, match: str) -> bool:
    if alert.start > incident.end + tolerance or alert.end < incident.start - tolerance:
        return False
    if match == "series":
        return bool(set(alert.unique_ids) & set(incident.unique_ids))
    return alert.service == incident.service


def service_days(panel: Panel, label: str = "service") -> float:
    """The number of distinct ``label`` values times the panel's span in days (its
    last time minus its first, plus one step)."""
    if panel.n_points == 0:
        raise ValidationError("expected a panel with points, got an empty one")
    table = label_table(panel.ids)
    services = table.loc[table["label"] == label, "value"].nunique()
    if services == 0:
        raise ValidationError(
            f"no series has the label {label!r}; expected series such as "
            f'http_requests_per_second{{{label}="cart"}}'
        )
    span = int(panel.ds.max()) - int(panel.ds.min()) + int(panel.step or 0)
    return float(services) * span / _DAY
