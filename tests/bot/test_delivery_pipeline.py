"""The delivery worker's pipeline: it claims ahead while earlier rows still wait to be sent,
sends each row once, never has more sends unsettled than allowed, and stops cleanly."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sqlalchemy import func
from sqlmodel import col, select

from bot.delivery import RecipientDelivery
from storage.models import Notification
from tests.conftest import STAFF, Tenant
from tests.helpers import upload
from workflows.context import Env
from workflows.sharing import sharing
from workflows.sharing.notices import ShareNotice

PUBLIC = "https://docs.example.test"


@dataclass
class SlowSender:
    """A channel whose every send takes ``seconds``; it counts sends that overlap."""

    seconds: float
    running: int = 0
    most_at_once: int = 0
    sent: list[int] = field(default_factory=list)

    async def send_share_notice(self, notice: ShareNotice, *, link: str) -> dict[str, str]:
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            await asyncio.sleep(self.seconds)
        finally:
            self.running -= 1
        assert notice.share.id is not None
        self.sent.append(notice.share.id)
        return {"message_id": str(len(self.sent))}


async def _share_documents(env: Env, tenant: Tenant, count: int) -> list[int]:
    shares = []
    for number in range(count):
        document = await upload(
            env, org_id=tenant.org_id, client_id=tenant.client_id, title=f"Statement {number}"
        )
        assert document.id is not None
        result = await sharing.share_with_recipient(
            env,
            org_id=tenant.org_id,
            actor=STAFF,
            document_id=document.id,
            recipient_id=tenant.recipient_id,
        )
        assert result.share.id is not None
        shares.append(result.share.id)
    return shares


async def _statuses(env: Env) -> dict[str, int]:
    async with env.reads() as session:
        rows = await session.exec(
            select(Notification.status, func.count(col(Notification.id))).group_by(
                col(Notification.status)
            )
        )
        return dict(rows.all())


async def _until(seconds: float, check: Callable[[], Awaitable[bool]]) -> None:
    """Poll ``check`` (it reads the database, which has nothing to wait on) until it holds."""
    async with asyncio.timeout(seconds):
        while True:
            if await check():
                return
            await asyncio.sleep(0.01)


async def test_the_worker_claims_ahead_and_sends_every_row_once_one_at_a_time(
    env: Env, tenant: Tenant
) -> None:
    shares = await _share_documents(env, tenant, 12)
    mail = SlowSender(seconds=0.02)
    worker = RecipientDelivery(env, public_url=PUBLIC, mail=mail, batch=4, idle_seconds=0.05)
    stop = asyncio.Event()
    run = asyncio.create_task(worker.run(stop))
    most_in_hand = 0

    async def all_sent() -> bool:
        nonlocal most_in_hand
        most_in_hand = max(most_in_hand, (await _statuses(env)).get("sending", 0))
        return len(mail.sent) >= len(shares)

    try:
        await _until(10, all_sent)
    finally:
        stop.set()
        await run

    assert sorted(mail.sent) == sorted(shares)
    assert mail.most_at_once == 1
    assert most_in_hand > worker.claim.batch  # the next batch was claimed before this one was out
    assert await _statuses(env) == {"sent": len(shares)}


async def test_more_unsettled_sends_may_overlap_when_allowed(env: Env, tenant: Tenant) -> None:
    shares = await _share_documents(env, tenant, 6)
    mail = SlowSender(seconds=0.05)
    worker = RecipientDelivery(env, public_url=PUBLIC, mail=mail, unsettled=3, prepare=3)

    assert await worker.run_once() == len(shares)

    assert 1 < mail.most_at_once <= 3
    assert await _statuses(env) == {"sent": len(shares)}


async def test_stopping_settles_the_rows_in_hand_and_leaves_the_rest_due(
    env: Env, tenant: Tenant
) -> None:
    shares = await _share_documents(env, tenant, 10)
    mail = SlowSender(seconds=0.05)
    worker = RecipientDelivery(env, public_url=PUBLIC, mail=mail, batch=3)
    stop = asyncio.Event()
    run = asyncio.create_task(worker.run(stop))

    async def first_sent() -> bool:
        return bool(mail.sent)

    await _until(10, first_sent)
    stop.set()
    await asyncio.wait_for(run, 10)

    statuses = await _statuses(env)
    assert "sending" not in statuses
    assert statuses["sent"] == len(mail.sent) < len(shares)
    assert statuses["sent"] + statuses.get("pending", 0) == len(shares)
