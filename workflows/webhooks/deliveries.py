"""Deliveries of events to endpoints: what the sender needs for each claimed row, how an
attempt settles it, and how staff see and retry them.

A delivery is an outbox row of the ``webhook`` channel (`workflows.outbox`), claimed by
the webhook worker like any other. A failed attempt backs off exponentially, with jitter,
and after ``max_attempts`` the row is ``dead``: listed, and retried by staff with its id,
body and ``webhook-id`` unchanged. An endpoint that keeps failing (``disable_after_dead``
deliveries given up in a row, or failing without a success for ``disable_after``), or
whose receiver answers 410 Gone, is turned off, and the organisation's administrators are
told in Slack; its deliveries wait for it to be turned on again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Notification, Organization, StaffUser, WebhookEndpoint
from storage.rows import id_of
from workflows import outbox
from workflows.context import Actor, Env
from workflows.errors import Conflict, InvalidInput, NotFound
from workflows.outbox.claims import Backoff
from workflows.outbox.kinds import (
    BadPayload,
    Channel,
    Status,
    Via,
    WebhookDisabledPayload,
    WebhookPayload,
)
from workflows.sharing.staff_notices import ORG_TARGET
from workflows.sharing.staff_notices import target_of as staff_target
from workflows.webhooks.emitting import target_of
from workflows.webhooks.endpoints import require_admin, turn_off

MAX_ATTEMPTS = 10
BACKOFF = Backoff(base=timedelta(seconds=30), cap=timedelta(hours=6))
"""30 s, 1 min, 2 min … about four hours from the first attempt to the last."""
DISABLE_AFTER_DEAD = 5
DISABLE_AFTER = timedelta(days=3)


@dataclass(frozen=True)
class RetryPolicy:
    """How long a delivery is tried and when its endpoint is given up on."""

    max_attempts: int = MAX_ATTEMPTS
    backoff: Backoff = field(default_factory=lambda: BACKOFF)
    disable_after_dead: int = DISABLE_AFTER_DEAD
    disable_after: timedelta = DISABLE_AFTER


@dataclass(frozen=True)
class Delivery:
    """A claimed row with what sending it needs; ``endpoint`` is None when it is gone."""

    row: Notification
    payload: WebhookPayload
    endpoint: WebhookEndpoint | None


@dataclass(frozen=True)
class Unreadable:
    row: Notification
    problem: str


async def prepare(env: Env, rows: Sequence[Notification]) -> list[Delivery | Unreadable]:
    """Each claimed row with its endpoint, the endpoints loaded in one query."""
    read: list[Delivery | Unreadable] = []
    payloads: list[WebhookPayload | None] = []
    for row in rows:
        try:
            payloads.append(WebhookPayload.parse(row))
        except BadPayload as e:
            payloads.append(None)
            read.append(Unreadable(row, str(e)))
    ids = {p.endpoint_id for p in payloads if p is not None}
    endpoints: dict[int, WebhookEndpoint] = {}
    if ids:
        async with env.reads() as session:
            found = await session.exec(
                select(WebhookEndpoint).where(col(WebhookEndpoint.id).in_(ids))
            )
            endpoints = {id_of(e): e for e in found.all()}
    for row, payload in zip(rows, payloads, strict=True):
        if payload is not None:
            endpoint = endpoints.get(payload.endpoint_id)
            if endpoint is not None and endpoint.org_id != row.org_id:
                endpoint = None
            read.append(Delivery(row, payload, endpoint))
    return read


async def _settle(session: AsyncSession, row: Notification, worker: str, **values: Any) -> bool:
    """Apply ``values`` if ``worker`` still holds the row; False when its lease was lost."""
    result = await session.exec(
        update(Notification)
        .where(
            col(Notification.id) == id_of(row),
            col(Notification.status) == Status.SENDING,
            col(Notification.claimed_by) == worker,
        )
        .values(claimed_by=None, claimed_until=None, **values)
    )
    return result.rowcount == 1


async def mark_delivered(
    env: Env, delivered: Sequence[tuple[Delivery, int]], *, worker: str
) -> int:
    """The receivers answered 2xx (with these statuses): sent, in one transaction, and
    their endpoints are well again. Returns how many rows ``worker`` still held."""
    if not delivered:
        return 0
    now = env.clock.now()
    settled = 0
    by_status: dict[int, list[int]] = {}
    for delivery, status_code in delivered:
        by_status.setdefault(status_code, []).append(id_of(delivery.row))
    async with env.sessions() as session, session.begin():
        for status_code, ids in by_status.items():  # one statement for each status seen
            result = await session.exec(
                update(Notification)
                .where(
                    col(Notification.id).in_(ids),
                    col(Notification.status) == Status.SENDING,
                    col(Notification.claimed_by) == worker,
                )
                .values(
                    claimed_by=None,
                    claimed_until=None,
                    status=Status.SENT.value,
                    sent_at=now,
                    delivered_via=Via.WEBHOOK.value,
                    result={"status": status_code},
                    last_error=None,
                )
            )
            settled += result.rowcount
        await session.exec(
            update(WebhookEndpoint)
            .where(
                col(WebhookEndpoint.id).in_({d.payload.endpoint_id for d, _ in delivered}),
                (col(WebhookEndpoint.failing_since).is_not(None))
                | (col(WebhookEndpoint.dead_in_row) > 0),
            )
            .values(failing_since=None, dead_in_row=0)
        )
    return settled


async def mark_failed(
    env: Env,
    delivery: Delivery,
    *,
    worker: str,
    error: str,
    policy: RetryPolicy,
    not_before: timedelta | None = None,
) -> Status:
    """Back off and try again, or give up after the last attempt; an endpoint that keeps
    failing is turned off (its administrators told) in the same transaction. A receiver
    that asked to wait (``not_before``, its Retry-After) is not tried again before then;
    a wait beyond the back-off's cap counts as the cap."""
    row = delivery.row
    dead = row.attempts >= policy.max_attempts
    now = env.clock.now()
    delay = policy.backoff.delay(row.attempts)
    if not_before is not None:
        delay = max(delay, min(not_before, policy.backoff.cap))
    async with env.sessions() as session, session.begin():
        settled = await _settle(
            session,
            row,
            worker,
            status=(Status.DEAD if dead else Status.PENDING).value,
            last_error=error[:2000],
            next_attempt_at=now if dead else now + delay,
        )
        if settled:
            await _count_failure(session, delivery, dead=dead, now=now, policy=policy)
    return Status.DEAD if dead else Status.PENDING


GONE = "the receiver answered 410 Gone"


async def mark_gone(env: Env, delivery: Delivery, *, worker: str, error: str) -> bool:
    """The receiver answered 410 Gone: it says the endpoint is no more, so the endpoint
    is turned off at once (its administrators told, as after any turning off) instead of
    failing for days, and this delivery waits for it with the others. The endpoint of
    ``delivery`` is marked off too, so that the rest of its claim waits without a try."""
    now = env.clock.now()
    async with env.sessions() as session, session.begin():
        settled = await _settle(
            session, delivery.row, worker, status=Status.WAITING.value, last_error=error[:2000]
        )
        if settled:
            endpoint = await session.get(
                WebhookEndpoint, delivery.payload.endpoint_id, with_for_update=True
            )
            if endpoint is not None and endpoint.enabled:
                turn_off(endpoint, reason=GONE, at=now)
                await _tell_admins(session, endpoint, reason=GONE, at=now)
                session.add(endpoint)
    if delivery.endpoint is not None and delivery.endpoint.enabled:
        turn_off(delivery.endpoint, reason=GONE, at=now)
    return settled


async def mark_held(env: Env, delivery: Delivery, *, worker: str) -> bool:
    """The endpoint is off (or gone): the row waits for it, its attempt not counted, or is
    cancelled when the endpoint no longer exists."""
    endpoint = delivery.endpoint
    async with env.sessions() as session, session.begin():
        if endpoint is None:
            return await _settle(
                session,
                delivery.row,
                worker,
                status=Status.CANCELLED.value,
                last_error="the endpoint was removed",
            )
        return await _settle(
            session,
            delivery.row,
            worker,
            status=Status.WAITING.value,
            attempts=Notification.attempts - 1,
            last_error=f"the endpoint is off: {endpoint.disabled_reason or 'turned off'}",
        )


async def mark_unreadable(env: Env, row: Notification, *, worker: str, problem: str) -> bool:
    async with env.sessions() as session, session.begin():
        return await _settle(session, row, worker, status=Status.DEAD.value, last_error=problem)


async def _count_failure(
    session: AsyncSession, delivery: Delivery, *, dead: bool, now: datetime, policy: RetryPolicy
) -> None:
    endpoint = await session.get(
        WebhookEndpoint, delivery.payload.endpoint_id, with_for_update=True
    )
    if endpoint is None or not endpoint.enabled:
        return
    endpoint.failing_since = endpoint.failing_since or now
    if dead:
        endpoint.dead_in_row += 1
    reason = None
    if endpoint.dead_in_row >= policy.disable_after_dead:
        reason = f"{endpoint.dead_in_row} deliveries in a row were given up"
    elif now - endpoint.failing_since >= policy.disable_after:
        reason = f"it has failed since {endpoint.failing_since:%Y-%m-%d %H:%M} UTC"
    if reason is not None:
        turn_off(endpoint, reason=reason, at=now)
        await _tell_admins(session, endpoint, reason=reason, at=now)
    session.add(endpoint)


async def _tell_admins(
    session: AsyncSession, endpoint: WebhookEndpoint, *, reason: str, at: datetime
) -> int:
    """A Slack notice that ``endpoint`` was turned off: in the organisation's notice
    channel when it has one, else to each active administrator."""
    organization = await session.get(Organization, endpoint.org_id)
    if organization is not None and organization.slack_channel:
        targets = [ORG_TARGET]
    else:
        admins = await session.exec(
            select(StaffUser.id).where(
                StaffUser.org_id == endpoint.org_id,
                StaffUser.role == "admin",
                StaffUser.status == "active",
            )
        )
        targets = [staff_target(staff_id) for staff_id in admins.all()] or [ORG_TARGET]
    payload = WebhookDisabledPayload(endpoint_id=id_of(endpoint), url=endpoint.url, reason=reason)
    return await outbox.enqueue_many(
        session,
        [
            outbox.NewNotification(
                org_id=endpoint.org_id,
                channel=Channel.SLACK,
                target=target,
                payload=payload,
                dedupe_key=f"webhook-off:{id_of(endpoint)}:{outbox.stamp(at)}:{target}",
            )
            for target in targets
        ],
        at=at,
    )


# -- what staff see and do -----------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryView:
    id: int
    endpoint_id: int | None
    event_type: str | None
    message_id: str | None
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None

    @classmethod
    def of(cls, row: Notification) -> DeliveryView:
        payload = row.payload if isinstance(row.payload, dict) else {}
        return cls(
            id=id_of(row),
            endpoint_id=payload.get("endpoint_id"),
            event_type=payload.get("event_type"),
            message_id=payload.get("message_id"),
            status=row.status,
            attempts=row.attempts,
            next_attempt_at=row.next_attempt_at,
            last_error=row.last_error,
            created_at=row.created_at,
            sent_at=row.sent_at,
        )


STATUSES = tuple(s.value for s in Status)


async def list_deliveries(
    env: Env,
    *,
    org_id: int,
    status: str | None = None,
    endpoint_id: int | None = None,
    limit: int = 100,
) -> list[DeliveryView]:
    """The organisation's webhook deliveries, newest first."""
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"unknown status '{status}': choose from " + ", ".join(STATUSES))
    if not 1 <= limit <= 1000:
        raise InvalidInput("the limit must be between 1 and 1000")
    query = select(Notification).where(
        col(Notification.org_id) == org_id, col(Notification.channel) == Channel.WEBHOOK
    )
    if status is not None:
        query = query.where(col(Notification.status) == status)
    if endpoint_id is not None:
        query = query.where(col(Notification.target) == target_of(endpoint_id))
    async with env.reads() as session:
        rows = await session.exec(query.order_by(col(Notification.id).desc()).limit(limit))
        return [DeliveryView.of(row) for row in rows.all()]


async def retry_deliveries(
    env: Env, *, org_id: int, actor: Actor, delivery_ids: Sequence[int]
) -> int:
    """Try dead deliveries again from now, with a fresh set of attempts and the same id
    and body; a delivery that is not dead, or whose endpoint is off, is refused and
    nothing changes."""
    ids = sorted(set(delivery_ids))
    if not ids:
        raise InvalidInput("name at least one delivery to retry")
    now = env.clock.now()
    async with env.sessions() as session, session.begin():
        await require_admin(session, org_id, actor)
        rows = (
            await session.exec(
                select(Notification).where(
                    col(Notification.id).in_(ids),
                    col(Notification.org_id) == org_id,
                    col(Notification.channel) == Channel.WEBHOOK,
                )
            )
        ).all()
        found = {id_of(row): row for row in rows}
        missing = [i for i in ids if i not in found]
        if missing:
            raise NotFound("no webhook delivery " + ", ".join(str(i) for i in missing))
        alive = [i for i in ids if found[i].status != Status.DEAD]
        if alive:
            listed = ", ".join(f"{i} ({found[i].status})" for i in alive)
            raise Conflict(f"only dead deliveries are retried: {listed}")
        endpoint_ids = {(found[i].payload or {}).get("endpoint_id") for i in ids}
        endpoints = (
            await session.exec(
                select(WebhookEndpoint).where(col(WebhookEndpoint.id).in_(endpoint_ids))
            )
        ).all()
        off = [e for e in endpoints if not e.enabled]
        if off:
            names = ", ".join(str(id_of(e)) for e in off)
            raise Conflict(f"endpoint {names} is off: turn it on first (it retries its own)")
        result = await session.exec(
            update(Notification)
            .where(col(Notification.id).in_(ids), col(Notification.status) == Status.DEAD)
            .values(status=Status.PENDING.value, attempts=0, next_attempt_at=now, last_error=None)
        )
        return result.rowcount


async def count_dead(env: Env, *, org_id: int) -> int:
    async with env.reads() as session:
        result = await session.exec(
            select(func.count()).where(
                col(Notification.org_id) == org_id,
                col(Notification.channel) == Channel.WEBHOOK,
                col(Notification.status) == Status.DEAD,
            )
        )
        return int(result.one())
