"""telegram linking and delivery

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 12:28:58.865160
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "channelfile",
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("blob_key", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("file_id", sqlmodel.sql.sqltypes.AutoString(length=256), nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("channel", "blob_key"),
    )
    op.create_table(
        "processedupdate",
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("update_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("processed_at", storage.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("source", "update_id"),
    )
    op.create_table(
        "personallink",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("share_id", sa.Integer(), nullable=False),
        sa.Column("recipient_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organization.id"],
        ),
        sa.ForeignKeyConstraint(
            ["recipient_id"],
            ["recipient.id"],
        ),
        sa.ForeignKeyConstraint(
            ["share_id"],
            ["share.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("personallink", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_personallink_org_id"), ["org_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_personallink_recipient_id"), ["recipient_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_personallink_share_id"), ["share_id"], unique=False)

    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("claimed_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
        batch_op.add_column(sa.Column("claimed_until", storage.types.UTCDateTime(), nullable=True))
        batch_op.add_column(
            sa.Column("delivered_via", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True)
        )
        batch_op.add_column(sa.Column("result", sa.JSON(), server_default="{}", nullable=False))

    with op.batch_alter_table("recipient", schema=None) as batch_op:
        batch_op.add_column(sa.Column("telegram_user_id", sa.BigInteger(), nullable=True))
        batch_op.add_column(
            sa.Column("telegram_active", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(
            sa.Column(
                "invite_code_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True
            )
        )
        batch_op.add_column(
            sa.Column("invite_expires_at", storage.types.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(sa.Column("invite_used_at", storage.types.UTCDateTime(), nullable=True))
        batch_op.create_unique_constraint("uq_recipient_invite_code_hash", ["invite_code_hash"])


def downgrade() -> None:
    with op.batch_alter_table("recipient", schema=None) as batch_op:
        batch_op.drop_constraint("uq_recipient_invite_code_hash", type_="unique")
        batch_op.drop_column("invite_used_at")
        batch_op.drop_column("invite_expires_at")
        batch_op.drop_column("invite_code_hash")
        batch_op.drop_column("telegram_active")
        batch_op.drop_column("telegram_user_id")

    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.drop_column("result")
        batch_op.drop_column("delivered_via")
        batch_op.drop_column("claimed_until")
        batch_op.drop_column("claimed_by")

    with op.batch_alter_table("personallink", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_personallink_share_id"))
        batch_op.drop_index(batch_op.f("ix_personallink_recipient_id"))
        batch_op.drop_index(batch_op.f("ix_personallink_org_id"))

    op.drop_table("personallink")
    op.drop_table("processedupdate")
    op.drop_table("channelfile")
