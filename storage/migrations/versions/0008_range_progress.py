"""range progress: the parts of a shared file a visitor fetched by range requests, so a
download counts once the whole file has been served

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 22:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "range_progress",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("share_id", sa.Integer(), nullable=False),
        sa.Column("visitor", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("spans", sa.JSON(), server_default="[]", nullable=False),
        sa.Column("updated_at", storage.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["organization.id"]),
        sa.ForeignKeyConstraint(["share_id"], ["share.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("share_id", "visitor"),
    )
    with op.batch_alter_table("range_progress") as batch:
        batch.create_index("ix_range_progress_org_id", ["org_id"], unique=False)
        batch.create_index("ix_range_progress_share_id", ["share_id"], unique=False)
        batch.create_index("ix_range_progress_updated_at", ["updated_at"], unique=False)


def downgrade() -> None:
    op.drop_table("range_progress")
