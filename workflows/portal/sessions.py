"""Signing in to the portal without a password, and the sessions that follow.

A recipient signs in from any personal link Inkpost sent them (a document's or a signing
link), or with a one-time link mailed to the address on file (`request_sign_in`; the link
is minted only as the mail goes out, `mint_sign_in`). A session is a row referenced by a
cookie holding an unguessable token (only its hash is kept); it ends after ``IDLE`` unused,
at the latest ``LONGEST`` after it began, when the recipient signs out everywhere, and at
once when they are blocked or their access ends. Every sign-in is a history event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import (
    Client,
    Organization,
    Party,
    PartyLink,
    PortalSession,
    Recipient,
    SignInRequest,
)
from storage.rows import id_of
from workflows import audit, outbox
from workflows.context import Actor, Env
from workflows.errors import Gone, InvalidInput, NotAllowed, NotFound, TooMany
from workflows.outbox.kinds import Channel, SignInPayload
from workflows.people.organizations import address_hash, check_email
from workflows.people.recipients import can_receive
from workflows.portal.ending import end_sessions
from workflows.sharing import access
from workflows.sharing.access import Visitor
from workflows.tokens import hash_token, new_token, well_formed

IDLE = timedelta(hours=2)
LONGEST = timedelta(days=30)
TOUCH_EVERY = timedelta(minutes=1)
"""A session's last use is written at most this often: a page view is not a write."""
LINK_TTL = timedelta(minutes=30)
HOUR = timedelta(hours=1)
PER_ADDRESS = 5
"""Sign-in links one address may ask for in an hour."""
PER_IP = 20
"""Sign-in links one IP address may ask for in an hour, whatever the addresses."""


@dataclass(frozen=True)
class Opened:
    """A session just opened: the token for the browser's cookie, and when it ends."""

    token: str
    expires_at: datetime
    recipient_id: int


@dataclass(frozen=True)
class Portal:
    """The signed-in recipient, their organisation and client, in this browser."""

    session_id: int
    recipient: Recipient
    organization: Organization
    client: Client

    @property
    def org_id(self) -> int:
        return id_of(self.organization)


def recipient_actor(recipient: Recipient, visitor: Visitor | None = None) -> Actor:
    actor = Actor(type="recipient", id=str(id_of(recipient)), label=recipient.name)
    if visitor is None:
        return actor
    return actor.with_request(ip=visitor.ip, user_agent=visitor.user_agent)


async def open_from_link(env: Env, token: str, *, visitor: Visitor) -> Opened:
    """A session for the recipient a personal link (of a document, or of a signing
    request) was sent to, while the link works. A link anyone may hold (a public link)
    leads to no portal."""
    recipient_id = await _recipient_of_link(env, token)
    if recipient_id is None:
        raise NotFound("this link does not lead to anyone's documents")
    now = env.clock.now()
    async with env.sessions() as session, session.begin():
        recipient = await session.get(Recipient, recipient_id)
        assert recipient is not None
        return await open_session(session, recipient, via="link", visitor=visitor, now=now)


async def _recipient_of_link(env: Env, token: str) -> int | None:
    """Whom a signing link, or a document link that works now, was sent to."""
    if not well_formed(token):
        return None
    async with env.reads() as session:
        party_link = (
            await session.exec(select(PartyLink).where(PartyLink.token_hash == hash_token(token)))
        ).first()
        if party_link is not None:
            party = await session.get(Party, party_link.party_id)
            return party_link.recipient_id or (party.recipient_id if party else None)
    try:
        found = await access.resolve(env, token)
    except NotFound:
        return None
    return id_of(found.recipient) if found.recipient is not None else None


async def open_session(
    session: AsyncSession, recipient: Recipient, *, via: str, visitor: Visitor, now: datetime
) -> Opened:
    """A new session for ``recipient``, who came ``via`` a link, a mail or Telegram; a
    history event says so. Refused when they may no longer receive documents."""
    refusal = can_receive(recipient, now)
    if refusal:
        raise NotAllowed(
            f"{refusal}; ask the organisation that sent you documents", says="refusal.portal.closed"
        )
    token, token_hash = new_token()
    expires_at = now + LONGEST
    row = PortalSession(
        org_id=recipient.org_id,
        recipient_id=id_of(recipient),
        token_hash=token_hash,
        via=via,
        created_at=now,
        last_seen_at=now,
        expires_at=expires_at,
    )
    session.add(row)
    await session.flush()
    await audit.record(
        session,
        org_id=recipient.org_id,
        actor=recipient_actor(recipient, visitor),
        action="recipient.signed_in",
        at=now,
        details={"via": via, "session_id": row.id},
    )
    return Opened(token, expires_at, id_of(recipient))


# -- sign-in links by mail --------------------------------------------------------------------


async def request_sign_in(env: Env, *, email: str, ip: str | None) -> None:
    """Mail a sign-in link to every recipient with this address who may sign in. The
    answer is the same whether or not anyone has it; TooMany when the address or the IP
    asked too often in the last hour (whether or not the address is known)."""
    address = check_email(email)
    if address is None:
        raise InvalidInput("enter your email address", says="refusal.sign_in.no_address")
    digest = address_hash(address)
    now = env.clock.now()
    async with env.sessions() as session, session.begin():
        await _refuse_too_many(session, digest=digest, ip=ip, now=now)
        people = (
            await session.exec(
                select(Recipient)
                .where(func.lower(Recipient.email) == address.casefold())
                .order_by(col(Recipient.id))
            )
        ).all()
        allowed = [p for p in people if can_receive(p, now) is None]
        session.add(SignInRequest(email_hash=digest, ip=ip, at=now))
        if not allowed:
            return
        rows = [
            SignInRequest(email_hash=digest, ip=ip, at=now, org_id=p.org_id, recipient_id=id_of(p))
            for p in allowed
        ]
        session.add_all(rows)
        await session.flush()
        notices = [
            outbox.NewNotification(
                org_id=row.org_id or 0,
                channel=Channel.RECIPIENT,
                target=str(row.recipient_id),
                payload=SignInPayload(request_id=id_of(row)),
                dedupe_key=f"sign-in:{row.id}",
            )
            for row in rows
        ]
        await outbox.enqueue_many(session, notices, at=now)


async def _refuse_too_many(
    session: AsyncSession, *, digest: str, ip: str | None, now: datetime
) -> None:
    recent = select(func.count()).where(
        col(SignInRequest.at) > now - HOUR, col(SignInRequest.recipient_id).is_(None)
    )
    by_address = (await session.exec(recent.where(SignInRequest.email_hash == digest))).one()
    by_ip = (await session.exec(recent.where(SignInRequest.ip == ip))).one() if ip else 0
    if by_address >= PER_ADDRESS or by_ip >= PER_IP:
        raise TooMany(
            "too many sign-in links were asked for; try again in an hour",
            says="refusal.sign_in.too_many",
        )


@dataclass(frozen=True)
class SignInLink:
    """A sign-in link about to be mailed: its token, whom it is for, until when."""

    token: str
    recipient: Recipient
    organization: Organization
    expires_at: datetime


async def mint_sign_in(env: Env, *, request_id: int) -> SignInLink | None:
    """The token of a requested sign-in link, minted now that its mail goes out; None when
    it is no longer wanted (too old, already minted, or the recipient may not sign in)."""
    now = env.clock.now()
    token, token_hash = new_token()
    async with env.sessions() as session, session.begin():
        row = await session.get(SignInRequest, request_id, with_for_update=True)
        if row is None or row.recipient_id is None or row.token_hash is not None:
            return None
        if row.at + LINK_TTL <= now:
            return None
        recipient = await session.get(Recipient, row.recipient_id)
        if recipient is None or can_receive(recipient, now) is not None:
            return None
        organization = await session.get(Organization, recipient.org_id)
        assert organization is not None
        row.token_hash = token_hash
        row.expires_at = now + LINK_TTL
        session.add(row)
    return SignInLink(token, recipient, organization, now + LINK_TTL)


async def redeem_sign_in(env: Env, token: str, *, visitor: Visitor) -> Opened:
    """Follow a mailed sign-in link: once, before it expires."""
    now = env.clock.now()
    gone = Gone(
        "this sign-in link has expired or was used already; ask for a new one",
        says="refusal.sign_in.gone",
    )
    if not well_formed(token):
        raise gone
    async with env.sessions() as session, session.begin():
        row = (
            await session.exec(
                select(SignInRequest)
                .where(SignInRequest.token_hash == hash_token(token))
                .with_for_update()
            )
        ).first()
        if row is None or row.used_at is not None or row.recipient_id is None:
            raise gone
        if row.expires_at is None or row.expires_at <= now:
            raise gone
        row.used_at = now
        session.add(row)
        recipient = await session.get(Recipient, row.recipient_id)
        assert recipient is not None
        return await open_session(session, recipient, via="email", visitor=visitor, now=now)


# -- the session a browser holds --------------------------------------------------------------


async def current(env: Env, token: str | None) -> Portal | None:
    """The portal of the browser holding ``token``, or None when it holds no live session
    (never had one, signed out, unused too long, or its recipient may no longer sign in)."""
    if not token or not well_formed(token):
        return None
    now = env.clock.now()
    async with env.reads() as session:
        row = (
            await session.exec(
                select(PortalSession).where(PortalSession.token_hash == hash_token(token))
            )
        ).first()
        if row is None or not _live(row, now):
            return None
        recipient = await session.get(Recipient, row.recipient_id)
        organization = await session.get(Organization, row.org_id)
        if recipient is None or organization is None or can_receive(recipient, now):
            return None
        client = await session.get(Client, recipient.client_id)
        assert client is not None
    if now - row.last_seen_at >= TOUCH_EVERY:
        async with env.sessions() as session, session.begin():
            await session.exec(
                update(PortalSession)
                .where(col(PortalSession.id) == row.id)
                .values(last_seen_at=now)
            )
    return Portal(id_of(row), recipient, organization, client)


def _live(row: PortalSession, now: datetime) -> bool:
    return row.ended_at is None and row.expires_at > now and row.last_seen_at + IDLE > now


async def sign_out_everywhere(env: Env, portal: Portal, *, visitor: Visitor) -> int:
    """End every session of the signed-in recipient, in every browser; how many ended."""
    now = env.clock.now()
    async with env.sessions() as session, session.begin():
        ended = await end_sessions(session, recipient_id=id_of(portal.recipient), at=now)
        await audit.record(
            session,
            org_id=portal.org_id,
            actor=recipient_actor(portal.recipient, visitor),
            action="recipient.signed_out",
            at=now,
            details={"sessions": ended},
        )
    return ended
