"""The outbox: notifications written in the same transaction as the change they tell of.

Delivery workers (the chat and mail adapters) claim and send them; a workflow never
sends anything itself. ``dedupe_key`` makes inserting the same notification twice a no-op.
What a row may hold (kinds, channels, statuses, payloads) is defined in `kinds`; how workers
claim and settle rows in `claims`, and the loop they run in `loop`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import bulk
from storage.models import Notification
from storage.rows import chunks
from workflows.context import Env
from workflows.outbox.kinds import Channel, Kind, Payload, Status

NOTIFICATIONS = Notification.__table__  # type: ignore[attr-defined]


async def enqueue(
    session: AsyncSession,
    *,
    org_id: int,
    channel: Channel,
    target: str,
    payload: Payload,
    dedupe_key: str,
    at: datetime,
) -> bool:
    """Insert a notification unless one with ``dedupe_key`` exists; True when inserted."""
    notice = NewNotification(
        org_id=org_id, channel=channel, target=target, payload=payload, dedupe_key=dedupe_key
    )
    return await enqueue_many(session, [notice], at=at) == 1


@dataclass(frozen=True, slots=True, kw_only=True)
class NewNotification:
    """A row to queue; its kind is its payload's."""

    org_id: int
    channel: Channel
    target: str
    payload: Payload
    dedupe_key: str
    due: datetime | None = None
    """When it may first be sent, if later than the moment it is queued (quiet hours)."""

    @property
    def kind(self) -> Kind:
        return self.payload.kind


async def enqueue_many(
    session: AsyncSession, notifications: Sequence[NewNotification], *, at: datetime
) -> int:
    """Insert many notifications at once, skipping dedupe keys that exist; returns how many
    were new."""
    if not notifications:
        return 0
    rows = [
        {
            "org_id": n.org_id,
            "channel": n.channel.value,
            "target": n.target,
            "kind": n.payload.kind.value,
            "payload": n.payload.to_json(),
            "dedupe_key": n.dedupe_key,
            "status": Status.PENDING.value,
            "attempts": 0,
            "next_attempt_at": n.due or at,
            "created_at": at,
        }
        for n in notifications
    ]
    return await bulk.insert(session, NOTIFICATIONS, rows, skip_conflicts_on="dedupe_key")


async def enqueue_alike(
    writes: bulk.Writes,
    *,
    org_id: int,
    channel: Channel,
    payload: Payload,
    varying: str,
    notices: Sequence[tuple[str, Any, str]],
    at: datetime,
) -> None:
    """Hand to ``writes`` the insert of many notifications like ``payload`` but for its
    field ``varying``, one for each ``(target, value of that field, dedupe key)`` of
    ``notices``, skipping dedupe keys that exist. What `enqueue_many` writes for the same
    notifications, with each payload spelled from one encoding."""
    if not notices:
        return
    texts = payload.texts(varying, [value for _, value, _ in notices])
    await writes.insert_columns(
        NOTIFICATIONS,
        varying={
            "target": [target for target, _, _ in notices],
            "payload": texts,
            "dedupe_key": [dedupe_key for _, _, dedupe_key in notices],
        },
        same={
            "org_id": org_id,
            "channel": channel.value,
            "kind": payload.kind.value,
            "status": Status.PENDING.value,
            "attempts": 0,
            "next_attempt_at": at,
            "created_at": at,
        },
        skip_conflicts_on="dedupe_key",
        encoded=frozenset({"payload"}),
    )


async def list_notifications(
    env: Env, *, org_id: int, status: str | None = None, limit: int = 100
) -> Sequence[Notification]:
    env.require_every_client(to="see the delivery queue")
    query = select(Notification).where(Notification.org_id == org_id)
    if status:
        query = query.where(Notification.status == status)
    async with env.sessions() as session:
        return (await session.exec(query.order_by(col(Notification.id)).limit(limit))).all()


async def enqueue_fresh(
    session: AsyncSession, notes: Sequence[NewNotification], at: datetime
) -> int:
    """Queue the notes whose dedupe keys are new. Existing keys are looked up first (one
    unique-index probe each) so that a scan repeated every minute writes nothing it wrote
    before; the insert itself still skips any key another scan has just taken."""
    if not notes:
        return 0
    existing: set[str] = set()
    for chunk in chunks([n.dedupe_key for n in notes]):
        rows = await session.exec(
            select(Notification.dedupe_key).where(col(Notification.dedupe_key).in_(chunk))
        )
        existing.update(rows.all())
    fresh = [n for n in notes if n.dedupe_key not in existing]
    return await enqueue_many(session, fresh, at=at)


def stamp(moment: datetime) -> str:
    """A moment as dedupe keys name it, to the second: ``20270131T170000``."""
    return f"{moment:%Y%m%dT%H%M%S}"
