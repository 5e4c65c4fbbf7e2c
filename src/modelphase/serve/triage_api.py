"""Incident triage over HTTP: ``POST /v1/triage``, the JSON of ``modelphase triage``.

The body carries the telemetry itself (the server reads no source on a caller's
behalf), in one of two shapes:

- **wide**, the command contract's CSV as JSON: ``{"at": T, "columns": {"time": [unix
  seconds], "cart_cpu": [...], ...}}``, one ``<service>_<metric>`` column per metric,
  all of the same length (``null`` for a missing value);
- **series**, labelled as Prometheus names them: ``{"at": T, "series": [{"id":
  "http_p99{pod=\\"a\\",service=\\"cart\\"}", "timestamps": [unix seconds], "values":
  [...]}], "before": "2h", "after": "15m", "group_by": "service"}``; instances are
  averaged per service and metric (:func:`modelphase.decide.triage_input.triage_panel`).

Either may add ``"calls": [["caller", "callee"], ...]`` (the call graph),
``"feedback": false`` (leave out the confirmed root causes stored in the server's home,
``modelphase triage confirm``) and ``"top": N`` (the first N services and metrics
only). The answer is :meth:`~modelphase.decide.triage.Triage.to_dict` with
``{"feedback": {"confirmed": n}}``.

A viewer token is needed (checked before the body is read). The body is held to the
server's ``--max-body`` and to :data:`MAX_TRIAGE_POINTS` values, the work runs on a
thread, at most :data:`CONCURRENCY` at once (503 past it), and bad input is a 422 of
one line.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import Response

from modelphase.decide.triage import Triage, triage
from modelphase.decide.triage_feedback import Confirmation, apply_feedback
from modelphase.decide.triage_input import DEFAULT_AFTER, DEFAULT_BEFORE, triage_panel
from modelphase.decide.triage_store import IncidentStore
from modelphase.exceptions import OverloadedError, ValidationError
from modelphase.frame import NS_PER_SECOND, Panel, parse_duration
from modelphase.registry import Principal
from modelphase.serve.http import GUARDED, documented, json_object, json_response
from modelphase.serve.slo_api import Authorize, _Slots

__all__ = ["CONCURRENCY", "MAX_CALLS", "MAX_TRIAGE_POINTS", "mount_triage", "router"]

#: values (cells or samples) one request may carry
MAX_TRIAGE_POINTS = 2_000_000
#: call-graph edges one request may carry
MAX_CALLS = 100_000
#: triage computations at once
CONCURRENCY = 2
_KEYS = frozenset({"at", "columns", "series", "before", "after", "group_by", "calls",
                   "feedback", "top"})  # fmt: skip

router = APIRouter(prefix="/v1/triage", tags=["triage"])


class TriageService:
    """What the endpoint needs: the server's auth and a bound on work at once."""

    def __init__(self, authorize: Authorize, store: IncidentStore | None = None) -> None:
        self.authorize = authorize
        self.store = store
        self.slots = _Slots(CONCURRENCY)

    def incidents(self) -> IncidentStore:
        return self.store if self.store is not None else IncidentStore()


def _service(request: Request) -> TriageService:
    found: TriageService = request.app.state.triage
    return found


async def _viewer(request: Request) -> Principal:
    return await _service(request).authorize(request)


@router.post(
    "",
    summary="Rank services by how likely each caused an incident (modelphase triage)",
    responses=documented(*GUARDED),
)
async def triage_endpoint(
    request: Request, who: Annotated[Principal, Depends(_viewer)]
) -> Response:
    """``{"at": unix seconds, "columns": {"time": [...], "<service>_<metric>": [...]}}``
    or ``{"at": ..., "series": [{"id", "timestamps", "values"}], "before", "after",
    "group_by"}``, with optional ``calls``, ``feedback`` and ``top``; the answer is
    ``modelphase triage --json``'s."""
    service = _service(request)
    if not service.slots.take():
        raise OverloadedError(
            f"expected at most {CONCURRENCY} triage requests at once, got another. Fix: "
            "retry after a few seconds",
            pool="triage",
            reason="full",
            retry_after=2,
        )
    try:
        raw = await request.body()
        out = await asyncio.to_thread(answer, raw, service.incidents)
    finally:
        service.slots.give()
    return json_response(out)


def answer(raw: bytes, incidents: Callable[[], IncidentStore]) -> dict[str, Any]:
    """The triage of a posted body (blocking: a thread)."""
    body = json_object(raw, _KEYS)
    at = _number(body.get("at"), "at")
    calls = _calls(body.get("calls"))
    if ("columns" in body) == ("series" in body):
        raise ValidationError(
            'expected one of "columns" (a wide frame) or "series" (labelled series), got '
            + ("both" if "columns" in body else "neither")
        )
    if "columns" in body:
        if {"before", "after", "group_by"} & set(body):
            raise ValidationError(
                'before, after and group_by go with "series"; with "columns" the rows '
                "before at are the normal period"
            )
        result = triage(_wide(body["columns"]), at, calls=calls)
    else:
        panel = _panel(body["series"])
        before = _duration(body.get("before"), "before", DEFAULT_BEFORE)
        after = _duration(body.get("after"), "after", DEFAULT_AFTER)
        label = body.get("group_by", "service")
        if not isinstance(label, str) or not label:
            raise ValidationError("group_by: expected a label name such as service")
        result = triage_panel(
            panel, round(at * NS_PER_SECOND), before=before, after=after,
            service_label=label, calls=calls,
        )  # fmt: skip
    confirmed: list[Confirmation] = []
    if body.get("feedback", True) is not False:
        confirmed, _ = incidents().confirmations()
        result = apply_feedback(result, confirmed)
    out = _cut(result, body.get("top"))
    out["feedback"] = {"confirmed": len(confirmed)}
    return out


def _number(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValidationError(f"{key}: expected Unix seconds (a finite number), got {value!r:.40}")
    return float(value)


def _duration(value: Any, key: str, default: int) -> int:
    if value is None:
        return default
    if not isinstance(value, str):
        raise ValidationError(f"{key}: expected a duration such as 2h, got {value!r:.40}")
    return parse_duration(value)


def _calls(value: Any) -> list[tuple[str, str]] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > MAX_CALLS:
        raise ValidationError(
            f'calls: expected a list of at most {MAX_CALLS:,} ["caller", "callee"] pairs'
        )
    pairs = []
    for edge in value:
        pair = isinstance(edge, list) and len(edge) == 2
        if not (pair and all(isinstance(e, str) for e in edge)):
            raise ValidationError(f'calls: expected ["caller", "callee"] pairs, got {edge!r:.60}')
        pairs.append((edge[0], edge[1]))
    return pairs


def _values(value: Any, key: str) -> np.ndarray[Any, np.dtype[np.float64]]:
    if not isinstance(value, list):
        raise ValidationError(f"{key}: expected a list of numbers, got {type(value).__name__}")
    try:
        return np.array([np.nan if v is None else v for v in value], dtype=np.float64)
    except (TypeError, ValueError):
        raise ValidationError(f"{key}: expected numbers (or null), got another value") from None


def _wide(columns: Any) -> pd.DataFrame:
    if not isinstance(columns, dict) or "time" not in columns:
        raise ValidationError(
            'columns: expected {"time": [unix seconds], "<service>_<metric>": [...]}'
        )
    total = sum(len(v) for v in columns.values() if isinstance(v, list))
    if total > MAX_TRIAGE_POINTS:
        raise ValidationError(
            f"columns: expected at most {MAX_TRIAGE_POINTS:,} values, got {total:,}. Fix: "
            "send a shorter window or fewer metrics"
        )
    data = {str(k): _values(v, f"columns.{str(k)[:40]}") for k, v in columns.items()}
    lengths = {len(v) for v in data.values()}
    if len(lengths) != 1:
        raise ValidationError("columns: expected every column to have as many values as time")
    return pd.DataFrame(data)


def _panel(series: Any) -> Panel:
    if not isinstance(series, list) or not series:
        raise ValidationError('series: expected [{"id", "timestamps", "values"}, ...]')
    total = sum(len(s.get("values", [])) for s in series if isinstance(s, dict))
    if total > MAX_TRIAGE_POINTS:
        raise ValidationError(
            f"series: expected at most {MAX_TRIAGE_POINTS:,} values, got {total:,}. Fix: "
            "send a shorter window or fewer series"
        )
    items = []
    for i, entry in enumerate(series):
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            raise ValidationError(f'series[{i}]: expected {{"id", "timestamps", "values"}}')
        t = _values(entry.get("timestamps"), f"series[{i}].timestamps")
        y = _values(entry.get("values"), f"series[{i}].values")
        if len(t) != len(y) or not np.isfinite(t).all():
            raise ValidationError(f"series[{i}]: expected finite timestamps, as many as values")
        ds = np.round(t * NS_PER_SECOND).astype(np.int64)
        order = np.argsort(ds, kind="stable")
        items.append((entry["id"], ds[order], y[order]))
    ids = [uid for uid, _, _ in items]
    if len(set(ids)) != len(ids):
        raise ValidationError("series: expected each id once, got one twice")
    return Panel.from_series(items)


def _cut(result: Triage, top: Any) -> dict[str, Any]:
    out = result.to_dict()
    if top is None:
        return out
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise ValidationError(f"top: expected a whole number >= 1, got {top!r:.40}")
    out["ranking"] = out["ranking"][:top]
    out["metrics"] = out["metrics"][:top]
    return out


def mount_triage(app: FastAPI, *, authorize: Authorize, home: Path | None = None) -> None:
    """Serve ``POST /v1/triage`` on ``app``; ``authorize`` checks the token (viewer or
    more); the confirmed root causes are those of ``home`` (the server's; the settings'
    when ``None``)."""
    store = IncidentStore(home / "triage") if home is not None else None
    app.state.triage = TriageService(authorize, store)
    app.include_router(router)
