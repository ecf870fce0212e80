"""Notices to staff: what recipients did with what was shared, and deliveries given up.

A workflow that learns of such a moment writes a ``slack`` outbox row in its own
transaction: the kind, a target (``staff:{id}``, the staff member who shared, or ``org``
when nobody did) and ids in the payload (`workflows.outbox.kinds`). Which Slack
conversation it reaches is decided when it is delivered (`prepare`): the organisation's
notice channel when one is set, else the target's own direct messages. Dedupe keys make a
first open or download of a share by one recipient (or through a link) a notice once,
however often it happens.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import defer
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import (
    Document,
    Notification,
    Organization,
    Party,
    Recipient,
    RequestDocument,
    Share,
    SignatureRequest,
    StaffClient,
    StaffUser,
)
from storage.rows import id_of
from workflows import audit, outbox
from workflows.context import Actor, Env
from workflows.errors import InvalidInput, NotFound
from workflows.outbox import kinds
from workflows.outbox.kinds import (
    BadPayload,
    Channel,
    FailurePayload,
    Kind,
    Payload,
    ReturnedPayload,
    SignStatusPayload,
    Status,
    UnopenedPayload,
    VisitPayload,
)

KINDS = frozenset(
    {
        Kind.DOCUMENT_OPENED,
        Kind.DOCUMENT_DOWNLOADED,
        Kind.DOCUMENT_RETURNED,
        Kind.DELIVERY_FAILED,
        Kind.SIGN_STATUS,
        Kind.DOCUMENT_UNOPENED,
        Kind.LINK_UNUSED,
        Kind.RECIPIENT_ACCESS_ENDING,
        Kind.DEAD_SUMMARY,
        Kind.WEBHOOK_DISABLED,
    }
)
"""The kinds of notice staff get."""
ORG_TARGET = "org"
SLACK_CHANNEL_ID = re.compile(r"^[CG](?=[A-Z0-9]*[0-9])[A-Z0-9]{2,31}$")
"""Public and private channels; Slack's ids hold digits, a channel's name may not."""


def target_of(staff_id: int | None) -> str:
    """Whom a notice is for: the staff member who shared, else the organisation."""
    return f"staff:{staff_id}" if staff_id else ORG_TARGET


def visit_notice(share: Share, *, kind: Kind, recipient_id: int | None) -> outbox.NewNotification:
    """'Someone opened (or downloaded) this share', once per recipient, or once for a link
    nobody in particular holds."""
    share_id = id_of(share)
    payload = VisitPayload(
        kind=kind, document_id=share.document_id, share_id=share_id, recipient_id=recipient_id
    )
    who = f"recipient:{recipient_id}" if recipient_id is not None else "link"
    return outbox.NewNotification(
        org_id=share.org_id,
        channel=Channel.SLACK,
        target=target_of(share.created_by_staff_id),
        payload=payload,
        dedupe_key=f"{kind.removeprefix('document.')}:{share_id}:{who}",
    )


def returned_notice(
    *, org_id: int, sharer_id: int | None, document_id: int, recipient_id: int
) -> outbox.NewNotification:
    """'A recipient sent this document back', for whoever last shared with them."""
    return outbox.NewNotification(
        org_id=org_id,
        channel=Channel.SLACK,
        target=target_of(sharer_id),
        payload=ReturnedPayload(document_id=document_id, recipient_id=recipient_id),
        dedupe_key=f"returned:{document_id}",
    )


async def enqueue_failure(
    session: AsyncSession, row: Notification, *, error: str, at: datetime
) -> bool:
    """Tell staff, in the transaction that gives ``row`` up, that it will not be delivered.

    A staff notice that dies is not told of again through Slack: it stays visible in the
    status view, where it can be retried.
    """
    if row.channel == Channel.SLACK or row.id is None:
        return False
    payload = kinds.parsed(row)
    share_id = kinds.share_of(payload)
    share = await session.get(Share, share_id) if share_id is not None else None
    document_id = kinds.document_of(payload) or (share.document_id if share else None)
    recipient_id = (
        int(row.target) if row.channel == Channel.RECIPIENT and row.target.isdigit() else None
    )
    return await outbox.enqueue(
        session,
        org_id=row.org_id,
        channel=Channel.SLACK,
        target=target_of(share.created_by_staff_id if share else None),
        payload=FailurePayload(
            notification_id=row.id,
            notification_kind=row.kind,
            document_id=document_id,
            recipient_id=recipient_id,
            error=error[:300],
        ),
        dedupe_key=f"failed:{row.id}:{at.isoformat()}",
        at=at,
    )


# -- where notices go --------------------------------------------------------------------


def check_slack_channel(channel: str | None) -> str | None:
    """A Slack channel id as staff paste it, or None to clear it."""
    if channel is None or not channel.strip():
        return None
    cleaned = channel.strip()
    if not SLACK_CHANNEL_ID.match(cleaned):
        raise InvalidInput(
            f"'{channel.strip()}' is not a Slack channel id: use the id from the channel's "
            "details, like C0123ABCD"
        )
    return cleaned


async def set_notice_channel(
    env: Env, *, org_id: int, actor: Actor, channel: str | None
) -> Organization:
    """Send every staff notice of the organisation to ``channel`` (None: to each sharer).

    Notices that had nowhere to go are tried again at once.
    """
    channel = check_slack_channel(channel)
    now = env.clock.now()
    async with env.sessions() as session, session.begin():
        organization = await session.get(Organization, org_id)
        if organization is None:
            raise NotFound("organisation not found")
        previous = organization.slack_channel
        organization.slack_channel = channel
        session.add(organization)
        if channel is not None:
            await session.exec(
                update(Notification)
                .where(
                    col(Notification.org_id) == org_id,
                    col(Notification.channel) == Channel.SLACK,
                    col(Notification.status) == Status.WAITING,
                )
                .values(status=Status.PENDING.value, next_attempt_at=now, last_error=None)
            )
        await audit.record(
            session,
            org_id=org_id,
            actor=actor,
            action="organization.notice_channel_set",
            at=now,
            details={"slack_channel": channel, "previous": previous},
        )
    return organization


# -- what a notice says, when it is delivered --------------------------------------------


@dataclass(frozen=True)
class Destination:
    """A Slack conversation: a channel id, or a user id meaning the bot's DM with them."""

    slack_id: str
    is_channel: bool


@dataclass(frozen=True)
class StaffNotice:
    """One outbox row with what its message needs; ``destination`` is None (and ``reason``
    says why) while there is nowhere to send it, ``payload`` None (and ``problem`` says
    why) when the row cannot be read."""

    row: Notification
    payload: Payload | None
    destination: Destination | None
    document: Document | None
    person: str | None
    """The recipient who acted, or to whom a delivery failed; None for a link."""
    error: str | None = None
    reason: str | None = None
    request: SignatureRequest | None = None
    party: str | None = None
    """For a signature request's notice: the party who decided, if one did."""
    people: tuple[str, ...] = ()
    """For a notice about several recipients (``recipient_ids``): their names, in order."""
    problem: str | None = None

    @property
    def kind(self) -> str:
        return self.row.kind


async def prepare(env: Env, rows: Sequence[Notification]) -> list[StaffNotice]:
    """Each row with its document, person and destination, loaded with one query per table."""
    if not rows:
        return []
    read = [_read(row) for row in rows]
    payloads = [payload for payload, _ in read]
    org_ids = {row.org_id for row in rows}
    staff_ids = {staff_id_of(row.target) for row in rows} - {None}
    document_ids = {kinds.document_of(p) for p in payloads} - {None}
    recipient_ids = {kinds.recipient_of(p) for p in payloads} - {None}
    recipient_ids |= {i for p in payloads for i in _recipient_ids(p)}
    request_ids = {kinds.request_of(p) for p in payloads} - {None}
    party_ids = {_party_id(p) for p in payloads} - {None}
    async with env.reads() as session:
        orgs = await _by_id(session, Organization, org_ids)
        staff = await _by_id(session, StaffUser, staff_ids)
        docs = await _by_id(session, Document, document_ids)
        people = await _by_id(session, Recipient, recipient_ids)
        signature_requests = await _by_id(session, SignatureRequest, request_ids)
        parties = await _by_id(session, Party, party_ids)
        walls = await _walls(session, [s for s in staff.values() if s.walled])
        asked = {i for i in request_ids if i is not None}
        request_clients = await _request_clients(session, asked) if walls else {}
    notices = []
    for row, (payload, problem) in zip(rows, read, strict=True):
        document = docs.get(kinds.document_of(payload) or 0)
        person = people.get(kinds.recipient_of(payload) or 0)
        destination, reason = _destination(row, orgs.get(row.org_id), staff)
        member = staff.get(staff_id_of(row.target) or 0)
        if destination is not None and not destination.is_channel and member is not None:
            concerns = {document.client_id if document else None}
            concerns |= {people[i].client_id for i in _recipient_ids(payload) if i in people}
            concerns.add(person.client_id if person else None)
            concerns |= request_clients.get(kinds.request_of(payload) or 0, set())
            if not _admits(walls, member, concerns - {None}):
                destination = None
                reason = (
                    f"{member.name} may not see this client and the organisation has no "
                    "Slack channel for notices"
                )
        request = signature_requests.get(kinds.request_of(payload) or 0)
        party = parties.get(_party_id(payload) or 0)
        notices.append(
            StaffNotice(
                row=row,
                payload=payload,
                destination=destination,
                document=document if document and document.org_id == row.org_id else None,
                person=person.name if person and person.org_id == row.org_id else None,
                error=payload.error if isinstance(payload, FailurePayload) else None,
                reason=reason,
                request=request if request and request.org_id == row.org_id else None,
                party=party.name if party and party.org_id == row.org_id else None,
                people=tuple(
                    p.name
                    for p in (people.get(i) for i in _recipient_ids(payload))
                    if p is not None and p.org_id == row.org_id
                ),
                problem=problem,
            )
        )
    return notices


def _read(row: Notification) -> tuple[Payload | None, str | None]:
    """The row's payload, or why it cannot be read."""
    try:
        return kinds.parse(row), None
    except BadPayload as e:
        return None, str(e)


def _recipient_ids(payload: Payload | None) -> tuple[int, ...]:
    return payload.recipient_ids if isinstance(payload, UnopenedPayload) else ()


def _party_id(payload: Payload | None) -> int | None:
    return payload.party_id if isinstance(payload, SignStatusPayload) else None


async def _walls(session: AsyncSession, walled: Sequence[StaffUser]) -> dict[int, set[int]]:
    """The clients each walled staff member of ``walled`` may see, by staff id."""
    found: dict[int, set[int]] = {id_of(s): set() for s in walled}
    if found:
        rows = await session.exec(
            select(StaffClient.staff_id, StaffClient.client_id).where(
                col(StaffClient.staff_id).in_(found)
            )
        )
        for staff_id, client_id in rows.all():
            found[staff_id].add(client_id)
    return found


async def _request_clients(session: AsyncSession, ids: set[int]) -> dict[int, set[int]]:
    """The clients of each request's documents."""
    found: dict[int, set[int]] = {}
    if ids:
        rows = await session.exec(
            select(RequestDocument.request_id, Document.client_id)
            .join(Document, col(Document.id) == RequestDocument.document_id)
            .where(col(RequestDocument.request_id).in_(ids))
        )
        for request_id, client_id in rows.all():
            found.setdefault(request_id, set()).add(client_id)
    return found


def _admits(walls: dict[int, set[int]], member: StaffUser, clients: set[int | None]) -> bool:
    """Whether ``member`` may hear about these clients: always, unless walled from one."""
    inside = walls.get(id_of(member))
    return inside is None or clients <= inside


def _destination(
    row: Notification, organization: Organization | None, staff: dict[int, StaffUser]
) -> tuple[Destination | None, str | None]:
    if organization is not None and organization.slack_channel:
        return Destination(organization.slack_channel, is_channel=True), None
    member = staff.get(staff_id_of(row.target) or 0)
    if member is None or member.org_id != row.org_id:
        return None, "nobody shared it and the organisation has no Slack channel for notices"
    if member.status != "active":
        return None, f"{member.name} is blocked and the organisation has no Slack channel"
    if not member.slack_user_id:
        return None, f"{member.name} has no Slack user and the organisation has no channel"
    return Destination(member.slack_user_id, is_channel=False), None


async def _by_id(
    session: AsyncSession, table: Any, ids: set[int] | set[int | None]
) -> dict[int, Any]:
    if not ids:
        return {}
    query = select(table).where(col(table.id).in_(ids))
    if table is Document:  # a PDF's extracted text can be megabytes; no notice needs it
        query = query.options(defer(Document.text_content, raiseload=True))  # type: ignore[arg-type]
    return {row.id: row for row in (await session.exec(query)).all()}


def staff_id_of(target: str) -> int | None:
    """The staff member a ``staff:{id}`` target names, if it names one."""
    prefix, _, rest = target.partition(":")
    return int(rest) if prefix == "staff" and rest.isdigit() else None
