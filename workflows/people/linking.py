"""Inviting a recipient and linking their chat account: invitations by mail or by hand,
single-use invite codes, linking and unlinking.

An invitation goes by mail when the recipient has an address and a mail server is set up:
the outbox row holds no secret, and the delivery worker mints the links as the mail goes
out (`mint_invitation`): a one-time link to their portal and, where Telegram is set up, a
fresh invite code for the bot. Otherwise staff get a Telegram code to hand over themselves.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Notification, Organization, Recipient, SignInRequest
from storage.rows import id_of
from workflows import audit, outbox
from workflows.context import Actor, Env
from workflows.errors import Conflict, Gone, NotAllowed, NotFound, TooMany
from workflows.outbox.kinds import Channel, InvitationPayload, Status
from workflows.people.membership import live_recipient
from workflows.people.organizations import address_hash
from workflows.people.recipients import can_receive
from workflows.scope import get_scoped
from workflows.tokens import hash_token, new_token, well_formed

INVITE_LIFETIME = timedelta(days=7)
RESEND_AFTER = timedelta(minutes=1)
"""An invitation is mailed again only this long after the last one, so that a client is
never flooded with them."""

BotName = Callable[[], Awaitable[str]]
"""Says the Telegram bot's @username; raises `Unavailable` when it cannot."""


@dataclass(frozen=True)
class Invite:
    """A single-use Telegram code for staff to hand over, and until when it works."""

    code: str
    expires_at: datetime
    recipient: Recipient


@dataclass(frozen=True)
class Invited:
    """What became of an invitation: queued for the mail (its links are minted as it goes
    out), or, when it cannot be mailed (``not_mailed`` says why), a Telegram ``code`` for
    staff to hand over, to the bot called ``bot``."""

    recipient: Recipient
    expires_at: datetime
    """When the links stop working (those of a mail: counted from when it goes out)."""
    mailed_to: str | None = None
    code: str | None = None
    bot: str | None = None
    not_mailed: str | None = None


@dataclass(frozen=True)
class Invitation:
    """The links of an invitation mail, minted as it goes out."""

    recipient: Recipient
    organization: Organization
    portal_token: str
    """A one-time sign-in link to the recipient's portal (``/me/sign-in/<token>``)."""
    telegram_code: str | None
    """A fresh invite code for the bot, when Telegram is set up."""
    expires_at: datetime


@dataclass(frozen=True)
class Linked:
    recipient: Recipient
    organization: Organization
    released: int
    """Notifications that were waiting for a channel and are now due."""


@dataclass(frozen=True)
class ChatIdentity:
    """Who is writing, as the chat platform tells it."""

    chat_id: int
    user_id: int | None = None
    username: str | None = None


def why_not_mailed(recipient: Recipient, reach: frozenset[str]) -> str | None:
    """Why an invitation to ``recipient`` cannot go by mail here, or None when it can."""
    if not recipient.email:
        return f"{recipient.name} has no email address"
    if "email" not in reach:
        return "no mail server is configured"
    return None


async def create_invite(env: Env, *, org_id: int, actor: Actor, recipient_id: int) -> Invite:
    """A fresh single-use code for ``recipient_id``; any earlier unused code stops working."""
    now = env.clock.now()
    async with env.sessions() as session, session.begin():
        recipient = await live_recipient(session, org_id, recipient_id)
        _refuse_uninvitable(recipient, now)
        code = _new_code(recipient, now=now)
        session.add(recipient)
        await _record_invited(session, recipient, actor=actor, at=now, mailed=False)
    return Invite(code=code, expires_at=now + INVITE_LIFETIME, recipient=recipient)


async def invite_recipient(
    env: Env,
    *,
    org_id: int,
    actor: Actor,
    recipient_id: int,
    bot_name: BotName | None = None,
) -> Invited:
    """Invite ``recipient_id`` as staff do: by mail when it can go (again at most every
    ``RESEND_AFTER``), else a fresh Telegram code for staff to hand over, made only where
    Telegram is set up (``bot_name``).

    The bot's name is asked before anything changes, so a failure there costs the recipient
    no working invitation."""
    now = env.clock.now()
    async with env.reads() as session:
        recipient = await get_scoped(
            session, Recipient, org_id=org_id, id=recipient_id, what="recipient"
        )
    _refuse_uninvitable(recipient, now)
    bot = None
    if why_not_mailed(recipient, env.reach) is not None:
        bot = await _bot(recipient, env.reach, bot_name)
    async with env.sessions() as session, session.begin():
        recipient = await live_recipient(session, org_id, recipient_id)
        _refuse_uninvitable(recipient, now)
        why = why_not_mailed(recipient, env.reach)
        code = None
        if why is None:
            await _queue_mail(session, recipient, now=now)
        elif bot is None:
            raise Conflict(f"{recipient.name}'s details changed meanwhile; invite them again")
        else:
            code = _new_code(recipient, now=now)
        session.add(recipient)
        await _record_invited(
            session, recipient, actor=actor, at=now, mailed=why is None, not_mailed=why
        )
    return Invited(
        recipient=recipient,
        expires_at=now + INVITE_LIFETIME,
        mailed_to=recipient.email if why is None else None,
        code=code,
        bot=bot,
        not_mailed=why,
    )


def _new_code(recipient: Recipient, *, now: datetime) -> str:
    """A fresh invite code for the bot; any earlier one stops working."""
    code, code_hash = new_token()
    recipient.invite_code_hash = code_hash
    recipient.invite_expires_at = now + INVITE_LIFETIME
    recipient.invite_used_at = None
    return code


async def _record_invited(
    session: AsyncSession,
    recipient: Recipient,
    *,
    actor: Actor,
    at: datetime,
    mailed: bool,
    not_mailed: str | None = None,
) -> None:
    """The history event of an invitation: whether it was mailed (to which address), and
    why not when it could not be."""
    details: dict[str, Any] = {"recipient_id": recipient.id, "name": recipient.name}
    details["mailed"] = mailed
    if mailed:
        details["email"] = recipient.email
    if not_mailed is not None:
        details["not_mailed"] = not_mailed
    await audit.record(
        session,
        org_id=recipient.org_id,
        actor=actor,
        action="recipient.invited",
        at=at,
        details=details,
    )


def _refuse_uninvitable(recipient: Recipient, now: datetime) -> None:
    refusal = can_receive(recipient, now)
    if refusal:
        raise NotAllowed(f"cannot invite: {refusal}")


async def _bot(recipient: Recipient, reach: frozenset[str], bot_name: BotName | None) -> str:
    """The bot's name for an invitation by hand; refused where Telegram is not set up."""
    if bot_name is None:
        why = why_not_mailed(recipient, reach)
        raise Conflict(f"Telegram is not set up here and {why}, so there is no way to invite them")
    return await bot_name()


async def _queue_mail(session: AsyncSession, recipient: Recipient, *, now: datetime) -> None:
    """Queue the invitation mail, unless one went out too recently."""
    last = recipient.invite_sent_at
    if last is not None and now - last < RESEND_AFTER:
        seconds = max(int((now - last).total_seconds()), 0)
        raise TooMany(
            f"an invitation to {recipient.name} was sent {seconds} seconds ago; "
            "wait a minute before sending another"
        )
    recipient.invite_sent_at = now
    recipient_id = id_of(recipient)
    await outbox.enqueue(
        session,
        org_id=recipient.org_id,
        channel=Channel.RECIPIENT,
        target=str(recipient_id),
        payload=InvitationPayload(recipient_id=recipient_id, queued_at=now),
        dedupe_key=f"invite:{recipient_id}:{now.isoformat()}",
        at=now,
    )


async def mint_invitation(
    env: Env, *, recipient_id: int, queued_at: datetime, telegram: bool
) -> Invitation | None:
    """The links of the invitation queued at ``queued_at``, minted now that its mail goes
    out: a one-time portal sign-in link and, with ``telegram``, a fresh invite code (any
    earlier one stops working). None when it is no longer wanted: a later invitation
    replaced it, or the recipient has no address or may receive nothing now."""
    now = env.clock.now()
    token, token_hash = new_token()
    code, code_hash = new_token() if telegram else (None, None)
    expires_at = now + INVITE_LIFETIME
    async with env.sessions() as session, session.begin():
        recipient = await session.get(Recipient, recipient_id, with_for_update=True)
        if recipient is None or not recipient.email or recipient.invite_sent_at != queued_at:
            return None
        if can_receive(recipient, now) is not None:
            return None
        organization = await session.get(Organization, recipient.org_id)
        assert organization is not None
        session.add(
            SignInRequest(
                email_hash=address_hash(recipient.email),
                at=now,
                org_id=recipient.org_id,
                recipient_id=recipient_id,
                token_hash=token_hash,
                expires_at=expires_at,
            )
        )
        if code_hash is not None:
            recipient.invite_code_hash = code_hash
            recipient.invite_expires_at = expires_at
            recipient.invite_used_at = None
            session.add(recipient)
    return Invitation(recipient, organization, token, code, expires_at)


async def redeem_invite(env: Env, *, code: str, chat: ChatIdentity) -> Linked:
    """Link the chat to the recipient the code was made for."""
    now = env.clock.now()
    if not well_formed(code):
        raise NotFound("this invite code is not valid")
    async with env.sessions() as session, session.begin():
        recipient = (
            await session.exec(
                select(Recipient)
                .where(Recipient.invite_code_hash == hash_token(code))
                .with_for_update()
            )
        ).first()
        if recipient is None:
            raise NotFound("this invite code is not valid")
        if recipient.invite_used_at is not None:
            raise Gone("this invite code was already used")
        if recipient.invite_expires_at is None or recipient.invite_expires_at <= now:
            raise Gone("this invite code has expired")
        refusal = can_receive(recipient, now)
        if refusal:
            raise NotAllowed("this invitation is no longer valid")
        clash = (
            await session.exec(
                select(Recipient).where(
                    Recipient.org_id == recipient.org_id,
                    Recipient.telegram_chat_id == chat.chat_id,
                    Recipient.id != recipient.id,
                )
            )
        ).first()
        if clash is not None:
            raise Conflict("this account is already linked to another person of this organisation")
        recipient.telegram_chat_id = chat.chat_id
        recipient.telegram_user_id = chat.user_id
        recipient.telegram_username = chat.username
        recipient.telegram_active = True
        recipient.invite_used_at = now
        recipient.status = "active"
        session.add(recipient)
        released = await session.exec(
            update(Notification)
            .where(
                col(Notification.org_id) == recipient.org_id,
                col(Notification.channel) == Channel.RECIPIENT,
                col(Notification.target) == str(recipient.id),
                col(Notification.status) == Status.WAITING,
            )
            .values(status=Status.PENDING.value, next_attempt_at=now)
        )
        organization = await session.get(Organization, recipient.org_id)
        assert organization is not None
        await audit.record(
            session,
            org_id=recipient.org_id,
            actor=Actor(type="recipient", id=str(recipient.id), label=recipient.name),
            action="recipient.linked",
            at=now,
            details={"channel": "telegram", "username": chat.username},
        )
    return Linked(recipient=recipient, organization=organization, released=released.rowcount)


async def unlink_chat(env: Env, *, chat_id: int) -> list[Recipient]:
    """Forget this chat for every recipient linked to it; they see nothing more there."""
    now = env.clock.now()
    async with env.sessions() as session, session.begin():
        linked = (
            await session.exec(
                select(Recipient).where(Recipient.telegram_chat_id == chat_id).with_for_update()
            )
        ).all()
        for recipient in linked:
            recipient.telegram_chat_id = None
            recipient.telegram_user_id = None
            recipient.telegram_active = False
            if recipient.status == "active":
                recipient.status = "invited"
            session.add(recipient)
            await audit.record(
                session,
                org_id=recipient.org_id,
                actor=Actor(type="recipient", id=str(recipient.id), label=recipient.name),
                action="recipient.unlinked",
                at=now,
                details={"channel": "telegram"},
            )
    return list(linked)


async def recipients_of_chat(env: Env, *, chat_id: int) -> list[tuple[Recipient, Organization]]:
    """The people this chat speaks for who may still see documents, with their organisation."""
    now = env.clock.now()
    async with env.sessions() as session:
        rows = (
            await session.exec(
                select(Recipient, Organization)
                .join(Organization, col(Organization.id) == Recipient.org_id)
                .where(Recipient.telegram_chat_id == chat_id)
                .order_by(col(Recipient.id))
            )
        ).all()
    return [(r, o) for r, o in rows if can_receive(r, now) is None]


async def chat_blocked_bot(env: Env, *, chat_id: int) -> list[Recipient]:
    """The person blocked the bot: stop using Telegram for them until they write again."""
    now = env.clock.now()
    async with env.sessions() as session, session.begin():
        linked = (
            await session.exec(
                select(Recipient)
                .where(Recipient.telegram_chat_id == chat_id, col(Recipient.telegram_active))
                .with_for_update()
            )
        ).all()
        for recipient in linked:
            recipient.telegram_active = False
            session.add(recipient)
            await audit.record(
                session,
                org_id=recipient.org_id,
                actor=Actor.system("telegram"),
                action="recipient.channel_inactive",
                at=now,
                details={"recipient_id": recipient.id, "channel": "telegram"},
            )
    return list(linked)


async def chat_is_back(env: Env, *, chat_id: int) -> int:
    """The person wrote to the bot again: Telegram works for them once more."""
    async with env.sessions() as session, session.begin():
        result = await session.exec(
            update(Recipient)
            .where(
                col(Recipient.telegram_chat_id) == chat_id,
                col(Recipient.telegram_active).is_(False),
            )
            .values(telegram_active=True)
        )
        return result.rowcount
