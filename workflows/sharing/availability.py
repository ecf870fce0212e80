"""Documents whose availability is about to end: their recipients who have not opened
them are reminded, and the staff who shared them hear who has not.

Run by the scans (`workflows.scans`) at a moment ``at``; a document's reminder period is
its organisation's ``remind_days_before``. Who has seen a document is what the history
records: an open or a download by that recipient, through any share.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import AuditEvent, Document, Organization, Recipient, Share, SpaceMember
from storage.rows import chunks, id_of, rows_in
from workflows import outbox, quiet_hours
from workflows.context import Env
from workflows.outbox.kinds import AvailabilityPayload, Channel, UnopenedPayload
from workflows.people.recipients import can_receive
from workflows.sharing import staff_notices

MAX_REMIND_DAYS = 60
VISITS = ("document.opened", "document.downloaded")


@dataclass(frozen=True)
class _Holder:
    """A recipient holding a document through a share."""

    share: Share
    recipient_id: int


async def scan_availability(env: Env, *, at: datetime) -> tuple[int, int]:
    """Remind recipients who have not opened a document that stops being available within
    their organisation's ``remind_days_before``, and tell the staff who shared it who
    still has not; returns (reminders, staff notices) queued."""
    async with env.sessions() as session, session.begin():
        horizon = (await session.exec(select(func.max(Organization.remind_days_before)))).one()
        if not horizon or horizon <= 0:
            return 0, 0
        ending = await _documents_ending(session, at, min(horizon, MAX_REMIND_DAYS))
        if not ending:
            return 0, 0
        holders = await _holders(session, list(ending), at)
        people = {
            r.id: r
            for r in await rows_in(
                session, Recipient, col(Recipient.id), {h.recipient_id for h in holders}
            )
        }
        seen = await _seen(session, list(ending), {org.id for org, _ in ending.values()})
        reminders: list[outbox.NewNotification] = []
        unopened: dict[tuple[int, str], list[int]] = defaultdict(list)
        done: set[tuple[int, int]] = set()
        for holder in holders:
            share, rid = holder.share, holder.recipient_id
            organization, until = ending[share.document_id]
            person = people.get(rid)
            pair = (share.document_id, rid)
            if pair in done or pair in seen or person is None or can_receive(person, at):
                continue
            if share.kind == "recipient" and (share.open_count or share.download_count):
                continue
            done.add(pair)
            reminders.append(_availability_notice(holder, organization, until, at))
            unopened[
                (share.document_id, staff_notices.target_of(share.created_by_staff_id))
            ].append(rid)
        staff = [
            _unopened_notice(
                organization_id=ending[doc][0].id,
                document_id=doc,
                target=target,
                recipient_ids=rids,
                until=ending[doc][1],
            )
            for (doc, target), rids in unopened.items()
        ]
        return (
            await outbox.enqueue_fresh(session, reminders, at),
            await outbox.enqueue_fresh(session, staff, at),
        )


async def _documents_ending(
    session: AsyncSession, at: datetime, horizon: int
) -> dict[int, tuple[Organization, datetime]]:
    """Documents whose availability ends after ``at`` and within their organisation's
    reminder period, with their organisation and end."""
    rows = (
        await session.exec(
            select(Document.id, Document.org_id, Document.available_until).where(
                col(Document.available_until) > at,
                col(Document.available_until) <= at + timedelta(days=horizon),
            )
        )
    ).all()
    orgs = {
        o.id: o
        for o in await rows_in(
            session, Organization, col(Organization.id), {org for _, org, _ in rows}
        )
    }
    ending: dict[int, tuple[Organization, datetime]] = {}
    for doc_id, org_id, until in rows:
        organization = orgs[org_id]
        if (
            doc_id is not None
            and until is not None
            and until <= at + timedelta(days=organization.remind_days_before)
        ):
            ending[doc_id] = (organization, until)
    return ending


async def _holders(session: AsyncSession, document_ids: list[int], at: datetime) -> list[_Holder]:
    """Every recipient holding one of the documents through a live share: its addressee, or
    each member of its space; direct shares first."""
    shares: list[Share] = []
    for chunk in chunks(document_ids):
        shares.extend(
            (
                await session.exec(
                    select(Share).where(
                        col(Share.document_id).in_(chunk),
                        col(Share.kind).in_(("recipient", "space")),
                        col(Share.revoked_at).is_(None),
                        or_(col(Share.expires_at).is_(None), col(Share.expires_at) > at),
                    )
                )
            ).all()
        )
    space_ids = {s.space_id for s in shares if s.space_id is not None}
    members: dict[int, list[int]] = defaultdict(list)
    for chunk in chunks(sorted(space_ids)):
        rows = await session.exec(
            select(SpaceMember.space_id, SpaceMember.recipient_id).where(
                col(SpaceMember.space_id).in_(chunk)
            )
        )
        for space_id, recipient_id in rows.all():
            members[space_id].append(recipient_id)
    holders = [
        _Holder(s, s.recipient_id) for s in shares if s.kind == "recipient" and s.recipient_id
    ]
    for share in shares:
        if share.kind == "space" and share.space_id is not None:
            holders.extend(_Holder(share, rid) for rid in sorted(members[share.space_id]))
    return holders


async def _seen(
    session: AsyncSession, document_ids: list[int], org_ids: set[int | None]
) -> set[tuple[int, int]]:
    """(document, recipient) pairs where the recipient opened or downloaded the document,
    by any share, as the audit trail records it."""
    seen: set[tuple[int, int]] = set()
    for chunk in chunks(document_ids):
        rows = await session.exec(
            select(AuditEvent.document_id, AuditEvent.actor_id)
            .where(
                col(AuditEvent.org_id).in_(org_ids),
                col(AuditEvent.document_id).in_(chunk),
                col(AuditEvent.action).in_(VISITS),
                AuditEvent.actor_type == "recipient",
            )
            .distinct()
        )
        for document_id, actor_id in rows.all():
            if document_id is not None and actor_id and actor_id.isdigit():
                seen.add((document_id, int(actor_id)))
    return seen


async def has_seen(
    session: AsyncSession, *, org_id: int, document_id: int, recipient_id: int
) -> bool:
    """Whether the recipient has opened or downloaded the document (by any share)."""
    row = (
        await session.exec(
            select(AuditEvent.id)
            .where(
                AuditEvent.org_id == org_id,
                AuditEvent.document_id == document_id,
                col(AuditEvent.action).in_(VISITS),
                AuditEvent.actor_type == "recipient",
                AuditEvent.actor_id == str(recipient_id),
            )
            .limit(1)
        )
    ).first()
    return row is not None


def _availability_notice(
    holder: _Holder, organization: Organization, until: datetime, at: datetime
) -> outbox.NewNotification:
    share = holder.share
    return outbox.NewNotification(
        org_id=id_of(organization),
        channel=Channel.RECIPIENT,
        target=str(holder.recipient_id),
        payload=AvailabilityPayload(
            share_id=id_of(share), document_id=share.document_id, available_until=until
        ),
        dedupe_key=f"remind-until:{share.document_id}:{holder.recipient_id}:{outbox.stamp(until)}",
        due=quiet_hours.send_from(organization, at),
    )


def _unopened_notice(
    *,
    organization_id: int | None,
    document_id: int,
    target: str,
    recipient_ids: list[int],
    until: datetime,
) -> outbox.NewNotification:
    assert organization_id is not None
    return outbox.NewNotification(
        org_id=organization_id,
        channel=Channel.SLACK,
        target=target,
        payload=UnopenedPayload(
            document_id=document_id,
            recipient_ids=tuple(sorted(set(recipient_ids))),
            available_until=until,
        ),
        dedupe_key=f"unopened:{document_id}:{target}:{outbox.stamp(until)}",
    )
