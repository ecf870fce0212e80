"""The one worker loop: it claims ahead, outlives a failing handler, hands back on stop
what its worker still holds, and runs as long as an aiohttp application."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from sqlmodel import col, select

from storage.models import Notification
from tests.conftest import START, Tenant
from workflows import outbox
from workflows.context import Env, FixedClock
from workflows.outbox import claims
from workflows.outbox.kinds import Channel, SharePayload, Status, Via
from workflows.outbox.loop import Claim, OutboxLoop


@dataclass
class Holder:
    """A worker that sends each row it is given once ``release`` is set, and raises for
    the rows named in ``broken``."""

    env: Env
    claim: Claim
    release: asyncio.Event = field(default_factory=asyncio.Event)
    handled: list[int] = field(default_factory=list)
    broken: set[int] = field(default_factory=set)

    async def handle(self, rows: Sequence[Notification]) -> None:
        await self.release.wait()
        for row in rows:
            assert row.id is not None
            if row.id in self.broken:
                raise RuntimeError("this handler fails")
            self.handled.append(row.id)
            await claims.mark_sent(self.env, row.id, worker=self.claim.worker, via=Via.EMAIL)


def _holder(env: Env, *, batch: int) -> Holder:
    return Holder(env, Claim(worker="holder", channels=(Channel.RECIPIENT,), batch=batch))


async def _queue(env: Env, tenant: Tenant, count: int) -> None:
    async with env.sessions() as session, session.begin():
        for n in range(1, count + 1):
            await outbox.enqueue(
                session,
                org_id=tenant.org_id,
                channel=Channel.RECIPIENT,
                target=str(tenant.recipient_id),
                payload=SharePayload(share_id=n, document_id=n),
                dedupe_key=f"loop:{n}",
                at=START,
            )


async def _statuses(env: Env) -> list[tuple[str, int]]:
    async with env.reads() as session:
        rows = await session.exec(select(Notification).order_by(col(Notification.id)))
        return [(row.status, row.attempts) for row in rows.all()]


async def _until(check: Callable[[], Awaitable[bool]]) -> None:
    """Poll ``check`` (it reads the database, which has nothing to wait on) until it holds."""
    async with asyncio.timeout(10):
        while True:
            if await check():
                return
            await asyncio.sleep(0.01)


async def test_the_loop_claims_ahead_as_many_batches_as_allowed(env: Env, tenant: Tenant) -> None:
    await _queue(env, tenant, 7)
    worker = _holder(env, batch=2)
    loop = OutboxLoop(env, worker, name="holder", ahead=3, idle_seconds=0.01)

    async with loop.running():

        async def three_batches_in_hand() -> bool:
            return [s for s, _ in await _statuses(env)].count(Status.SENDING) == 6

        await _until(three_batches_in_hand)
        worker.release.set()

        async def all_sent() -> bool:
            return len(worker.handled) == 7

        await _until(all_sent)

    assert await _statuses(env) == [(Status.SENT, 1)] * 7


async def test_a_failing_handler_leaves_its_rows_claimed_and_the_loop_goes_on(
    env: Env, tenant: Tenant
) -> None:
    await _queue(env, tenant, 3)
    worker = _holder(env, batch=1)
    worker.broken = {1}
    worker.release.set()
    loop = OutboxLoop(env, worker, name="holder", idle_seconds=0.01)

    stop = asyncio.Event()
    running = asyncio.create_task(loop.run(stop))

    async def the_others_sent() -> bool:
        return worker.handled == [2, 3]

    await _until(the_others_sent)
    assert (await _statuses(env))[0] == (Status.SENDING, 1)
    stop.set()
    await running

    assert await _statuses(env) == [(Status.PENDING, 0), (Status.SENT, 1), (Status.SENT, 1)]


async def test_stopping_hands_back_what_the_worker_still_holds(env: Env, tenant: Tenant) -> None:
    await _queue(env, tenant, 2)
    worker = _holder(env, batch=5)  # never released: it holds its rows until cancelled
    loop = OutboxLoop(env, worker, name="holder", drain_seconds=0.05, idle_seconds=0.01)

    async with loop.running():

        async def claimed() -> bool:
            return [s for s, _ in await _statuses(env)] == [Status.SENDING] * 2

        await _until(claimed)

    assert await _statuses(env) == [(Status.PENDING, 0)] * 2
    assert worker.handled == []


async def test_the_loop_runs_as_long_as_an_aiohttp_application(env: Env, tenant: Tenant) -> None:
    worker = _holder(env, batch=5)
    worker.release.set()
    app = web.Application()
    app.cleanup_ctx.append(OutboxLoop(env, worker, name="holder", idle_seconds=0.01).lifetime())
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await _queue(env, tenant, 2)

        async def sent() -> bool:
            return worker.handled == [1, 2]

        await _until(sent)
    finally:
        await runner.cleanup()

    await _queue(env, tenant, 3)
    await asyncio.sleep(0.05)
    assert worker.handled == [1, 2], "nothing is claimed once the application stopped"


async def test_rows_held_through_an_outage_longer_than_the_lease_are_sent_once(
    env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    """Two workers: the first claims every row, then its channel is down for three leases
    of the store's clock while the second keeps claiming. The clock moves half a lease at a
    time, and only once the first worker has renewed its leases since the last move, so
    the test waits for renewal rather than racing it: without renewal the rows would fall
    due after the second move and the second worker would take them over."""
    await _queue(env, tenant, 12)
    lease = timedelta(seconds=0.3)
    first = Holder(env, Claim(worker="first", channels=(Channel.RECIPIENT,), batch=12, lease=lease))
    second = Holder(
        env, Claim(worker="second", channels=(Channel.RECIPIENT,), batch=12, lease=lease)
    )
    second.release.set()

    async with OutboxLoop(env, first, name="first", idle_seconds=0.01).running():

        async def all_claimed() -> bool:
            return [s for s, _ in await _statuses(env)] == [Status.SENDING] * 12

        await _until(all_claimed)
        async with OutboxLoop(env, second, name="second", idle_seconds=0.01).running():
            for _ in range(6):  # the outage: three leases, half a lease at a time
                clock.at += lease / 2
                renewed_to = clock.at + lease

                async def renewed(until: datetime = renewed_to) -> bool:
                    return all(held >= until for held in await _leases(env))

                await _until(renewed)
            first.release.set()

            async def all_sent() -> bool:
                return len(first.handled) + len(second.handled) == 12

            await _until(all_sent)

    assert sorted(first.handled) == list(range(1, 13)) and second.handled == []
    assert await _statuses(env) == [(Status.SENT, 1)] * 12


async def _leases(env: Env) -> list[datetime]:
    async with env.reads() as session:
        rows = await session.exec(select(Notification.claimed_until))
        return [held for held in rows.all() if held is not None]


async def test_claims_failing_through_an_outage_wait_longer_each_time_and_log_one_line(
    env: Env, tenant: Tenant, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    await _queue(env, tenant, 2)
    worker = _holder(env, batch=5)
    worker.release.set()
    claim_due = claims.claim_due
    outage = 4

    async def through_an_outage(*args: Any, **kwargs: Any) -> list[Notification]:
        nonlocal outage
        if outage:
            outage -= 1
            raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")
        return await claim_due(*args, **kwargs)

    monkeypatch.setattr(claims, "claim_due", through_an_outage)

    with caplog.at_level(logging.INFO, logger="workflows.outbox.loop"):
        async with OutboxLoop(env, worker, name="holder", idle_seconds=0.01).running():

            async def sent() -> bool:
                return worker.handled == [1, 2]

            await _until(sent)

    said = [(r.levelno, r.getMessage(), r.exc_info) for r in caplog.records]
    refused = "(a connection failed: ConnectionRefusedError)"
    assert said == [
        (
            logging.WARNING,
            f"holder: claiming failed (1 in a row); trying again in 0.01 s {refused}",
            None,
        ),
        (
            logging.WARNING,
            f"holder: claiming failed (2 in a row); trying again in 0.02 s {refused}",
            None,
        ),
        (
            logging.WARNING,
            f"holder: claiming failed (3 in a row); trying again in 0.04 s {refused}",
            None,
        ),
        (
            logging.WARNING,
            f"holder: claiming failed (4 in a row); trying again in 0.08 s {refused}",
            None,
        ),
        (logging.INFO, "holder: claiming works again after 4 failures", None),
    ]


def test_the_wait_after_failed_claims_doubles_up_to_half_a_minute(env: Env) -> None:
    loop = OutboxLoop(env, _holder(env, batch=1), name="holder", idle_seconds=1.0)

    waits = [loop._rest_after(failures) for failures in (1, 2, 3, 5, 6, 7, 1000)]

    assert waits == [1.0, 2.0, 4.0, 16.0, 30.0, 30.0, 30.0]
