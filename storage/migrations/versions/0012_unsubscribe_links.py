"""unsubscribe links: every notification mail carries a one-click unsubscribe

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 00:35:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "unsubscribe_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("recipient_id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["organization.id"]),
        sa.ForeignKeyConstraint(["recipient_id"], ["recipient.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("unsubscribe_link") as batch:
        batch.create_index("ix_unsubscribe_link_org_id", ["org_id"], unique=False)
        batch.create_index("ix_unsubscribe_link_recipient_id", ["recipient_id"], unique=False)


def downgrade() -> None:
    op.drop_table("unsubscribe_link")
