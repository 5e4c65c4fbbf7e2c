"""The monitor's state in the registry: a canary's traffic share on its alias, the
evidence of every move, the rollout phase of each model, the lease that keeps two
monitors from both acting, and the health verdicts.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("aliases") as batch:
        batch.add_column(sa.Column("share", sa.Float, nullable=True))
    with op.batch_alter_table("alias_events") as batch:
        batch.add_column(sa.Column("share", sa.Float, nullable=True))
        batch.add_column(sa.Column("evidence", sa.Text, nullable=True))
    op.create_table(
        "monitor_state",
        sa.Column("name", sa.String(200), sa.ForeignKey("models.name"), primary_key=True),
        sa.Column("phase", sa.String(20), nullable=False),
        sa.Column("version", sa.Integer, nullable=True),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("since_us", sa.BigInteger, nullable=False),
        sa.Column("updated_at_us", sa.BigInteger, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
    )
    op.create_table(
        "monitor_leases",
        sa.Column("lease", sa.String(100), primary_key=True),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("acquired_at_us", sa.BigInteger, nullable=False),
        sa.Column("expires_at_us", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "health",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), sa.ForeignKey("models.name"), nullable=False),
        sa.Column("version", sa.Integer, nullable=True),
        sa.Column("at_us", sa.BigInteger, nullable=False),
        sa.Column("verdict", sa.String(20), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("evidence", sa.Text, nullable=False),
    )
    op.create_index("ix_health_name_at", "health", ["name", "at_us"])


def downgrade() -> None:
    op.drop_index("ix_health_name_at", table_name="health")
    op.drop_table("health")
    op.drop_table("monitor_leases")
    op.drop_table("monitor_state")
    with op.batch_alter_table("alias_events") as batch:
        batch.drop_column("evidence")
        batch.drop_column("share")
    with op.batch_alter_table("aliases") as batch:
        batch.drop_column("share")
