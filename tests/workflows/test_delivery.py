"""The outbox's claim-and-settle cycle: leases, throttling, back-off, dead rows, retries."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta

import pytest
from sqlmodel import select

from storage.models import Notification
from tests.conftest import START, Tenant
from workflows import outbox
from workflows.context import Env, FixedClock
from workflows.errors import NotFound
from workflows.outbox import claims
from workflows.outbox.claims import MAX_ATTEMPTS, Backoff
from workflows.outbox.kinds import Channel, SharePayload, Via


async def _queue(
    env: Env, tenant: Tenant, count: int = 1, channel: Channel = Channel.RECIPIENT
) -> None:
    async with env.sessions() as session, session.begin():
        for n in range(count):
            await outbox.enqueue(
                session,
                org_id=tenant.org_id,
                channel=channel,
                target=str(tenant.recipient_id),
                payload=SharePayload(share_id=n + 1, document_id=n + 1),
                dedupe_key=f"test:{channel}:{n}",
                at=START,
            )


async def _row(env: Env, notification_id: int) -> Notification:
    async with env.sessions() as session:
        row = await session.get(Notification, notification_id)
        assert row is not None
        return row


async def test_the_same_dedupe_key_is_queued_once(env: Env, tenant: Tenant) -> None:
    await _queue(env, tenant)
    await _queue(env, tenant)
    async with env.sessions() as session:
        assert len((await session.exec(select(Notification))).all()) == 1


async def test_a_claimed_row_is_not_claimed_again_until_its_lease_ends(
    env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    await _queue(env, tenant)
    [claimed] = await claims.claim_due(env, worker="a", channels=["recipient"])
    assert claimed.attempts == 1 and claimed.status == "sending"
    assert await claims.claim_due(env, worker="b", channels=["recipient"]) == []
    # Worker a dies before marking: after the lease, b sends it again (at most once more).
    clock.at = START + claims.LEASE
    [again] = await claims.claim_due(env, worker="b", channels=["recipient"])
    assert again.id == claimed.id and again.attempts == 2
    assert claimed.id is not None
    assert not await claims.mark_sent(env, claimed.id, worker="a", via=Via.TELEGRAM)
    assert await claims.mark_sent(env, claimed.id, worker="b", via=Via.TELEGRAM)
    assert (await _row(env, claimed.id)).status == "sent"


async def test_only_the_asked_channels_are_claimed(env: Env, tenant: Tenant) -> None:
    await _queue(env, tenant, channel=Channel.SLACK)
    assert await claims.claim_due(env, worker="a", channels=["recipient"]) == []
    assert len(await claims.claim_due(env, worker="a", channels=["slack"])) == 1


async def test_concurrent_workers_never_claim_the_same_row(env: Env, tenant: Tenant) -> None:
    await _queue(env, tenant, count=30)
    batches = await asyncio.gather(
        *(claims.claim_due(env, worker=f"w{i}", channels=["recipient"], limit=7) for i in range(6))
    )
    ids = [row.id for batch in batches for row in batch]
    assert len(ids) == len(set(ids)) == 30


async def test_throttling_waits_without_counting_an_attempt(
    env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    await _queue(env, tenant)
    [row] = await claims.claim_due(env, worker="a", channels=["recipient"])
    assert row.id is not None
    await claims.mark_throttled(env, row.id, worker="a", retry_after=7)
    stored = await _row(env, row.id)
    assert (stored.status, stored.attempts) == ("pending", 0)
    assert stored.next_attempt_at == START + timedelta(seconds=7)
    clock.at = START + timedelta(seconds=6)
    assert await claims.claim_due(env, worker="a", channels=["recipient"]) == []
    clock.at = START + timedelta(seconds=7)
    assert len(await claims.claim_due(env, worker="a", channels=["recipient"])) == 1


async def test_failures_back_off_and_end_dead_after_the_last_attempt(
    env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    await _queue(env, tenant)
    statuses = []
    for _ in range(MAX_ATTEMPTS):
        clock.at = clock.at + timedelta(days=1)
        [row] = await claims.claim_due(env, worker="a", channels=["recipient"])
        statuses.append(await claims.mark_failed(env, row, worker="a", error="Bad Gateway"))
    assert statuses == ["pending"] * (MAX_ATTEMPTS - 1) + ["dead"]
    [dead] = await claims.list_dead(env, org_id=tenant.org_id)
    assert dead.last_error == "Bad Gateway" and dead.attempts == MAX_ATTEMPTS
    assert await claims.retry_dead(env, org_id=tenant.org_id) == 1
    revived = await _row(env, dead.id or 0)
    assert (revived.status, revived.attempts) == ("pending", 0)


def test_back_off_grows_exponentially_with_jitter_and_a_cap() -> None:
    rng = random.Random(7)
    backoff = Backoff(base=timedelta(seconds=10), cap=timedelta(minutes=10))
    delays = [backoff.delay(n, rng) for n in range(1, 12)]
    for attempt, delay in enumerate(delays, start=1):
        raw = min(timedelta(seconds=10) * 2 ** (attempt - 1), timedelta(minutes=10))
        assert raw * 0.5 <= delay <= raw * 1.5
    assert len({d.total_seconds() for d in delays}) == len(delays)


async def test_retrying_unknown_dead_rows_is_refused(env: Env, tenant: Tenant) -> None:
    with pytest.raises(NotFound, match="no dead notification with id 99"):
        await claims.retry_dead(env, org_id=tenant.org_id, ids=[99])


async def test_a_worker_that_stops_cleanly_hands_back_what_it_holds(
    env: Env, tenant: Tenant
) -> None:
    await _queue(env, tenant, count=3)
    held = await claims.claim_due(env, worker="a", channels=["recipient"], limit=2)
    assert len(held) == 2
    assert await claims.release_claims(env, worker="b") == 0
    assert await claims.release_claims(env, worker="a") == 2
    again = await claims.claim_due(env, worker="b", channels=["recipient"])
    assert len(again) == 3 and all(row.attempts == 1 for row in again)


async def test_the_lease_is_the_callers_to_choose(
    env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    await _queue(env, tenant)
    await claims.claim_due(env, worker="a", channels=["recipient"], lease=timedelta(seconds=5))
    clock.at = START + timedelta(seconds=4)
    assert await claims.claim_due(env, worker="b", channels=["recipient"]) == []
    clock.at = START + timedelta(seconds=5)
    assert len(await claims.claim_due(env, worker="b", channels=["recipient"])) == 1
