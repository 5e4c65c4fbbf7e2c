"""The canary judge over HTTP, for progressive-delivery controllers.

``POST /v1/canary/judge`` answers Argo Rollouts' web metric provider: the body is the
``jsonBody`` of an ``AnalysisTemplate``, either inline samples or the name of one of
the server's analyses (``modelphase serve --canary-analysis FILE``) with each side's
template variables and a window; the answer is always 200 with the verdict, which the
template reads with ``jsonPath: "{$.verdict}"`` (``pass`` and ``marginal`` succeed,
``fail`` fails, ``inconclusive`` is neither and counts toward ``inconclusiveLimit``).

``POST /v1/canary/flagger`` answers Flagger's webhooks (``rollout`` or
``confirm-promotion``): the payload's ``metadata`` names the analysis and the
variables; Flagger reads only the status, so the verdict is the status:
:data:`FLAGGER_STATUS`, with the verdict in the body either way.

Both need a token of at least the viewer role (``Authorization: Bearer``), checked
before the body is read. Callers never choose the Prometheus server or a query: only
which of the server's analyses runs, over how long a window (at most 24 h), and label
values that cannot leave their quotes (:mod:`modelphase.decide.canary_analysis`). The
body is capped at ``max_body`` bytes, a judgement at 50 metrics; no query of it starts
past ``timeout`` seconds (504), and ``concurrency`` judgements run at once (503 past it).

Argo and Flagger ask again every interval: the server counts the looks and widens the
intervals with them (:mod:`modelphase.serve.canary_service`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import orjson
import pydantic
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from prometheus_client import CollectorRegistry
from prometheus_client import Counter as PromCounter

from modelphase.decide.canary_analysis import raise_problems
from modelphase.decide.slo._errors import Problem
from modelphase.exceptions import (
    ModelphaseError,
    PayloadTooLargeError,
    PrometheusError,
    PrometheusTimeoutError,
    ValidationError,
)
from modelphase.frame import NS_PER_SECOND, parse_duration
from modelphase.registry import Principal
from modelphase.serve.admission import Admission
from modelphase.serve.canary_schemas import (
    AnalysisJudgeRequest,
    FlaggerPayload,
    InlineJudgeRequest,
    JudgeResponse,
)
from modelphase.serve.canary_service import Authorize, CanaryConfig, CanaryService
from modelphase.serve.http import GUARDED, body_doc, documented, install_statuses, json_response

__all__ = [
    "FLAGGER_STATUS",
    "PREFIX",
    "STATUSES",
    "CanaryConfig",
    "FlaggerCall",
    "flagger_call",
    "mount_canary",
    "router",
]

log = logging.getLogger("modelphase.serve.canary")

PREFIX = "/v1/canary"
#: Flagger's answer by verdict: a 2xx lets the rollout advance; Flagger takes any other
#: status as a failed check (counted toward the analysis's threshold for ``rollout``
#: hooks, waited on for ``confirm-*`` hooks), so these only tell people apart: 412
#: "the canary is worse", 425 "too early to tell" (with Retry-After: the step)
FLAGGER_STATUS = {"pass": 200, "marginal": 200, "fail": 412, "inconclusive": 425}

#: the refusals of this module's errors (the rest are the server's: 401, 403, 422, 429)
STATUSES: dict[type[ModelphaseError], tuple[int, str]] = {
    PayloadTooLargeError: (413, "body_too_large"),
    PrometheusTimeoutError: (504, "prometheus_timeout"),
    PrometheusError: (502, "prometheus_unavailable"),
}

#: metadata keys that look like credentials: refused without showing their value
_CREDENTIAL = re.compile(
    r"token|secret|passw|authori[sz]ation|bearer|api[-_.]?key|credential", re.IGNORECASE
)
_SIDE_KEY = re.compile(r"(baseline|canary)[._](.+)")
_MAX_LOOK = 1_000_000


@dataclass(frozen=True)
class FlaggerCall:
    """What a Flagger webhook's metadata asks for."""

    analysis: str
    baseline: dict[str, str]
    canary: dict[str, str]
    window: str | None = None
    look: int | None = None


def flagger_call(metadata: Mapping[str, str]) -> FlaggerCall:
    """The analysis, each side's variables (``baseline.VAR``/``canary.VAR``, or with
    ``_``), ``window`` and ``look`` of a webhook's metadata; a key that looks like a
    credential is refused without showing its value, as is any unknown key."""
    problems: list[Problem] = []
    sides: dict[str, dict[str, str]] = {"baseline": {}, "canary": {}}
    for key, value in metadata.items():
        where = f"metadata.{key[:64]}"
        if _CREDENTIAL.search(key):
            problems.append(
                Problem(
                    where,
                    "no credentials in a Canary's metadata (Flagger keeps it in plain text "
                    "in the Canary object)",
                    "a key that looks like one (its value is not shown)",
                    "remove it and send the token in an Authorization header (see "
                    "docs/canary.md, Flagger)",
                )
            )
            continue
        side = _SIDE_KEY.fullmatch(key)
        if side is not None:
            sides[side.group(1)][side.group(2)] = value
        elif key not in ("analysis", "window", "look"):
            problems.append(
                Problem(
                    where,
                    "analysis, window, look, baseline.VAR or canary.VAR",
                    "an unknown key",
                    "check the key's spelling",
                )
            )
    name = metadata.get("analysis", "")
    if not name:
        problems.append(
            Problem(
                "metadata.analysis",
                "the name of one of the server's canary analyses",
                "nothing",
                "add metadata.analysis",
            )
        )
    look = None
    if "look" in metadata:
        text = metadata["look"].strip()
        if not text.isdigit() or not 1 <= int(text) <= _MAX_LOOK:
            problems.append(
                Problem(
                    "metadata.look",
                    f"a whole number from 1 to {_MAX_LOOK:,}",
                    repr(text[:20]),
                    "leave look out (the server counts looks)",
                )
            )
        else:
            look = int(text)
    raise_problems("Flagger webhook", problems)
    return FlaggerCall(name, sides["baseline"], sides["canary"], metadata.get("window"), look)


# ----------------------------------------------------------------------- endpoints

router = APIRouter(prefix=PREFIX, tags=["canary"])

_REFUSED = documented(
    *GUARDED,
    404,
    502,
    504,
    notes={
        404: "No canary analysis by that name on this server",
        502: "Prometheus failed to answer one of the analysis's queries",
        504: "Prometheus did not answer within the server's --canary-timeout",
    },
)
_JUDGE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {"$ref": "#/components/schemas/InlineJudgeRequest"},
                        {"$ref": "#/components/schemas/AnalysisJudgeRequest"},
                    ]
                }
            }
        },
    }
}


def _service(request: Request) -> CanaryService:
    service: CanaryService = request.app.state.canary
    return service


async def _viewer(request: Request) -> Principal:
    return await _service(request).authorize(request)


@router.post(
    "/judge",
    summary="Judge a canary against its baseline (Argo Rollouts' web metric provider)",
    response_model=JudgeResponse,
    responses=_REFUSED,
    openapi_extra=_JUDGE_BODY,
)
async def judge(request: Request, who: Annotated[Principal, Depends(_viewer)]) -> Response:
    """Inline samples (``metrics``, ``baseline``, ``canary``), or one of the server's
    analyses (``analysis``, each side's variables, ``window``): 200 with the verdict
    whatever it is, so that Argo's ``jsonPath: "{$.verdict}"`` reads it."""
    service = _service(request)
    with service.admission.slot(who):
        data = _object(await _read(request, service.config.max_body))
        if "analysis" in data:
            body = _validate(AnalysisJudgeRequest, data)
            analysis = service.analysis(body.analysis)
            window = _window(body.window, "window")
            answer = await service.run(
                lambda: service.judge_analysis(
                    analysis, body.baseline, body.canary, window, body.look
                )
            )
        else:
            inline = _validate(InlineJudgeRequest, data)
            answer = await service.run(lambda: service.judge_inline(inline))
    _log(answer, who)
    return json_response(answer)


@router.post(
    "/flagger",
    summary="Judge a canary for a Flagger webhook: the verdict is the status",
    response_model=JudgeResponse,
    responses={
        **_REFUSED,
        412: {"model": JudgeResponse, "description": "fail: the canary is worse"},
        425: {
            "model": JudgeResponse,
            "description": "inconclusive: too early to tell (retry after Retry-After s)",
        },
    },
    openapi_extra=body_doc(FlaggerPayload),
)
async def flagger(request: Request, who: Annotated[Principal, Depends(_viewer)]) -> Response:
    """Flagger's payload; its ``metadata`` names the analysis (``analysis``), each
    side's variables (``baseline.version``, ``canary.version``) and optionally
    ``window``: 200 on pass or marginal, 412 on fail, 425 on inconclusive."""
    service = _service(request)
    with service.admission.slot(who):
        payload = _validate(FlaggerPayload, _object(await _read(request, service.config.max_body)))
        call = flagger_call(payload.metadata)
        analysis = service.analysis(call.analysis)
        window = _window(call.window, "metadata.window")
        key = ("flagger", payload.namespace, payload.name, payload.checksum or "")
        answer = await service.run(
            lambda: service.judge_analysis(
                analysis,
                call.baseline,
                call.canary,
                window,
                call.look,
                key=key,
                prefixes=("metadata.baseline.", "metadata.canary."),
            )
        )
    _log(answer, who)
    status = FLAGGER_STATUS[answer["verdict"]]
    headers = {"Retry-After": str(max(1, analysis.step // NS_PER_SECOND))} if status == 425 else {}
    return json_response(answer, status, headers)


def mount_canary(
    app: FastAPI,
    config: CanaryConfig,
    *,
    authorize: Authorize,
    admission: Admission,
    registry: CollectorRegistry,
    rejected: PromCounter,
) -> None:
    """Serve the canary endpoints on ``app``: ``authorize`` checks a request's token
    (viewer or more), ``admission`` holds each token to its requests in flight, the
    verdicts are counted in ``registry``, the refusals in ``rejected``."""
    app.state.canary = CanaryService(config, authorize, admission, registry)
    app.include_router(router)

    install_statuses(app, STATUSES, rejected)


# ----------------------------------------------------------------------- helpers


async def _read(request: Request, limit: int) -> bytes:
    """The body, refused (413) past ``limit`` bytes: on its announced length first."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise _too_large(limit, int(length))
    raw = await request.body()  # a streamed body: the server's --max-body holds it
    if len(raw) > limit:
        raise _too_large(limit, len(raw))
    return raw


def _too_large(limit: int, size: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(
        f"expected a canary judgement of at most {limit:,} bytes, got {size:,}. Fix: send "
        "fewer samples, or name one of the server's analyses instead",
        limit=limit,
        size=size,
    )


def _object(raw: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise RequestValidationError(
            [{"loc": ("body",), "msg": f"expected JSON, got {exc}", "type": "json_invalid"}]
        ) from None
    if not isinstance(data, dict):
        raise RequestValidationError(
            [{"loc": ("body",), "msg": "expected a JSON object", "type": "model_type"}]
        )
    return data


_Model = TypeVar("_Model", bound=pydantic.BaseModel)


def _validate(model: type[_Model], data: dict[str, Any]) -> _Model:
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        problems = [{**p, "loc": ("body", *p["loc"])} for p in exc.errors(include_url=False)]
        raise RequestValidationError(problems) from None


def _window(text: str | None, what: str) -> int | None:
    if text is None:
        return None
    try:
        return parse_duration(text)
    except ValidationError as exc:
        raise_problems("", [Problem(what, "a duration such as 10m", repr(text), str(exc.hint))])
        raise AssertionError("unreachable") from None


def _log(answer: Mapping[str, Any], who: Principal) -> None:
    log.info(
        "canary %s: %s (score %g) for %s",
        answer["analysis"] or "(inline)",
        answer["verdict"],
        answer["score"],
        who.name,
    )
