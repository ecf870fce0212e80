"""An organisation's webhook endpoints: registered, listed, changed, turned off and on,
removed. Only administrators (or the operator, or an integration acting as the
organisation) may; each change is in the organisation's history.

The signing secret is made here and handed back once, when the endpoint is registered
or its secret rotated; listings never show it. After a rotation the old secret signs
beside the new one for a while, so that the receiver can change over without a gap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Notification, StaffUser, WebhookEndpoint
from storage.rows import id_of
from workflows import audit
from workflows.context import Actor, Env
from workflows.errors import InvalidInput, NotAllowed, NotFound
from workflows.outbox.kinds import Channel, Status
from workflows.scope import clean_text
from workflows.webhooks.addresses import AddressPolicy, check_url
from workflows.webhooks.emitting import target_of
from workflows.webhooks.events import parse_event_types
from workflows.webhooks.signing import new_secret

MAX_ENDPOINTS = 20
"""Endpoints one organisation may have."""
ROTATION_OVERLAP = timedelta(hours=24)
"""How long the secret before a rotation goes on signing beside the new one, unless the
administrator says otherwise."""
MAX_ROTATION_OVERLAP = timedelta(days=7)
DISABLED_BY_STAFF = "turned off by staff"


@dataclass(frozen=True)
class EndpointView:
    """An endpoint as listings show it: everything but its secret."""

    id: int
    url: str
    events: tuple[str, ...]
    description: str | None
    enabled: bool
    disabled_at: datetime | None
    disabled_reason: str | None
    failing_since: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, row: WebhookEndpoint) -> EndpointView:
        return cls(
            id=id_of(row),
            url=row.url,
            events=tuple(row.events),
            description=row.description,
            enabled=row.enabled,
            disabled_at=row.disabled_at,
            disabled_reason=row.disabled_reason,
            failing_since=row.failing_since,
            created_at=row.created_at,
        )


@dataclass(frozen=True)
class NewEndpoint:
    """An endpoint just registered, with its secret: shown this once."""

    endpoint: EndpointView
    secret: str


async def register_endpoint(
    env: Env,
    *,
    org_id: int,
    actor: Actor,
    url: str,
    events: Sequence[str],
    policy: AddressPolicy,
    description: str | None = None,
) -> NewEndpoint:
    """Register ``url`` for ``events``; returns it with its new signing secret."""
    url = check_url(url, policy)
    wanted = parse_event_types(list(events))
    description = _description(description)
    now = env.clock.now()
    secret = new_secret()
    async with env.sessions() as session, session.begin():
        await require_admin(session, org_id, actor)
        count = len((await session.exec(select(WebhookEndpoint.id).where(_of_org(org_id)))).all())
        if count >= MAX_ENDPOINTS:
            raise InvalidInput(f"an organisation may have at most {MAX_ENDPOINTS} endpoints")
        row = WebhookEndpoint(
            org_id=org_id,
            url=url,
            events=[e.value for e in wanted],
            secret=secret,
            description=description,
            created_by=actor.label or actor.id,
            created_at=now,
        )
        session.add(row)
        await session.flush()
        await _record(session, row, actor, "webhook.added", now, {"events": row.events})
        return NewEndpoint(endpoint=EndpointView.of(row), secret=secret)


async def list_endpoints(env: Env, *, org_id: int) -> list[EndpointView]:
    async with env.reads() as session:
        rows = await session.exec(
            select(WebhookEndpoint).where(_of_org(org_id)).order_by(col(WebhookEndpoint.id))
        )
        return [EndpointView.of(row) for row in rows.all()]


async def get_endpoint(env: Env, *, org_id: int, endpoint_id: int) -> EndpointView:
    async with env.reads() as session:
        return EndpointView.of(await _endpoint(session, org_id, endpoint_id))


async def update_endpoint(
    env: Env,
    *,
    org_id: int,
    actor: Actor,
    endpoint_id: int,
    policy: AddressPolicy,
    url: str | None = None,
    events: Sequence[str] | None = None,
    description: str | None = None,
) -> EndpointView:
    """Change an endpoint's URL, events or description (what is not given stays). Events
    queued before the change keep their bodies and ids, and go to the URL of the moment
    they are sent."""
    new_url = check_url(url, policy) if url is not None else None
    wanted = parse_event_types(list(events)) if events is not None else None
    new_description = _description(description) if description is not None else None
    now = env.clock.now()
    async with env.sessions() as session, session.begin():
        await require_admin(session, org_id, actor)
        row = await _endpoint(session, org_id, endpoint_id, lock=True)
        changed: dict[str, object] = {}
        if new_url is not None and new_url != row.url:
            row.url = changed["url"] = new_url
        if wanted is not None and [e.value for e in wanted] != row.events:
            row.events = [e.value for e in wanted]
            changed["events"] = row.events
        if new_description is not None and new_description != row.description:
            row.description = changed["description"] = new_description
        if changed:
            session.add(row)
            await _record(session, row, actor, "webhook.changed", now, changed)
        return EndpointView.of(row)


async def enable_endpoint(env: Env, *, org_id: int, actor: Actor, endpoint_id: int) -> EndpointView:
    """Turn an endpoint on again: what waited for it while it was off is sent now."""
    now = env.clock.now()
    async with env.sessions() as session, session.begin():
        await require_admin(session, org_id, actor)
        row = await _endpoint(session, org_id, endpoint_id, lock=True)
        if row.enabled:
            return EndpointView.of(row)
        row.enabled = True
        row.disabled_at = row.disabled_reason = row.failing_since = None
        row.dead_in_row = 0
        session.add(row)
        await session.exec(
            update(Notification)
            .where(
                *_deliveries_of(org_id, endpoint_id),
                col(Notification.status) == Status.WAITING,
            )
            .values(status=Status.PENDING.value, next_attempt_at=now, last_error=None)
        )
        await _record(session, row, actor, "webhook.enabled", now, {})
        return EndpointView.of(row)


async def rotate_secret(
    env: Env,
    *,
    org_id: int,
    actor: Actor,
    endpoint_id: int,
    overlap: timedelta = ROTATION_OVERLAP,
) -> NewEndpoint:
    """Give an endpoint a new signing secret, handed back this once. For ``overlap``
    (zero: not at all) every delivery is signed with the old secret too, so the receiver
    may switch to the new one at any moment in between. A second rotation within the
    overlap drops the oldest secret."""
    if not timedelta(0) <= overlap <= MAX_ROTATION_OVERLAP:
        days = MAX_ROTATION_OVERLAP.days
        raise InvalidInput(f"the old secret may go on signing for 0 to {days * 24} hours")
    now = env.clock.now()
    secret = new_secret()
    async with env.sessions() as session, session.begin():
        await require_admin(session, org_id, actor)
        row = await _endpoint(session, org_id, endpoint_id, lock=True)
        if overlap:
            row.previous_secret, row.previous_secret_until = row.secret, now + overlap
        else:
            row.previous_secret = row.previous_secret_until = None
        row.secret = secret
        session.add(row)
        hours = round(overlap.total_seconds() / 3600, 2)
        await _record(
            session, row, actor, "webhook.secret_rotated", now, {"old_secret_signs_hours": hours}
        )
        return NewEndpoint(endpoint=EndpointView.of(row), secret=secret)


def earlier_secrets(row: WebhookEndpoint, *, at: datetime) -> tuple[str, ...]:
    """The secrets that sign beside ``row.secret`` at ``at``: the one before the last
    rotation, while its overlap lasts."""
    until = row.previous_secret_until
    if row.previous_secret and until is not None and at < until:
        return (row.previous_secret,)
    return ()


async def disable_endpoint(
    env: Env, *, org_id: int, actor: Actor, endpoint_id: int
) -> EndpointView:
    """Turn an endpoint off: it gets no new events; what was queued waits for it."""
    now = env.clock.now()
    async with env.sessions() as session, session.begin():
        await require_admin(session, org_id, actor)
        row = await _endpoint(session, org_id, endpoint_id, lock=True)
        if row.enabled:
            turn_off(row, reason=DISABLED_BY_STAFF, at=now)
            session.add(row)
            await _record(session, row, actor, "webhook.disabled", now, {})
        return EndpointView.of(row)


def turn_off(row: WebhookEndpoint, *, reason: str, at: datetime) -> None:
    row.enabled = False
    row.disabled_at = at
    row.disabled_reason = reason[:500]


async def remove_endpoint(env: Env, *, org_id: int, actor: Actor, endpoint_id: int) -> int:
    """Remove an endpoint; its deliveries not yet made are cancelled. Returns how many."""
    now = env.clock.now()
    async with env.sessions() as session, session.begin():
        await require_admin(session, org_id, actor)
        row = await _endpoint(session, org_id, endpoint_id, lock=True)
        cancelled = await session.exec(
            update(Notification)
            .where(
                *_deliveries_of(org_id, endpoint_id),
                col(Notification.status).in_(
                    [Status.PENDING, Status.WAITING, Status.SENDING, Status.DEAD]
                ),
            )
            .values(
                status=Status.CANCELLED.value,
                claimed_by=None,
                claimed_until=None,
                last_error="the endpoint was removed",
            )
        )
        await _record(session, row, actor, "webhook.removed", now, {"url": row.url})
        await session.delete(row)
        return cancelled.rowcount


# -- shared by the deliveries' side ---------------------------------------------------------


def _deliveries_of(org_id: int, endpoint_id: int) -> list[ColumnElement[bool]]:
    return [
        col(Notification.org_id) == org_id,
        col(Notification.channel) == Channel.WEBHOOK,
        col(Notification.target) == target_of(endpoint_id),
    ]


def _of_org(org_id: int) -> ColumnElement[bool]:
    return col(WebhookEndpoint.org_id) == org_id


async def _endpoint(
    session: AsyncSession, org_id: int, endpoint_id: int, *, lock: bool = False
) -> WebhookEndpoint:
    row = await session.get(WebhookEndpoint, endpoint_id, with_for_update=lock)
    if row is None or row.org_id != org_id:
        raise NotFound(f"no webhook endpoint {endpoint_id}")
    return row


async def require_admin(session: AsyncSession, org_id: int, actor: Actor) -> None:
    """Staff must be administrators; the operator and integrations act as the organisation."""
    if actor.type != "staff":
        return
    member = await session.get(StaffUser, int(actor.id or 0))
    if member is None or member.org_id != org_id or member.role != "admin":
        raise NotAllowed("only administrators may manage webhooks")
    if member.status != "active":
        raise NotAllowed(f"{member.name} is blocked")


def _description(text: str | None) -> str | None:
    return clean_text(text, what="description", max_len=200, required=False)


async def _record(
    session: AsyncSession,
    row: WebhookEndpoint,
    actor: Actor,
    action: str,
    at: datetime,
    details: dict[str, object],
) -> None:
    await audit.record(
        session,
        org_id=row.org_id,
        actor=actor,
        action=action,
        at=at,
        details={"endpoint_id": id_of(row), **details},
    )
