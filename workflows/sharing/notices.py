"""What an outbox row for a recipient says, and which way it should travel."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storage.models import Document, Notification, Organization, Recipient, Share, StaffUser
from workflows import scans
from workflows.context import Env
from workflows.people.recipients import can_receive
from workflows.sharing.inbox import wants

SHARED = "document.shared"
KINDS = (SHARED, scans.AVAILABILITY)
"""The kinds that are about one share: the share itself, and the reminder before its
document stops being available."""
PREFERENCES = {SHARED: SHARED, scans.AVAILABILITY: "reminder"}


@dataclass(frozen=True)
class ShareNotice:
    """'A document was shared with you', with everything a message needs."""

    recipient: Recipient
    organization: Organization
    document: Document
    share: Share
    shared_by: str | None
    kind: str = SHARED

    @property
    def available_until(self) -> datetime | None:
        ends = [d for d in (self.document.available_until, self.share.expires_at) if d]
        return min(ends) if ends else None


@dataclass(frozen=True)
class Route:
    """``telegram``, ``email``, ``wait`` (no channel yet) or ``cancel`` (not to be sent)."""

    way: str
    notice: ShareNotice | None = None
    reason: str | None = None


async def route_share_notice(env: Env, notification: Notification) -> Route:
    """Decide how a 'document shared' notification reaches its recipient, if at all."""
    now = env.clock.now()
    async with env.reads() as session:
        recipient = await session.get(Recipient, int(notification.target))
        share = await session.get(Share, int(notification.payload.get("share_id", 0)))
        if recipient is None or share is None or recipient.org_id != notification.org_id:
            return Route("cancel", reason="the recipient or share no longer exists")
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
        return Route("cancel", reason=refusal)
    if share.revoked_at is not None or (share.expires_at and share.expires_at <= now):
        return Route("cancel", reason="the share ended before it was delivered")
    if document.available_until is not None and document.available_until <= now:
        return Route("cancel", reason="the document's availability ended before delivery")
    if notification.kind == scans.AVAILABILITY:
        stale = await _stale_reminder(env, notification, document, recipient)
        if stale:
            return Route("cancel", reason=stale)
    notice = ShareNotice(
        recipient,
        organization,
        document,
        share,
        staff.name if staff else None,
        kind=notification.kind,
    )
    if recipient.telegram_chat_id is not None and recipient.telegram_active:
        if not wants(recipient, PREFERENCES.get(notification.kind, notification.kind)):
            return Route("cancel", notice, reason="the recipient turned these notifications off")
        return Route("telegram", notice)
    if recipient.email:
        return Route("email", notice)
    return Route("wait", notice, reason="the recipient has no linked chat and no email address")


async def _stale_reminder(
    env: Env, notification: Notification, document: Document, recipient: Recipient
) -> str | None:
    """Why a reminder before a document stops being available is no longer needed."""
    until = notification.payload.get("available_until")
    if document.available_until is None or until != document.available_until.isoformat():
        return "the document's availability changed since the reminder was queued"
    assert document.id is not None and recipient.id is not None
    async with env.reads() as session:
        seen = await scans.has_seen(
            session, org_id=document.org_id, document_id=document.id, recipient_id=recipient.id
        )
    return "the recipient has opened the document meanwhile" if seen else None


@dataclass(frozen=True)
class AccessNotice:
    """'Your access to this organisation's documents ends soon.'"""

    recipient: Recipient
    organization: Organization
    expires_at: datetime


@dataclass(frozen=True)
class AccessRoute:
    """``telegram``, ``email``, ``wait`` or ``cancel``, like `Route`."""

    way: str
    notice: AccessNotice | None = None
    reason: str | None = None


async def route_access_notice(env: Env, notification: Notification) -> AccessRoute:
    """Decide how 'your access ends soon' reaches its recipient, if it still should."""
    now = env.clock.now()
    async with env.reads() as session:
        recipient = await session.get(Recipient, int(notification.target))
        if recipient is None or recipient.org_id != notification.org_id:
            return AccessRoute("cancel", reason="the recipient no longer exists")
        organization = await session.get(Organization, recipient.org_id)
    assert organization is not None
    refusal = can_receive(recipient, now)
    if refusal:
        return AccessRoute("cancel", reason=refusal)
    ends = recipient.access_expires_at
    if ends is None or ends.isoformat() != notification.payload.get("access_expires_at"):
        return AccessRoute("cancel", reason="the recipient's access was changed meanwhile")
    notice = AccessNotice(recipient, organization, ends)
    chat = recipient.telegram_chat_id is not None and recipient.telegram_active
    if chat and wants(recipient, "reminder"):
        return AccessRoute("telegram", notice)
    if recipient.email:
        return AccessRoute("email", notice)
    if chat:
        return AccessRoute("cancel", notice, reason="the recipient turned reminders off")
    return AccessRoute(
        "wait", notice, reason="the recipient has no linked chat and no email address"
    )
