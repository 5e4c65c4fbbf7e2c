"""Triage's input from a panel of labelled series: one column per service and metric.

:func:`modelphase.decide.triage.triage` reads a wide frame (``time`` in Unix seconds,
one column per metric) and needs each column's service. A stored dataset or a
Prometheus range is a :class:`~modelphase.frame.Panel` of series named the Prometheus
way (``http_p99_seconds{pod="cart-7f",service="cart"}``). :func:`wide_from_panel`
turns one into the other:

- **The service** of a series is its ``service`` label (``--group-by`` elsewhere: any
  label can play the part). A series without it is a service of its own, named by its
  metric name, so nothing is dropped.
- **Instances are aggregated.** The labels that name an instance (``pod``,
  ``instance``, ``container``, ``node``, ``host``: :data:`INSTANCE_LABELS`) are left
  out of the metric, and the series that then share a service and metric are averaged
  at each time. Instances come and go (a rollout replaces every pod): a new pod has no
  normal period of its own, a vanished one no anomalous period, but the service's mean
  has both. A fault on one instance of many is diluted by the mean; it still moves it,
  and the service is what triage ranks.
- **The metric** is the metric name with the remaining labels (``http_p99_seconds``,
  ``errors{code="500"}``).
- **Different steps** need no resampling: the frame's rows are the union of all
  samples' times and a metric is NaN where it has no sample, which triage ignores
  (each metric's median and spread come from its own samples).

The result is the frame and the ``(service, metric)`` of each column, which
:func:`~modelphase.decide.triage.triage` takes as ``names`` (the labels' values may hold
underscores, which the wide CSV's ``<service>_<metric>`` convention cannot carry).

>>> import numpy as np
>>> from modelphase.frame import Panel
>>> t = np.arange(4, dtype=np.int64) * 60 * 10**9
>>> panel = Panel.from_series([
...     ('cpu{pod="a",service="cart"}', t, np.array([1.0, 1, 1, 9])),
...     ('cpu{pod="b",service="cart"}', t, np.array([3.0, 3, 3, 3])),
...     ('up', t[::2], np.array([1.0, 1])),
... ])
>>> frame, names = wide_from_panel(panel)
>>> names
[('cart', 'cpu'), ('up', 'up')]
>>> frame.to_dict("list")
{'time': [0.0, 60.0, 120.0, 180.0], 'c0': [2.0, 2.0, 2.0, 6.0], 'c1': [1.0, nan, 1.0, nan]}
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from modelphase.decide.triage import Triage, triage
from modelphase.exceptions import ValidationError
from modelphase.frame import NS_PER_SECOND, Panel, parse_series_id, series_id
from modelphase.limits import MAX_DATASET_POINTS

__all__ = [
    "DEFAULT_AFTER",
    "DEFAULT_BEFORE",
    "INSTANCE_LABELS",
    "SERVICE_LABEL",
    "triage_panel",
    "wide_from_panel",
]

#: the label that names a series' service
SERVICE_LABEL = "service"
#: labels that name one instance of a service: averaged over, not part of the metric
INSTANCE_LABELS: tuple[str, ...] = ("pod", "instance", "container", "node", "host")
#: the normal period a panel's triage reads: this long before the incident (ns)
DEFAULT_BEFORE = 2 * 3600 * NS_PER_SECOND
#: the anomalous period: this long from the incident's start (ns)
DEFAULT_AFTER = 15 * 60 * NS_PER_SECOND


def triage_panel(
    panel: Panel,
    at: int,
    *,
    before: int = DEFAULT_BEFORE,
    after: int = DEFAULT_AFTER,
    service_label: str = SERVICE_LABEL,
    calls: Sequence[tuple[str, str]] | None = None,
) -> Triage:
    """Triage of an incident at ``at`` (nanoseconds) in a panel: the samples from
    ``at - before`` are the normal period, those from ``at`` to ``at + after`` the
    anomalous one (:func:`wide_from_panel`, then
    :func:`~modelphase.decide.triage.triage`, whose times are Unix seconds).

    Two hours before and fifteen minutes after, the defaults: enough samples at a
    minute's step for a robust spread, recent enough to share the incident's time of
    day, and short enough after that the cause's change is not swamped by what it set
    off. Raises :class:`~modelphase.exceptions.ValidationError` as those do."""
    if before <= 0 or after <= 0:
        raise ValidationError(
            f"triage's window: expected positive durations before and after the incident, "
            f"got {before} ns and {after} ns",
            hint="pass e.g. before=2h and after=15m",
        )
    frame, names = wide_from_panel(
        panel, service_label=service_label, start=at - before, end=at + after
    )
    return triage(frame, at / NS_PER_SECOND, calls=calls, names=names)


def wide_from_panel(
    panel: Panel,
    *,
    service_label: str = SERVICE_LABEL,
    instance_labels: tuple[str, ...] = INSTANCE_LABELS,
    start: int | None = None,
    end: int | None = None,
) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """The panel's samples from ``start`` to ``end`` (nanoseconds, inclusive; ``None``
    for no bound) as triage's wide frame, and the ``(service, metric)`` of each of its
    metric columns (named ``c0``, ``c1``, ... in that order). See the module's docstring.

    Raises :class:`~modelphase.exceptions.ValidationError` when no sample is left, or
    when the frame would hold more than :data:`~modelphase.limits.MAX_DATASET_POINTS`
    cells (times x columns)."""
    keys: dict[tuple[str, str], int] = {}
    column_of = np.empty(panel.n_series, dtype=np.int64)
    for i, uid in enumerate(panel.ids):
        key = _service_metric(uid, service_label, instance_labels)
        column_of[i] = keys.setdefault(key, len(keys))
    keep = ~np.isnan(panel.y)
    if start is not None:
        keep &= panel.ds >= start
    if end is not None:
        keep &= panel.ds <= end
    if not keep.any():
        raise ValidationError(
            "triage: expected samples in the window before and after the incident, got none",
            hint="widen the window, or check the dataset covers the incident's time",
        )
    columns = column_of[panel.series_index()[keep]]
    ds = panel.ds[keep]
    times, row = np.unique(ds, return_inverse=True)
    cells = len(times) * len(keys)
    if cells > MAX_DATASET_POINTS:
        raise ValidationError(
            f"triage: expected at most {MAX_DATASET_POINTS:,} cells (times x metrics), got "
            f"{len(times):,} x {len(keys):,}",
            hint="shorten the window, or triage fewer series",
        )
    total = np.zeros((len(times), len(keys)))
    count = np.zeros((len(times), len(keys)))
    np.add.at(total, (row, columns), panel.y[keep])
    np.add.at(count, (row, columns), 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        values = np.where(count > 0, total / count, np.nan)
    frame = pd.DataFrame(values, columns=[f"c{j}" for j in range(len(keys))])
    frame.insert(0, "time", times / NS_PER_SECOND)
    return frame, list(keys)


def _service_metric(
    uid: str, service_label: str, instance_labels: tuple[str, ...]
) -> tuple[str, str]:
    """A series' service and metric (its name and the labels that are neither the
    service nor an instance)."""
    labels = parse_series_id(uid)
    name = labels.get("__name__", "")
    service = labels.get(service_label) or name or uid
    rest = {k: v for k, v in labels.items() if k != service_label and k not in set(instance_labels)}
    metric = series_id(rest) if rest else name
    return service, metric or uid
