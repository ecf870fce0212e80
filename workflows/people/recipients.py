"""Recipients: the people at a client who receive documents and decide."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import delete, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

import texts
from storage.models import (
    Client,
    Document,
    GroupMember,
    Notification,
    Party,
    PartyDecision,
    PartyLink,
    PersonalLink,
    PortalSession,
    Recipient,
    Share,
    SignInRequest,
    SpaceMember,
    UnsubscribeLink,
)
from storage.rows import id_of
from storage.walls import EVERY_CLIENT
from workflows import audit
from workflows.context import Actor, Env
from workflows.errors import Conflict, InvalidInput
from workflows.outbox.kinds import Channel, Status
from workflows.people.membership import live_recipient
from workflows.people.organizations import check_email
from workflows.portal.ending import end_sessions
from workflows.scope import clean_text, get_scoped
from workflows.sharing import cabinet

LANGUAGES = ("en", "pl", "ru", "sv")
PHONE = re.compile(r"^\+?[0-9 ()-]{5,31}$")
UNSET: Any = object()


def check_language(language: str) -> str:
    language = language.strip().lower()
    if language not in LANGUAGES:
        raise InvalidInput(
            f"language must be one of {', '.join(LANGUAGES)}, not '{language}'",
            says="refusal.language.unknown",
            languages=", ".join(texts.NAMES[code] for code in LANGUAGES),
        )
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
        event = await audit.record(
            session,
            org_id=org_id,
            actor=actor,
            action="recipient.added",
            at=now,
            details={"recipient_id": recipient.id, "name": title, "client_id": client_id},
        )
        await cabinet.tell_of_access(
            session, colleague=recipient, joined=True, occasion=event.seq, at=now
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
        event = await audit.record(
            session,
            org_id=org_id,
            actor=actor,
            action="recipient.blocked" if blocked else "recipient.unblocked",
            at=env.clock.now(),
            details={"recipient_id": recipient_id, "name": recipient.name},
        )
        await cabinet.tell_of_access(
            session, colleague=recipient, joined=not blocked, occasion=event.seq, at=event.at
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


async def get_recipient(env: Env, *, org_id: int, recipient_id: int) -> Recipient:
    """One recipient of the organisation (removed ones too)."""
    async with env.reads() as session:
        return await get_scoped(
            session, Recipient, org_id=org_id, id=recipient_id, what="recipient"
        )


# -- deleting ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Holdings:
    """What a recipient holds that must be kept, each a count: while any is not zero they
    cannot be deleted (blocking them is the way to end their access)."""

    shares: int = 0
    """Shares of documents made to them, revoked or not."""
    requests: int = 0
    """Signature requests they are a party of."""
    for_colleagues: int = 0
    """Colleagues' signature requests they were sent a link for or decided on."""
    returned: int = 0
    """Documents they sent back."""
    through_spaces: int = 0
    """Personal links to documents of their spaces they were sent."""
    unsettled: int = 0
    """Notifications to them not yet sent, given up or cancelled."""

    @property
    def anything(self) -> bool:
        return bool(self.reasons())

    def reasons(self) -> list[str]:
        """What they hold, in words."""
        found = [
            (self.shares, "share of a document", "shares of documents"),
            (self.requests, "signature request", "signature requests"),
            (
                self.for_colleagues,
                "colleague's signature request they took part in",
                "colleagues' signature requests they took part in",
            ),
            (self.returned, "document they returned", "documents they returned"),
            (self.through_spaces, "document link from a space", "document links from spaces"),
            (self.unsettled, "notification on its way", "notifications on their way"),
        ]
        return [f"{n} {one if n == 1 else many}" for n, one, many in found if n]


class StillHolds(Conflict):
    """The recipient holds something that must be kept (``holdings``)."""

    def __init__(self, recipient: Recipient, holdings: Holdings) -> None:
        super().__init__(
            f"{recipient.name} cannot be deleted: they hold {', '.join(holdings.reasons())}; "
            "block them instead, so that they get and open nothing and their history stays"
        )
        self.holdings = holdings


UNSETTLED = (Status.PENDING, Status.SENDING, Status.WAITING)


async def recipient_holdings(env: Env, *, org_id: int, recipient_id: int) -> Holdings:
    """What the recipient holds that must be kept (nothing: they may be deleted)."""
    async with env.reads() as session:
        recipient = await get_scoped(
            session, Recipient, org_id=org_id, id=recipient_id, what="recipient"
        )
        return await _holdings(session, recipient)


async def _holdings(session: AsyncSession, recipient: Recipient) -> Holdings:
    """Counted across every client: a wall hides rows, it does not make them go away."""
    recipient_id = id_of(recipient)

    async def count(query: Any) -> int:
        return int((await session.exec(query.execution_options(**EVERY_CLIENT))).one())

    rows = select(func.count())
    links = (
        select(Party.request_id)
        .join(PartyLink, col(PartyLink.party_id) == Party.id)
        .where(PartyLink.recipient_id == recipient_id, Party.recipient_id != recipient_id)
    )
    decisions = (
        select(Party.request_id)
        .join(PartyDecision, col(PartyDecision.party_id) == Party.id)
        .where(
            PartyDecision.decided_by_recipient_id == recipient_id,
            Party.recipient_id != recipient_id,
        )
    )
    colleagues: set[int] = set()
    for query in (links, decisions):
        colleagues.update((await session.exec(query.execution_options(**EVERY_CLIENT))).all())
    return Holdings(
        shares=await count(rows.select_from(Share).where(Share.recipient_id == recipient_id)),
        requests=await count(
            select(func.count(func.distinct(Party.request_id))).where(
                Party.recipient_id == recipient_id
            )
        ),
        for_colleagues=len(colleagues),
        returned=await count(
            rows.select_from(Document).where(Document.uploaded_by_recipient_id == recipient_id)
        ),
        through_spaces=await count(
            rows.select_from(PersonalLink)
            .join(Share, col(Share.id) == PersonalLink.share_id)
            .where(
                PersonalLink.recipient_id == recipient_id,
                func.coalesce(Share.recipient_id, 0) != recipient_id,
            )
        ),
        unsettled=await count(
            rows.select_from(Notification).where(
                Notification.org_id == recipient.org_id,
                Notification.channel == Channel.RECIPIENT,
                Notification.target == str(recipient_id),
                col(Notification.status).in_(UNSETTLED),
            )
        ),
    )


OWN_ROWS = (GroupMember, SpaceMember, PortalSession, SignInRequest, UnsubscribeLink)
"""The recipient's rows that carry no evidence, deleted with them: memberships, portal
sessions, sign-in links and unsubscribe links."""


async def delete_recipient(env: Env, *, org_id: int, actor: Actor, recipient_id: int) -> Recipient:
    """Delete a recipient who holds nothing that must be kept (`Holdings`), with their own
    rows that carry no evidence and the settled notifications addressed to them, in one
    transaction; the history stays as it is and records the deletion. Refused with what
    they hold (`StillHolds`) otherwise."""
    now = env.clock.now()
    async with env.sessions() as session, session.begin():
        recipient = await get_scoped(
            session, Recipient, org_id=org_id, id=recipient_id, what="recipient", lock=True
        )
        holdings = await _holdings(session, recipient)
        if holdings.anything:
            raise StillHolds(recipient, holdings)
        removed: dict[str, int] = {}
        for model in OWN_ROWS:
            result = await session.exec(
                delete(model).where(col(model.recipient_id) == recipient_id)
            )
            removed[str(model.__tablename__)] = result.rowcount
        settled = await session.exec(
            delete(Notification).where(
                col(Notification.org_id) == org_id,
                col(Notification.channel) == Channel.RECIPIENT,
                col(Notification.target) == str(recipient_id),
            )
        )
        removed["notification"] = settled.rowcount
        await session.delete(recipient)
        await session.flush()
        await audit.record(
            session,
            org_id=org_id,
            actor=actor,
            action="recipient.deleted",
            at=now,
            details={
                "recipient_id": recipient_id,
                "name": recipient.name,
                "client_id": recipient.client_id,
                "removed": {table: n for table, n in removed.items() if n},
            },
        )
    return recipient
