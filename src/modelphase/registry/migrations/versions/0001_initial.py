"""The first schema: models, versions, aliases and their events, tokens.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "models",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("latest_version", sa.Integer, nullable=False),
        sa.Column("created_at_us", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
    )
    op.create_table(
        "model_versions",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("flavor", sa.String(50), nullable=False),
        sa.Column("model_class", sa.String(200), nullable=False),
        sa.Column("params", sa.Text, nullable=False),
        sa.Column("spec", sa.Text, nullable=True),
        sa.Column("artifact_digest", sa.String(64), nullable=False),
        sa.Column("artifact_size", sa.BigInteger, nullable=False),
        sa.Column("dataset_id", sa.String(64), nullable=True),
        sa.Column("code_version", sa.String(100), nullable=False),
        sa.Column("git_commit", sa.String(64), nullable=True),
        sa.Column("metrics", sa.Text, nullable=False),
        sa.Column("gates", sa.Text, nullable=False),
        sa.Column("gates_passed", sa.Boolean, nullable=True),
        sa.Column("owners", sa.Text, nullable=False),
        sa.Column("canary_plan", sa.Text, nullable=True),
        sa.Column("tags", sa.Text, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at_us", sa.BigInteger, nullable=False),
        sa.ForeignKeyConstraint(["name"], ["models.name"]),
    )
    op.create_index("ix_model_versions_dataset", "model_versions", ["dataset_id"])
    op.create_index("ix_model_versions_digest", "model_versions", ["artifact_digest"])
    op.create_table(
        "aliases",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("alias", sa.String(100), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at_us", sa.BigInteger, nullable=False),
        sa.ForeignKeyConstraint(
            ["name", "version"], ["model_versions.name", "model_versions.version"]
        ),
    )
    op.create_table(
        "alias_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("alias", sa.String(100), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("from_version", sa.Integer, nullable=True),
        sa.Column("to_version", sa.Integer, nullable=True),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("at_us", sa.BigInteger, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("forced", sa.Boolean, nullable=False),
        sa.ForeignKeyConstraint(["name"], ["models.name"]),
    )
    op.create_index("ix_alias_events_name_alias_at", "alias_events", ["name", "alias", "at_us"])
    op.create_table(
        "tokens",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at_us", sa.BigInteger, nullable=False),
        sa.Column("revoked_at_us", sa.BigInteger, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("tokens")
    op.drop_index("ix_alias_events_name_alias_at", "alias_events")
    op.drop_table("alias_events")
    op.drop_table("aliases")
    op.drop_index("ix_model_versions_digest", "model_versions")
    op.drop_index("ix_model_versions_dataset", "model_versions")
    op.drop_table("model_versions")
    op.drop_table("models")
