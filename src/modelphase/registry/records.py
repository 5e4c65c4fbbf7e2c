"""What the registry returns: model versions, alias events, tokens, and their JSON.

Also the pure helpers the registry shares: name checks, JSON encoding, time units, the
diff of two versions, and which version each alias held at a time.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from modelphase.exceptions import ValidationError

__all__ = [
    "AliasEvent",
    "ModelSummary",
    "ModelVersion",
    "TokenInfo",
    "check_alias",
    "check_name",
    "diff_versions",
    "dumps",
    "format_us",
    "live_at",
]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}\Z")
_ALIAS = re.compile(r"[a-z][a-z0-9_-]{0,99}\Z")


@dataclass(frozen=True)
class ModelVersion:
    """One immutable version of a model."""

    name: str
    version: int
    flavor: str
    model_class: str
    params: dict[str, Any]
    artifact_digest: str
    artifact_size: int
    created_by: str
    created_at: str
    spec: dict[str, Any] | None = None
    dataset_id: str | None = None
    code_version: str = ""
    git_commit: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    gates: list[dict[str, Any]] = field(default_factory=list)
    gates_passed: bool | None = None
    owners: list[str] = field(default_factory=list)
    canary_plan: dict[str, Any] | None = None
    tags: dict[str, str] = field(default_factory=dict)
    #: the id of the token that registered it (None: the local admin or a bootstrap)
    created_by_token: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def failed_gates(self) -> list[str]:
        return [str(g.get("name", "?")) for g in self.gates if not g.get("passed", False)]


@dataclass(frozen=True)
class AliasEvent:
    """One move of an alias: who, when, from which version to which, and why."""

    id: int
    name: str
    alias: str
    action: str
    from_version: int | None
    to_version: int | None
    actor: str
    at: str
    reason: str
    forced: bool
    #: the id of the token that moved it (None: the local admin)
    actor_token: str | None = None
    #: a canary's share of traffic after the move (None: its plan's)
    share: float | None = None
    #: what the monitor saw when it moved the alias (None: a person's move)
    evidence: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ModelSummary:
    name: str
    latest_version: int
    aliases: dict[str, int]
    owners: list[str]
    created_at: str
    #: the traffic share the rollout gave an alias (a canary's), where it set one
    shares: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TokenInfo:
    """A token's public record (never its secret)."""

    id: str
    name: str
    role: str
    created_by: str
    created_at: str
    revoked_at: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise ValidationError(
            f"expected a model name of letters, digits, '.', '_' or '-' (at most 200, "
            f"starting with a letter or digit), got {name!r}"
        )
    return name


def check_alias(alias: str) -> str:
    if not _ALIAS.match(alias):
        raise ValidationError(
            f"expected an alias of lower-case letters, digits, '_' or '-' starting with a "
            f"letter (production, canary, shadow, staging...), got {alias!r}"
        )
    return alias


def dumps(value: Any, what: str) -> str:
    """Canonical JSON text of ``value``; NaN, Inf and non-JSON types are refused."""
    try:
        return json.dumps(value, sort_keys=True, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise ValidationError(
            f"{what}: expected plain JSON (objects, lists, strings, finite numbers), got {exc}"
        ) from exc


def format_us(us: int | None) -> str | None:
    """RFC 3339 UTC with microseconds."""
    if us is None:
        return None
    stamp = datetime.fromtimestamp(us // 1_000_000, UTC).replace(microsecond=us % 1_000_000)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def live_at(events: Iterable[AliasEvent]) -> dict[str, int]:
    """Which version each alias holds after ``events`` (in order); deleted ones drop."""
    state: dict[str, int] = {}
    for event in events:
        if event.to_version is None:
            state.pop(event.alias, None)
        else:
            state[event.alias] = event.to_version
    return dict(sorted(state.items()))


def diff_versions(a: ModelVersion, b: ModelVersion) -> dict[str, dict[str, list[Any]]]:
    """What differs between two versions, by section: ``{section: {key: [a, b]}}``."""
    sections: dict[str, tuple[Any, Any]] = {
        "params": (a.params, b.params),
        "metrics": (a.metrics, b.metrics),
        "data": ({"dataset_id": a.dataset_id}, {"dataset_id": b.dataset_id}),
        "spec": (a.spec or {}, b.spec or {}),
        "code": (
            {"code_version": a.code_version, "git_commit": a.git_commit},
            {"code_version": b.code_version, "git_commit": b.git_commit},
        ),
        "model": (
            {"model_class": a.model_class, "flavor": a.flavor, "artifact": a.artifact_digest},
            {"model_class": b.model_class, "flavor": b.flavor, "artifact": b.artifact_digest},
        ),
        "gates": (
            {str(g.get("name")): g.get("passed") for g in a.gates},
            {str(g.get("name")): g.get("passed") for g in b.gates},
        ),
    }
    out: dict[str, dict[str, list[Any]]] = {}
    for section, (left, right) in sections.items():
        fa, fb = _flatten(left), _flatten(right)
        changed = {
            key: [fa.get(key), fb.get(key)]
            for key in sorted(set(fa) | set(fb))
            if fa.get(key) != fb.get(key)
        }
        if changed:
            out[section] = changed
    return out


def gates_passed(gates: Sequence[Mapping[str, Any]]) -> bool | None:
    """True if every gate passed, False if any failed, None when there are none."""
    for gate in gates:
        if not isinstance(gate, Mapping) or "name" not in gate or "passed" not in gate:
            raise ValidationError(
                f"expected each gate as an object with 'name' and 'passed', got {gate!r}"
            )
    if not gates:
        return None
    return all(bool(g["passed"]) for g in gates)


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): value}
