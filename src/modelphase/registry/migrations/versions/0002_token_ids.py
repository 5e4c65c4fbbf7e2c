"""Which token registered each version and moved each alias.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        batch.add_column(sa.Column("created_by_token", sa.String(32), nullable=True))
    with op.batch_alter_table("alias_events") as batch:
        batch.add_column(sa.Column("actor_token", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alias_events") as batch:
        batch.drop_column("actor_token")
    with op.batch_alter_table("model_versions") as batch:
        batch.drop_column("created_by_token")
