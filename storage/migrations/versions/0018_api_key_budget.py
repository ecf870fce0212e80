"""api key budget: each key's rate-limit bucket kept in the store, so that every process
serving the API draws on the same one

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 12:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_key") as batch:
        batch.add_column(sa.Column("budget", sa.Float(), nullable=True))
        batch.add_column(sa.Column("budget_at", storage.types.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_key") as batch:
        batch.drop_column("budget_at")
        batch.drop_column("budget")
