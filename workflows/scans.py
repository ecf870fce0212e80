"""The periodic scans: reminders before things end, and the changes due when they do.

Each scan looks at the store as it is at a given moment ``at`` (the scheduler passes the
system clock's time; tests and `inkpost reminders run --at` pass their own) and only
inserts outbox rows whose dedupe keys name what they remind of, so running a scan twice,
or in two processes against one PostgreSQL, queues each notice once, and a scan after a
restart finds whatever is still due. Each scan reads through an index on the moment it
looks for (a document's ``available_until``, a link's ``expires_at``, a recipient's
``access_expires_at``, a request's ``status`` and ``expires_at``, a notification's
``status``). Reminders to recipients wait for the end of quiet hours; notices to staff
and state changes do not.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import (
    AuditEvent,
    Document,
    Notification,
    Organization,
    Recipient,
    Share,
    SpaceMember,
)
from storage.rows import id_of
from workflows import audit, outbox, platform, quiet_hours
from workflows.context import Actor, Env
from workflows.errors import InvalidInput, NotFound
from workflows.outbox.kinds import (
    AccessPayload,
    AvailabilityPayload,
    Channel,
    DeadSummaryPayload,
    Kind,
    LinkUnusedPayload,
    Status,
    UnopenedPayload,
)
from workflows.people.recipients import can_receive
from workflows.sharing import ranges, staff_notices
from workflows.signing import identity, party_reminders, requests

ACCESS_NOTICE_AHEAD = timedelta(days=3)
UNUSED_LOOKBACK = timedelta(days=7)
"""How long after a link expired an unused-link notice is still sent (after a stop)."""
MAX_REMIND_DAYS = 60
VISITS = ("document.opened", "document.downloaded")
CHUNK = 1000
T = TypeVar("T")


@dataclass
class ScanReport:
    """What one run of every scan queued or changed, by kind."""

    at: datetime
    availability: int = 0
    availability_staff: int = 0
    sign: int = 0
    expired: list[str] = field(default_factory=list)
    links_unused: int = 0
    access_ending: int = 0
    access_ending_staff: int = 0
    dead_summaries: int = 0

    def counts(self) -> dict[str, int]:
        return {
            "availability": self.availability,
            "availability_staff": self.availability_staff,
            "sign": self.sign,
            "expired": len(self.expired),
            "links_unused": self.links_unused,
            "access_ending": self.access_ending,
            "access_ending_staff": self.access_ending_staff,
            "dead_summaries": self.dead_summaries,
        }

    @property
    def total(self) -> int:
        return sum(self.counts().values())


async def run_all(env: Env, *, at: datetime) -> ScanReport:
    """Every scan for the moment ``at``: state changes first, then reminders."""
    report = ScanReport(at=at)
    report.expired = await expire_requests(env, at=at)
    report.sign = await party_reminders.scan(env, at=at)
    report.availability, report.availability_staff = await scan_availability(env, at=at)
    report.links_unused = await scan_unused_links(env, at=at)
    report.access_ending, report.access_ending_staff = await scan_access_ending(env, at=at)
    report.dead_summaries = await scan_dead(env, at=at)
    await platform.forget_handled(env, at=at)
    await identity.forget(env, at=at)
    await ranges.forget(env, at=at)
    return report


async def expire_requests(env: Env, *, at: datetime) -> list[str]:
    """Expire every pending request whose time has come; parties and staff are told."""
    expired: list[str] = []
    while True:
        batch = await requests.expire_due(env, now=at, limit=500)
        expired.extend(batch)
        if len(batch) < 500:
            return expired


# -- availability ending ------------------------------------------------------------------


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
            for r in await _in_chunks(
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
            await _enqueue_fresh(session, reminders, at),
            await _enqueue_fresh(session, staff, at),
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
        for o in await _in_chunks(
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
    for chunk in _chunks(document_ids):
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
    for chunk in _chunks(sorted(space_ids)):
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
    for chunk in _chunks(document_ids):
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


def _stamp(moment: datetime) -> str:
    return f"{moment:%Y%m%dT%H%M%S}"


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
        dedupe_key=f"remind-until:{share.document_id}:{holder.recipient_id}:{_stamp(until)}",
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
        dedupe_key=f"unopened:{document_id}:{target}:{_stamp(until)}",
    )


# -- links expiring unused ----------------------------------------------------------------


async def scan_unused_links(env: Env, *, at: datetime) -> int:
    """Tell the staff who asked when a link expired with nobody having opened or
    downloaded it; returns how many notices were queued."""
    async with env.sessions() as session, session.begin():
        shares = (
            await session.exec(
                select(Share).where(
                    col(Share.notify_unused_expiry).is_(True),
                    col(Share.expires_at) <= at,
                    col(Share.expires_at) > at - UNUSED_LOOKBACK,
                    col(Share.revoked_at).is_(None),
                    Share.open_count == 0,
                    Share.download_count == 0,
                )
            )
        ).all()
        notes = [_unused_notice(share) for share in shares]
        return await _enqueue_fresh(session, notes, at)


def _unused_notice(share: Share) -> outbox.NewNotification:
    assert share.expires_at is not None
    share_id = id_of(share)
    return outbox.NewNotification(
        org_id=share.org_id,
        channel=Channel.SLACK,
        target=staff_notices.target_of(share.created_by_staff_id),
        payload=LinkUnusedPayload(
            document_id=share.document_id, share_id=share_id, expires_at=share.expires_at
        ),
        dedupe_key=f"unused:{share_id}",
    )


# -- recipients' access ending ------------------------------------------------------------


async def scan_access_ending(env: Env, *, at: datetime) -> tuple[int, int]:
    """Tell recipients whose access ends within three days, and their organisation's
    staff; returns (notices to recipients, notices to staff) queued."""
    async with env.sessions() as session, session.begin():
        people = (
            await session.exec(
                select(Recipient).where(
                    col(Recipient.access_expires_at) > at,
                    col(Recipient.access_expires_at) <= at + ACCESS_NOTICE_AHEAD,
                    col(Recipient.status).not_in(("blocked", "deleted")),
                )
            )
        ).all()
        orgs = {
            o.id: o
            for o in await _in_chunks(
                session, Organization, col(Organization.id), {p.org_id for p in people}
            )
        }
        to_people, to_staff = [], []
        for person in people:
            assert person.access_expires_at is not None
            person_id = id_of(person)
            ends = person.access_expires_at
            key = f"access-ending:{person_id}:{_stamp(ends)}"
            to_people.append(
                outbox.NewNotification(
                    org_id=person.org_id,
                    channel=Channel.RECIPIENT,
                    target=str(person_id),
                    payload=AccessPayload(
                        kind=Kind.ACCESS_ENDING, recipient_id=person_id, access_expires_at=ends
                    ),
                    dedupe_key=key,
                    due=quiet_hours.send_from(orgs[person.org_id], at),
                )
            )
            to_staff.append(
                outbox.NewNotification(
                    org_id=person.org_id,
                    channel=Channel.SLACK,
                    target=staff_notices.ORG_TARGET,
                    payload=AccessPayload(
                        kind=Kind.RECIPIENT_ACCESS_ENDING,
                        recipient_id=person_id,
                        access_expires_at=ends,
                    ),
                    dedupe_key=f"{key}:staff",
                )
            )
        return (
            await _enqueue_fresh(session, to_people, at),
            await _enqueue_fresh(session, to_staff, at),
        )


# -- deliveries given up ------------------------------------------------------------------


async def scan_dead(env: Env, *, at: datetime) -> int:
    """Once a day per organisation, from the start of its working day, a summary of the
    deliveries given up (only when there are any); returns how many were queued."""
    async with env.sessions() as session, session.begin():
        rows = (
            await session.exec(
                select(Notification.org_id, Notification.kind, func.count())
                .where(Notification.status == Status.DEAD)
                .group_by(col(Notification.org_id), col(Notification.kind))
            )
        ).all()
        by_org: dict[int, dict[str, int]] = defaultdict(dict)
        for org_id, kind, count in rows:
            by_org[org_id][kind] = int(count)
        orgs = await _in_chunks(session, Organization, col(Organization.id), set(by_org))
        notes = []
        for organization in orgs:
            organization_id = id_of(organization)
            if not quiet_hours.day_started(organization, at):
                continue
            kinds = by_org[organization_id]
            day = quiet_hours.local_day(organization, at)
            notes.append(
                outbox.NewNotification(
                    org_id=organization_id,
                    channel=Channel.SLACK,
                    target=staff_notices.ORG_TARGET,
                    payload=DeadSummaryPayload(count=sum(kinds.values()), by_kind=kinds, day=day),
                    dedupe_key=f"dead-summary:{organization_id}:{day.isoformat()}",
                )
            )
        return await _enqueue_fresh(session, notes, at)


# -- settings -----------------------------------------------------------------------------


async def set_reminder_settings(
    env: Env,
    *,
    org_id: int,
    actor: Actor,
    remind_days_before: int | None = None,
    quiet_hours_start: int | None = None,
    quiet_hours_end: int | None = None,
    timezone: str | None = None,
) -> Organization:
    """Change how far ahead recipients are reminded, and when reminders may reach them."""
    if remind_days_before is not None and not 0 <= remind_days_before <= MAX_REMIND_DAYS:
        raise InvalidInput(f"remind 0 to {MAX_REMIND_DAYS} days ahead (0: never)")
    zone = quiet_hours.check_zone(timezone) if timezone is not None else None
    now = env.clock.now()
    async with env.sessions() as session, session.begin():
        organization = await session.get(Organization, org_id, with_for_update=True)
        if organization is None:
            raise NotFound("organisation not found")
        start = organization.quiet_hours_start if quiet_hours_start is None else quiet_hours_start
        end = organization.quiet_hours_end if quiet_hours_end is None else quiet_hours_end
        quiet_hours.check_hours(start, end)
        changes: dict[str, Any] = {
            "remind_days_before": remind_days_before,
            "quiet_hours_start": quiet_hours_start,
            "quiet_hours_end": quiet_hours_end,
            "timezone": zone,
        }
        changed = {k: v for k, v in changes.items() if v is not None}
        for name, value in changed.items():
            setattr(organization, name, value)
        session.add(organization)
        if changed:
            await audit.record(
                session,
                org_id=org_id,
                actor=actor,
                action="organization.reminders_set",
                at=now,
                details=changed,
            )
    return organization


# -- helpers ------------------------------------------------------------------------------


async def _enqueue_fresh(
    session: AsyncSession, notes: Sequence[outbox.NewNotification], at: datetime
) -> int:
    """Queue the notes whose dedupe keys are new. Existing keys are looked up first (one
    unique-index probe each) so that a scan repeated every minute writes nothing it wrote
    before; the insert itself still skips any key another scan has just taken."""
    if not notes:
        return 0
    existing: set[str] = set()
    for chunk in _chunks([n.dedupe_key for n in notes]):
        rows = await session.exec(
            select(Notification.dedupe_key).where(col(Notification.dedupe_key).in_(chunk))
        )
        existing.update(rows.all())
    fresh = [n for n in notes if n.dedupe_key not in existing]
    return await outbox.enqueue_many(session, fresh, at=at)


async def _in_chunks(
    session: AsyncSession, table: type[T], column: Any, ids: Iterable[int | None]
) -> list[T]:
    found: list[T] = []
    for chunk in _chunks(sorted(i for i in ids if i is not None)):
        found.extend((await session.exec(select(table).where(column.in_(chunk)))).all())
    return found


def _chunks(values: Sequence[T]) -> list[Sequence[T]]:
    return [values[i : i + CHUNK] for i in range(0, len(values), CHUNK)]
