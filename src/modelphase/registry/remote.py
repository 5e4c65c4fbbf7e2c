"""A registry reached through its HTTP API (``modelphase registry serve``) with a token.

:class:`RemoteRegistry` has :class:`~modelphase.registry.Registry`'s methods, arguments,
return types and exceptions (the server's error JSON names the exception class, which is
raised again here with its attributes), so code written against
:class:`~modelphase.registry.protocol.ModelRegistry` runs on either. It needs no
database credentials: the server checks the token and the role of every request.
Artifacts are verified by sha256 as they arrive.

:func:`open_registry` picks one from a URL: ``http://`` or ``https://`` is the API,
anything else a database.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from modelphase import exceptions
from modelphase.config import get_settings
from modelphase.exceptions import (
    AuthenticationError,
    IntegrityError,
    ModelNotFoundError,
    ModelphaseError,
    PayloadTooLargeError,
    RegistryError,
    RegistryUnavailableError,
    ValidationError,
)
from modelphase.registry._rows import version_metadata
from modelphase.registry.auth import Principal, Role
from modelphase.registry.protocol import UNSET, Unset
from modelphase.registry.records import (
    AliasEvent,
    ModelSummary,
    ModelVersion,
    TokenInfo,
    check_alias,
    check_name,
    dumps,
)
from modelphase.registry.registry import TOKEN_CHECK_SECONDS, Registry

__all__ = ["RemoteRegistry", "is_remote", "open_registry"]

API = "/v1/registry"
#: the largest artifact accepted from a server, unless it says its own limit is higher
MAX_DOWNLOAD_BYTES = 1024 * 1024 * 1024

_Record = TypeVar("_Record")


def is_remote(url: str | None) -> bool:
    """Whether ``url`` names the registry's HTTP API (rather than a database)."""
    return bool(url) and str(url).lower().startswith(("http://", "https://"))


def open_registry(url: str | None = None, *, token: str | None = None) -> Registry | RemoteRegistry:
    """The registry at ``url`` (default: MODELPHASE_REGISTRY_URL, else SQLite in the
    home folder): a :class:`RemoteRegistry` for an ``http(s)://`` URL, else a
    :class:`Registry` on the database. ``token`` defaults to MODELPHASE_TOKEN_FILE or
    MODELPHASE_TOKEN."""
    settings = get_settings()
    url = url or settings.registry_url
    if is_remote(url):
        assert url is not None
        return RemoteRegistry(url, token=token or settings.token)
    return Registry(url, token=token)


class RemoteRegistry:
    """The registry behind ``url`` (``http(s)://host:port``), acting as ``token``.

    ``transport`` is an httpx transport (tests, proxies); ``timeout`` the seconds any
    one request may take (an artifact's transfer included). Raises
    :class:`AuthenticationError` at once if the token is not valid there.

    Use it as a context manager, or :meth:`close` it.
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 300.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not is_remote(url):
            raise ValidationError(
                f"expected the registry API's URL (http://host:port or https://...), got "
                f"{_shown(url)!r}. Fix: point MODELPHASE_REGISTRY_URL at "
                "`modelphase registry serve`"
            )
        if not token:
            raise AuthenticationError(
                f"the registry API at {_shown(url)} needs a token. Fix: set "
                "MODELPHASE_TOKEN_FILE (or MODELPHASE_TOKEN, or pass --token-file) to a "
                "token an admin gave you"
            )
        self.url = _shown(url)
        self._client = httpx.Client(
            base_url=url.rstrip("/"),
            headers={"authorization": f"Bearer {token}", "user-agent": "modelphase"},
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            transport=transport,
            follow_redirects=False,
        )
        self._monotonic = monotonic
        try:
            self._principal, self._limits = self._whoami()
        except BaseException:
            self._client.close()
            raise
        self._checked = monotonic()

    # --------------------------------------------------------------- session

    @property
    def principal(self) -> Principal:
        """Who the token is, asked again once the last answer is older than
        :data:`TOKEN_CHECK_SECONDS` (an :class:`AuthenticationError` once revoked)."""
        now = self._monotonic()
        if now - self._checked >= TOKEN_CHECK_SECONDS:
            self._principal, self._limits = self._whoami()
            self._checked = now
        return self._principal

    def authenticate(self, token: str) -> Principal:
        """Who another token is, asked of the server (for ``modelphase serve`` checking
        its own callers)."""
        body = self._json("GET", "/whoami", headers={"authorization": f"Bearer {token}"})
        return _principal(body)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> RemoteRegistry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -------------------------------------------------------------- versions

    def register(
        self,
        name: str,
        artifact: bytes | Path,
        *,
        flavor: str = "external",
        model_class: str = "",
        params: Mapping[str, Any] | None = None,
        spec: Mapping[str, Any] | None = None,
        dataset_id: str | None = None,
        metrics: Mapping[str, Any] | None = None,
        gates: Sequence[Mapping[str, Any]] = (),
        owners: Sequence[str] = (),
        canary_plan: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
        code_version: str = "",
        git_commit: str | None = None,
    ) -> ModelVersion:
        """Upload the artifact (named by its sha256), then register the version that
        names it: a failure in between leaves an unreferenced blob, no version."""
        # the registry's own checks, before anything is sent
        version_metadata(
            name, flavor, model_class, params, spec, dataset_id, metrics, gates, owners,
            canary_plan, tags, code_version, git_commit,
        )  # fmt: skip
        data = Path(artifact).read_bytes() if isinstance(artifact, Path) else bytes(artifact)
        limit = self._limits.get("artifact_bytes")
        if limit is not None and len(data) > limit:
            raise PayloadTooLargeError(
                f"expected an artifact of at most {limit:,} bytes (the limit of the registry "
                f"at {self.url}), got {len(data):,} bytes; nothing was sent. Fix: make the "
                "model smaller, or ask the registry's operator to raise the limit",
                limit=limit,
                size=len(data),
            )
        digest = hashlib.sha256(data).hexdigest()
        self._json(
            "PUT",
            f"/artifacts/{digest}",
            content=data,
            headers={"content-type": "application/octet-stream"},
        )
        metadata = {
            "artifact_digest": digest,
            "flavor": flavor,
            "model_class": model_class,
            "params": dict(params or {}),
            "spec": dict(spec) if spec is not None else None,
            "dataset_id": dataset_id,
            "metrics": dict(metrics or {}),
            "gates": [dict(g) for g in gates],
            "owners": list(owners),
            "canary_plan": dict(canary_plan) if canary_plan is not None else None,
            "tags": {str(k): str(v) for k, v in (tags or {}).items()},
            "code_version": code_version,
            "git_commit": git_commit,
        }
        body = self._json(
            "POST",
            f"/models/{_name(name)}/versions",
            content=dumps(metadata, "metadata"),
            headers={"content-type": "application/json"},
        )
        return _record(ModelVersion, body)

    def get(
        self, name: str, version: int | None = None, *, alias: str | None = None
    ) -> ModelVersion:
        """A version by number, by alias, or the latest."""
        query = _which(version, alias)
        return _record(ModelVersion, self._json("GET", f"/models/{_name(name)}", params=query))

    def versions(self, name: str) -> list[ModelVersion]:
        body = self._json("GET", f"/models/{_name(name)}/versions")
        return [_record(ModelVersion, v) for v in body]

    def models(self) -> list[ModelSummary]:
        """Every model with its latest version and current aliases."""
        return [_record(ModelSummary, m) for m in self._json("GET", "/models")]

    def load_artifact(
        self, name: str, version: int | None = None, *, alias: str | None = None
    ) -> bytes:
        """The artifact bytes of a version, verified against the sha256 it was
        registered with."""
        path = f"{API}/models/{_name(name)}/artifact"
        limit = max(MAX_DOWNLOAD_BYTES, self._limits.get("artifact_bytes", 0))
        response = self._send("GET", path, params=_which(version, alias), stream=True)
        try:
            expected = response.headers.get("x-modelphase-sha256", "")
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLargeError(
                        f"expected an artifact of at most {limit:,} bytes from {self.url}, "
                        "got more. Fix: check that the URL is the modelphase registry API",
                        limit=limit,
                    )
                chunks.append(chunk)
        except httpx.TransportError as exc:
            raise RegistryUnavailableError(
                f"the registry API at {self.url} broke off sending the artifact of {name} "
                f"({type(exc).__name__}). Fix: retry"
            ) from None
        finally:
            response.close()
        data = b"".join(chunks)
        actual = hashlib.sha256(data).hexdigest()
        if not expected or actual != expected:
            raise IntegrityError(
                f"the artifact of {name} from {self.url} fails its sha256 check (expected "
                f"{expected[:16] or 'a digest'}..., got {actual[:16]}..., {len(data):,} "
                "bytes); it will not be loaded. Fix: retry; if it persists, run "
                "`modelphase models verify` on the registry",
                expected=expected,
                actual=actual,
            )
        return data

    def verify(self, name: str | None = None) -> list[tuple[ModelVersion, str]]:
        """Re-hash every artifact (of ``name``, or all) on the server; the broken ones."""
        params = {"name": name} if name is not None else None
        body = self._json("GET", "/verify", params=params)
        return [(_record(ModelVersion, b["version"]), str(b["problem"])) for b in body]

    # --------------------------------------------------------------- lineage

    def trained_on(self, dataset_id: str) -> list[ModelVersion]:
        """The versions trained on a dataset."""
        if not dataset_id or len(dataset_id) > 64 or "/" in dataset_id:
            return []  # no version can name it
        body = self._json("GET", f"/datasets/{quote(dataset_id, safe='')}/versions")
        return [_record(ModelVersion, v) for v in body]

    def diff(self, name: str, a: int, b: int) -> dict[str, dict[str, list[Any]]]:
        """What differs between versions ``a`` and ``b`` of ``name``."""
        result: dict[str, dict[str, list[Any]]] = self._json(
            "GET", f"/models/{_name(name)}/diff", params={"a": a, "b": b}
        )
        return result

    # --------------------------------------------------------------- aliases

    def promote(
        self,
        name: str,
        version: int,
        alias: str,
        *,
        expect: int | Unset | None = UNSET,
        reason: str = "",
        force: bool = False,
    ) -> AliasEvent:
        """Point ``alias`` at ``version`` if it still holds ``expect`` (None: unset)."""
        check_alias(alias)
        body: dict[str, Any] = {"version": version, "reason": reason, "force": force}
        if not isinstance(expect, Unset):
            body["expect"] = expect
        path = f"/models/{_name(name)}/aliases/{alias}/promote"
        return _record(AliasEvent, self._json("POST", path, json=body))

    def rollback(self, name: str, alias: str = "production", *, reason: str = "") -> AliasEvent:
        """Move ``alias`` back to the version it held before its current one."""
        check_alias(alias)
        path = f"/models/{_name(name)}/aliases/{alias}/rollback"
        return _record(AliasEvent, self._json("POST", path, json={"reason": reason}))

    def history(self, name: str, alias: str | None = None) -> list[AliasEvent]:
        """Every move of the aliases of ``name`` (or of one alias), oldest first."""
        if alias is not None:
            check_alias(alias)
        params = {"alias": alias} if alias is not None else None
        body = self._json("GET", f"/models/{_name(name)}/history", params=params)
        return [_record(AliasEvent, e) for e in body]

    def live(self, name: str, at: datetime | None = None) -> dict[str, int]:
        """Which version each alias of ``name`` pointed to at ``at`` (default: now)."""
        if at is not None and at.tzinfo is None:
            raise ValidationError(f"expected a time with a zone, got {at.isoformat()}")
        params = {"at": at.isoformat()} if at is not None else None
        body = self._json("GET", f"/models/{_name(name)}/live", params=params)
        return {str(k): int(v) for k, v in body.items()}

    # ---------------------------------------------------------------- tokens

    def create_token(self, name: str, role: Role | str) -> tuple[TokenInfo, str]:
        """A new token: its record and its secret (shown once, stored hashed)."""
        label = role.label if isinstance(role, Role) else Role.parse(role).label
        if not name.strip():
            raise ValidationError("expected a token name (who or what uses it), got ''")
        body = self._json("POST", "/tokens", json={"name": name, "role": label})
        return _record(TokenInfo, body["token"]), str(body["secret"])

    def tokens(self) -> list[TokenInfo]:
        return [_record(TokenInfo, t) for t in self._json("GET", "/tokens")]

    def revoke_token(self, token_id: str) -> TokenInfo:
        if not token_id or len(token_id) > 32 or not token_id.isalnum():
            raise ModelNotFoundError(
                f"no token {token_id!r}. Fix: list them with `modelphase tokens list`",
                name=token_id,
            )
        return _record(TokenInfo, self._json("POST", f"/tokens/{token_id}/revoke"))

    # ------------------------------------------------------------- internals

    def _whoami(self) -> tuple[Principal, dict[str, int]]:
        body = self._json("GET", "/whoami")
        limits = {str(k): int(v) for k, v in dict(body.get("limits") or {}).items()}
        return _principal(body), limits

    def _json(self, method: str, path: str, **options: Any) -> Any:
        response = self._send(method, API + path, **options)
        try:
            return response.json()
        except ValueError:
            raise RegistryError(
                f"expected JSON from the registry API at {self.url}{API}{path}, got "
                f"{response.headers.get('content-type', 'no content type')}. Fix: check "
                "that MODELPHASE_REGISTRY_URL is `modelphase registry serve`"
            ) from None

    def _send(
        self, method: str, path: str, *, stream: bool = False, **options: Any
    ) -> httpx.Response:
        request = self._client.build_request(method, path, **options)
        try:
            response = self._client.send(request, stream=stream)
        except httpx.TimeoutException as exc:
            raise RegistryUnavailableError(
                f"the registry API at {self.url} did not answer {method} {path} in time "
                f"({type(exc).__name__}). Fix: retry, or raise the client's timeout"
            ) from None
        except httpx.TransportError as exc:
            raise RegistryUnavailableError(
                f"cannot reach the registry API at {self.url}: {exc or type(exc).__name__}. "
                "Fix: check MODELPHASE_REGISTRY_URL and that `modelphase registry serve` runs"
            ) from None
        if response.status_code >= 400:
            if stream:
                response.read()
                response.close()
            raise _error(response, self.url)
        return response


# ----------------------------------------------------------------- helpers

#: the exceptions a server may name: every modelphase error class, and nothing else
_RAISABLE: dict[str, type[ModelphaseError]] = {
    name: obj
    for name in exceptions.__all__
    if isinstance(obj := getattr(exceptions, name), type) and issubclass(obj, ModelphaseError)
}


def _error(response: httpx.Response, url: str) -> ModelphaseError:
    """The exception the server's error JSON names, with its message and attributes."""
    status = response.status_code
    try:
        body = response.json()
        name, detail = str(body["error"]), str(body["detail"])
        data = body.get("data") or {}
    except (ValueError, KeyError, TypeError):
        name, detail, data = "", response.text[:200].strip(), {}
    cls = _RAISABLE.get(name)
    if cls is None:
        fallback = RegistryUnavailableError if status in (502, 503, 504) else RegistryError
        return fallback(
            f"the registry API at {url} answered {status} "
            f"{response.reason_phrase}{': ' + detail if detail else ''}. Fix: check that "
            "MODELPHASE_REGISTRY_URL is `modelphase registry serve` and the request"
        )
    exc = cls.__new__(cls)
    Exception.__init__(exc, detail)
    for key, value in dict(data).items() if isinstance(data, dict) else ():
        if isinstance(key, str) and key.isidentifier() and not key.startswith("_"):
            setattr(exc, key, value)
    return exc


def _principal(body: Any) -> Principal:
    try:
        return Principal(str(body["name"]), Role.parse(str(body["role"])), body.get("token_id"))
    except (KeyError, TypeError, ValidationError):
        raise RegistryError(
            "expected the registry API's whoami answer (name, role), got something else. "
            "Fix: check that MODELPHASE_REGISTRY_URL is `modelphase registry serve`"
        ) from None


def _record(cls: type[_Record], body: Any) -> _Record:
    """A record from its JSON, ignoring fields a newer server may add."""
    if not isinstance(body, dict):
        raise RegistryError(
            f"expected a {cls.__name__} object from the registry API, got {body!r:.80}"
        )
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in body.items() if k in known})


def _name(name: str) -> str:
    """A model name as a path segment; one the registry could never hold is not found,
    as the registry would say (without sending it)."""
    try:
        return check_name(name)
    except ValidationError:
        raise ModelNotFoundError(
            f"no model {name!r} in the registry. Fix: list them with `modelphase models list`",
            name=name,
        ) from None


def _which(version: int | None, alias: str | None) -> dict[str, Any]:
    if alias is not None:
        check_alias(alias)
        return {"alias": alias}
    return {"version": version} if version is not None else {}


def _shown(url: str) -> str:
    """``url`` without credentials, path or query, for messages."""
    try:
        parsed = httpx.URL(url)
        port = f":{parsed.port}" if parsed.port else ""
        return f"{parsed.scheme}://{parsed.host}{port}"
    except (httpx.InvalidURL, TypeError):
        return "(an unparsable URL)"
