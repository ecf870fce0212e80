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
import logging
import uuid
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Protocol, runtime_checkable

from bot.errors import DeliveryError, PermanentFailure, Throttled, Unreachable
from bot.sign_texts import SignLinks
from storage.errors import log_failure
from storage.models import Notification
from storage.rows import id_of
from workflows.context import Env
from workflows.errors import WorkflowError
from workflows.outbox import claims
from workflows.outbox.kinds import (
    BadPayload,
    CodePayload,
    Hold,
    InvitationPayload,
    Kind,
    Payload,
    SignInPayload,
    Via,
)
from workflows.outbox.loop import Claim, ClaimingWorker, OutboxLoop
from workflows.people import linking, preferences
from workflows.portal import sessions
from workflows.portal.sessions import SignInLink
from workflows.sharing import cabinet_notices, inbox, notices
from workflows.sharing.cabinet_notices import CabinetNotice
from workflows.sharing.notices import AccessNotice, ShareNotice
from workflows.signing import party_notices
from workflows.signing.party_notices import SignNotice

log = logging.getLogger(__name__)

RECIPIENT_CHANNELS = party_notices.CHANNELS
"""``recipient`` (people in the system) and ``party`` (signing parties outside it, by mail)."""


class ShareNoticeSender(Protocol):
    async def send_share_notice(self, notice: ShareNotice, *, link: str) -> dict[str, str]: ...


class SignNoticeSender(Protocol):
    async def send_sign_notice(
        self, notice: SignNotice, *, links: SignLinks | None
    ) -> dict[str, str]: ...


class AccessNoticeSender(Protocol):
    async def send_access_notice(self, notice: AccessNotice) -> dict[str, str]: ...


class SignInSender(Protocol):
    async def send_sign_in(self, link: SignInLink, *, url: str) -> dict[str, str]: ...


@runtime_checkable
class InvitationSender(Protocol):
    """Invitations go by mail only."""

    async def send_invitation(
        self, invitation: linking.Invitation, *, portal: str, home: str, telegram: str | None
    ) -> dict[str, str]: ...


class CabinetNoticeSender(Protocol):
    async def send_cabinet_notice(
        self, notice: CabinetNotice, *, link: str | None
    ) -> dict[str, str]: ...


class NoticeSender(
    ShareNoticeSender,
    SignNoticeSender,
    AccessNoticeSender,
    SignInSender,
    CabinetNoticeSender,
    Protocol,
):
    """A channel of the worker: Telegram or mail."""


class RecipientDelivery(ClaimingWorker):
    """One worker; several may run against one PostgreSQL (claims skip each other's rows).

    Its loop (`workflows.outbox.loop`) keeps a pipeline: it claims the next ``batch`` while
    the one before is still being routed or waiting for the rate limiter, so the channel
    is never idle while rows are due. Each row is routed and given its link (``prepare``
    rows at a time), then sent and settled (``unsettled`` rows at a time per channel). A
    send whose outcome is not yet recorded is the one a crash may repeat, so a killed
    worker sends at most ``unsettled`` rows twice per channel; it also caps the rate at
    ``unsettled`` per round trip to the platform plus one settling write.
    """

    def __init__(
        self,
        env: Env,
        *,
        public_url: str,
        telegram: NoticeSender | None = None,
        mail: NoticeSender | None = None,
        telegram_username: Callable[[], Awaitable[str]] | None = None,
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
        self.senders: dict[Via, NoticeSender] = {}
        if telegram is not None:
            self.senders[Via.TELEGRAM] = telegram
        if mail is not None:
            self.senders[Via.EMAIL] = mail
        self.inviter = mail if isinstance(mail, InvitationSender) else None
        self.telegram_username = telegram_username
        """The bot's @username, for the Telegram link an invitation mail carries."""
        self.unsettled = unsettled
        self.claim = Claim(
            worker=worker_id or f"recipients-{uuid.uuid4().hex[:12]}",
            channels=RECIPIENT_CHANNELS,
            batch=batch,
            lease=lease,
        )
        self.loop = OutboxLoop(
            env,
            self,
            name="recipient-delivery",
            ahead=2,
            idle_seconds=idle_seconds,
            drain_seconds=drain_seconds,
        )
        self._preparing = asyncio.Semaphore(prepare)
        self._unsettled = {way: asyncio.Semaphore(unsettled) for way in self.senders}

    async def handle(self, rows: Sequence[Notification]) -> None:
        """Route, send and settle each row of a claim, side by side (the semaphores and
        the channel's rate limiter decide how many at once)."""
        await asyncio.gather(*(self._handle_logged(row) for row in rows))

    async def _handle_logged(self, row: Notification) -> None:
        try:
            await self._handle(row)
        except Exception as error:
            # The row stays claimed; its lease runs out and it is tried again.
            log_failure(log, error, "delivery of notification %s failed", row.id)

    async def _handle(self, row: Notification) -> None:
        async with self._preparing:
            prepared = await self._prepare(row)
        if prepared is not None:
            way, letter = prepared
            await self._send(row, way, letter)

    async def _prepare(self, row: Notification) -> tuple[Via, _Letter] | None:
        """Route the row and make its message ready; a row that is not to be sent now is
        settled here and None returned. A row of a kind this worker does not deliver, or
        whose payload cannot be read, is given up at once."""
        try:
            if row.kind in notices.KINDS:
                return await self._prepare_share(row)
            if row.kind in cabinet_notices.KINDS:
                return await self._prepare_cabinet(row)
            if row.kind == Kind.ACCESS_ENDING:
                return await self._prepare_access(row)
            if row.kind in party_notices.KINDS:
                return await self._prepare_sign(row)
            if row.kind == Kind.PORTAL_SIGN_IN:
                return await self._prepare_sign_in(row)
            if row.kind == Kind.INVITATION:
                return await self._prepare_invitation(row)
            error = f"unknown kind {row.kind}"
        except BadPayload as e:
            error = str(e)
        await claims.mark_failed(self.env, row, worker=self.worker_id, error=error, permanent=True)
        return None

    async def _prepare_share(self, row: Notification) -> tuple[Via, _Letter] | None:
        route = await notices.route_share_notice(self.env, row)
        way = await self._way(row, route)
        if way is None or route.notice is None:
            return None
        return way, _ShareLetter(route.notice, await self._link(route.notice))

    async def _prepare_access(self, row: Notification) -> tuple[Via, _Letter] | None:
        """'Your access ends soon': routed like a share notice, with no link to mint."""
        route = await notices.route_access_notice(self.env, row)
        way = await self._way(row, route)
        if way is None or route.notice is None:
            return None
        return way, _AccessLetter(route.notice)

    async def _prepare_cabinet(self, row: Notification) -> tuple[Via, _Letter] | None:
        """News of a shared cabinet: routed like a share notice; a colleague's new document
        comes with the member's own personal link to it when they may open it."""
        route = await cabinet_notices.route_cabinet_notice(self.env, row)
        way = await self._way(row, route)
        if way is None or route.notice is None:
            return None
        notice, link = route.notice, None
        if notice.share is not None:
            token = await inbox.personal_link(
                self.env, share_id=id_of(notice.share), recipient_id=id_of(notice.recipient)
            )
            link = f"{self.public_url}/d/{token}"
        return way, _CabinetLetter(notice, link)

    async def _prepare_sign_in(self, row: Notification) -> tuple[Via, _Letter] | None:
        """A sign-in link goes by mail, to the address it was asked for, and is minted
        only now: one no longer wanted (too old, or its recipient may not sign in) is
        cancelled, and without a mail server it is never promised (the page says so)."""
        payload = SignInPayload.parse(row)
        if Via.EMAIL not in self.senders:
            reason = "no email channel is configured"
            await claims.mark_cancelled(self.env, id_of(row), worker=self.worker_id, reason=reason)
            return None
        link = await sessions.mint_sign_in(self.env, request_id=payload.request_id)
        if link is None:
            reason = "the sign-in link is no longer wanted"
            await claims.mark_cancelled(self.env, id_of(row), worker=self.worker_id, reason=reason)
            return None
        return Via.EMAIL, _SignInLetter(link, f"{self.public_url}/me/sign-in/{link.token}")

    async def _prepare_invitation(self, row: Notification) -> tuple[Via, _Letter] | None:
        """An invitation goes by mail, its links minted only now: a one-time link to the
        recipient's portal and, with Telegram, a fresh link for the bot. One replaced by a
        later invitation, or whose recipient may no longer receive anything, is cancelled."""
        payload = InvitationPayload.parse(row)
        if self.inviter is None:
            reason = "no email channel is configured"
            await claims.mark_cancelled(self.env, id_of(row), worker=self.worker_id, reason=reason)
            return None
        bot = None
        if Via.TELEGRAM in self.senders and self.telegram_username is not None:
            try:
                bot = await self.telegram_username()
            except WorkflowError as e:
                await claims.mark_failed(self.env, row, worker=self.worker_id, error=str(e))
                return None
        invitation = await linking.mint_invitation(
            self.env,
            recipient_id=payload.recipient_id,
            queued_at=payload.queued_at,
            telegram=bot is not None,
        )
        if invitation is None:
            reason = "the invitation is no longer wanted"
            await claims.mark_cancelled(self.env, id_of(row), worker=self.worker_id, reason=reason)
            return None
        code = invitation.telegram_code
        return Via.EMAIL, _InvitationLetter(
            invitation,
            self.inviter,
            portal=f"{self.public_url}/me/sign-in/{invitation.portal_token}",
            home=f"{self.public_url}/me",
            telegram=f"https://t.me/{bot}?start={code}" if bot and code else None,
        )

    async def _way(
        self,
        row: Notification,
        route: notices.ShareRoute | notices.AccessRoute | cabinet_notices.CabinetRoute,
    ) -> Via | None:
        """The channel a routed recipient's notice goes through; None once the row is
        settled instead (cancelled, or waiting for a channel)."""
        row_id = id_of(row)
        if route.way == Hold.CANCEL:
            await claims.mark_cancelled(
                self.env, row_id, worker=self.worker_id, reason=route.reason or "cancelled"
            )
            return None
        if isinstance(route.way, Hold) or route.notice is None:
            await claims.mark_waiting(
                self.env, row_id, worker=self.worker_id, reason=route.reason or "no channel"
            )
            return None
        way = self._channel(route.way, email=route.notice.recipient.email)
        if way is None:
            await claims.mark_waiting(
                self.env,
                row_id,
                worker=self.worker_id,
                reason=f"no {route.way} channel is configured",
            )
        return way

    async def _prepare_sign(self, row: Notification) -> tuple[Via, _Letter] | None:
        kept = party_notices.kept_payload(row)
        route = await party_notices.route_sign_notice(self.env, row)
        if route.way == Hold.CANCEL or route.notice is None:
            await claims.mark_cancelled(
                self.env,
                id_of(row),
                worker=self.worker_id,
                reason=route.reason or "cancelled",
                payload=kept,
            )
            return None
        letter = _SignLetter(route.notice, kept, self._sign_links)
        if isinstance(route.way, Hold):
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

    async def _sign_links(self, notice: SignNotice, way: Via) -> SignLinks:
        """A fresh link to the party's page for this channel; in Telegram, the Mini App's
        address too when the installation is served over HTTPS (Telegram's requirement)."""
        token = await party_notices.notice_link(self.env, notice, via=way)
        app = None
        if way == Via.TELEGRAM and self.public_url.startswith("https://"):
            app = f"{self.public_url}/tg/app?s={token}"
        return SignLinks(page=f"{self.public_url}/s/{token}", app=app)

    async def _wait(self, row: Notification, letter: _Letter, reason: str) -> None:
        """Keep the row until a channel appears, unless it holds a secret such as a one-time
        code: that one is of no use later and must not linger, so it is cancelled."""
        row_id = id_of(row)
        if letter.kept_payload is not None:
            await claims.mark_cancelled(
                self.env, row_id, worker=self.worker_id, reason=reason, payload=letter.kept_payload
            )
        else:
            await claims.mark_waiting(self.env, row_id, worker=self.worker_id, reason=reason)

    def _channel(self, way: Via, *, email: str | None) -> Via | None:
        """The configured channel for ``way``: Telegram falls back to mail when it can."""
        if way in self.senders:
            return way
        if way == Via.TELEGRAM and email and Via.EMAIL in self.senders:
            return Via.EMAIL
        return None

    async def _send(self, row: Notification, way: Via, letter: _Letter) -> None:
        if way == Via.EMAIL:
            letter = await self._with_unsubscribe(letter)
        async with self._unsettled[way]:
            try:
                result = await letter.send(self.senders[way], way)
            except DeliveryError as e:
                failure = e
            else:
                await claims.mark_sent(
                    self.env,
                    id_of(row),
                    worker=self.worker_id,
                    via=way,
                    result=result,
                    payload=letter.kept_payload,
                )
                return
        await self._settle_failure(row, way, letter, failure)

    async def _settle_failure(
        self, row: Notification, way: Via, letter: _Letter, failure: DeliveryError
    ) -> None:
        if isinstance(failure, Throttled):
            await claims.mark_throttled(
                self.env, id_of(row), worker=self.worker_id, retry_after=failure.retry_after
            )
        elif isinstance(failure, Unreachable):
            if way == Via.TELEGRAM:
                assert letter.chat_id is not None
                await linking.chat_blocked_bot(self.env, chat_id=letter.chat_id)
                if letter.email and Via.EMAIL in self.senders:
                    await self._send(row, Via.EMAIL, letter)
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

    async def _with_unsubscribe(self, letter: _Letter) -> _Letter:
        """A mail to a recipient about something they may turn off carries a one-click
        link that does (RFC 8058), minted for this mail."""
        about = letter.about
        kind = preferences.UNSUBSCRIBES.get(about[0]) if about else None
        if about is None or kind is None:
            return letter
        token = await preferences.mint_unsubscribe(self.env, recipient_id=about[1], kind=kind)
        return letter.with_unsubscribe(f"{self.public_url}/me/unsubscribe/{token}")

    async def _link(self, notice: ShareNotice) -> str:
        token = await inbox.personal_link(
            self.env, share_id=id_of(notice.share), recipient_id=id_of(notice.recipient)
        )
        return f"{self.public_url}/d/{token}"


class _Letter(Protocol):
    """One row's message, ready to go by whichever channel reaches its person."""

    @property
    def chat_id(self) -> int | None: ...

    @property
    def email(self) -> str | None: ...

    @property
    def kept_payload(self) -> Payload | None:
        """The payload to keep once the row is settled, when it must lose a secret."""

    @property
    def about(self) -> tuple[Kind, int] | None:
        """The kind of notice and the recipient it is for, when it goes to a recipient."""

    def with_unsubscribe(self, url: str) -> _Letter:
        """The letter carrying ``url``, its one-click unsubscribe link."""

    async def send(self, sender: NoticeSender, way: Via) -> dict[str, str]: ...


@dataclass(frozen=True)
class _NoticeLetter(ABC):
    """What every notice to a recipient about something they can turn off shares: their
    chat and address, and the one-click unsubscribe of its kind in the mail."""

    notice: ShareNotice | AccessNotice | CabinetNotice

    @property
    def chat_id(self) -> int | None:
        return self.notice.recipient.telegram_chat_id

    @property
    def email(self) -> str | None:
        return self.notice.recipient.email

    @property
    def kept_payload(self) -> Payload | None:
        return None

    @property
    def about(self) -> tuple[Kind, int] | None:
        return self.kind, id_of(self.notice.recipient)

    @property
    def kind(self) -> Kind:
        return Kind.ACCESS_ENDING

    def with_unsubscribe(self, url: str) -> _Letter:
        return replace(self, notice=replace(self.notice, unsubscribe=url))

    @abstractmethod
    async def send(self, sender: NoticeSender, way: Via) -> dict[str, str]: ...


@dataclass(frozen=True)
class _ShareLetter(_NoticeLetter):
    notice: ShareNotice
    link: str

    @property
    def kind(self) -> Kind:
        return self.notice.kind

    async def send(self, sender: NoticeSender, way: Via) -> dict[str, str]:
        return await sender.send_share_notice(self.notice, link=self.link)


@dataclass(frozen=True)
class _AccessLetter(_NoticeLetter):
    notice: AccessNotice

    async def send(self, sender: NoticeSender, way: Via) -> dict[str, str]:
        return await sender.send_access_notice(self.notice)


@dataclass(frozen=True)
class _CabinetLetter(_NoticeLetter):
    notice: CabinetNotice
    link: str | None

    @property
    def kind(self) -> Kind:
        return self.notice.kind

    async def send(self, sender: NoticeSender, way: Via) -> dict[str, str]:
        return await sender.send_cabinet_notice(self.notice, link=self.link)


@dataclass(frozen=True)
class _SignInLetter:
    link: SignInLink
    url: str

    @property
    def chat_id(self) -> int | None:
        return None

    @property
    def email(self) -> str | None:
        return self.link.recipient.email

    @property
    def kept_payload(self) -> Payload | None:
        return None

    @property
    def about(self) -> tuple[Kind, int] | None:
        return None

    def with_unsubscribe(self, url: str) -> _Letter:
        return self

    async def send(self, sender: NoticeSender, way: Via) -> dict[str, str]:
        return await sender.send_sign_in(self.link, url=self.url)


@dataclass(frozen=True)
class _InvitationLetter:
    """An invitation mail, sent by the mail channel that can (``inviter``)."""

    invitation: linking.Invitation
    inviter: InvitationSender
    portal: str
    home: str
    telegram: str | None

    @property
    def chat_id(self) -> int | None:
        return None

    @property
    def email(self) -> str | None:
        return self.invitation.recipient.email

    @property
    def kept_payload(self) -> Payload | None:
        return None

    @property
    def about(self) -> tuple[Kind, int] | None:
        return None

    def with_unsubscribe(self, url: str) -> _Letter:
        return self

    async def send(self, sender: NoticeSender, way: Via) -> dict[str, str]:
        return await self.inviter.send_invitation(
            self.invitation, portal=self.portal, home=self.home, telegram=self.telegram
        )


class _SignLetter:
    """A signing notice; the link it carries is minted for the channel that takes it."""

    def __init__(
        self,
        notice: SignNotice,
        kept_payload: CodePayload | None,
        mint: Callable[[SignNotice, Via], Awaitable[SignLinks]],
    ) -> None:
        self.notice = notice
        self.kept_payload: Payload | None = kept_payload
        self._mint = mint
        self._links: dict[Via, SignLinks] = {}

    @property
    def chat_id(self) -> int | None:
        return self.notice.chat_id

    @property
    def email(self) -> str | None:
        return self.notice.email

    @property
    def about(self) -> tuple[Kind, int] | None:
        recipient = self.notice.recipient
        return (self.notice.kind, id_of(recipient)) if recipient is not None else None

    def with_unsubscribe(self, url: str) -> _Letter:
        self.notice = replace(self.notice, unsubscribe=url)
        return self

    async def prepare(self, way: Via) -> SignLinks | None:
        if not self.notice.needs_link:
            return None
        if way not in self._links:
            self._links[way] = await self._mint(self.notice, way)
        return self._links[way]

    async def send(self, sender: NoticeSender, way: Via) -> dict[str, str]:
        return await sender.send_sign_notice(self.notice, links=await self.prepare(way))
