"""reminders and expiries: per-organisation reminder settings, reminder state of parties,
links that report expiring unused, and the indexes the scans use

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 10:00:00
"""

from collections.abc import Sequence
from datetime import timedelta

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("organization") as batch:
        batch.add_column(
            sa.Column("remind_days_before", sa.Integer(), nullable=False, server_default="3")
        )
        batch.add_column(
            sa.Column("quiet_hours_start", sa.Integer(), nullable=False, server_default="9")
        )
        batch.add_column(
            sa.Column("quiet_hours_end", sa.Integer(), nullable=False, server_default="20")
        )
    with op.batch_alter_table("share") as batch:
        batch.add_column(
            sa.Column(
                "notify_unused_expiry", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
        batch.create_index(
            "ix_share_unused_expiry", ["notify_unused_expiry", "expires_at"], unique=False
        )
    with op.batch_alter_table("party") as batch:
        batch.add_column(sa.Column("next_reminder_at", storage.types.UTCDateTime(), nullable=True))
        batch.add_column(
            sa.Column("reminders_sent", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("reminded_at", storage.types.UTCDateTime(), nullable=True))
        batch.create_index("ix_party_next_reminder_at", ["next_reminder_at"], unique=False)
    with op.batch_alter_table("document") as batch:
        batch.create_index("ix_document_available_until", ["available_until"], unique=False)
    with op.batch_alter_table("signature_request") as batch:
        batch.create_index(
            "ix_signature_request_status_expires", ["status", "expires_at"], unique=False
        )
    _schedule_waiting_parties()


def _schedule_waiting_parties() -> None:
    """Parties already invited and still to decide get their first reminder on the cadence
    of their request, counted from their invitation."""
    party = sa.table(
        "party",
        sa.column("id", sa.Integer()),
        sa.column("request_id", sa.Integer()),
        sa.column("role", sa.String()),
        sa.column("invited_at", storage.types.UTCDateTime()),
        sa.column("next_reminder_at", storage.types.UTCDateTime()),
    )
    request = sa.table(
        "signature_request",
        sa.column("id", sa.Integer()),
        sa.column("status", sa.String()),
        sa.column("remind_every_days", sa.Integer()),
        sa.column("reminders_max", sa.Integer()),
    )
    decision = sa.table("party_decision", sa.column("party_id", sa.Integer()))
    bind = op.get_bind()
    waiting = bind.execute(
        sa.select(party.c.id, party.c.invited_at, request.c.remind_every_days)
        .join(request, request.c.id == party.c.request_id)
        .where(
            request.c.status == "pending",
            request.c.reminders_max > 0,
            party.c.invited_at.is_not(None),
            party.c.role.in_(("signer", "approver")),
            ~sa.exists().where(decision.c.party_id == party.c.id),
        )
    ).all()
    for party_id, invited_at, every in waiting:
        bind.execute(
            sa.update(party)
            .where(party.c.id == party_id)
            .values(next_reminder_at=invited_at + timedelta(days=every))
        )


def downgrade() -> None:
    with op.batch_alter_table("signature_request") as batch:
        batch.drop_index("ix_signature_request_status_expires")
    with op.batch_alter_table("document") as batch:
        batch.drop_index("ix_document_available_until")
    with op.batch_alter_table("party") as batch:
        batch.drop_index("ix_party_next_reminder_at")
        batch.drop_column("reminded_at")
        batch.drop_column("reminders_sent")
        batch.drop_column("next_reminder_at")
    with op.batch_alter_table("share") as batch:
        batch.drop_index("ix_share_unused_expiry")
        batch.drop_column("notify_unused_expiry")
    with op.batch_alter_table("organization") as batch:
        batch.drop_column("quiet_hours_end")
        batch.drop_column("quiet_hours_start")
        batch.drop_column("remind_days_before")
