"""The delivery worker for recipients: outbox rows out through Telegram, else mail.

It claims due rows, asks the workflows which way each should go, sends it through the
matching channel and settles the row, claiming more while earlier rows still wait for
the rate limiter. A person who blocked the bot is marked inactive and reached by mail
when they have an address; a 429 waits and is never a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import timedelta
from typing import Protocol

from bot.errors import DeliveryError, PermanentFailure, Throttled, Unreachable
from storage.models import Notification
from workflows import delivery, inbox, linking, notices
from workflows.context import Env
from workflows.notices import ShareNotice

log = logging.getLogger(__name__)

RECIPIENT_CHANNELS = ("recipient",)


class ShareNoticeSender(Protocol):
    async def send_share_notice(self, notice: ShareNotice, *, link: str) -> dict[str, str]: ...


class RecipientDelivery:
    """One worker; several may run against one PostgreSQL (claims skip each other's rows).

    ``run`` keeps a pipeline: it claims the next ``batch`` while up to ``batch`` more are
    still being routed or waiting for the rate limiter, so the channel is never idle
    while rows are due. Each row is routed and given its link (``prepare`` rows at a
    time), then sent and settled (``unsettled`` rows at a time per channel). A send whose
    outcome is not yet recorded is the one a crash may repeat, so a killed worker sends
    at most ``unsettled`` rows twice per channel; it also caps the rate at ``unsettled``
    per round trip to the platform plus one settling write.
    """

    def __init__(
        self,
        env: Env,
        *,
        public_url: str,
        telegram: ShareNoticeSender | None = None,
        mail: ShareNoticeSender | None = None,
        batch: int = 30,
        prepare: int = 1,
        unsettled: int = 1,
        idle_seconds: float = 1.0,
        drain_seconds: float = 15.0,
        lease: timedelta = delivery.LEASE,
        worker_id: str | None = None,
    ) -> None:
        self.env = env
        self.public_url = public_url.rstrip("/")
        self.senders: dict[str, ShareNoticeSender] = {}
        if telegram is not None:
            self.senders["telegram"] = telegram
        if mail is not None:
            self.senders["email"] = mail
        self.batch = batch
        self.idle_seconds = idle_seconds
        self.drain_seconds = drain_seconds
        self.lease = lease
        self.unsettled = unsettled
        self.worker_id = worker_id or f"recipients-{uuid.uuid4().hex[:12]}"
        self._preparing = asyncio.Semaphore(prepare)
        self._unsettled = {way: asyncio.Semaphore(unsettled) for way in self.senders}

    async def run_once(self) -> int:
        """Claim and handle one batch; returns how many rows were handled."""
        rows = await self._claim(self.batch)
        await asyncio.gather(*(self._handle_logged(row) for row in rows))
        return len(rows)

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set, then let the rows in hand finish (for at most
        ``drain_seconds``); sleeps ``idle_seconds`` when nothing is due."""
        working: set[asyncio.Task[None]] = set()
        try:
            while not stop.is_set():
                room = 2 * self.batch - len(working)
                rows: list[Notification] = []
                if len(working) < self.batch:
                    try:
                        rows = await self._claim(room)
                    except Exception:  # the loop must outlive a bad moment of the database
                        log.exception("claiming recipient notifications failed; retrying shortly")
                for row in rows:
                    task = asyncio.create_task(self._handle_logged(row))
                    working.add(task)
                    task.add_done_callback(working.discard)
                if len(working) >= self.batch:
                    await _first_of(working, stop)
                elif len(rows) < room:  # nothing more is due now
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), self.idle_seconds)
        finally:
            await self._drain(working, graceful=stop.is_set())

    async def _drain(self, working: set[asyncio.Task[None]], *, graceful: bool) -> None:
        """Finish the rows in hand; on a clean stop, hand back those cut short."""
        if working:
            if graceful:
                await asyncio.wait(set(working), timeout=self.drain_seconds)
            for task in working:
                task.cancel()
            await asyncio.gather(*working, return_exceptions=True)
        if graceful:
            try:
                await delivery.release_claims(self.env, worker=self.worker_id)
            except Exception:  # their leases will end by themselves
                log.exception("could not hand back claimed notifications")

    async def _claim(self, limit: int) -> list[Notification]:
        return await delivery.claim_due(
            self.env,
            worker=self.worker_id,
            channels=RECIPIENT_CHANNELS,
            limit=limit,
            lease=self.lease,
        )

    async def _handle_logged(self, row: Notification) -> None:
        try:
            await self._handle(row)
        except Exception:
            # The row stays claimed; its lease runs out and it is tried again.
            log.exception("delivery of notification %s failed", row.id)

    async def _handle(self, row: Notification) -> None:
        assert row.id is not None
        if row.kind != "document.shared":
            await delivery.mark_failed(
                self.env,
                row,
                worker=self.worker_id,
                error=f"unknown kind {row.kind}",
                permanent=True,
            )
            return
        async with self._preparing:
            route = await notices.route_share_notice(self.env, row)
            if route.way == "cancel":
                await delivery.mark_cancelled(
                    self.env, row.id, worker=self.worker_id, reason=route.reason or "cancelled"
                )
                return
            if route.way == "wait" or route.notice is None:
                await delivery.mark_waiting(
                    self.env, row.id, worker=self.worker_id, reason=route.reason or "no channel"
                )
                return
            way = self._channel(route.way, route.notice)
            if way is None:
                await delivery.mark_waiting(
                    self.env,
                    row.id,
                    worker=self.worker_id,
                    reason=f"no {route.way} channel is configured",
                )
                return
            link = await self._link(route.notice)
        await self._send(row, way, route.notice, link)

    def _channel(self, way: str, notice: ShareNotice) -> str | None:
        """The configured channel for ``way``: Telegram falls back to mail when it can."""
        if way in self.senders:
            return way
        if way == "telegram" and notice.recipient.email and "email" in self.senders:
            return "email"
        return None

    async def _send(self, row: Notification, way: str, notice: ShareNotice, link: str) -> None:
        assert row.id is not None
        async with self._unsettled[way]:
            try:
                result = await self.senders[way].send_share_notice(notice, link=link)
            except DeliveryError as e:
                failure = e
            else:
                await delivery.mark_sent(
                    self.env, row.id, worker=self.worker_id, via=way, result=result
                )
                return
        await self._settle_failure(row, way, notice, link, failure)

    async def _settle_failure(
        self, row: Notification, way: str, notice: ShareNotice, link: str, failure: DeliveryError
    ) -> None:
        assert row.id is not None
        if isinstance(failure, Throttled):
            await delivery.mark_throttled(
                self.env, row.id, worker=self.worker_id, retry_after=failure.retry_after
            )
        elif isinstance(failure, Unreachable):
            if way == "telegram":
                assert notice.recipient.telegram_chat_id is not None
                await linking.chat_blocked_bot(self.env, chat_id=notice.recipient.telegram_chat_id)
                if notice.recipient.email and "email" in self.senders:
                    await self._send(row, "email", notice, link)
                    return
            await delivery.mark_waiting(
                self.env, row.id, worker=self.worker_id, reason=str(failure)
            )
        elif isinstance(failure, PermanentFailure):
            await delivery.mark_failed(
                self.env, row, worker=self.worker_id, error=str(failure), permanent=True
            )
        else:
            await delivery.mark_failed(self.env, row, worker=self.worker_id, error=str(failure))

    async def _link(self, notice: ShareNotice) -> str:
        assert notice.share.id is not None and notice.recipient.id is not None
        token = await inbox.personal_link(
            self.env, share_id=notice.share.id, recipient_id=notice.recipient.id
        )
        return f"{self.public_url}/d/{token}"


async def _first_of(tasks: set[asyncio.Task[None]], stop: asyncio.Event) -> None:
    """Wait until one of ``tasks`` finishes or ``stop`` is set."""
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({*tasks, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
