"""audit checkpoints: each organisation's chain head, sealed and written to the durable
medium at intervals and at every completed request

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-08 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_checkpoint",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("statement_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("signature_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("timestamp_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("event_seq", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["organization.id"]),
        sa.ForeignKeyConstraint(["request_id"], ["signature_request.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("org_id", "number"),
    )
    with op.batch_alter_table("audit_checkpoint") as batch:
        batch.create_index("ix_audit_checkpoint_org_id", ["org_id"], unique=False)


def downgrade() -> None:
    op.drop_table("audit_checkpoint")
