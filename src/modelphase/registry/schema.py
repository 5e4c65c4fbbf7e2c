"""The registry's tables (SQLAlchemy Core), the same on SQLite and PostgreSQL.

Times are integer microseconds since the epoch (UTC), exact and portable; JSON columns
hold plain JSON text. Migrations live in ``migrations/`` (Alembic); ``HEAD`` names the
newest revision this code knows.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

__all__ = [
    "HEAD",
    "KNOWN_REVISIONS",
    "alias_events",
    "aliases",
    "health",
    "metadata",
    "models",
    "monitor_leases",
    "monitor_state",
    "tokens",
    "versions",
]

#: Alembic revisions in order; the last is the schema this code writes.
KNOWN_REVISIONS = ("0001", "0002", "0003")
HEAD = KNOWN_REVISIONS[-1]

metadata = MetaData()

models = Table(
    "models",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("latest_version", Integer, nullable=False),
    Column("created_at_us", BigInteger, nullable=False),
    Column("created_by", String(200), nullable=False),
)

versions = Table(
    "model_versions",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("flavor", String(50), nullable=False),
    Column("model_class", String(200), nullable=False),
    Column("params", Text, nullable=False),
    Column("spec", Text, nullable=True),
    Column("artifact_digest", String(64), nullable=False),
    Column("artifact_size", BigInteger, nullable=False),
    Column("dataset_id", String(64), nullable=True),
    Column("code_version", String(100), nullable=False),
    Column("git_commit", String(64), nullable=True),
    Column("metrics", Text, nullable=False),
    Column("gates", Text, nullable=False),
    Column("gates_passed", Boolean, nullable=True),
    Column("owners", Text, nullable=False),
    Column("canary_plan", Text, nullable=True),
    Column("tags", Text, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at_us", BigInteger, nullable=False),
    Column("created_by_token", String(32), nullable=True),
    ForeignKeyConstraint(["name"], ["models.name"]),
    Index("ix_model_versions_dataset", "dataset_id"),
    Index("ix_model_versions_digest", "artifact_digest"),
)

aliases = Table(
    "aliases",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("alias", String(100), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("updated_at_us", BigInteger, nullable=False),
    #: a canary's share of traffic (0-1) set by the rollout; None: its plan's first step
    Column("share", Float, nullable=True),
    ForeignKeyConstraint(["name", "version"], ["model_versions.name", "model_versions.version"]),
)

alias_events = Table(
    "alias_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),
    Column("alias", String(100), nullable=False),
    Column("action", String(20), nullable=False),
    Column("from_version", Integer, nullable=True),
    Column("to_version", Integer, nullable=True),
    Column("actor", String(200), nullable=False),
    Column("at_us", BigInteger, nullable=False),
    Column("reason", Text, nullable=False),
    Column("forced", Boolean, nullable=False),
    Column("actor_token", String(32), nullable=True),
    Column("share", Float, nullable=True),
    #: JSON: what the monitor saw when it made the move (None for a person's move)
    Column("evidence", Text, nullable=True),
    ForeignKeyConstraint(["name"], ["models.name"]),
    Index("ix_alias_events_name_alias_at", "name", "alias", "at_us"),
)

tokens = Table(
    "tokens",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("role", String(20), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_by", String(200), nullable=False),
    Column("created_at_us", BigInteger, nullable=False),
    Column("revoked_at_us", BigInteger, nullable=True),
)

#: the monitor's rollout of each model: its phase (idle, shadow, canary), the candidate
#: version and canary step, since when; ``revision`` makes every write a compare-and-set
monitor_state = Table(
    "monitor_state",
    metadata,
    Column("name", String(200), ForeignKey("models.name"), primary_key=True),
    Column("phase", String(20), nullable=False),
    Column("version", Integer, nullable=True),
    Column("step", Integer, nullable=False),
    Column("since_us", BigInteger, nullable=False),
    Column("updated_at_us", BigInteger, nullable=False),
    Column("revision", Integer, nullable=False),
    Column("data", Text, nullable=False),
)

#: who may act: one holder per lease until it expires
monitor_leases = Table(
    "monitor_leases",
    metadata,
    Column("lease", String(100), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("acquired_at_us", BigInteger, nullable=False),
    Column("expires_at_us", BigInteger, nullable=False),
)

#: the monitor's verdicts on each model's production version, with their evidence
health = Table(
    "health",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), ForeignKey("models.name"), nullable=False),
    Column("version", Integer, nullable=True),
    Column("at_us", BigInteger, nullable=False),
    Column("verdict", String(20), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("evidence", Text, nullable=False),
    Index("ix_health_name_at", "name", "at_us"),
)
