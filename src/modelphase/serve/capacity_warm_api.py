"""Warm plans and cost/performance trade-offs over HTTP, stateless, beside the capacity
plans (:mod:`modelphase.serve.capacity_api`):

- ``POST /v1/capacity/warm``: ``{"functions": {"NAME": [unix seconds of invocations]},
  "now": unix seconds, "cost_ratio": 10, "horizon": 60}`` -> ``{"plans": [...]}``, the
  JSON of ``modelphase capacity warm --json`` (:func:`modelphase.decide.capacity.
  warm_plans` on minutes: an invocation's minute is ``floor(t / 60)``, the plan starts
  at ``now``'s minute and reads the invocations before it);
- ``POST /v1/capacity/tradeoff``: the plain data of :func:`modelphase.decide.capacity.
  tradeoff_json` (telemetry as columns or rows, the column names, ``slo_latency``,
  ``load``, ``risk``, ``prices``) -> the cheapest configuration and the Pareto front.

Both need a viewer token (checked before the body is read), take at most
:data:`~modelphase.serve.capacity_api.MAX_PLAN_BODY_BYTES` of body, run on a thread
holding one of the capacity endpoints' slots (503 when none is free), and answer bad
input with a 422 of one line.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import Response

from modelphase.decide.capacity import tradeoff_json, warm_plans
from modelphase.decide.capacity.tradeoff import MAX_TELEMETRY_ROWS
from modelphase.exceptions import ValidationError
from modelphase.registry import Principal
from modelphase.serve.capacity_api import PREFIX, read_body, service_of, viewer
from modelphase.serve.http import GUARDED, documented, json_object, json_response

__all__ = ["MAX_FUNCTIONS", "MAX_INVOCATIONS", "mount_warm", "router"]

#: functions and invocations one warm request may carry, and its horizon in minutes
MAX_FUNCTIONS = 1_000
MAX_INVOCATIONS = 500_000
MAX_HORIZON = 1_440
_WARM_KEYS = frozenset({"functions", "now", "cost_ratio", "horizon"})

router = APIRouter(prefix=PREFIX, tags=["capacity"])


def _number(value: Any, key: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(f"{key}: expected a number, got {type(value).__name__}")
    if not (math.isfinite(value) and low <= value <= high):
        raise ValidationError(f"{key}: expected a number from {low:g} to {high:g}, got {value!r}")
    return float(value)


def warm_answer(raw: bytes) -> dict[str, Any]:
    """The warm plans of a posted body (blocking: a thread)."""
    body = json_object(raw, _WARM_KEYS)
    functions = body.get("functions")
    if not isinstance(functions, dict) or not functions:
        raise ValidationError(
            'functions: expected {"NAME": [unix seconds of invocations], ...}, got '
            f"{type(functions).__name__ if functions is not None else 'none'}"
        )
    if len(functions) > MAX_FUNCTIONS:
        raise ValidationError(
            f"functions: expected at most {MAX_FUNCTIONS:,}, got {len(functions):,}. Fix: "
            "plan fewer functions at once"
        )
    total = sum(len(v) if isinstance(v, list) else 0 for v in functions.values())
    if total > MAX_INVOCATIONS:
        raise ValidationError(
            f"functions: expected at most {MAX_INVOCATIONS:,} invocations, got {total:,}. Fix: "
            "send a shorter history"
        )
    if "now" not in body:
        raise ValidationError("now: expected the unix seconds the plan starts at, got none")
    now = int(_number(body["now"], "now", 0, 1e11) // 60)
    ratio = _number(body.get("cost_ratio", 10.0), "cost_ratio", 1e-9, 1e6)
    horizon = int(_number(body.get("horizon", 60), "horizon", 1, MAX_HORIZON))
    names, minutes = [], []
    for name, times in functions.items():
        if not isinstance(times, list):
            raise ValidationError(f"functions.{name[:40]}: expected a list of unix seconds")
        found = sorted({int(_number(t, f"functions.{name[:40]}", 0, 1e11) // 60) for t in times})
        before = [m for m in found if m < now]
        if before:
            names.append(str(name))
            minutes.append(before)
    plans = warm_plans(names, minutes, now, cost_ratio=ratio, horizon=horizon)
    return {
        "now": now * 60,
        "cost_ratio": ratio,
        "horizon": horizon,
        "skipped": sorted(set(map(str, functions)) - set(names)),
        "plans": [p.to_dict() for p in plans],
    }


def tradeoff_answer(raw: bytes) -> dict[str, Any]:
    """The trade-off of a posted body (blocking: a thread)."""
    body = json_object(raw)
    rows = body.get("telemetry")
    size = len(rows) if isinstance(rows, list) else 0
    if isinstance(rows, dict):
        size = max((len(v) for v in rows.values() if isinstance(v, list)), default=0)
    if size > MAX_TELEMETRY_ROWS:
        raise ValidationError(
            f"telemetry: expected at most {MAX_TELEMETRY_ROWS:,} rows, got {size:,}. Fix: "
            "send a shorter history"
        )
    return tradeoff_json(body)


async def _answer(request: Request, who: Principal, work: Any) -> Response:
    service = service_of(request)
    with service.admission.slot(who):
        raw = await read_body(request)
        task = service.run(lambda: work(raw), wait=False)
        task.add_done_callback(lambda t: t.cancelled() or t.exception())  # never "lost"
        out = await task
    return json_response(out)


@router.post(
    "/warm",
    summary="Warm plans (pre-warm and keep-alive per function) from invocation times",
    responses=documented(*GUARDED),
)
async def warm(request: Request, who: Annotated[Principal, Depends(viewer)]) -> Response:
    """``{"functions": {"NAME": [unix seconds]}, "now": unix seconds, "cost_ratio": 10,
    "horizon": 60}``; the answer has each function's pre-warm and keep-alive minutes,
    the expected cold-start share and idle warm minutes, and the probability of an
    invocation in each minute ahead (functions never invoked before ``now`` are
    ``skipped``)."""
    return await _answer(request, who, warm_answer)


@router.post(
    "/tradeoff",
    summary="The cheapest configuration meeting a latency SLO at a stated risk, and the "
    "Pareto front",
    responses=documented(*GUARDED),
)
async def tradeoff(request: Request, who: Annotated[Principal, Depends(viewer)]) -> Response:
    """``{"telemetry": {"rps": [...], "p99": [...], "replicas": [...], ...},
    "latency_column": "p99", "load_column": "rps", "replicas_column": "replicas",
    "slo_latency": 0.3, "load": 1200, "risk": 0.01, "prices": {"replica_hour": 0.1}}``;
    the answer is ``modelphase capacity tradeoff --json``'s."""
    return await _answer(request, who, tradeoff_answer)


def mount_warm(app: FastAPI) -> None:
    """Serve these endpoints on ``app`` (after :func:`~modelphase.serve.capacity_api.
    mount_capacity`, whose service they share)."""
    app.include_router(router)
