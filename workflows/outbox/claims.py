"""Claiming and settling outbox rows: the part of delivery that lives in the store.

Workers run the loop (`workflows.outbox.loop`): claim due rows, handle each, then mark
it sent, throttled, failed or waiting. A claim is a lease, renewed while the worker is
still working on its rows (`renew`): a worker that dies between sending and marking
leaves its rows to be claimed again when the lease ends, so at most those rows are sent
twice. On PostgreSQL several workers claim with ``FOR UPDATE SKIP LOCKED``.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, or_
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Notification
from storage.rows import id_of
from workflows.context import Env
from workflows.errors import NotFound
from workflows.outbox.kinds import Channel, Payload, Status, Via
from workflows.sharing import staff_notices
from workflows.webhooks import emitting

MAX_ATTEMPTS = 8
LEASE = timedelta(seconds=60)
BACKOFF_BASE = timedelta(seconds=5)
BACKOFF_CAP = timedelta(hours=1)


@dataclass(frozen=True)
class Backoff:
    """How long to wait before attempt ``attempts + 1``: exponential, capped, jittered."""

    base: timedelta = BACKOFF_BASE
    cap: timedelta = BACKOFF_CAP

    def delay(self, attempts: int, rng: random.Random | None = None) -> timedelta:
        raw = min(self.base * (2 ** max(attempts - 1, 0)), self.cap)
        factor = (rng or random).uniform(0.5, 1.5)
        return raw * factor


async def claim_due(
    env: Env,
    *,
    worker: str,
    channels: Sequence[Channel],
    limit: int = 20,
    lease: timedelta = LEASE,
) -> list[Notification]:
    """Take up to ``limit`` due rows of ``channels`` for ``worker``, for ``lease``."""
    now = env.clock.now()
    async with env.sessions() as session, session.begin():
        due = (
            select(Notification)
            .where(
                col(Notification.channel).in_(channels),
                or_(
                    and_(
                        col(Notification.status) == Status.PENDING,
                        col(Notification.next_attempt_at) <= now,
                    ),
                    and_(
                        col(Notification.status) == Status.SENDING,
                        col(Notification.claimed_until) <= now,
                    ),
                ),
            )
            .order_by(col(Notification.next_attempt_at), col(Notification.id))
            .limit(limit)
        )
        if session.get_bind().dialect.name == "postgresql":
            due = due.with_for_update(skip_locked=True)
        rows = (await session.exec(due)).all()
        for row in rows:
            row.status = Status.SENDING.value
            row.claimed_by = worker
            row.claimed_until = now + lease
            row.attempts += 1
            session.add(row)
    return list(rows)


async def _settle(
    env: Env,
    notification_id: int,
    worker: str,
    *,
    then: Callable[[AsyncSession], Awaitable[object]] | None = None,
    **values: Any,
) -> bool:
    """Apply ``values`` if ``worker`` still holds the row, and run ``then`` in the same
    transaction; False (and ``then`` not run) when its lease was lost."""
    async with env.sessions() as session, session.begin():
        result = await session.exec(
            update(Notification)
            .where(
                col(Notification.id) == notification_id,
                col(Notification.status) == Status.SENDING,
                col(Notification.claimed_by) == worker,
            )
            .values(claimed_by=None, claimed_until=None, **values)
        )
        settled = result.rowcount == 1
        if settled and then is not None:
            await then(session)
        return settled


async def mark_sent(
    env: Env,
    notification_id: int,
    *,
    worker: str,
    via: Via,
    result: dict[str, Any] | None = None,
    payload: Payload | None = None,
) -> bool:
    """Sent; ``payload``, if given, replaces the row's own in the same write, so what must
    not be kept after sending (a one-time code) is gone the moment the row is settled."""
    return await _settle(
        env,
        notification_id,
        worker,
        status=Status.SENT.value,
        sent_at=env.clock.now(),
        delivered_via=via.value,
        result=result or {},
        last_error=None,
        **_kept(payload),
    )


def _kept(payload: Payload | None) -> dict[str, Any]:
    """The values that replace the row's payload with ``payload``, if one is given."""
    return {} if payload is None else {"payload": payload.to_json()}


async def mark_throttled(
    env: Env, notification_id: int, *, worker: str, retry_after: float
) -> bool:
    """The platform asked us to wait: try again then, without counting an attempt."""
    return await _settle(
        env,
        notification_id,
        worker,
        status=Status.PENDING.value,
        attempts=Notification.attempts - 1,
        next_attempt_at=env.clock.now() + timedelta(seconds=retry_after),
    )


async def mark_failed(
    env: Env,
    notification: Notification,
    *,
    worker: str,
    error: str,
    permanent: bool = False,
    backoff: Backoff | None = None,
    payload: Payload | None = None,
) -> Status:
    """Back off and retry, or give up as ``dead`` after MAX_ATTEMPTS; returns the new status.

    Giving up tells staff (a ``slack`` notice, and ``delivery.dead`` to the organisation's
    webhooks) in the same transaction and, with
    ``payload``, replaces the row's own (a row retried keeps what it needs).
    """
    dead = permanent or notification.attempts >= MAX_ATTEMPTS
    status = Status.DEAD if dead else Status.PENDING
    delay = (backoff or Backoff()).delay(notification.attempts)
    now = env.clock.now()

    async def tell_staff(session: AsyncSession) -> None:
        await staff_notices.enqueue_failure(session, notification, error=error, at=now)
        await emitting.emit_dead(session, notification, error=error, at=now)

    await _settle(
        env,
        id_of(notification),
        worker,
        then=tell_staff if dead else None,
        **_kept(payload if dead else None),
        status=status.value,
        last_error=error[:2000],
        next_attempt_at=now + (timedelta(0) if dead else delay),
    )
    return status


async def mark_waiting(env: Env, notification_id: int, *, worker: str, reason: str) -> bool:
    """Nobody can be reached yet (no linked chat, no email): kept until a channel appears."""
    return await _settle(
        env,
        notification_id,
        worker,
        status=Status.WAITING.value,
        attempts=Notification.attempts - 1,
        last_error=reason[:2000],
    )


async def mark_cancelled(
    env: Env,
    notification_id: int,
    *,
    worker: str,
    reason: str,
    payload: Payload | None = None,
) -> bool:
    """No longer worth sending (the share was revoked meanwhile, the kind was turned off);
    ``payload``, if given, replaces the row's own."""
    return await _settle(
        env,
        notification_id,
        worker,
        status=Status.CANCELLED.value,
        last_error=reason,
        **_kept(payload),
    )


async def renew(env: Env, *, worker: str, ids: Sequence[int], lease: timedelta = LEASE) -> int:
    """Extend ``worker``'s lease on those of ``ids`` it still holds, from now: a row that
    waits its turn behind a rate limiter or an outage must not be taken over and sent again
    by another worker while this one is still working on it. Returns how many it holds."""
    if not ids:
        return 0
    async with env.sessions() as session, session.begin():
        result = await session.exec(
            update(Notification)
            .where(
                col(Notification.id).in_(ids),
                col(Notification.status) == Status.SENDING,
                col(Notification.claimed_by) == worker,
            )
            .values(claimed_until=env.clock.now() + lease)
        )
        return result.rowcount


async def release_claims(env: Env, *, worker: str) -> int:
    """Hand back every row ``worker`` still holds, due now, its attempt not counted: a
    worker that stops cleanly need not leave its rows waiting for their leases to end."""
    async with env.sessions() as session, session.begin():
        result = await session.exec(
            update(Notification)
            .where(
                col(Notification.status) == Status.SENDING,
                col(Notification.claimed_by) == worker,
            )
            .values(
                status=Status.PENDING.value,
                claimed_by=None,
                claimed_until=None,
                attempts=Notification.attempts - 1,
                next_attempt_at=env.clock.now(),
            )
        )
        return result.rowcount


async def list_dead(env: Env, *, org_id: int | None = None) -> Sequence[Notification]:
    env.require_every_client(to="see the delivery queue")
    query = select(Notification).where(Notification.status == Status.DEAD)
    if org_id is not None:
        query = query.where(Notification.org_id == org_id)
    async with env.sessions() as session:
        return (await session.exec(query.order_by(col(Notification.id)))).all()


async def retry_dead(
    env: Env, *, org_id: int | None = None, ids: Sequence[int] | None = None
) -> int:
    """Give dead rows a fresh set of attempts, now; returns how many."""
    env.require_every_client(to="retry deliveries")
    conditions = [col(Notification.status) == Status.DEAD]
    if org_id is not None:
        conditions.append(col(Notification.org_id) == org_id)
    if ids:
        conditions.append(col(Notification.id).in_(ids))
    async with env.sessions() as session, session.begin():
        if ids:
            found = (await session.exec(select(Notification.id).where(*conditions))).all()
            missing = sorted(set(ids) - set(found))
            if missing:
                raise NotFound("no dead notification with id " + ", ".join(str(i) for i in missing))
        result = await session.exec(
            update(Notification)
            .where(*conditions)
            .values(
                status=Status.PENDING.value,
                attempts=0,
                next_attempt_at=env.clock.now(),
                last_error=None,
            )
        )
        return result.rowcount
