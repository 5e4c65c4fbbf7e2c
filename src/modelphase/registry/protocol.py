"""What every registry offers, embedded or remote: :class:`ModelRegistry`.

:class:`~modelphase.registry.Registry` (the database itself) and
:class:`~modelphase.registry.RemoteRegistry` (its HTTP API) both provide it, with the
same arguments, return types and exceptions, so code that reads or registers models
(``train.register_run``, the model server, the CLI) is written once, against this.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Protocol, Self

from modelphase.registry.auth import Principal, Role
from modelphase.registry.records import AliasEvent, ModelSummary, ModelVersion, TokenInfo

__all__ = ["UNSET", "ModelRegistry", "Unset"]


class Unset:
    """The type of :data:`UNSET`."""

    def __repr__(self) -> str:
        return "UNSET"


#: ``promote(..., expect=UNSET)`` moves the alias whatever it held (still atomically).
UNSET: Final = Unset()


class ModelRegistry(Protocol):
    """The registry's public operations (see :class:`~modelphase.registry.Registry`)."""

    @property
    def principal(self) -> Principal: ...

    def authenticate(self, token: str) -> Principal: ...

    def register(
        self,
        name: str,
        artifact: bytes | Path,
        *,
        flavor: str = ...,
        model_class: str = ...,
        params: Mapping[str, Any] | None = ...,
        spec: Mapping[str, Any] | None = ...,
        dataset_id: str | None = ...,
        metrics: Mapping[str, Any] | None = ...,
        gates: Sequence[Mapping[str, Any]] = ...,
        owners: Sequence[str] = ...,
        canary_plan: Mapping[str, Any] | None = ...,
        tags: Mapping[str, str] | None = ...,
        code_version: str = ...,
        git_commit: str | None = ...,
    ) -> ModelVersion: ...

    def get(
        self, name: str, version: int | None = ..., *, alias: str | None = ...
    ) -> ModelVersion: ...

    def versions(self, name: str) -> list[ModelVersion]: ...

    def models(self) -> list[ModelSummary]: ...

    def load_artifact(
        self, name: str, version: int | None = ..., *, alias: str | None = ...
    ) -> bytes: ...

    def verify(self, name: str | None = ...) -> list[tuple[ModelVersion, str]]: ...

    def trained_on(self, dataset_id: str) -> list[ModelVersion]: ...

    def diff(self, name: str, a: int, b: int) -> dict[str, dict[str, list[Any]]]: ...

    def promote(
        self,
        name: str,
        version: int,
        alias: str,
        *,
        expect: int | Unset | None = ...,
        reason: str = ...,
        force: bool = ...,
    ) -> AliasEvent: ...

    def rollback(self, name: str, alias: str = ..., *, reason: str = ...) -> AliasEvent: ...

    def history(self, name: str, alias: str | None = ...) -> list[AliasEvent]: ...

    def live(self, name: str, at: datetime | None = ...) -> dict[str, int]: ...

    def create_token(self, name: str, role: Role | str) -> tuple[TokenInfo, str]: ...

    def tokens(self) -> list[TokenInfo]: ...

    def revoke_token(self, token_id: str) -> TokenInfo: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...
