"""What an outbox row for a recipient says, and which way it should travel."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storage.models import Document, Notification, Organization, Recipient, Share, StaffUser
from storage.rows import id_of
from workflows.context import Env
from workflows.outbox.kinds import (
    AccessPayload,
    AvailabilityPayload,
    Hold,
    Kind,
    Preference,
    Route,
    SharePayload,
)
from workflows.people import preferences
from workflows.people.recipients import can_receive
from workflows.sharing import availability

PREFERENCES = {
    Kind.DOCUMENT_SHARED: Preference.SHARED,
    Kind.AVAILABILITY_ENDING: Preference.REMINDER,
}
"""The kinds that are about one share (the share itself, and the reminder before its
document stops being available), each with the setting that turns it off in a chat."""
KINDS = frozenset(PREFERENCES)


@dataclass(frozen=True)
class ShareNotice:
    """'A document was shared with you', with everything a message needs."""

    recipient: Recipient
    organization: Organization
    document: Document
    share: Share
    shared_by: str | None
    kind: Kind = Kind.DOCUMENT_SHARED
    unsubscribe: str | None = None
    """The one-click link that turns this kind off by mail, on a mail."""

    @property
    def available_until(self) -> datetime | None:
        ends = [d for d in (self.document.available_until, self.share.expires_at) if d]
        return min(ends) if ends else None


ShareRoute = Route[ShareNotice]


async def route_share_notice(env: Env, notification: Notification) -> ShareRoute:
    """Decide how a 'document shared' notification (or the reminder before its document
    stops being available) reaches its recipient, if at all."""
    payload: SharePayload | AvailabilityPayload
    if notification.kind == Kind.AVAILABILITY_ENDING:
        payload = AvailabilityPayload.parse(notification)
    else:
        payload = SharePayload.parse(notification)
    now = env.clock.now()
    async with env.reads() as session:
        recipient = await session.get(Recipient, int(notification.target))
        share = await session.get(Share, payload.share_id)
        if recipient is None or share is None or recipient.org_id != notification.org_id:
            return ShareRoute(Hold.CANCEL, reason="the recipient or share no longer exists")
        document = await session.get(Document, share.document_id)
        organization = await session.get(Organization, share.org_id)
        staff = (
            await session.get(StaffUser, share.created_by_staff_id)
            if share.created_by_staff_id
            else None
        )
    assert document is not None and organization is not None
    refusal = can_receive(recipient, now)
    if refusal:
        return ShareRoute(Hold.CANCEL, reason=refusal)
    if share.revoked_at is not None or (share.expires_at and share.expires_at <= now):
        return ShareRoute(Hold.CANCEL, reason="the share ended before it was delivered")
    if document.available_until is not None and document.available_until <= now:
        return ShareRoute(Hold.CANCEL, reason="the document's availability ended before delivery")
    if isinstance(payload, AvailabilityPayload):
        stale = await _stale_reminder(env, payload, document, recipient)
        if stale:
            return ShareRoute(Hold.CANCEL, reason=stale)
    notice = ShareNotice(
        recipient,
        organization,
        document,
        share,
        staff.name if staff else None,
        kind=payload.kind,
    )
    choice = preferences.way_for(recipient, PREFERENCES[payload.kind])
    return ShareRoute(choice.way, notice, reason=choice.reason)


async def _stale_reminder(
    env: Env, payload: AvailabilityPayload, document: Document, recipient: Recipient
) -> str | None:
    """Why a reminder before a document stops being available is no longer needed."""
    if document.available_until is None or payload.available_until != document.available_until:
        return "the document's availability changed since the reminder was queued"
    async with env.reads() as session:
        seen = await availability.has_seen(
            session,
            org_id=document.org_id,
            document_id=id_of(document),
            recipient_id=id_of(recipient),
        )
    return "the recipient has opened the document meanwhile" if seen else None


@dataclass(frozen=True)
class AccessNotice:
    """'Your access to this organisation's documents ends soon.'"""

    recipient: Recipient
    organization: Organization
    expires_at: datetime
    unsubscribe: str | None = None
    """The one-click link that turns reminders off by mail, on a mail."""


AccessRoute = Route[AccessNotice]


async def route_access_notice(env: Env, notification: Notification) -> AccessRoute:
    """Decide how 'your access ends soon' reaches its recipient, if it still should."""
    payload = AccessPayload.parse(notification)
    now = env.clock.now()
    async with env.reads() as session:
        recipient = await session.get(Recipient, int(notification.target))
        if recipient is None or recipient.org_id != notification.org_id:
            return AccessRoute(Hold.CANCEL, reason="the recipient no longer exists")
        organization = await session.get(Organization, recipient.org_id)
    assert organization is not None
    refusal = can_receive(recipient, now)
    if refusal:
        return AccessRoute(Hold.CANCEL, reason=refusal)
    ends = recipient.access_expires_at
    if ends is None or ends != payload.access_expires_at:
        return AccessRoute(Hold.CANCEL, reason="the recipient's access was changed meanwhile")
    notice = AccessNotice(recipient, organization, ends)
    choice = preferences.way_for(recipient, Preference.REMINDER)
    return AccessRoute(choice.way, notice, reason=choice.reason)
