"""The model registry: versions with lineage, content-addressed artifacts, aliases with
an audited history (which version was live when), tokens and roles; on SQLite by
default and PostgreSQL by URL, or through its HTTP API with a token
(:class:`RemoteRegistry`; :func:`open_registry` picks by URL)."""

from modelphase.registry.artifacts import ArtifactStore
from modelphase.registry.auth import LOCAL_ADMIN, Principal, Role
from modelphase.registry.protocol import ModelRegistry
from modelphase.registry.records import (
    AliasEvent,
    ModelSummary,
    ModelVersion,
    TokenInfo,
    diff_versions,
    live_at,
)
from modelphase.registry.registry import (
    DATABASE_ADMIN,
    TOKEN_CHECK_SECONDS,
    UNSET,
    Registry,
    Unset,
)
from modelphase.registry.remote import RemoteRegistry, is_remote, open_registry
from modelphase.registry.schema import HEAD

__all__ = [
    "DATABASE_ADMIN",
    "HEAD",
    "LOCAL_ADMIN",
    "TOKEN_CHECK_SECONDS",
    "UNSET",
    "AliasEvent",
    "ArtifactStore",
    "ModelRegistry",
    "ModelSummary",
    "ModelVersion",
    "Principal",
    "Registry",
    "RemoteRegistry",
    "Role",
    "TokenInfo",
    "Unset",
    "diff_versions",
    "is_remote",
    "live_at",
    "open_registry",
]
