"""Linking a recipient's chat account: single-use invite codes, linking and unlinking."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import col, select, update

from storage.models import Notification, Organization, Recipient
from workflows import audit
from workflows.context import Actor, Env
from workflows.errors import Conflict, Gone, NotAllowed, NotFound
from workflows.outbox.kinds import Channel, Status
from workflows.people.membership import live_recipient
from workflows.people.recipients import can_receive
from workflows.tokens import hash_token, new_token, well_formed

INVITE_LIFETIME = timedelta(days=7)


@dataclass(frozen=True)
class Invite:
    code: str
    expires_at: datetime
    recipient: Recipient


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


async def create_invite(env: Env, *, org_id: int, actor: Actor, recipient_id: int) -> Invite:
    """A fresh single-use code for ``recipient_id``; any earlier unused code stops working."""
    now = env.clock.now()
    code, code_hash = new_token()
    async with env.sessions() as session, session.begin():
        recipient = await live_recipient(session, org_id, recipient_id)
        refusal = can_receive(recipient, now)
        if refusal:
            raise NotAllowed(f"cannot invite: {refusal}")
        recipient.invite_code_hash = code_hash
        recipient.invite_expires_at = now + INVITE_LIFETIME
        recipient.invite_used_at = None
        session.add(recipient)
        await audit.record(
            session,
            org_id=org_id,
            actor=actor,
            action="recipient.invited",
            at=now,
            details={"recipient_id": recipient_id, "name": recipient.name},
        )
    return Invite(code=code, expires_at=now + INVITE_LIFETIME, recipient=recipient)


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
