"""The registry's HTTP API (``modelphase registry serve``): the one process that holds
the database's URL and the artifact store, so that everyone else needs only a token.

Every request under ``/v1/registry/`` carries ``Authorization: Bearer <token>``. The
server looks the token up (a check is trusted for at most
:data:`~modelphase.registry.registry.TOKEN_CHECK_SECONDS`, so a revocation takes effect
within that) and performs the operation through ``registry.acting(principal)``: the
registry's own role checks decide, exactly as for a local caller.

A version is registered in two requests: the artifact's bytes ``PUT`` to
``/v1/registry/artifacts/{sha256}`` (checked against the digest in the path, capped in
size, stored before anything names it), then the version's metadata ``POST``\\ ed as JSON
naming that digest. The blob is content-addressed, so the upload is idempotent (a retried
registration does not send 256 MiB again), the metadata stays small JSON that OpenAPI
describes field by field, and no multipart parser is needed.

Refusals are ``{"error": <exception class>, "detail": <message>, "data": {...}}`` with
the status from :data:`STATUSES`, so a client re-raises the exception the registry
raised, with its attributes (:mod:`modelphase.registry.remote`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from modelphase import __version__
from modelphase.exceptions import (
    AccessError,
    AliasConflictError,
    AuthenticationError,
    GateFailedError,
    IntegrityError,
    ModelNotFoundError,
    ModelphaseError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RegistryUnavailableError,
    SchemaVersionError,
    ValidationError,
)
from modelphase.registry import (
    UNSET,
    AliasEvent,
    ModelSummary,
    ModelVersion,
    Principal,
    Registry,
    Role,
    TokenInfo,
    Unset,
)
from modelphase.registry.auth import require
from modelphase.registry.registry import TOKEN_CHECK_SECONDS
from modelphase.serve.limits import BodyLimit
from modelphase.serve.registry_schemas import (
    MAX_VERSION,
    Broken,
    ErrorBody,
    NewToken,
    PromoteRequest,
    RollbackRequest,
    Stored,
    TokenRequest,
    VersionRequest,
    Whoami,
)
from modelphase.serve.server import guarded_protocol

__all__ = [
    "MAX_ARTIFACT_BYTES",
    "MAX_METADATA_BYTES",
    "PREFIX",
    "STATUSES",
    "RegistryAPIConfig",
    "create_registry_app",
    "routes",
    "uvicorn_options",
]

log = logging.getLogger("modelphase.registry_api")

PREFIX = "/v1/registry"
ARTIFACTS = f"{PREFIX}/artifacts/"
#: the largest artifact accepted by default (256 MiB)
MAX_ARTIFACT_BYTES = 256 * 1024 * 1024
#: the largest JSON body (a version's metadata...) accepted by default (1 MiB)
MAX_METADATA_BYTES = 1024 * 1024

#: Every refusal of the API: the registry's exception class -> HTTP status. An
#: exception takes the status of the first class of its MRO found here.
STATUSES: dict[type[ModelphaseError], int] = {
    AuthenticationError: 401,  # no token, or not a valid one: the same words for each
    PermissionDeniedError: 403,  # a role too low for the action
    AccessError: 403,  # other refusals of who you are (the last admin token...)
    ModelNotFoundError: 404,  # no model, version, alias or token by that name
    AliasConflictError: 409,  # a stale --expect: someone moved the alias meanwhile
    PayloadTooLargeError: 413,  # an artifact or a body over the server's limit
    GateFailedError: 422,  # a version whose gates failed cannot be promoted
    IntegrityError: 422,  # bytes that are not the digest named, or a damaged blob
    ValidationError: 422,  # a request that breaks the registry's rules
    RegistryUnavailableError: 503,  # the database cannot be reached now
    SchemaVersionError: 503,  # the database is newer than this server
    ModelphaseError: 422,
}

#: the one 401 text: it says nothing about the token that was sent (absent, malformed,
#: unknown or revoked alike)
UNAUTHENTICATED = (
    "this request has no valid token: expected 'Authorization: Bearer mp_...' with a "
    "live token of this registry. Fix: set MODELPHASE_TOKEN_FILE (or MODELPHASE_TOKEN) "
    "to a token an admin gave you"
)
UNAVAILABLE = (
    "the registry's database cannot answer now (the server's log says why). Fix: retry "
    "later; if it persists, tell the registry's operator"
)
_NAMES = {404: "NotFound", 405: "MethodNotAllowed", 408: "RequestTimeout"}


class RegistryAPIConfig:
    """How the API server runs (the command's options)."""

    def __init__(
        self,
        *,
        max_artifact: int = MAX_ARTIFACT_BYTES,
        max_metadata: int = MAX_METADATA_BYTES,
        max_uploads: int = 4,
        upload_timeout: float = 600.0,
        body_timeout: float = 30.0,
        header_timeout: float = 10.0,
        keep_alive_timeout: int = 5,
        limit_concurrency: int = 64,
    ) -> None:
        #: bytes an artifact may have
        self.max_artifact = max_artifact
        #: bytes any other request body may have
        self.max_metadata = max_metadata
        #: uploads held in memory at once (others wait, then get a 503)
        self.max_uploads = max_uploads
        #: seconds an upload may take to arrive
        self.upload_timeout = upload_timeout
        #: seconds any other body may take to arrive after its headers (then 408)
        self.body_timeout = body_timeout
        #: seconds a request's headers may take (then 408, the connection closed)
        self.header_timeout = header_timeout
        #: seconds an idle keep-alive connection stays open
        self.keep_alive_timeout = keep_alive_timeout
        #: connections served at once (more get a 503; /healthz still answers)
        self.limit_concurrency = limit_concurrency


def uvicorn_options(config: RegistryAPIConfig) -> dict[str, Any]:
    """The server options of the API, for ``uvicorn.run`` or ``uvicorn.Config``: the
    model server's guarded protocol (a deadline on headers), keep-alive and connection
    limits."""
    return {
        "http": guarded_protocol(config.header_timeout),
        "timeout_keep_alive": config.keep_alive_timeout,
        "limit_concurrency": config.limit_concurrency,
    }


class _Tokens:
    """Token checks, each trusted for less than :data:`TOKEN_CHECK_SECONDS`; keyed by the
    token's sha256 (the secret itself is never kept)."""

    MAX_ENTRIES = 10_000

    def __init__(self, registry: Registry, monotonic: Callable[[], float]) -> None:
        self.registry = registry
        self.monotonic = monotonic
        self._seen: dict[str, tuple[Principal, float]] = {}
        self._lock = threading.Lock()

    def principal(self, token: str) -> Principal:
        key = hashlib.sha256(token.encode()).hexdigest()
        started = self.monotonic()
        with self._lock:
            hit = self._seen.get(key)
        if hit is not None and started - hit[1] < TOKEN_CHECK_SECONDS:
            return hit[0]
        try:
            found = self.registry.authenticate(token)
        except AuthenticationError:
            with self._lock:
                self._seen.pop(key, None)
            raise
        with self._lock:
            if len(self._seen) >= self.MAX_ENTRIES:
                self._seen.clear()
            self._seen[key] = (found, started)  # aged from before the lookup began
        return found


class _State:
    def __init__(
        self, registry: Registry, config: RegistryAPIConfig, monotonic: Callable[[], float]
    ) -> None:
        self.registry = registry
        self.config = config
        self.tokens = _Tokens(registry, monotonic)
        self.uploads = asyncio.Semaphore(config.max_uploads)


def _state(request: Request) -> _State:
    state: _State = request.app.state.registry_api
    return state


# ----------------------------------------------------------------- the caller

_bearer = HTTPBearer(auto_error=False, description="A modelphase token (mp_...)")


def acting(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Registry:
    """The registry acting as the caller whose token came with the request."""
    if credentials is None or not credentials.credentials.strip():
        raise AuthenticationError(UNAUTHENTICATED)
    state = _state(request)
    return state.registry.acting(state.tokens.principal(credentials.credentials.strip()))


Caller = Annotated[Registry, Depends(acting)]
Name = Annotated[str, Path(max_length=200)]
AliasName = Annotated[str, Path(max_length=100)]
VersionNumber = Annotated[int, Query(ge=1, le=MAX_VERSION)]


# ------------------------------------------------------------------- endpoints


async def healthz() -> dict[str, str]:
    return {"status": "ok"}


def whoami(request: Request, reg: Caller) -> Whoami:
    who = reg.principal
    config = _state(request).config
    limits = {"artifact_bytes": config.max_artifact, "metadata_bytes": config.max_metadata}
    return Whoami(name=who.name, role=who.role.label, token_id=who.token_id, limits=limits)


def list_models(reg: Caller) -> list[ModelSummary]:
    return reg.models()


def get_version(
    name: Name,
    reg: Caller,
    version: Annotated[int | None, Query(ge=1, le=MAX_VERSION)] = None,
    alias: Annotated[str | None, Query(max_length=100)] = None,
) -> ModelVersion:
    return reg.get(name, version, alias=alias)


def list_versions(name: Name, reg: Caller) -> list[ModelVersion]:
    return reg.versions(name)


def download(
    name: Name,
    reg: Caller,
    version: Annotated[int | None, Query(ge=1, le=MAX_VERSION)] = None,
    alias: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    found = reg.get(name, version, alias=alias)
    data = reg.load_artifact(name, found.version)  # re-hashed on the way out of the store
    headers = {
        "x-modelphase-sha256": found.artifact_digest,
        "x-modelphase-version": str(found.version),
        "etag": f'"{found.artifact_digest}"',
    }
    return Response(data, media_type="application/octet-stream", headers=headers)


async def upload(
    sha256: Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")], request: Request, reg: Caller
) -> Stored:
    state = _state(request)
    limit = state.config.max_artifact
    require(reg.principal, Role.TRAINER, "uploading an artifact")  # before reading a byte
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > limit):
        raise _too_large("an artifact", limit, int(length) if length.isdigit() else None)
    try:
        await asyncio.wait_for(state.uploads.acquire(), timeout=30.0)
    except TimeoutError:
        raise HTTPException(
            503,
            f"{state.config.max_uploads} uploads are in progress. Fix: retry in a minute",
            {"retry-after": "30"},
        ) from None
    try:
        try:
            async with asyncio.timeout(state.config.upload_timeout):
                data = await _read(request, limit)
        except TimeoutError:
            raise HTTPException(
                408,
                f"expected the artifact within {state.config.upload_timeout:g} s, got it "
                "slower. Fix: upload from closer to the registry, or ask its operator",
            ) from None
        digest = await run_in_threadpool(reg.put_artifact, data, sha256=sha256)
    finally:
        state.uploads.release()
    return Stored(sha256=digest, size=len(data))


def register(name: Name, body: VersionRequest, reg: Caller) -> ModelVersion:
    fields = body.model_dump()
    digest = fields.pop("artifact_digest")
    return reg.register_stored(name, digest, **fields)


def promote(name: Name, alias: AliasName, body: PromoteRequest, reg: Caller) -> AliasEvent:
    expect: int | Unset | None = body.expect if "expect" in body.model_fields_set else UNSET
    return reg.promote(
        name, body.version, alias, expect=expect, reason=body.reason, force=body.force
    )


def rollback(name: Name, alias: AliasName, body: RollbackRequest, reg: Caller) -> AliasEvent:
    return reg.rollback(name, alias, reason=body.reason)


def history(
    name: Name, reg: Caller, alias: Annotated[str | None, Query(max_length=100)] = None
) -> list[AliasEvent]:
    return reg.history(name, alias)


def live(name: Name, reg: Caller, at: datetime | None = None) -> dict[str, int]:
    return reg.live(name, at)


def diff(
    name: Name, reg: Caller, a: VersionNumber, b: VersionNumber
) -> dict[str, dict[str, list[Any]]]:
    return reg.diff(name, a, b)


def lineage(dataset_id: Annotated[str, Path(max_length=64)], reg: Caller) -> list[ModelVersion]:
    return reg.trained_on(dataset_id)


def verify(reg: Caller, name: Annotated[str | None, Query(max_length=200)] = None) -> list[Broken]:
    return [Broken(version=v, problem=p) for v, p in reg.verify(name)]


def list_tokens(reg: Caller) -> list[TokenInfo]:
    return reg.tokens()


def create_token(body: TokenRequest, reg: Caller) -> JSONResponse:
    info, secret = reg.create_token(body.name, body.role)
    content = NewToken(token=info, secret=secret).model_dump(mode="json")
    return JSONResponse(content, 201, headers={"cache-control": "no-store"})


def revoke_token(token_id: Annotated[str, Path(max_length=32)], reg: Caller) -> TokenInfo:
    return reg.revoke_token(token_id)


# ---------------------------------------------------------------------- routes


def _refusals(*statuses: int) -> dict[int | str, Any]:
    texts = {
        401: "No valid token (the same answer for absent, unknown and revoked ones)",
        403: "The token's role may not do this",
        404: "No such model, version, alias or token",
        409: "The alias no longer holds the version named by expect",
        413: "The body is over the server's limit",
        422: "The request does not validate, or breaks the registry's rules",
        503: "The database cannot answer now; retry after Retry-After seconds",
    }
    return {s: {"model": ErrorBody, "description": texts[s]} for s in statuses}


_READ = _refusals(401, 404, 422, 503)
_WRITE = _refusals(401, 403, 404, 409, 413, 422, 503)


def _route(path: str, endpoint: Callable[..., Any], method: str, **options: Any) -> APIRoute:
    responses = options.pop("responses", _READ)
    return APIRoute(
        PREFIX + path, endpoint, methods=[method], responses=responses, tags=["registry"],
        **options,
    )  # fmt: skip


routes: list[APIRoute] = [
    APIRoute("/healthz", healthz, methods=["GET"], tags=["operations"], summary="Alive"),
    _route("/whoami", whoami, "GET", summary="Who the token is, and the size limits"),
    _route("/models", list_models, "GET", summary="Every model, its latest version, aliases"),
    _route(
        "/models/{name}",
        get_version,
        "GET",
        summary="A version: by ?version=, by ?alias=, or the latest",
    ),
    _route("/models/{name}/versions", list_versions, "GET", summary="Every version of a model"),
    _route(
        "/models/{name}/versions",
        register,
        "POST",
        status_code=201,
        responses=_WRITE,
        summary="Register a version (trainer) whose artifact was uploaded",
    ),
    _route(
        "/models/{name}/artifact",
        download,
        "GET",
        response_class=Response,
        summary="A version's artifact bytes (X-Modelphase-Sha256: verify them)",
    ),
    _route(
        "/artifacts/{sha256}",
        upload,
        "PUT",
        responses=_WRITE,
        summary="Upload an artifact's bytes (trainer), named by their sha256",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/octet-stream": {"schema": {"type": "string"}}},
            }
        },
    ),
    _route(
        "/models/{name}/aliases/{alias}/promote",
        promote,
        "POST",
        responses=_WRITE,
        summary="Point an alias at a version (deployer), compare-and-set, audited",
    ),
    _route(
        "/models/{name}/aliases/{alias}/rollback",
        rollback,
        "POST",
        responses=_WRITE,
        summary="Move an alias back to the version it held before (deployer)",
    ),
    _route("/models/{name}/history", history, "GET", summary="Every alias move, oldest first"),
    _route("/models/{name}/live", live, "GET", summary="Which version each alias held at ?at="),
    _route("/models/{name}/diff", diff, "GET", summary="What differs between ?a= and ?b="),
    _route(
        "/datasets/{dataset_id}/versions", lineage, "GET", summary="Versions trained on a dataset"
    ),
    _route("/verify", verify, "GET", summary="Re-hash the artifacts; the broken ones"),
    _route("/tokens", list_tokens, "GET", responses=_WRITE, summary="Every token (admin)"),
    _route(
        "/tokens",
        create_token,
        "POST",
        status_code=201,
        response_model=NewToken,
        responses=_WRITE,
        summary="Create a token (admin); its secret is in this answer only",
    ),
    _route(
        "/tokens/{token_id}/revoke",
        revoke_token,
        "POST",
        responses=_WRITE,
        summary="Revoke a token (admin)",
    ),
]


# ------------------------------------------------------------------------ app


def create_registry_app(
    registry: Registry,
    config: RegistryAPIConfig | None = None,
    *,
    monotonic: Callable[[], float] = time.monotonic,
) -> FastAPI:
    """The API over ``registry`` (opened with the database's credentials, which it
    does not close); ``monotonic`` is the clock of the token checks."""
    config = config or RegistryAPIConfig()
    app = FastAPI(
        title="modelphase registry",
        version=__version__,
        summary="Model versions, aliases, lineage and tokens, for callers with a token",
        routes=list(routes),
    )
    app.state.registry_api = _State(registry, config, monotonic)
    app.add_exception_handler(ModelphaseError, _refused)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _invalid)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]
    app.add_middleware(_Limits, max_metadata=config.max_metadata, timeout=config.body_timeout)
    return app


class _Limits:
    """Every body at most ``max_metadata`` bytes, except artifact uploads, which their
    endpoint reads itself (after the token check, streamed, capped at the artifact
    limit)."""

    def __init__(self, app: ASGIApp, max_metadata: int, timeout: float) -> None:
        self.app = app
        self.limited = BodyLimit(
            app,
            max_metadata,
            lambda size: _too_large_reply(max_metadata, size),
            timeout=timeout,
            too_slow=lambda: _too_slow_reply(timeout),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        upload = scope["type"] == "http" and scope["method"] == "PUT"
        if upload and str(scope["path"]).startswith(ARTIFACTS):
            await self.app(scope, receive, send)
        else:
            await self.limited(scope, receive, send)


def _too_large(what: str, limit: int, size: int | None) -> PayloadTooLargeError:
    got = f"{size:,} bytes" if size is not None else "more"
    return PayloadTooLargeError(
        f"expected {what} of at most {limit:,} bytes, got {got}; nothing was stored. Fix: "
        "send less, or ask the registry's operator to raise the limit",
        limit=limit,
        size=size,
    )


def _too_large_reply(limit: int, size: str) -> ASGIApp:
    exc = _too_large("a request body", limit, int(size) if size.isdigit() else None)
    return _reply(413, exc, str(exc))


def _too_slow_reply(timeout: float) -> ASGIApp:
    detail = (
        f"expected the request's body within {timeout:g} s of its headers, got it "
        "unfinished. Fix: send the whole body at once"
    )
    body = {"error": "RequestTimeout", "detail": detail, "data": {}}
    return JSONResponse(body, 408, headers={"connection": "close"})


async def _read(request: Request, limit: int) -> bytes:
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > limit:
            raise _too_large("an artifact", limit, None)
    return bytes(data)


def _status(exc: ModelphaseError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUSES:
            return STATUSES[cls]
    return 422


def _reply(
    status: int, exc: ModelphaseError, detail: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {"error": type(exc).__name__, "detail": detail, "data": _data(exc)}
    return JSONResponse(body, status, headers=headers)


async def _refused(request: Request, exc: ModelphaseError) -> Response:
    status = _status(exc)
    if status == 401:
        return JSONResponse(
            {"error": "AuthenticationError", "detail": UNAUTHENTICATED, "data": {}},
            401,
            headers={"www-authenticate": 'Bearer realm="modelphase registry"'},
        )
    if status == 503:  # the message names the database: it stays in the server's log
        log.warning("%s %s: %s", request.method, request.url.path, exc)
        body = {"error": type(exc).__name__, "detail": UNAVAILABLE, "data": {}}
        return JSONResponse(body, 503, headers={"retry-after": "5"})
    return _reply(status, exc, str(exc))


async def _invalid(request: Request, exc: RequestValidationError) -> Response:
    problems = [
        {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))}
        for e in exc.errors()
    ]
    listed = "; ".join(f"{'.'.join(p['loc'])}: {p['msg']}" for p in problems[:5])
    more = f" and {len(problems) - 5} more" if len(problems) > 5 else ""
    detail = f"the request does not validate: {listed}{more}. Fix: see /docs for each field"
    body = {"error": "ValidationError", "detail": detail, "data": {"problems": problems}}
    return JSONResponse(body, 422)


async def _http_error(request: Request, exc: HTTPException) -> Response:
    body = {"error": _NAMES.get(exc.status_code, "HTTPError"), "detail": exc.detail, "data": {}}
    return JSONResponse(body, exc.status_code, headers=dict(exc.headers or {}))


def _data(exc: ModelphaseError) -> dict[str, Any]:
    """The exception's public attributes that are plain JSON."""
    return {
        key: value for key, value in vars(exc).items() if not key.startswith("_") and _plain(value)
    }


def _plain(value: Any) -> bool:
    if value is None or isinstance(value, str | int | float | bool):
        return True
    if isinstance(value, list | tuple):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return False
