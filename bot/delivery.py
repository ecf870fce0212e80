"""The delivery worker for recipients: outbox rows out through Telegram, else mail.

It claims due rows (documents shared, and the notices of signature requests to their
parties, including people outside the system reached by mail), asks the workflows which
way each should go, sends it through the matching channel and settles the row, claiming
more while earlier rows still wait for the rate limiter. A person who blocked the bot is
marked inactive and reached by mail when they have an address; a 429 waits and is never a
failure. A row carrying a one-time code is settled without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from bot.errors import DeliveryError, PermanentFailure, Throttled, Unreachable
from bot.sign_texts import SignLinks
from storage.models import Notification
from workflows import scans
from workflows.context import Env
from workflows.errors import WorkflowError
from workflows.outbox import claims
from workflows.people import linking
from workflows.sharing import inbox, notices
from workflows.sharing.notices import AccessNotice, ShareNotice
from workflows.signing import party_notices
from workflows.signing.party_notices import SignNotice

log = logging.getLogger(__name__)

RECIPIENT_CHANNELS = party_notices.CHANNELS
"""``recipient`` (people in the system) and ``party`` (signing parties outside it, by mail)."""
SHARE_KIND = "document.shared"


class ShareNoticeSender(Protocol):
    async def send_share_notice(self, notice: ShareNotice, *, link: str) -> dict[str, str]: ...


class SignNoticeSender(Protocol):
    async def send_sign_notice(
        self, notice: SignNotice, *, links: SignLinks | None
    ) -> dict[str, str]: ...


class AccessNoticeSender(Protocol):
    async def send_access_notice(self, notice: AccessNotice) -> dict[str, str]: ...


class NoticeSender(ShareNoticeSender, SignNoticeSender, AccessNoticeSender, Protocol):
    """A channel of the worker: Telegram or mail."""


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
        telegram: NoticeSender | None = None,
        mail: NoticeSender | None = None,
        batch: int = 30,
        prepare: int = 1,
        unsettled: int = 1,
        idle_seconds: float = 1.0,
        drain_seconds: float = 15.0,
        lease: timedelta = claims.LEASE,
        worker_id: str | None = None,
    ) -> None:
        self.env = env
        self.public_url = public_url.rstrip("/")
        self.senders: dict[str, NoticeSender] = {}
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
                await claims.release_claims(self.env, worker=self.worker_id)
            except Exception:  # their leases will end by themselves
                log.exception("could not hand back claimed notifications")

    async def _claim(self, limit: int) -> list[Notification]:
        return await claims.claim_due(
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
        async with self._preparing:
            prepared = await self._prepare(row)
        if prepared is not None:
            way, letter = prepared
            await self._send(row, way, letter)

    async def _prepare(self, row: Notification) -> tuple[str, _Letter] | None:
        """Route the row and make its message ready; a row that is not to be sent now is
        settled here and None returned."""
        assert row.id is not None
        if row.kind in notices.KINDS:
            return await self._prepare_share(row)
        if row.kind == scans.ACCESS_ENDING:
            return await self._prepare_access(row)
        if row.kind in party_notices.KINDS:
            return await self._prepare_sign(row)
        await claims.mark_failed(
            self.env, row, worker=self.worker_id, error=f"unknown kind {row.kind}", permanent=True
        )
        return None

    async def _prepare_share(self, row: Notification) -> tuple[str, _Letter] | None:
        route = await notices.route_share_notice(self.env, row)
        way = await self._way(row, route)
        if way is None or route.notice is None:
            return None
        return way, _ShareLetter(route.notice, await self._link(route.notice))

    async def _prepare_access(self, row: Notification) -> tuple[str, _Letter] | None:
        """'Your access ends soon': routed like a share notice, with no link to mint."""
        route = await notices.route_access_notice(self.env, row)
        way = await self._way(row, route)
        if way is None or route.notice is None:
            return None
        return way, _AccessLetter(route.notice)

    async def _way(
        self, row: Notification, route: notices.Route | notices.AccessRoute
    ) -> str | None:
        """The channel a routed recipient's notice goes through; None once the row is
        settled instead (cancelled, or waiting for a channel)."""
        assert row.id is not None
        if route.way == "cancel":
            await claims.mark_cancelled(
                self.env, row.id, worker=self.worker_id, reason=route.reason or "cancelled"
            )
            return None
        if route.way == "wait" or route.notice is None:
            await claims.mark_waiting(
                self.env, row.id, worker=self.worker_id, reason=route.reason or "no channel"
            )
            return None
        way = self._channel(route.way, email=route.notice.recipient.email)
        if way is None:
            await claims.mark_waiting(
                self.env,
                row.id,
                worker=self.worker_id,
                reason=f"no {route.way} channel is configured",
            )
        return way

    async def _prepare_sign(self, row: Notification) -> tuple[str, _Letter] | None:
        assert row.id is not None
        kept = party_notices.scrubbed(row.payload) if party_notices.has_secret(row) else None
        route = await party_notices.route_sign_notice(self.env, row)
        if route.way == "cancel" or route.notice is None:
            await claims.mark_cancelled(
                self.env,
                row.id,
                worker=self.worker_id,
                reason=route.reason or "cancelled",
                payload=kept,
            )
            return None
        letter = _SignLetter(route.notice, kept, self._sign_links)
        if route.way == "wait":
            await self._wait(row, letter, route.reason or "no channel")
            return None
        way = self._channel(route.way, email=route.notice.email)
        if way is None:
            await self._wait(row, letter, f"no {route.way} channel is configured")
            return None
        try:
            await letter.prepare(way)
        except WorkflowError as e:
            await claims.mark_failed(
                self.env, row, worker=self.worker_id, error=str(e), permanent=True, payload=kept
            )
            return None
        return way, letter

    async def _sign_links(self, notice: SignNotice, way: str) -> SignLinks:
        """A fresh link to the party's page for this channel; in Telegram, the Mini App's
        address too when the installation is served over HTTPS (Telegram's requirement)."""
        token = await party_notices.notice_link(self.env, notice, via=way)
        app = None
        if way == "telegram" and self.public_url.startswith("https://"):
            app = f"{self.public_url}/tg/app?s={token}"
        return SignLinks(page=f"{self.public_url}/s/{token}", app=app)

    async def _wait(self, row: Notification, letter: _Letter, reason: str) -> None:
        """Keep the row until a channel appears, unless it holds a secret such as a one-time
        code: that one is of no use later and must not linger, so it is cancelled."""
        assert row.id is not None
        if letter.kept_payload is not None:
            await claims.mark_cancelled(
                self.env, row.id, worker=self.worker_id, reason=reason, payload=letter.kept_payload
            )
        else:
            await claims.mark_waiting(self.env, row.id, worker=self.worker_id, reason=reason)

    def _channel(self, way: str, *, email: str | None) -> str | None:
        """The configured channel for ``way``: Telegram falls back to mail when it can."""
        if way in self.senders:
            return way
        if way == "telegram" and email and "email" in self.senders:
            return "email"
        return None

    async def _send(self, row: Notification, way: str, letter: _Letter) -> None:
        assert row.id is not None
        async with self._unsettled[way]:
            try:
                result = await letter.send(self.senders[way], way)
            except DeliveryError as e:
                failure = e
            else:
                await claims.mark_sent(
                    self.env,
                    row.id,
                    worker=self.worker_id,
                    via=way,
                    result=result,
                    payload=letter.kept_payload,
                )
                return
        await self._settle_failure(row, way, letter, failure)

    async def _settle_failure(
        self, row: Notification, way: str, letter: _Letter, failure: DeliveryError
    ) -> None:
        assert row.id is not None
        if isinstance(failure, Throttled):
            await claims.mark_throttled(
                self.env, row.id, worker=self.worker_id, retry_after=failure.retry_after
            )
        elif isinstance(failure, Unreachable):
            if way == "telegram":
                assert letter.chat_id is not None
                await linking.chat_blocked_bot(self.env, chat_id=letter.chat_id)
                if letter.email and "email" in self.senders:
                    await self._send(row, "email", letter)
                    return
            await self._wait(row, letter, str(failure))
        elif isinstance(failure, PermanentFailure):
            await claims.mark_failed(
                self.env,
                row,
                worker=self.worker_id,
                error=str(failure),
                permanent=True,
                payload=letter.kept_payload,
            )
        else:
            await claims.mark_failed(
                self.env,
                row,
                worker=self.worker_id,
                error=str(failure),
                payload=letter.kept_payload,
            )

    async def _link(self, notice: ShareNotice) -> str:
        assert notice.share.id is not None and notice.recipient.id is not None
        token = await inbox.personal_link(
            self.env, share_id=notice.share.id, recipient_id=notice.recipient.id
        )
        return f"{self.public_url}/d/{token}"


class _Letter(Protocol):
    """One row's message, ready to go by whichever channel reaches its person."""

    @property
    def chat_id(self) -> int | None: ...

    @property
    def email(self) -> str | None: ...

    @property
    def kept_payload(self) -> dict[str, Any] | None:
        """The payload to keep once the row is settled, when it must lose a secret."""

    async def send(self, sender: NoticeSender, way: str) -> dict[str, str]: ...


@dataclass(frozen=True)
class _ShareLetter:
    notice: ShareNotice
    link: str

    @property
    def chat_id(self) -> int | None:
        return self.notice.recipient.telegram_chat_id

    @property
    def email(self) -> str | None:
        return self.notice.recipient.email

    @property
    def kept_payload(self) -> dict[str, Any] | None:
        return None

    async def send(self, sender: NoticeSender, way: str) -> dict[str, str]:
        return await sender.send_share_notice(self.notice, link=self.link)


@dataclass(frozen=True)
class _AccessLetter:
    notice: AccessNotice

    @property
    def chat_id(self) -> int | None:
        return self.notice.recipient.telegram_chat_id

    @property
    def email(self) -> str | None:
        return self.notice.recipient.email

    @property
    def kept_payload(self) -> dict[str, Any] | None:
        return None

    async def send(self, sender: NoticeSender, way: str) -> dict[str, str]:
        return await sender.send_access_notice(self.notice)


class _SignLetter:
    """A signing notice; the link it carries is minted for the channel that takes it."""

    def __init__(
        self,
        notice: SignNotice,
        kept_payload: dict[str, Any] | None,
        mint: Callable[[SignNotice, str], Awaitable[SignLinks]],
    ) -> None:
        self.notice = notice
        self.kept_payload = kept_payload
        self._mint = mint
        self._links: dict[str, SignLinks] = {}

    @property
    def chat_id(self) -> int | None:
        return self.notice.chat_id

    @property
    def email(self) -> str | None:
        return self.notice.email

    async def prepare(self, way: str) -> SignLinks | None:
        if not self.notice.needs_link:
            return None
        if way not in self._links:
            self._links[way] = await self._mint(self.notice, way)
        return self._links[way]

    async def send(self, sender: NoticeSender, way: str) -> dict[str, str]:
        return await sender.send_sign_notice(self.notice, links=await self.prepare(way))


async def _first_of(tasks: set[asyncio.Task[None]], stop: asyncio.Event) -> None:
    """Wait until one of ``tasks`` finishes or ``stop`` is set."""
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({*tasks, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
