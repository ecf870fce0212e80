"""The delivery worker for recipients: outbox rows out through Telegram, else mail.

It claims due rows, asks the workflows which way each should go, sends it through the
matching channel and settles the row. A person who blocked the bot is marked inactive
and reached by mail when they have an address; a 429 waits and is never a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Protocol

from bot.errors import PermanentFailure, TemporaryFailure, Throttled, Unreachable
from storage.models import Notification
from workflows import delivery, inbox, linking, notices
from workflows.context import Env
from workflows.notices import ShareNotice

log = logging.getLogger(__name__)

RECIPIENT_CHANNELS = ("recipient",)


class ShareNoticeSender(Protocol):
    async def send_share_notice(self, notice: ShareNotice, *, link: str) -> dict[str, str]: ...


class RecipientDelivery:
    """One worker; several may run against one PostgreSQL (claims skip each other's rows)."""

    def __init__(
        self,
        env: Env,
        *,
        public_url: str,
        telegram: ShareNoticeSender | None = None,
        mail: ShareNoticeSender | None = None,
        batch: int = 30,
        idle_seconds: float = 1.0,
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
        self.worker_id = worker_id or f"recipients-{uuid.uuid4().hex[:12]}"

    async def run_once(self) -> int:
        """Claim and handle one batch; returns how many rows were handled."""
        rows = await delivery.claim_due(
            self.env, worker=self.worker_id, channels=RECIPIENT_CHANNELS, limit=self.batch
        )
        outcomes = await asyncio.gather(
            *(self._handle(row) for row in rows), return_exceptions=True
        )
        for row, outcome in zip(rows, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                # The row stays claimed; its lease runs out and it is tried again.
                log.error("delivery of notification %s failed", row.id, exc_info=outcome)
        return len(rows)

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set; sleeps ``idle_seconds`` when nothing is due."""
        while not stop.is_set():
            try:
                handled = await self.run_once()
            except Exception:  # the loop must outlive a bad moment of the database
                log.exception("recipient delivery failed; retrying shortly")
                handled = 0
            if handled == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.idle_seconds)

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
        await self._send(row, route.way, route.notice)

    async def _send(self, row: Notification, way: str, notice: ShareNotice) -> None:
        assert row.id is not None
        sender = self.senders.get(way)
        if sender is None:
            if way == "telegram" and notice.recipient.email and "email" in self.senders:
                await self._send(row, "email", notice)
                return
            await delivery.mark_waiting(
                self.env, row.id, worker=self.worker_id, reason=f"no {way} channel is configured"
            )
            return
        try:
            link = await self._link(notice)
            result = await sender.send_share_notice(notice, link=link)
        except Throttled as e:
            await delivery.mark_throttled(
                self.env, row.id, worker=self.worker_id, retry_after=e.retry_after
            )
        except Unreachable as e:
            if way == "telegram":
                assert notice.recipient.telegram_chat_id is not None
                await linking.chat_blocked_bot(self.env, chat_id=notice.recipient.telegram_chat_id)
                if notice.recipient.email and "email" in self.senders:
                    await self._send(row, "email", notice)
                    return
            await delivery.mark_waiting(self.env, row.id, worker=self.worker_id, reason=str(e))
        except PermanentFailure as e:
            await delivery.mark_failed(
                self.env, row, worker=self.worker_id, error=str(e), permanent=True
            )
        except TemporaryFailure as e:
            await delivery.mark_failed(self.env, row, worker=self.worker_id, error=str(e))
        else:
            await delivery.mark_sent(
                self.env, row.id, worker=self.worker_id, via=way, result=result
            )

    async def _link(self, notice: ShareNotice) -> str:
        assert notice.share.id is not None and notice.recipient.id is not None
        token = await inbox.personal_link(
            self.env, share_id=notice.share.id, recipient_id=notice.recipient.id
        )
        return f"{self.public_url}/d/{token}"
