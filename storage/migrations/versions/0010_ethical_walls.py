"""ethical walls: a staff member may be limited to named clients

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("staffuser") as batch:
        batch.add_column(
            sa.Column("walled", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_table(
        "staff_client",
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["staff_id"], ["staffuser.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["client_id"], ["client.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["org_id"], ["organization.id"]),
        sa.PrimaryKeyConstraint("staff_id", "client_id"),
    )
    with op.batch_alter_table("staff_client") as batch:
        batch.create_index("ix_staff_client_org_id", ["org_id"], unique=False)


def downgrade() -> None:
    op.drop_table("staff_client")
    with op.batch_alter_table("staffuser") as batch:
        batch.drop_column("walled")
