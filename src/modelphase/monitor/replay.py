"""Replaying telemetry through a running server, as its callers would: at each time,
every series' recent values go to ``POST /v1/models/NAME/forecast`` and the server
answers (production, or the canary for its share of keys, with the shadow alongside)
and logs the decisions. The demo and the loop benchmark replay a simulated regime
change this way, so that the monitor judges exactly what a real server logged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np

from modelphase.frame import Panel, format_time

__all__ = ["ReplayCounts", "forecast_bodies", "post_forecasts", "upto"]


@dataclass
class ReplayCounts:
    sent: int = 0
    answered: int = 0
    failed: int = 0
    by_alias: dict[str, int] | None = None


def forecast_bodies(
    panel: Panel,
    at_ns: int,
    *,
    history: int,
    h: int,
    levels: Sequence[float] = (80.0, 95.0),
    ids: Sequence[str] | None = None,
    digits: int = 6,
) -> list[dict[str, Any]]:
    """One forecast request per series: its last ``history`` values up to ``at_ns``
    (NaN as null, ``digits`` significant digits, as a scrape gives them), ending at
    ``at_ns``, ``h`` steps ahead. The canary key is the series and the time, so the
    canary's share is drawn across requests, not whole series."""
    wanted = set(ids) if ids is not None else None
    out = []
    for i, uid in enumerate(panel.ids):
        if wanted is not None and uid not in wanted:
            continue
        ds = panel.ds[panel.indptr[i] : panel.indptr[i + 1]]
        y = panel.y[panel.indptr[i] : panel.indptr[i + 1]]
        upto = int(np.searchsorted(ds, at_ns, side="right"))
        if upto == 0 or ds[upto - 1] != at_ns:
            continue
        values = y[max(0, upto - history) : upto]
        out.append(
            {
                "values": [
                    None if not np.isfinite(v) else float(f"{v:.{digits}g}") for v in values
                ],
                "end": format_time(int(at_ns)),
                "h": int(h),
                "level": [float(lv) for lv in levels],
                "unique_id": uid,
                "key": f"{uid}@{int(at_ns)}",
            }
        )
    return out


def post_forecasts(
    client: httpx.Client, name: str, bodies: Sequence[dict[str, Any]]
) -> ReplayCounts:
    """Send ``bodies`` to the server's forecast endpoint of ``name``, one at a time."""
    counts = ReplayCounts(by_alias={})
    for body in bodies:
        counts.sent += 1
        response = client.post(f"/v1/models/{name}/forecast", json=body)
        if response.status_code == 200:
            counts.answered += 1
            alias = str(response.json().get("alias", "production"))
            assert counts.by_alias is not None
            counts.by_alias[alias] = counts.by_alias.get(alias, 0) + 1
        else:
            counts.failed += 1
    return counts


def upto(panel: Panel, until: int) -> Panel:
    """``panel`` cut at ``until`` (epoch ns, included): the telemetry that had arrived
    by then, the actuals a replayed monitor sees."""
    return panel.take(panel.ds <= until)
