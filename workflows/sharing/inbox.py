"""What a recipient sees and does from a chat: their documents, downloads, returns, settings."""

from __future__ import annotations

from collections.abc import AsyncIterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePath

from sqlalchemy import or_
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import (
    Client,
    Document,
    Organization,
    PersonalLink,
    Recipient,
    Share,
    SpaceMember,
    StaffUser,
)
from storage.rows import id_of
from workflows import audit, outbox
from workflows.context import Actor, Env
from workflows.documents.filing import NewDocument, default_category, upload_document
from workflows.errors import Gone, InvalidInput, NotFound
from workflows.outbox.kinds import Kind, Via
from workflows.people import preferences
from workflows.people.recipients import can_receive, check_language
from workflows.scope import clean_text
from workflows.sharing import staff_notices
from workflows.tokens import new_token
from workflows.webhooks import emitting
from workflows.webhooks import events as webhook_events

NOTIFICATION_KINDS = preferences.KINDS


@dataclass(frozen=True)
class InboxItem:
    share_id: int
    document: Document
    organization: str
    addressee: str
    shared_by: str | None
    mine: bool


@dataclass(frozen=True)
class InboxPage:
    items: list[InboxItem]
    page: int
    pages: int
    total: int
    shared_cabinet: bool


@dataclass(frozen=True)
class ChatAccess:
    """A share a chat may use, and the recipient it acts as."""

    share: Share
    document: Document
    organization: Organization
    recipient: Recipient


def chat_actor(recipient: Recipient) -> Actor:
    return Actor(type="recipient", id=str(recipient.id), label=recipient.name)


async def _chat_recipients(session: AsyncSession, chat_id: int, now: datetime) -> list[Recipient]:
    rows = (
        await session.exec(
            select(Recipient)
            .where(Recipient.telegram_chat_id == chat_id)
            .order_by(col(Recipient.id))
        )
    ).all()
    return [r for r in rows if can_receive(r, now) is None]


def visible_to(recipient: Recipient, cabinet: bool) -> object:
    """The shares a recipient may use: their own, their spaces', their cabinet's."""
    spaces = select(SpaceMember.space_id).where(SpaceMember.recipient_id == recipient.id)
    conditions = [
        col(Share.recipient_id) == recipient.id,
        col(Share.space_id).in_(spaces),
    ]
    if cabinet:
        colleagues = select(Recipient.id).where(
            Recipient.org_id == recipient.org_id, Recipient.client_id == recipient.client_id
        )
        conditions.append(col(Share.recipient_id).in_(colleagues))
    return or_(*conditions)


def live_shares(now: datetime) -> list[object]:
    return [
        col(Share.revoked_at).is_(None),
        or_(col(Share.expires_at).is_(None), col(Share.expires_at) > now),
        or_(col(Document.available_until).is_(None), col(Document.available_until) > now),
    ]


async def list_for_chat(
    env: Env, *, chat_id: int, page: int = 1, per_page: int = 5, only_mine: bool = False
) -> InboxPage:
    """The chat's documents, newest first, one page at a time."""
    now = env.clock.now()
    async with env.sessions() as session:
        people = await _chat_recipients(session, chat_id, now)
        if not people:
            raise NotFound("this chat is not linked to anyone")
        cabinets = {
            c.id: c.shared_cabinet
            for c in (
                await session.exec(
                    select(Client).where(col(Client.id).in_([p.client_id for p in people]))
                )
            ).all()
        }
        any_cabinet = any(cabinets.values())
        visible = [
            visible_to(p, cabinets.get(p.client_id, False) and not only_mine) for p in people
        ]
        base = (
            select(Share, Document, Organization)
            .join(Document, col(Document.id) == Share.document_id)
            .join(Organization, col(Organization.id) == Share.org_id)
            .where(or_(*visible), *live_shares(now))  # type: ignore[arg-type]
        )
        total = (await session.exec(select(func.count()).select_from(base.subquery()))).one()
        pages = max(1, -(-total // per_page))
        page = min(max(page, 1), pages)
        rows = (
            await session.exec(
                base.order_by(col(Share.created_at).desc(), col(Share.id).desc())
                .offset((page - 1) * per_page)
                .limit(per_page)
            )
        ).all()
        names = await _names(session, rows)
    mine_ids = {p.id for p in people}
    items = []
    for share, document, organization in rows:
        addressee_id = share.recipient_id
        items.append(
            InboxItem(
                share_id=id_of(share),
                document=document,
                organization=organization.name,
                addressee=names.recipients.get(addressee_id or 0, ""),
                shared_by=names.staff.get(share.created_by_staff_id or 0),
                mine=addressee_id is None or addressee_id in mine_ids,
            )
        )
    return InboxPage(items, page, pages, total, shared_cabinet=any_cabinet)


@dataclass(frozen=True)
class _Names:
    recipients: dict[int, str]
    staff: dict[int, str]


async def _names(
    session: AsyncSession, rows: Sequence[tuple[Share, Document, Organization]]
) -> _Names:
    recipient_ids = {s.recipient_id for s, _, _ in rows if s.recipient_id}
    staff_ids = {s.created_by_staff_id for s, _, _ in rows if s.created_by_staff_id}
    recipients = (
        await session.exec(select(Recipient).where(col(Recipient.id).in_(recipient_ids)))
    ).all()
    staff = (await session.exec(select(StaffUser).where(col(StaffUser.id).in_(staff_ids)))).all()
    return _Names(
        recipients={id_of(r): r.name for r in recipients},
        staff={id_of(s): s.name for s in staff},
    )


async def access_for_chat(env: Env, *, chat_id: int, share_id: int) -> ChatAccess:
    """The share if this chat may use it now; Gone when it was revoked or has ended."""
    now = env.clock.now()
    async with env.sessions() as session:
        return await _access(session, chat_id, share_id, now)


async def _access(session: AsyncSession, chat_id: int, share_id: int, now: datetime) -> ChatAccess:
    people = await _chat_recipients(session, chat_id, now)
    row = (
        await session.exec(
            select(Share, Document, Organization)
            .join(Document, col(Document.id) == Share.document_id)
            .join(Organization, col(Organization.id) == Share.org_id)
            .where(Share.id == share_id)
        )
    ).first()
    if row is None:
        raise NotFound("this document is no longer available")
    share, document, organization = row
    for person in people:
        if person.org_id != share.org_id:
            continue
        client = await session.get(Client, person.client_id)
        cabinet = bool(client and client.shared_cabinet)
        allowed = (
            await session.exec(
                select(Share.id).where(Share.id == share_id, visible_to(person, cabinet))  # type: ignore[arg-type]
            )
        ).first()
        if allowed is None:
            continue
        if share.revoked_at is not None or (share.expires_at and share.expires_at <= now):
            raise Gone("this document is no longer available")
        if document.available_until is not None and document.available_until <= now:
            raise Gone("this document is no longer available")
        if document.available_from is not None and document.available_from > now:
            raise Gone(
                f"this document is available from {document.available_from:%Y-%m-%d %H:%M} UTC"
            )
        return ChatAccess(share, document, organization, person)
    raise NotFound("this document is no longer available")


async def record_chat_download(env: Env, *, chat_id: int, share_id: int) -> ChatAccess:
    """Check access and record that the file is being sent to the chat."""
    now = env.clock.now()
    async with env.sessions() as session, session.begin():
        found = await _access(session, chat_id, share_id, now)
        await audit.record(
            session,
            org_id=found.share.org_id,
            actor=chat_actor(found.recipient),
            action="document.downloaded",
            at=now,
            document_id=found.document.id,
            share_id=share_id,
            details={"channel": "telegram", "on_behalf_of": _on_behalf(found)},
        )
        notice = staff_notices.visit_notice(
            found.share, kind=Kind.DOCUMENT_DOWNLOADED, recipient_id=found.recipient.id
        )
        await outbox.enqueue_many(session, [notice], at=now)
        await emitting.emit_many(session, webhook_events.of_visits([notice], at=now))
    return found


def _on_behalf(found: ChatAccess) -> int | None:
    addressee = found.share.recipient_id
    return addressee if addressee not in (None, found.recipient.id) else None


async def personal_link(env: Env, *, share_id: int, recipient_id: int) -> str:
    """A new web token for this recipient's use of a share; only its hash is kept."""
    token, token_hash = new_token()
    async with env.sessions() as session, session.begin():
        share = await session.get(Share, share_id)
        recipient = await session.get(Recipient, recipient_id)
        if share is None or recipient is None or share.org_id != recipient.org_id:
            raise NotFound("this document is no longer available")
        session.add(
            PersonalLink(
                org_id=share.org_id,
                share_id=share_id,
                recipient_id=recipient_id,
                token_hash=token_hash,
                created_at=env.clock.now(),
            )
        )
    return token


async def return_document(
    env: Env,
    *,
    chat_id: int,
    recipient_id: int,
    filename: str,
    content: AsyncIterable[bytes],
    caption: str | None = None,
) -> Document:
    """A file sent back from a chat by one of the recipients linked to it."""
    now = env.clock.now()
    async with env.sessions() as session:
        people = await _chat_recipients(session, chat_id, now)
    person = next((p for p in people if p.id == recipient_id), None)
    if person is None:
        raise NotFound("this chat is not linked to anyone")
    return await return_from(env, person, filename=filename, content=content, caption=caption)


async def return_from(
    env: Env,
    person: Recipient,
    *,
    filename: str,
    content: AsyncIterable[bytes],
    caption: str | None = None,
    actor: Actor | None = None,
) -> Document:
    """A file sent back by a recipient (from a chat or their portal) becomes an inbound
    document of their client, checked as every upload is, and the staff who last shared
    with them is told."""
    now = env.clock.now()
    async with env.sessions() as session:
        org = await session.get(Organization, person.org_id)
        assert org is not None
        category = default_category(org.categories)
        sharer = (
            await session.exec(
                select(Share.created_by_staff_id)
                .where(
                    Share.org_id == person.org_id,
                    Share.recipient_id == person.id,
                    col(Share.created_by_staff_id).is_not(None),
                )
                .order_by(col(Share.created_at).desc())
                .limit(1)
            )
        ).first()
    title = _title(caption, filename)
    document = await upload_document(
        env,
        org_id=person.org_id,
        actor=actor or chat_actor(person),
        meta=NewDocument(
            title=title,
            category=category,
            client_id=person.client_id,
            filename=filename,
            direction="inbound",
        ),
        content=content,
        uploaded_by_recipient_id=person.id,
    )
    notice = staff_notices.returned_notice(
        org_id=person.org_id,
        sharer_id=sharer,
        document_id=id_of(document),
        recipient_id=id_of(person),
    )
    returned = webhook_events.document_returned(
        document=document, recipient_id=id_of(person), at=now
    )
    async with env.sessions() as session, session.begin():
        await outbox.enqueue_many(session, [notice], at=now)
        await emitting.emit(session, returned)
    return document


def _title(caption: str | None, filename: str) -> str:
    """The caption, else the file's name: the first with something visible in it (a
    caption of invisible characters alone is no reason to refuse the file)."""
    for wording in (caption, PurePath(filename).stem):
        title = clean_text((wording or "")[:300], what="title", max_len=300, required=False)
        if title:
            return title
    return "Returned document"


async def set_language(env: Env, *, chat_id: int, language: str) -> list[Recipient]:
    language = check_language(language)
    return await _update_people(
        env, chat_id, "language.changed", {"language": language}, language=language
    )


async def set_notification(env: Env, *, chat_id: int, kind: str, enabled: bool) -> list[Recipient]:
    if kind not in NOTIFICATION_KINDS:
        raise InvalidInput(
            f"unknown kind of notification '{kind}'", says="refusal.notifications.kind"
        )
    async with env.sessions() as session:
        people = await _chat_recipients(session, chat_id, env.clock.now())
    if not people:
        raise NotFound("this chat is not linked to anyone")
    updated = []
    for person in people:
        prefs = preferences.changed(
            person.notification_prefs, channel=Via.TELEGRAM, kind=kind, enabled=enabled
        )
        updated += await _update_people(
            env,
            chat_id,
            "notifications.changed",
            {"kind": kind, "enabled": enabled},
            notification_prefs=prefs,
            only=person.id,
        )
    return updated


async def _update_people(
    env: Env,
    chat_id: int,
    action: str,
    details: dict[str, object],
    *,
    only: int | None = None,
    **values: object,
) -> list[Recipient]:
    now = env.clock.now()
    async with env.sessions() as session, session.begin():
        people = [p for p in await _chat_recipients(session, chat_id, now) if only in (None, p.id)]
        if not people:
            raise NotFound("this chat is not linked to anyone")
        for person in people:
            for field, value in values.items():
                setattr(person, field, value)
            session.add(person)
            await audit.record(
                session,
                org_id=person.org_id,
                actor=chat_actor(person),
                action=f"recipient.{action}",
                at=now,
                details=dict(details),
            )
    return people
