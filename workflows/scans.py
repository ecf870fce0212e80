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
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import func
from sqlmodel import col, select

from storage.models import (
    Notification,
    Organization,
    Recipient,
    Share,
)
from storage.rows import id_of, rows_in
from workflows import audit, outbox, platform, quiet_hours
from workflows.context import Actor, Env
from workflows.errors import InvalidInput, NotFound
from workflows.outbox.kinds import (
    AccessPayload,
    Channel,
    DeadSummaryPayload,
    Kind,
    LinkUnusedPayload,
    Status,
)
from workflows.sharing import availability, ranges, staff_notices
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
    report.availability, report.availability_staff = await availability.scan_availability(
        env, at=at
    )
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
        return await outbox.enqueue_fresh(session, notes, at)


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
            for o in await rows_in(
                session, Organization, col(Organization.id), {p.org_id for p in people}
            )
        }
        to_people, to_staff = [], []
        for person in people:
            assert person.access_expires_at is not None
            person_id = id_of(person)
            ends = person.access_expires_at
            key = f"access-ending:{person_id}:{outbox.stamp(ends)}"
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
            await outbox.enqueue_fresh(session, to_people, at),
            await outbox.enqueue_fresh(session, to_staff, at),
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
        orgs = await rows_in(session, Organization, col(Organization.id), set(by_org))
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
        return await outbox.enqueue_fresh(session, notes, at)


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
