"""active content: an organisation may accept PDFs that run code by themselves, and each
such document records what it holds

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 22:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("organization") as batch:
        batch.add_column(
            sa.Column(
                "allow_active_content", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
    with op.batch_alter_table("document") as batch:
        batch.add_column(
            sa.Column("active_content", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("document") as batch:
        batch.drop_column("active_content")
    with op.batch_alter_table("organization") as batch:
        batch.drop_column("allow_active_content")
