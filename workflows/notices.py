"""What an outbox row for a recipient says, and which way it should travel."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storage.models import Document, Notification, Organization, Recipient, Share, StaffUser
from workflows.context import Env
from workflows.inbox import wants
from workflows.recipients import can_receive


@dataclass(frozen=True)
class ShareNotice:
    """'A document was shared with you', with everything a message needs."""

    recipient: Recipient
    organization: Organization
    document: Document
    share: Share
    shared_by: str | None

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
    notice = ShareNotice(recipient, organization, document, share, staff.name if staff else None)
    if recipient.telegram_chat_id is not None and recipient.telegram_active:
        if not wants(recipient, notification.kind):
            return Route("cancel", notice, reason="the recipient turned these notifications off")
        return Route("telegram", notice)
    if recipient.email:
        return Route("email", notice)
    return Route("wait", notice, reason="the recipient has no linked chat and no email address")
