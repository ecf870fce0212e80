"""Opening and downloading a shared document by its token, and recording that it happened."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Document, Organization, PersonalLink, Recipient, Share, SpaceMember
from workflows import audit
from workflows.context import Actor, Env
from workflows.errors import Gone, NotAllowed, NotAvailableNow, NotFound
from workflows.recipients import can_receive
from workflows.tokens import hash_token, well_formed


@dataclass(frozen=True)
class SharedDocument:
    share: Share
    document: Document
    organization: Organization
    recipient: Recipient | None


@dataclass(frozen=True)
class Visitor:
    """Where a web request came from; recorded with every open and download."""

    ip: str | None = None
    user_agent: str | None = None


async def resolve(env: Env, token: str) -> SharedDocument:
    """Check a token and everything that limits it, without recording anything."""
    async with env.sessions() as session:
        return await _resolve(session, token, env.clock.now())


async def open_shared(env: Env, token: str, visitor: Visitor) -> SharedDocument:
    """Resolve a token for viewing and record the visit."""
    now = env.clock.now()
    async with env.sessions() as session, session.begin():
        found = await _resolve(session, token, now)
        share = found.share
        await session.exec(
            update(Share).where(col(Share.id) == share.id).values(open_count=Share.open_count + 1)
        )
        marked = await session.exec(
            update(Share)
            .where(col(Share.id) == share.id, col(Share.first_opened_at).is_(None))
            .values(first_opened_at=now)
        )
        first = marked.rowcount == 1
        await audit.record(
            session,
            org_id=share.org_id,
            actor=_actor(found, visitor),
            action="document.opened",
            at=now,
            document_id=share.document_id,
            share_id=share.id,
            details={"first": first},
        )
    return found


async def start_download(env: Env, token: str, visitor: Visitor) -> SharedDocument:
    """Resolve a token for a download, count it against the link's limit and record it."""
    now = env.clock.now()
    async with env.sessions() as session, session.begin():
        found = await _resolve(session, token, now)
        share = found.share
        counted = await session.exec(
            update(Share)
            .where(
                col(Share.id) == share.id,
                col(Share.max_downloads).is_(None)
                | (col(Share.download_count) < col(Share.max_downloads)),
            )
            .values(download_count=Share.download_count + 1)
        )
        if counted.rowcount == 0:
            raise Gone("this link has reached its download limit")
        await audit.record(
            session,
            org_id=share.org_id,
            actor=_actor(found, visitor),
            action="document.downloaded",
            at=now,
            document_id=share.document_id,
            share_id=share.id,
            details={"download": share.download_count + 1},
        )
    return found


async def _resolve(session: AsyncSession, token: str, now: datetime) -> SharedDocument:
    if not well_formed(token):
        raise NotFound("this link does not exist")
    digest = hash_token(token)
    query = (
        select(Share, Document, Organization)
        .join(Document, col(Document.id) == Share.document_id)
        .join(Organization, col(Organization.id) == Share.org_id)
    )
    row = (await session.exec(query.where(Share.token_hash == digest))).first()
    personal: PersonalLink | None = None
    if row is None:
        personal = (
            await session.exec(select(PersonalLink).where(PersonalLink.token_hash == digest))
        ).first()
        if personal is not None:
            row = (await session.exec(query.where(Share.id == personal.share_id))).first()
    if row is None:
        raise NotFound("this link does not exist")
    share, document, organization = row
    if share.revoked_at is not None:
        raise Gone("this link was revoked")
    if share.expires_at is not None and share.expires_at <= now:
        raise Gone(f"this link expired on {share.expires_at:%Y-%m-%d %H:%M} UTC")
    if share.max_downloads is not None and share.download_count >= share.max_downloads:
        raise Gone("this link has reached its download limit")
    recipient = None
    person_id = personal.recipient_id if personal is not None else share.recipient_id
    if person_id is not None:
        recipient = await session.get(Recipient, person_id)
        assert recipient is not None
        refusal = can_receive(recipient, now)
        if refusal:
            raise NotAllowed("your access to this organisation's documents has ended")
        if personal is not None and share.space_id is not None:
            member = await session.get(SpaceMember, (share.space_id, person_id))
            if member is None:
                raise Gone("you are no longer a member of the space this was shared with")
    if document.available_from is not None and now < document.available_from:
        raise NotAvailableNow(
            "this document is not available yet",
            available_from=document.available_from,
            available_until=document.available_until,
        )
    if document.available_until is not None and now >= document.available_until:
        raise NotAvailableNow(
            "this document is no longer available",
            available_from=document.available_from,
            available_until=document.available_until,
        )
    return SharedDocument(share, document, organization, recipient)


def _actor(found: SharedDocument, visitor: Visitor) -> Actor:
    if found.recipient is not None:
        actor = Actor(type="recipient", id=str(found.recipient.id), label=found.recipient.name)
    else:
        actor = Actor(type="link", id=str(found.share.id), label=f"{found.share.kind} share")
    return actor.with_request(ip=visitor.ip, user_agent=visitor.user_agent)
