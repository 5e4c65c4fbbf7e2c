"""The model registry: versions with lineage, content-addressed artifacts, aliases with
an audited history (which version was live when), tokens and roles; on SQLite by
default and PostgreSQL by URL."""

from modelphase.registry.artifacts import ArtifactStore
from modelphase.registry.auth import LOCAL_ADMIN, Principal, Role
from modelphase.registry.records import (
    AliasEvent,
    ModelSummary,
    ModelVersion,
    TokenInfo,
    diff_versions,
    live_at,
)
from modelphase.registry.registry import UNSET, Registry, Unset
from modelphase.registry.schema import HEAD

__all__ = [
    "HEAD",
    "LOCAL_ADMIN",
    "UNSET",
    "AliasEvent",
    "ArtifactStore",
    "ModelSummary",
    "ModelVersion",
    "Principal",
    "Registry",
    "Role",
    "TokenInfo",
    "Unset",
    "diff_versions",
    "live_at",
]
