"""Public links: whoever holds the token may view and download, within the link's limits."""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Share
from workflows import audit
from workflows.context import Actor, Env
from workflows.errors import Conflict, InvalidInput
from workflows.scope import get_scoped
from workflows.sharing.sharing import NewShare, ShareResult, ShareTerms, sharing, write


async def create_link(
    env: Env,
    *,
    org_id: int,
    actor: Actor,
    document_id: int,
    terms: ShareTerms | None = None,
    max_downloads: int | None = None,
    notify_unused: bool = False,
) -> ShareResult:
    """A new link to the document. With ``notify_unused`` its creator is told if it
    expires never opened nor downloaded."""
    if max_downloads is not None and max_downloads < 1:
        raise InvalidInput("the download limit must be at least 1")
    if notify_unused and (terms is None or terms.expires_at is None):
        raise InvalidInput("a link that never expires cannot expire unused: give it an expiry")
    async with sharing(
        env, org_id=org_id, actor=actor, document_id=document_id, terms=terms
    ) as made:
        [link] = await write(
            made,
            [
                NewShare(
                    kind="link",
                    action="link.created",
                    details={"max_downloads": max_downloads, "notify_unused": notify_unused},
                    extra={"max_downloads": max_downloads, "notify_unused_expiry": notify_unused},
                )
            ],
        )
    return link


async def watch_unused(
    env: Env, *, org_id: int, actor: Actor, share_id: int, staff_id: int | None
) -> Share:
    """Ask to be told if a link expires never opened nor downloaded; the one asking
    becomes whom the notice is for when the link has no creator on record."""
    now = env.clock.now()
    async with env.sessions() as session, session.begin():
        share = await _live_link(session, org_id=org_id, share_id=share_id, now=now)
        if share.notify_unused_expiry:
            return share
        share.notify_unused_expiry = True
        if share.created_by_staff_id is None:
            share.created_by_staff_id = staff_id
        session.add(share)
        await audit.record(
            session,
            org_id=org_id,
            actor=actor,
            action="link.watched",
            at=now,
            document_id=share.document_id,
            share_id=share.id,
            details={"notify_unused_expiry": True},
        )
    return share


async def _live_link(session: AsyncSession, *, org_id: int, share_id: int, now: datetime) -> Share:
    share = await get_scoped(session, Share, org_id=org_id, id=share_id, what="share", lock=True)
    if share.kind != "link":
        raise InvalidInput(f"share {share_id} is not a link")
    if share.revoked_at is not None:
        raise Conflict(f"link {share_id} was revoked")
    if share.expires_at is None:
        raise InvalidInput("a link that never expires cannot expire unused")
    if share.expires_at <= now:
        raise Conflict(f"link {share_id} has expired already")
    return share
