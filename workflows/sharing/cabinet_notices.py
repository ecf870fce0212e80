"""What a notice of a shared cabinet says to its member, and which way it should travel.

Queued by `cabinet` when a document reaches a colleague or a colleague's access changes;
by the time it goes out, the news may be stale (the share revoked, the colleague blocked
again, the cabinet no longer shared), and then it is cancelled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Client, Document, Notification, Organization, Recipient, Share
from storage.rows import id_of
from workflows.context import Env
from workflows.outbox.kinds import (
    CabinetDocumentPayload,
    CabinetMemberPayload,
    Hold,
    Kind,
    Preference,
    Route,
)
from workflows.people import preferences
from workflows.people.recipients import can_receive
from workflows.sharing import inbox

KINDS = frozenset({Kind.CABINET_DOCUMENT, Kind.CABINET_JOINED, Kind.CABINET_LEFT})


@dataclass(frozen=True)
class CabinetNotice:
    """News of the recipient's shared cabinet, with everything a message needs."""

    recipient: Recipient
    """The member told."""
    organization: Organization
    kind: Kind
    colleague: Recipient
    """Who received the document, or whose access changed."""
    document: Document | None = None
    others: int = 0
    """How many more colleagues received the document in the same share."""
    share: Share | None = None
    """The share through which the member may open the document; None when they may not."""
    unsubscribe: str | None = None
    """The one-click link that turns cabinet news off by mail, on a mail."""


CabinetRoute = Route[CabinetNotice]


async def route_cabinet_notice(env: Env, notification: Notification) -> CabinetRoute:
    """Decide how news of a shared cabinet reaches its member, if it still should."""
    payload: CabinetDocumentPayload | CabinetMemberPayload
    if notification.kind == Kind.CABINET_DOCUMENT:
        payload = CabinetDocumentPayload.parse(notification)
    else:
        payload = CabinetMemberPayload.parse(notification)
    now = env.clock.now()
    async with env.reads() as session:
        member = await session.get(Recipient, int(notification.target))
        colleague = await session.get(Recipient, payload.colleague_id)
        if (
            member is None
            or colleague is None
            or member.org_id != notification.org_id
            or colleague.org_id != notification.org_id
        ):
            return CabinetRoute(Hold.CANCEL, reason="the recipient or their colleague is gone")
        client = await session.get(Client, member.client_id)
        organization = await session.get(Organization, member.org_id)
        assert organization is not None
        if client is None or not client.shared_cabinet or colleague.client_id != client.id:
            return CabinetRoute(Hold.CANCEL, reason="they no longer share a cabinet")
        document = share = None
        if isinstance(payload, CabinetDocumentPayload):
            share = await session.get(Share, payload.share_id)
            document = await session.get(Document, payload.document_id)
            if share is None or document is None or share.org_id != notification.org_id:
                return CabinetRoute(Hold.CANCEL, reason="the share no longer exists")
            if share.revoked_at is not None or (share.expires_at and share.expires_at <= now):
                return CabinetRoute(Hold.CANCEL, reason="the share ended before it was told of")
            if document.available_until is not None and document.available_until <= now:
                return CabinetRoute(Hold.CANCEL, reason="the document's availability ended")
            if not await _may_open(session, member, id_of(share)):
                share = None
    refusal = can_receive(member, now) or _stale(notification, colleague, now)
    if refusal:
        return CabinetRoute(Hold.CANCEL, reason=refusal)
    notice = CabinetNotice(
        member,
        organization,
        Kind(notification.kind),
        colleague,
        document=document,
        others=payload.others if isinstance(payload, CabinetDocumentPayload) else 0,
        share=share,
    )
    choice = preferences.way_for(member, Preference.CABINET)
    return CabinetRoute(choice.way, notice, reason=choice.reason)


def _stale(notification: Notification, colleague: Recipient, now: datetime) -> str | None:
    """Why news of the colleague's access no longer holds: changed back meanwhile."""
    has_access = can_receive(colleague, now) is None
    if notification.kind == Kind.CABINET_JOINED and not has_access:
        return f"{colleague.name} no longer has access"
    if notification.kind == Kind.CABINET_LEFT and has_access:
        return f"{colleague.name} has access again"
    return None


async def _may_open(session: AsyncSession, member: Recipient, share_id: int) -> bool:
    """Whether the member may open the share from their chat or portal, as a colleague of
    its recipient in the cabinet (a space's share only to the space's members)."""
    found = await session.exec(
        select(Share.id).where(Share.id == share_id, inbox.visible_to(member, True))  # type: ignore[arg-type]
    )
    return found.first() is not None
