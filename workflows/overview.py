"""What staff see at a glance: signature requests waiting for decisions, documents some
recipients have not opened yet, the latest opens and downloads, and deliveries given up,
always of one organisation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, String, and_, case, cast, distinct, func, or_, union_all
from sqlalchemy import select as core_select
from sqlalchemy.orm import defer
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import (
    AuditEvent,
    Document,
    Notification,
    Organization,
    Party,
    PartyDecision,
    Recipient,
    Share,
    SignatureRequest,
    SpaceMember,
    StaffUser,
)
from storage.rows import id_of
from storage.walls import Wall, visible_documents
from workflows.context import Env
from workflows.errors import NotFound
from workflows.outbox import claims, kinds
from workflows.outbox.kinds import Channel, Kind, Status
from workflows.sharing import staff_notices
from workflows.signing import requests

VISITS = (Kind.DOCUMENT_OPENED, Kind.DOCUMENT_DOWNLOADED)


@dataclass(frozen=True)
class Unopened:
    """A document shared with ``recipients`` people, ``opened`` of whom have opened it."""

    document: Document
    recipients: int
    opened: int
    last_shared_at: datetime


@dataclass(frozen=True)
class Visit:
    at: datetime
    action: str
    who: str
    document: Document


@dataclass(frozen=True)
class FailedDelivery:
    notification_id: int
    kind: str
    to: str
    document: Document | None
    error: str | None
    created_at: datetime


@dataclass(frozen=True)
class Awaiting:
    """A pending (or sealing) signature request and who it still waits for."""

    request: SignatureRequest
    decided: int
    deciding: int
    waiting_for: list[str]


@dataclass(frozen=True)
class Overview:
    awaiting: list[Awaiting]
    awaiting_total: int
    unopened: list[Unopened]
    unopened_total: int
    recent: list[Visit]
    failed: list[FailedDelivery]
    failed_total: int


async def overview(env: Env, *, org_id: int, limit: int = 10) -> Overview:
    """Up to ``limit`` of each kind, newest first, with how many there are in all.

    Behind a wall, only those clients' requests, documents and visits; failed deliveries
    (the organisation's queue) are left to staff who see every client."""
    now = env.clock.now()
    async with env.reads() as session:
        awaiting, awaiting_total = await _awaiting(session, org_id, limit)
        unopened, unopened_total = await _unopened(session, org_id, now, limit, env.wall)
        recent = await _recent(session, org_id, limit)
        failed: list[FailedDelivery] = []
        failed_total = 0
        if env.wall is None:
            failed, failed_total = await _failed(session, org_id, limit)
    return Overview(
        awaiting, awaiting_total, unopened, unopened_total, recent, failed, failed_total
    )


async def _awaiting(session: AsyncSession, org_id: int, limit: int) -> tuple[list[Awaiting], int]:
    open_statuses = (requests.PENDING, requests.SEALING)
    where = (
        col(SignatureRequest.org_id) == org_id,
        col(SignatureRequest.status).in_(open_statuses),
    )
    total = (
        await session.exec(select(func.count()).select_from(SignatureRequest).where(*where))
    ).one()
    open_requests = (
        await session.exec(
            select(SignatureRequest)
            .where(*where)
            .order_by(col(SignatureRequest.id).desc())
            .limit(limit)
        )
    ).all()
    ids = [r.id for r in open_requests]
    parties = (
        await session.exec(
            select(Party)
            .where(col(Party.request_id).in_(ids), col(Party.role).in_(requests.DECIDING))
            .order_by(col(Party.position))
        )
    ).all()
    decided = set(
        (
            await session.exec(
                select(PartyDecision.party_id).where(col(PartyDecision.request_id).in_(ids))
            )
        ).all()
    )
    found = []
    for request in open_requests:
        mine = [p for p in parties if p.request_id == request.id]
        waiting = [p.name for p in mine if p.id not in decided]
        found.append(Awaiting(request, len(mine) - len(waiting), len(mine), waiting))
    return found, total


async def retry_failed(env: Env, *, org_id: int, ids: Sequence[int]) -> int:
    """Give those of ``ids`` that are still dead a fresh set of attempts; NotFound when
    none is (someone retried them already, or they are not this organisation's)."""
    env.require_every_client(to="retry deliveries")
    async with env.reads() as session:
        dead = (
            await session.exec(
                select(Notification.id).where(
                    Notification.org_id == org_id,
                    Notification.status == Status.DEAD,
                    col(Notification.id).in_(ids),
                )
            )
        ).all()
    if not dead:
        which = "that delivery" if len(ids) == 1 else "those deliveries"
        raise NotFound(f"{which} no longer failed: it was retried already")
    return await claims.retry_dead(env, org_id=org_id, ids=[i for i in dead if i is not None])


# -- documents not yet opened -------------------------------------------------------------


async def _unopened(
    session: AsyncSession, org_id: int, now: datetime, limit: int, wall: Wall | None
) -> tuple[list[Unopened], int]:
    live = [
        col(Share.org_id) == org_id,
        col(Share.revoked_at).is_(None),
        or_(col(Share.expires_at).is_(None), col(Share.expires_at) > now),
        or_(col(Document.available_until).is_(None), col(Document.available_until) > now),
    ]
    if wall is not None:  # Core statements on the connection are not narrowed by the wall
        live.append(visible_documents(col(Share.document_id), wall))
    direct: Select[int, int, datetime] = (
        core_select(
            col(Share.document_id).label("document_id"),
            col(Share.recipient_id).label("recipient_id"),
            col(Share.created_at).label("shared_at"),
        )
        .join(Document, col(Document.id) == Share.document_id)
        .where(*live, col(Share.kind) == "recipient", col(Share.recipient_id).is_not(None))
    )
    spaced = (
        core_select(col(Share.document_id), col(SpaceMember.recipient_id), col(Share.created_at))
        .join(Document, col(Document.id) == Share.document_id)
        .join(SpaceMember, col(SpaceMember.space_id) == Share.space_id)
        .where(*live, col(Share.kind) == "space")
    )
    expected = union_all(direct, spaced).subquery("expected")
    seen = (
        core_select(col(AuditEvent.document_id), col(AuditEvent.actor_id))
        .where(
            col(AuditEvent.org_id) == org_id,
            col(AuditEvent.actor_type) == "recipient",
            col(AuditEvent.action).in_(VISITS),
        )
        .distinct()
        .subquery("seen")
    )
    people = func.count(distinct(expected.c.recipient_id))
    opened = func.count(distinct(case((seen.c.actor_id.is_not(None), expected.c.recipient_id))))
    waiting = (
        core_select(
            expected.c.document_id,
            people.label("people"),
            opened.label("opened"),
            func.max(expected.c.shared_at).label("last_shared_at"),
        )
        .select_from(expected)
        .outerjoin(
            seen,
            and_(
                seen.c.document_id == expected.c.document_id,
                seen.c.actor_id == cast(expected.c.recipient_id, String),
            ),
        )
        .group_by(expected.c.document_id)
        .having(people > opened)
    )
    connection = await session.connection()
    total = (
        await connection.execute(core_select(func.count()).select_from(waiting.subquery()))
    ).scalar_one()
    rows = (
        await connection.execute(
            waiting.order_by(
                func.max(expected.c.shared_at).desc(), expected.c.document_id.desc()
            ).limit(limit)
        )
    ).all()
    documents = await _documents(session, org_id, {row.document_id for row in rows})
    found = [
        Unopened(documents[row.document_id], row.people, row.opened, row.last_shared_at)
        for row in rows
        if row.document_id in documents
    ]
    return found, total


# -- recent opens and downloads ------------------------------------------------------------


async def _recent(session: AsyncSession, org_id: int, limit: int) -> list[Visit]:
    rows = (
        await session.exec(
            select(AuditEvent, Document)
            .join(Document, col(Document.id) == AuditEvent.document_id)
            .options(defer(Document.text_content, raiseload=True))  # type: ignore[arg-type]
            .where(
                AuditEvent.org_id == org_id,
                Document.org_id == org_id,
                col(AuditEvent.action).in_(VISITS),
            )
            .order_by(col(AuditEvent.seq).desc())
            .limit(limit)
        )
    ).all()
    return [
        Visit(event.at, event.action, event.actor_label or "someone with a link", document)
        for event, document in rows
    ]


# -- deliveries given up ---------------------------------------------------------------------


async def _failed(
    session: AsyncSession, org_id: int, limit: int
) -> tuple[list[FailedDelivery], int]:
    dead = [Notification.org_id == org_id, Notification.status == Status.DEAD]
    total = (await session.exec(select(func.count()).select_from(Notification).where(*dead))).one()
    rows = (
        await session.exec(
            select(Notification).where(*dead).order_by(col(Notification.id).desc()).limit(limit)
        )
    ).all()
    about = {row.id: kinds.document_of(kinds.parsed(row)) for row in rows}
    documents = await _documents(session, org_id, {d for d in about.values() if d is not None})
    names = await _addressees(session, org_id, rows)
    failed = []
    for row in rows:
        row_id = id_of(row)
        document_id = about[row_id]
        failed.append(
            FailedDelivery(
                notification_id=row_id,
                kind=row.kind,
                to=names.get(row_id, row.target),
                document=documents.get(document_id) if document_id is not None else None,
                error=row.last_error,
                created_at=row.created_at,
            )
        )
    return failed, total


async def _addressees(
    session: AsyncSession, org_id: int, rows: Sequence[Notification]
) -> dict[int, str]:
    """Who each row was for, in words: a recipient's name, or staff on Slack."""
    recipient_ids = {
        int(r.target) for r in rows if r.channel == Channel.RECIPIENT and r.target.isdigit()
    }
    staff_ids = {
        staff_id
        for r in rows
        if r.channel == Channel.SLACK
        and (staff_id := staff_notices.staff_id_of(r.target)) is not None
    }
    people = await _names(session, Recipient, org_id, recipient_ids)
    staff = await _names(session, StaffUser, org_id, staff_ids)
    organization = await session.get(Organization, org_id)
    names: dict[int, str] = {}
    for row in rows:
        row_id = id_of(row)
        if row.channel == Channel.RECIPIENT and row.target.isdigit():
            names[row_id] = people.get(int(row.target), "a former recipient")
        elif row.channel == Channel.SLACK:
            staff_id = staff_notices.staff_id_of(row.target)
            if organization is not None and organization.slack_channel:
                names[row_id] = f"Slack channel {organization.slack_channel}"
            elif staff_id is not None:
                names[row_id] = f"{staff.get(staff_id, 'staff')} on Slack"
            else:
                names[row_id] = "staff on Slack"
    return names


async def _names(session: AsyncSession, table: Any, org_id: int, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = await session.exec(
        select(table.id, table.name).where(table.org_id == org_id, col(table.id).in_(ids))
    )
    return {row_id: name for row_id, name in rows.all()}


async def _documents(session: AsyncSession, org_id: int, ids: set[int]) -> dict[int, Document]:
    if not ids:
        return {}
    rows = await session.exec(
        select(Document)
        .options(defer(Document.text_content, raiseload=True))  # type: ignore[arg-type]
        .where(Document.org_id == org_id, col(Document.id).in_(ids))
    )
    return {d.id: d for d in rows.all() if d.id is not None}
