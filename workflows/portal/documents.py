"""What a signed-in recipient finds in their portal: the documents shared with them
(directly, through their spaces, and in a shared cabinet their colleagues' too), their
spaces, and a document opened on its usual page."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Exists, exists
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import AuditEvent, Document, Recipient, Share, Space, SpaceMember
from storage.rows import id_of
from workflows.context import Env
from workflows.errors import InvalidInput, NotFound
from workflows.portal.sessions import Portal
from workflows.sharing import inbox
from workflows.sharing.availability import VISITS

PER_PAGE = 20
MAX_WORDS = 100


@dataclass(frozen=True)
class Filters:
    """What the recipient narrowed the list to; empty values narrow nothing."""

    words: str = ""
    space_id: int | None = None
    category: str | None = None
    unopened: bool = False
    only_mine: bool = False
    colleague: str = ""
    """In a shared cabinet: documents for colleagues whose name or email holds this."""


@dataclass(frozen=True)
class Item:
    share_id: int
    document: Document
    space: str | None
    """The space it was shared through, if it came that way."""
    addressee: str | None
    """The colleague it was shared with, when not with the recipient or a space."""
    opened: bool


@dataclass(frozen=True)
class Listing:
    items: list[Item]
    page: int
    pages: int
    total: int
    cabinet: bool
    spaces: list[tuple[int, str]]
    categories: list[str]


async def documents(env: Env, portal: Portal, *, filters: Filters, page: int = 1) -> Listing:
    """One page of the recipient's documents, newest first, as ``filters`` narrow them."""
    if len(filters.words) > MAX_WORDS or len(filters.colleague) > MAX_WORDS:
        raise InvalidInput(f"search with up to {MAX_WORDS} characters")
    recipient = portal.recipient
    cabinet = portal.client.shared_cabinet
    now = env.clock.now()
    query = (
        select(Share, Document)
        .join(Document, col(Document.id) == Share.document_id)
        .where(
            Share.org_id == portal.org_id,
            inbox.visible_to(recipient, cabinet and not filters.only_mine),  # type: ignore[arg-type]
            *inbox.live_shares(now),  # type: ignore[arg-type]
        )
    )
    if words := filters.words.strip():
        query = query.where(col(Document.title).icontains(words, autoescape=True))
    if filters.space_id is not None:
        query = query.where(Share.space_id == filters.space_id)
    if filters.category:
        query = query.where(Document.category == filters.category)
    if filters.unopened:
        query = query.where(~_seen_by(recipient))
    async with env.reads() as session:
        if cabinet and (colleague := filters.colleague.strip()):
            named = await _colleagues_named(session, recipient, colleague)
            query = query.where(col(Share.recipient_id).in_(named))
        total = (await session.exec(select(func.count()).select_from(query.subquery()))).one()
        pages = max(1, -(-total // PER_PAGE))
        page = min(max(page, 1), pages)
        rows = (
            await session.exec(
                query.order_by(col(Share.created_at).desc(), col(Share.id).desc())
                .offset((page - 1) * PER_PAGE)
                .limit(PER_PAGE)
            )
        ).all()
        belongs = await spaces(env, portal)
        space_names = dict(belongs)
        colleagues = {s.recipient_id for s, _ in rows} - {None, recipient.id}
        names = dict(
            (
                await session.exec(
                    select(Recipient.id, Recipient.name).where(col(Recipient.id).in_(colleagues))
                )
            ).all()
        )
        seen = await _seen_documents(session, recipient, [d.id for _, d in rows])
        categories = sorted(
            (
                await session.exec(
                    select(Document.category)
                    .join(Share, col(Share.document_id) == Document.id)
                    .where(
                        Share.org_id == portal.org_id,
                        inbox.visible_to(recipient, cabinet),  # type: ignore[arg-type]
                        *inbox.live_shares(now),  # type: ignore[arg-type]
                    )
                    .distinct()
                )
            ).all()
        )
    items = [
        Item(
            share_id=id_of(share),
            document=document,
            space=space_names.get(share.space_id or 0),
            addressee=names.get(share.recipient_id or 0),
            opened=document.id in seen,
        )
        for share, document in rows
    ]
    return Listing(items, page, pages, total, cabinet, belongs, categories)


async def _colleagues_named(session: AsyncSession, recipient: Recipient, words: str) -> list[int]:
    """The people of the recipient's client whose name or email holds ``words``, in any
    letter case. Compared here, not in SQL: SQLite's LOWER folds only ASCII letters, so
    "łucja" would not find "Łucja", nor "ольга" "Ольга"."""
    wanted = words.casefold()
    rows = await session.exec(
        select(Recipient.id, Recipient.name, Recipient.email).where(
            Recipient.org_id == recipient.org_id, Recipient.client_id == recipient.client_id
        )
    )
    return [
        person_id
        for person_id, name, email in rows.all()
        if person_id is not None
        and (wanted in name.casefold() or wanted in (email or "").casefold())
    ]


def _seen_by(recipient: Recipient) -> Exists:
    """'The recipient has opened or downloaded this document', by any share."""
    return exists().where(
        col(AuditEvent.org_id) == recipient.org_id,
        col(AuditEvent.document_id) == Document.id,
        col(AuditEvent.action).in_(VISITS),
        col(AuditEvent.actor_type) == "recipient",
        col(AuditEvent.actor_id) == str(recipient.id),
    )


async def _seen_documents(
    session: AsyncSession, recipient: Recipient, ids: Sequence[int | None]
) -> set[int]:
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return set()
    rows = await session.exec(
        select(AuditEvent.document_id)
        .where(
            AuditEvent.org_id == recipient.org_id,
            col(AuditEvent.document_id).in_(wanted),
            col(AuditEvent.action).in_(VISITS),
            AuditEvent.actor_type == "recipient",
            AuditEvent.actor_id == str(recipient.id),
        )
        .distinct()
    )
    return {i for i in rows.all() if i is not None}


async def spaces(env: Env, portal: Portal) -> list[tuple[int, str]]:
    """The spaces (client panels) the recipient belongs to, by name."""
    async with env.reads() as session:
        rows = await session.exec(
            select(Space.id, Space.name)
            .join(SpaceMember, col(SpaceMember.space_id) == Space.id)
            .where(
                Space.org_id == portal.org_id,
                SpaceMember.recipient_id == id_of(portal.recipient),
            )
            .order_by(col(Space.name))
        )
        return [(space_id, name) for space_id, name in rows.all() if space_id is not None]


async def open_document(env: Env, portal: Portal, *, share_id: int) -> str:
    """A personal link for the recipient to a share they may use now: its document page
    records the visit as theirs. Another recipient's share is not found."""
    recipient = portal.recipient
    cabinet = portal.client.shared_cabinet
    async with env.reads() as session:
        allowed = (
            await session.exec(
                select(Share.id)
                .join(Document, col(Document.id) == Share.document_id)
                .where(
                    Share.id == share_id,
                    Share.org_id == portal.org_id,
                    inbox.visible_to(recipient, cabinet),  # type: ignore[arg-type]
                    *inbox.live_shares(env.clock.now()),  # type: ignore[arg-type]
                )
            )
        ).first()
    if allowed is None:
        raise NotFound("this document is not among yours")
    return await inbox.personal_link(env, share_id=share_id, recipient_id=id_of(recipient))
