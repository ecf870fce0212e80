"""Telling the members of a shared cabinet what changed in it.

In a client's shared cabinet every recipient sees their colleagues' documents, so every
other active member is told when a document reaches a colleague, and when a colleague
gains or loses access. The notices are queued in the transaction of the change itself, by
one ``INSERT … SELECT`` over the cabinet's recipients: a share with a group of ten thousand
costs one statement per cabinet, not a query a member. How each notice travels, and
whether it still should, is `cabinet_notices`'.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Integer, String, and_, cast, exists, literal, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Client, Notification, Recipient, Share, SpaceMember
from storage.rows import id_of
from storage.types import JSONType, UTCDateTime
from workflows.outbox.kinds import (
    CabinetDocumentPayload,
    CabinetMemberPayload,
    Channel,
    Kind,
    Payload,
    Status,
)

NOTIFICATIONS = Notification.__table__  # type: ignore[attr-defined]
CLIENTS = Client.__table__  # type: ignore[attr-defined]
RECIPIENTS = Recipient.__table__  # type: ignore[attr-defined]
SHARES = Share.__table__  # type: ignore[attr-defined]
SPACE_MEMBERS = SpaceMember.__table__  # type: ignore[attr-defined]
WITHOUT_ACCESS = ("blocked", "deleted")
"""Statuses of recipients who are no longer members of anything."""


class Receipt(NamedTuple):
    """Someone a share has just given a document to, and the share it came by (a named
    tuple: a share with a group makes one for each member)."""

    recipient_id: int
    client_id: int
    share_id: int


async def tell_of_share(
    session: AsyncSession,
    *,
    org_id: int,
    document_id: int,
    receipts: Sequence[Receipt],
    at: datetime,
) -> int:
    """Tell every other active member of each shared cabinet among ``receipts`` that the
    document reached their cabinet, naming the first colleague who received it and counting
    the rest: once per member and document, and never a member who holds the document
    themselves (they were told by their own notice). Returns how many were queued."""
    by_client: dict[int, list[Receipt]] = {}
    for receipt in receipts:
        by_client.setdefault(receipt.client_id, []).append(receipt)
    if not by_client:
        return 0
    cabinets = await _cabinets(session, org_id, list(by_client))
    queued = 0
    for client_id in cabinets:
        first, *others = by_client[client_id]
        payload = CabinetDocumentPayload(
            document_id=document_id,
            share_id=first.share_id,
            colleague_id=first.recipient_id,
            others=len(others),
        )
        queued += await _queue(
            session,
            org_id=org_id,
            client_id=client_id,
            payload=payload,
            key=f"{payload.kind.value}:{document_id}:",
            at=at,
            unless=_holds(document_id, at),
        )
    return queued


async def tell_of_access(
    session: AsyncSession, *, colleague: Recipient, joined: bool, occasion: int, at: datetime
) -> int:
    """Tell every other active member of the colleague's cabinet, if their client keeps a
    shared one, that the colleague now has access to it (``joined``) or no longer has.
    ``occasion`` tells one change of the colleague's access from the next (the sequence
    number of its history event). Returns how many were queued."""
    if not await _cabinets(session, colleague.org_id, [colleague.client_id]):
        return 0
    kind = Kind.CABINET_JOINED if joined else Kind.CABINET_LEFT
    colleague_id = id_of(colleague)
    return await _queue(
        session,
        org_id=colleague.org_id,
        client_id=colleague.client_id,
        payload=CabinetMemberPayload(kind=kind, colleague_id=colleague_id),
        key=f"{kind.value}:{colleague_id}:{occasion}:",
        at=at,
        unless=RECIPIENTS.c.id == colleague_id,
    )


async def _cabinets(session: AsyncSession, org_id: int, client_ids: list[int]) -> list[int]:
    """Which of these clients keep a shared cabinet, in the order given."""
    rows = await (await session.connection()).execute(
        select(CLIENTS.c.id).where(
            CLIENTS.c.org_id == org_id,
            CLIENTS.c.id.in_(client_ids),
            CLIENTS.c.shared_cabinet.is_(True),
        )
    )
    shared = set(rows.scalars())
    return [c for c in client_ids if c in shared]


def _holds(document_id: int, at: datetime) -> ColumnElement[bool]:
    """The recipient holds the document by a share in force: their own, or their space's."""
    live = and_(
        SHARES.c.document_id == document_id,
        SHARES.c.revoked_at.is_(None),
        or_(SHARES.c.expires_at.is_(None), SHARES.c.expires_at > at),
    )
    person = RECIPIENTS.c.id
    own = exists().where(live, SHARES.c.recipient_id == person)
    spaces = exists().where(
        live,
        SHARES.c.space_id == SPACE_MEMBERS.c.space_id,
        SPACE_MEMBERS.c.recipient_id == person,
    )
    return or_(own, spaces)


async def _queue(
    session: AsyncSession,
    *,
    org_id: int,
    client_id: int,
    payload: Payload,
    key: str,
    at: datetime,
    unless: ColumnElement[bool],
) -> int:
    """Queue ``payload`` for every active recipient of the client but those ``unless``
    names, each row's dedupe key ``key`` followed by the member's id, in one statement
    that skips keys already taken."""
    people = RECIPIENTS.c
    target = cast(people.id, String)
    values: dict[str, Any] = {
        "org_id": literal(org_id, Integer),
        "channel": literal(Channel.RECIPIENT.value, String),
        "target": target,
        "kind": literal(payload.kind.value, String),
        "payload": literal(payload.to_json(), JSONType),
        "dedupe_key": literal(key, String) + target,
        "status": literal(Status.PENDING.value, String),
        "attempts": literal(0, Integer),
        "next_attempt_at": literal(at, UTCDateTime),
        "created_at": literal(at, UTCDateTime),
    }
    members = select(*values.values()).where(
        people.org_id == org_id,
        people.client_id == client_id,
        people.status.not_in(WITHOUT_ACCESS),
        or_(people.access_expires_at.is_(None), people.access_expires_at > at),
        ~unless,
    )
    # imported here, so that the many commands importing this module load neither dialect
    from sqlalchemy.dialects import postgresql, sqlite

    connection = await session.connection()
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    statement = (
        insert(NOTIFICATIONS)
        .from_select(list(values), members, include_defaults=False)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
    )
    result = await connection.execute(statement)
    return max(result.rowcount, 0)
