"""contacts and invitation mail: how clients reach the organisation, and when a recipient's
invitation was last mailed

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 02:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("organization") as batch:
        batch.add_column(
            sa.Column("contact_email", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True)
        )
        batch.add_column(
            sa.Column("contact_phone", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True)
        )
    with op.batch_alter_table("recipient") as batch:
        batch.add_column(sa.Column("invite_sent_at", storage.types.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("recipient") as batch:
        batch.drop_column("invite_sent_at")
    with op.batch_alter_table("organization") as batch:
        batch.drop_column("contact_phone")
        batch.drop_column("contact_email")
