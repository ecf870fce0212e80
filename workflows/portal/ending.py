"""Ending a recipient's portal sessions: on signing out everywhere, and at once when staff
block them (`workflows.people.recipients`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import PortalSession


async def end_sessions(session: AsyncSession, *, recipient_id: int, at: datetime) -> int:
    """End the recipient's open sessions, in the caller's transaction (on blocking them)."""
    result = await session.exec(
        update(PortalSession)
        .where(
            col(PortalSession.recipient_id) == recipient_id,
            col(PortalSession.ended_at).is_(None),
            col(PortalSession.expires_at) > at,
        )
        .values(ended_at=at)
    )
    return int(result.rowcount or 0)
