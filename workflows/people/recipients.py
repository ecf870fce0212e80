"""Recipients: the people at a client who receive documents and decide."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlmodel import col, select

from storage.models import Client, Recipient
from workflows import audit
from workflows.context import Actor, Env
from workflows.errors import Conflict, InvalidInput
from workflows.people.membership import live_recipient
from workflows.people.organizations import check_email
from workflows.portal.ending import end_sessions
from workflows.scope import clean_text, get_scoped

LANGUAGES = ("en", "pl", "ru", "sv")
PHONE = re.compile(r"^\+?[0-9 ()-]{5,31}$")
UNSET: Any = object()


def check_language(language: str) -> str:
    language = language.strip().lower()
    if language not in LANGUAGES:
        raise InvalidInput(f"language must be one of {', '.join(LANGUAGES)}, not '{language}'")
    return language


def check_phone(phone: str | None) -> str | None:
    if phone is None or not phone.strip():
        return None
    phone = phone.strip()
    if not PHONE.match(phone):
        raise InvalidInput(f"'{phone}' is not a phone number")
    return phone


class Receiver(Protocol):
    """What `can_receive` looks at: a Recipient, or a row of just these columns."""

    @property
    def name(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def access_expires_at(self) -> datetime | None: ...


def can_receive(recipient: Receiver, now: datetime) -> str | None:
    """Why this recipient may get and open nothing now, or None when they may."""
    if recipient.status == "blocked":
        return f"recipient {recipient.name} is blocked"
    if recipient.status == "deleted":
        return f"recipient {recipient.name} was removed"
    if recipient.access_expires_at is not None and recipient.access_expires_at <= now:
        ended = f"{recipient.access_expires_at:%Y-%m-%d %H:%M}"
        return f"recipient {recipient.name}'s access ended on {ended} UTC"
    return None


async def add_recipient(
    env: Env,
    *,
    org_id: int,
    actor: Actor,
    client_id: int,
    name: str,
    email: str | None = None,
    phone: str | None = None,
    language: str = "en",
    access_expires_at: datetime | None = None,
) -> Recipient:
    title = clean_text(name, what="name", max_len=200)
    assert title is not None
    email = check_email(email)
    phone = check_phone(phone)
    language = check_language(language)
    now = env.clock.now()
    if access_expires_at is not None and access_expires_at <= now:
        raise InvalidInput("access expiry must be in the future")
    async with env.sessions() as session, session.begin():
        await get_scoped(session, Client, org_id=org_id, id=client_id, what="client")
        recipient = Recipient(
            org_id=org_id,
            client_id=client_id,
            name=title,
            email=email,
            phone=phone,
            language=language,
            access_expires_at=access_expires_at,
            created_at=now,
        )
        session.add(recipient)
        await session.flush()
        await audit.record(
            session,
            org_id=org_id,
            actor=actor,
            action="recipient.added",
            at=now,
            details={"recipient_id": recipient.id, "name": title, "client_id": client_id},
        )
    return recipient


async def list_recipients(
    env: Env, *, org_id: int, client_id: int | None = None, include_removed: bool = False
) -> Sequence[Recipient]:
    query = select(Recipient).where(Recipient.org_id == org_id)
    if client_id is not None:
        query = query.where(Recipient.client_id == client_id)
    if not include_removed:
        query = query.where(Recipient.status != "deleted")
    async with env.sessions() as session:
        return (await session.exec(query.order_by(col(Recipient.id)))).all()


async def edit_recipient(
    env: Env,
    *,
    org_id: int,
    actor: Actor,
    recipient_id: int,
    name: str | None = None,
    email: str | None = UNSET,
    phone: str | None = UNSET,
    language: str | None = None,
    access_expires_at: datetime | None = UNSET,
) -> Recipient:
    """Change the given fields; pass None to clear email, phone or the access expiry."""
    changes: dict[str, Any] = {}
    if name is not None:
        changes["name"] = clean_text(name, what="name", max_len=200)
    if email is not UNSET:
        changes["email"] = check_email(email)
    if phone is not UNSET:
        changes["phone"] = check_phone(phone)
    if language is not None:
        changes["language"] = check_language(language)
    now = env.clock.now()
    if access_expires_at is not UNSET:
        if access_expires_at is not None and access_expires_at <= now:
            raise InvalidInput("access expiry must be in the future")
        changes["access_expires_at"] = access_expires_at
    if not changes:
        raise InvalidInput("nothing to change: give at least one field")
    async with env.sessions() as session, session.begin():
        recipient = await live_recipient(session, org_id, recipient_id)
        for field, value in changes.items():
            setattr(recipient, field, value)
        session.add(recipient)
        await audit.record(
            session,
            org_id=org_id,
            actor=actor,
            action="recipient.edited",
            at=now,
            details={
                "recipient_id": recipient_id,
                "changed": {
                    k: v.isoformat() if isinstance(v, datetime) else v for k, v in changes.items()
                },
            },
        )
    return recipient


async def set_recipient_blocked(
    env: Env, *, org_id: int, actor: Actor, recipient_id: int, blocked: bool
) -> Recipient:
    async with env.sessions() as session, session.begin():
        recipient = await live_recipient(session, org_id, recipient_id)
        if blocked == (recipient.status == "blocked"):
            raise Conflict(
                f"recipient {recipient.name} is {'already' if blocked else 'not'} blocked"
            )
        recipient.status = (
            "blocked" if blocked else ("active" if recipient.telegram_chat_id else "invited")
        )
        session.add(recipient)
        if blocked:
            await end_sessions(session, recipient_id=recipient_id, at=env.clock.now())
        await audit.record(
            session,
            org_id=org_id,
            actor=actor,
            action="recipient.blocked" if blocked else "recipient.unblocked",
            at=env.clock.now(),
            details={"recipient_id": recipient_id, "name": recipient.name},
        )
    return recipient


async def search_recipients(
    env: Env, *, org_id: int, name: str, limit: int = 100
) -> Sequence[Recipient]:
    """Recipients whose name holds ``name`` (any case), alphabetically: for pickers that
    must not load a whole client list to offer a few names."""
    if not 1 <= limit <= 1000:
        raise InvalidInput("ask for between 1 and 1000 recipients")
    query = select(Recipient).where(Recipient.org_id == org_id, Recipient.status != "deleted")
    if name.strip():
        query = query.where(col(Recipient.name).icontains(name.strip(), autoescape=True))
    async with env.reads() as session:
        rows = await session.exec(
            query.order_by(col(Recipient.name), col(Recipient.id)).limit(limit)
        )
        return rows.all()
