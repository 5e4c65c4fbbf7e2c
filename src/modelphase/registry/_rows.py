"""The registry's rows as records and back: a version's metadata columns, checked
before anything is stored, and the converters from database rows to the public records."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Row

from modelphase.exceptions import ValidationError
from modelphase.registry.records import (
    AliasEvent,
    ModelVersion,
    TokenInfo,
    check_name,
    dumps,
    format_us,
    gates_passed,
)

__all__ = [
    "epoch_us",
    "event_of",
    "is_hex",
    "token_of",
    "version_metadata",
    "version_of",
    "which",
]


def version_metadata(
    name: str,
    flavor: str,
    model_class: str,
    params: Mapping[str, Any] | None,
    spec: Mapping[str, Any] | None,
    dataset_id: str | None,
    metrics: Mapping[str, Any] | None,
    gates: Sequence[Mapping[str, Any]],
    owners: Sequence[str],
    canary_plan: Mapping[str, Any] | None,
    tags: Mapping[str, str] | None,
    code_version: str,
    git_commit: str | None,
) -> dict[str, Any]:
    """A version's metadata columns, checked (before its artifact is stored or sent)."""
    check_name(name)
    if dataset_id is not None and not is_hex(dataset_id):
        raise ValidationError(f"expected a dataset id of hex digits, got {dataset_id!r}")
    return {
        "flavor": flavor,
        "model_class": model_class,
        "params": dumps(dict(params or {}), "params"),
        "spec": dumps(dict(spec), "spec") if spec is not None else None,
        "dataset_id": dataset_id,
        "code_version": code_version,
        "git_commit": git_commit,
        "metrics": dumps(dict(metrics or {}), "metrics"),
        "gates": dumps([dict(g) for g in gates], "gates"),
        "gates_passed": gates_passed(gates),
        "owners": dumps(list(owners), "owners"),
        "canary_plan": dumps(dict(canary_plan), "canary plan") if canary_plan else None,
        "tags": dumps({str(k): str(v) for k, v in (tags or {}).items()}, "tags"),
    }


def version_of(row: Row[Any]) -> ModelVersion:
    return ModelVersion(
        name=row.name,
        version=row.version,
        flavor=row.flavor,
        model_class=row.model_class,
        params=json.loads(row.params),
        artifact_digest=row.artifact_digest,
        artifact_size=row.artifact_size,
        created_by=row.created_by,
        created_by_token=row.created_by_token,
        created_at=format_us(row.created_at_us) or "",
        spec=json.loads(row.spec) if row.spec else None,
        dataset_id=row.dataset_id,
        code_version=row.code_version,
        git_commit=row.git_commit,
        metrics=json.loads(row.metrics),
        gates=json.loads(row.gates),
        gates_passed=row.gates_passed,
        owners=json.loads(row.owners),
        canary_plan=json.loads(row.canary_plan) if row.canary_plan else None,
        tags=json.loads(row.tags),
    )


def event_of(row: Row[Any]) -> AliasEvent:
    return AliasEvent(
        id=row.id,
        name=row.name,
        alias=row.alias,
        action=row.action,
        from_version=row.from_version,
        to_version=row.to_version,
        actor=row.actor,
        at=format_us(row.at_us) or "",
        reason=row.reason,
        forced=bool(row.forced),
        actor_token=row.actor_token,
        share=row.share,
        evidence=json.loads(row.evidence) if row.evidence else None,
    )


def token_of(row: Row[Any]) -> TokenInfo:
    return TokenInfo(
        row.id,
        row.name,
        row.role,
        row.created_by,
        format_us(row.created_at_us) or "",
        format_us(row.revoked_at_us),
    )


def epoch_us(when: datetime) -> int:
    if when.tzinfo is None:
        raise ValidationError(f"expected a time with a zone, got {when.isoformat()}")
    delta = when.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def is_hex(text: str) -> bool:
    return bool(text) and len(text) <= 64 and all(c in "0123456789abcdef" for c in text)


def which(version: int | None) -> str:
    return "nothing" if version is None else f"version {version}"
