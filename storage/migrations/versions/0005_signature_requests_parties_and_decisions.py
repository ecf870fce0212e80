"""signature requests, parties and decisions

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 17:05:58.166758
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "signature_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("signing_order", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("message", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("language", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("expires_at", storage.types.UTCDateTime(), nullable=True),
        sa.Column("remind_every_days", sa.Integer(), nullable=False),
        sa.Column("reminders_max", sa.Integer(), nullable=False),
        sa.Column("created_by_staff_id", sa.Integer(), nullable=True),
        sa.Column("created_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("status_changed_at", storage.types.UTCDateTime(), nullable=True),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_staff_id"],
            ["staffuser.id"],
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organization.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("org_id", "number"),
    )
    with op.batch_alter_table("signature_request", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_signature_request_expires_at"), ["expires_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_signature_request_org_id"), ["org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_signature_request_status"), ["status"], unique=False)

    op.create_table(
        "party",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("recipient_id", sa.Integer(), nullable=True),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True),
        sa.Column("phone", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("telegram_username", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("language", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("invited_at", storage.types.UTCDateTime(), nullable=True),
        sa.Column("opened_documents", sa.JSON(), server_default="[]", nullable=False),
        sa.Column("verified_via", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("verified_at", storage.types.UTCDateTime(), nullable=True),
        sa.Column("code_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("code_expires_at", storage.types.UTCDateTime(), nullable=True),
        sa.Column("code_attempts", sa.Integer(), nullable=False),
        sa.Column("code_sent_at", storage.types.UTCDateTime(), nullable=True),
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
            ["request_id"],
            ["signature_request.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("request_id", "position"),
    )
    with op.batch_alter_table("party", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_party_org_id"), ["org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_party_recipient_id"), ["recipient_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_party_request_id"), ["request_id"], unique=False)

    op.create_table(
        "party_decision",
        sa.Column("party_id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("decision", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("typed_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("decided_by_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("decided_by_recipient_id", sa.Integer(), nullable=True),
        sa.Column("auth_level", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("ip", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("user_agent", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=True),
        sa.Column(
            "signature_blob_key", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True
        ),
        sa.Column("decided_at", storage.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["decided_by_recipient_id"],
            ["recipient.id"],
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organization.id"],
        ),
        sa.ForeignKeyConstraint(
            ["party_id"],
            ["party.id"],
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["signature_request.id"],
        ),
        sa.PrimaryKeyConstraint("party_id"),
    )
    with op.batch_alter_table("party_decision", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_party_decision_org_id"), ["org_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_party_decision_request_id"), ["request_id"], unique=False
        )

    op.create_table(
        "party_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("party_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("issued_for", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("recipient_id", sa.Integer(), nullable=True),
        sa.Column("created_at", storage.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organization.id"],
        ),
        sa.ForeignKeyConstraint(
            ["party_id"],
            ["party.id"],
        ),
        sa.ForeignKeyConstraint(
            ["recipient_id"],
            ["recipient.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("party_link", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_party_link_org_id"), ["org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_party_link_party_id"), ["party_id"], unique=False)

    op.create_table(
        "signature_request_document",
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("sealed_document_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["document.id"],
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organization.id"],
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["signature_request.id"],
        ),
        sa.ForeignKeyConstraint(
            ["sealed_document_id"],
            ["document.id"],
        ),
        sa.PrimaryKeyConstraint("request_id", "document_id"),
    )
    with op.batch_alter_table("signature_request_document", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_signature_request_document_org_id"), ["org_id"], unique=False
        )

    with op.batch_alter_table("organization", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("next_request_number", sa.Integer(), server_default="1", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("organization", schema=None) as batch_op:
        batch_op.drop_column("next_request_number")

    with op.batch_alter_table("signature_request_document", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_signature_request_document_org_id"))

    op.drop_table("signature_request_document")
    with op.batch_alter_table("party_link", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_party_link_party_id"))
        batch_op.drop_index(batch_op.f("ix_party_link_org_id"))

    op.drop_table("party_link")
    with op.batch_alter_table("party_decision", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_party_decision_request_id"))
        batch_op.drop_index(batch_op.f("ix_party_decision_org_id"))

    op.drop_table("party_decision")
    with op.batch_alter_table("party", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_party_request_id"))
        batch_op.drop_index(batch_op.f("ix_party_recipient_id"))
        batch_op.drop_index(batch_op.f("ix_party_org_id"))

    op.drop_table("party")
    with op.batch_alter_table("signature_request", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_signature_request_status"))
        batch_op.drop_index(batch_op.f("ix_signature_request_org_id"))
        batch_op.drop_index(batch_op.f("ix_signature_request_expires_at"))

    op.drop_table("signature_request")
