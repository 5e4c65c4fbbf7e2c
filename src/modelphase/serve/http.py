"""The HTTP plumbing of the server: refusals as JSON and in the OpenAPI document,
request bodies validated from their bytes, responses rendered by orjson."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import Counter
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from modelphase.exceptions import (
    ModelphaseError,
    OverloadedError,
    RegistryUnavailableError,
    SeriesNotFoundError,
    ThrottledError,
    ValidationError,
)
from modelphase.serve.calls import NoFallbackError
from modelphase.serve.canary_schemas import (
    AnalysisJudgeRequest,
    FlaggerPayload,
    InlineJudgeRequest,
)
from modelphase.serve.limits import BodyRefusedError
from modelphase.serve.schemas import ErrorResponse, ForecastRequest, ScoreRequest

__all__ = [
    "GUARDED",
    "body_doc",
    "documented",
    "install_errors",
    "json_response",
    "openapi_with_bodies",
    "parse_body",
]

_REFUSALS: dict[int, str] = {
    400: "The body is not what the endpoint reads",
    401: "No valid token (the WWW-Authenticate header says how to send one)",
    403: "The token's role may not do this",
    413: "The body is over the server's --max-body",
    408: "The body did not arrive within the server's --body-timeout (connection closed)",
    422: "The request does not validate: the detail names each field and why",
    429: "The token is over its rate or its requests in flight; retry after Retry-After seconds",
    503: "The server has no room for the work now, or the registry or the model cannot "
    "answer; retry after Retry-After seconds",
}


def documented(*statuses: int, notes: dict[int, str] | None = None) -> dict[int | str, Any]:
    """The OpenAPI responses of the refusals a route can give (all in ErrorResponse)."""
    texts = {**_REFUSALS, **(notes or {})}
    return {s: {"model": ErrorResponse, "description": texts[s]} for s in statuses}


#: what every route behind a token can refuse with
GUARDED = (400, 401, 403, 408, 413, 422, 429, 503)


_Body = TypeVar("_Body", bound=BaseModel)


def parse_body(model: type[_Body], raw: bytes) -> _Body:
    """The request body validated from its bytes; problems as FastAPI's 422 (field paths
    under ``body``)."""
    try:
        return model.model_validate_json(raw)
    except PydanticValidationError as exc:
        problems: list[dict[str, Any]] = []
        for problem in exc.errors(include_url=False):
            problems.append({**problem, "loc": ("body", *problem["loc"])})
        raise RequestValidationError(problems) from None


def body_doc(model: type[BaseModel]) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": ref}}}}


def openapi_with_bodies(app: FastAPI) -> dict[str, Any]:
    """FastAPI's OpenAPI document, plus the bodies the prediction and canary routes
    validate themselves."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = FastAPI.openapi(app)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in (
        ForecastRequest,
        ScoreRequest,
        InlineJudgeRequest,
        AnalysisJudgeRequest,
        FlaggerPayload,
    ):
        doc = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, sub in doc.pop("$defs", {}).items():
            components.setdefault(name, sub)
        components[model.__name__] = doc
    app.openapi_schema = schema
    return schema


def install_errors(app: FastAPI, rejected: Counter) -> None:
    """Every refusal as JSON ``{"error", "detail"}``, counted by status."""

    def reply(
        status: int, error: str, detail: Any, headers: dict[str, str] | None = None
    ) -> Response:
        rejected.labels(str(status)).inc()
        return JSONResponse({"error": error, "detail": detail}, status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        problems = [
            {
                "loc": [str(p) for p in e.get("loc", ())],
                "msg": str(e.get("msg", "")),
                "type": str(e.get("type", "")),
            }
            for e in exc.errors()
        ]
        return reply(422, "invalid_request", problems)

    @app.exception_handler(StarletteHTTPException)  # ours, and the router's 404 and 405
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        names = {
            401: "unauthenticated",
            403: "forbidden",
            404: "not_found",
            405: "method_not_allowed",
        }
        return reply(
            exc.status_code,
            names.get(exc.status_code, "http_error"),
            exc.detail,
            dict(exc.headers or {}),
        )

    @app.exception_handler(SeriesNotFoundError)
    async def unknown_series(request: Request, exc: SeriesNotFoundError) -> Response:
        return reply(404, "unknown_series", str(exc))

    @app.exception_handler(NoFallbackError)
    async def no_fallback(request: Request, exc: NoFallbackError) -> Response:
        return reply(503, "model_unavailable", str(exc), {"Retry-After": "1"})

    @app.exception_handler(BodyRefusedError)  # counted where it was refused
    async def body_refused(request: Request, exc: BodyRefusedError) -> Response:
        assert isinstance(exc.response, Response), "a lazy BodyLimit refuses with Responses"
        return exc.response

    @app.exception_handler(ThrottledError)
    async def throttled(request: Request, exc: ThrottledError) -> Response:
        return reply(429, "throttled", str(exc), {"Retry-After": str(exc.retry_after)})

    @app.exception_handler(OverloadedError)
    async def overloaded(request: Request, exc: OverloadedError) -> Response:
        return reply(503, "overloaded", str(exc), {"Retry-After": str(exc.retry_after)})

    @app.exception_handler(RegistryUnavailableError)
    async def registry_down(request: Request, exc: RegistryUnavailableError) -> Response:
        return reply(503, "registry_unavailable", str(exc), {"Retry-After": "5"})

    @app.exception_handler(ModelphaseError)
    async def refused(request: Request, exc: ModelphaseError) -> Response:
        return reply(422, "invalid_request", str(exc))


def install_statuses(
    app: FastAPI, statuses: Mapping[type[ModelphaseError], tuple[int, str]], rejected: Counter
) -> None:
    """Answer each of ``statuses``' exceptions with its status and name, as JSON
    ``{"error", "detail"}`` (the detail its one-line message), counted by status."""

    def handler(status: int, name: str) -> Callable[[Request, Exception], Awaitable[Response]]:
        async def reply(request: Request, exc: Exception) -> Response:
            rejected.labels(str(status)).inc()
            return JSONResponse({"error": name, "detail": str(exc)}, status)

        return reply

    for cls, (status, name) in statuses.items():
        app.add_exception_handler(cls, handler(status, name))


def json_object(raw: bytes, keys: frozenset[str] | None = None) -> dict[str, Any]:
    """A posted body as a JSON object: :class:`ValidationError` (a 422 of one line) for
    text that is not JSON, another JSON value, or (with ``keys``) a key not among them."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValidationError(
            f"expected a JSON object, got text that is not JSON ({exc.__class__.__name__}). "
            "Fix: send Content-Type: application/json with a JSON body"
        ) from None
    if not isinstance(body, dict):
        raise ValidationError(f"expected a JSON object, got {type(body).__name__}")
    unknown = sorted(set(body) - keys) if keys is not None else []
    if unknown:
        raise ValidationError(f"expected the keys {', '.join(sorted(keys or ()))}, got "
                              f"{unknown[0][:40]!r}")  # fmt: skip
    return body


def json_response(
    content: Any, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """A JSON response rendered by orjson (NaN never reaches it: values are checked)."""
    return Response(orjson.dumps(content), status_code, headers, media_type="application/json")
