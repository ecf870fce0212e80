"""Queuing events for the organisation's endpoints, in the transaction of the change.

`emit` writes one outbox row (channel ``webhook``) per enabled endpoint that asked for
the event's type, the body fixed then: every attempt sends those very bytes under the
same ``webhook-id``. For an organisation without endpoints it costs one probe of an
index and writes nothing. The dedupe key joins the endpoint and the event's ``key``, so
a change offered twice is queued once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Notification, WebhookEndpoint
from workflows import outbox
from workflows.outbox.kinds import Channel, WebhookPayload
from workflows.webhooks.events import Event, EventType, delivery_dead
from workflows.webhooks.signing import new_message_id


def target_of(endpoint_id: int) -> str:
    """The outbox ``target`` of an endpoint's deliveries."""
    return f"endpoint:{endpoint_id}"


async def emit(session: AsyncSession, event: Event | None) -> int:
    """Queue ``event`` for every endpoint of its organisation that wants it; returns how
    many deliveries were queued."""
    return await emit_many(session, [event] if event is not None else [])


async def wanted(session: AsyncSession, *, org_id: int, event_type: EventType) -> bool:
    """Whether any enabled endpoint of the organisation wants ``event_type``: asked before
    building many events, so that an organisation without endpoints builds none."""
    found = await session.exec(
        select(WebhookEndpoint.events).where(
            col(WebhookEndpoint.org_id) == org_id, col(WebhookEndpoint.enabled).is_(True)
        )
    )
    return any(event_type.value in events for events in found.all())


async def emit_many(session: AsyncSession, events: Sequence[Event]) -> int:
    """Queue several events at once, with one query for the endpoints of all of them."""
    if not events:
        return 0
    org_ids = sorted({event.org_id for event in events})
    found = await session.exec(
        select(WebhookEndpoint.id, WebhookEndpoint.org_id, WebhookEndpoint.events).where(
            col(WebhookEndpoint.org_id).in_(org_ids), col(WebhookEndpoint.enabled).is_(True)
        )
    )
    endpoints = found.all()
    if not endpoints:
        return 0
    notes = []
    for event in events:
        body = None
        for endpoint_id, org_id, wanted in endpoints:
            if org_id != event.org_id or event.type.value not in wanted:
                continue
            assert endpoint_id is not None
            body = body or event.body()
            notes.append(
                outbox.NewNotification(
                    org_id=org_id,
                    channel=Channel.WEBHOOK,
                    target=target_of(endpoint_id),
                    payload=WebhookPayload(
                        endpoint_id=endpoint_id,
                        event_type=event.type.value,
                        message_id=new_message_id(),
                        body=body,
                    ),
                    dedupe_key=f"webhook:{endpoint_id}:{event.key}"[:200],
                )
            )
    return await outbox.enqueue_many(session, notes, at=max(e.at for e in events))


async def emit_dead(session: AsyncSession, row: Notification, *, error: str, at: datetime) -> int:
    """``delivery.dead`` for a notification given up in this transaction; a webhook's own
    death is not told of through webhooks (its endpoint is the one failing)."""
    if row.channel == Channel.WEBHOOK or row.id is None:
        return 0
    return await emit(session, delivery_dead(row=row, error=error, at=at))
