"""Spaces: client panels whose members all see what is shared to the space."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, delete, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Client, Recipient, Share, Space, SpaceMember
from workflows import audit
from workflows.context import Actor, Env
from workflows.errors import Conflict, NotFound
from workflows.recipients import live_recipient
from workflows.scope import clean_text, get_scoped


@dataclass(frozen=True)
class SpaceSummary:
    space: Space
    members: int


@dataclass(frozen=True)
class SpaceDeletion:
    revoked_shares: int
    removed_recipients: list[str]


async def create_space(
    env: Env, *, org_id: int, actor: Actor, name: str, client_id: int | None = None
) -> Space:
    title = clean_text(name, what="space name", max_len=200)
    assert title is not None
    async with env.sessions() as session, session.begin():
        if client_id is not None:
            await get_scoped(session, Client, org_id=org_id, id=client_id, what="client")
        exists = await session.exec(
            select(Space).where(Space.org_id == org_id, func.lower(Space.name) == title.lower())
        )
        if exists.first():
            raise Conflict(f"a space named '{title}' already exists")
        space = Space(org_id=org_id, name=title, client_id=client_id, created_at=env.clock.now())
        session.add(space)
        await session.flush()
        await audit.record(
            session,
            org_id=org_id,
            actor=actor,
            action="space.created",
            at=env.clock.now(),
            details={"space_id": space.id, "name": title},
        )
    return space


async def add_space_member(
    env: Env, *, org_id: int, actor: Actor, space_id: int, recipient_id: int
) -> None:
    async with env.sessions() as session, session.begin():
        space = await get_scoped(session, Space, org_id=org_id, id=space_id, what="space")
        recipient = await live_recipient(session, org_id, recipient_id)
        if await session.get(SpaceMember, (space_id, recipient_id)) is not None:
            raise Conflict(f"{recipient.name} is already a member of {space.name}")
        session.add(SpaceMember(space_id=space_id, recipient_id=recipient_id, org_id=org_id))
        await audit.record(
            session,
            org_id=org_id,
            actor=actor,
            action="space.member_added",
            at=env.clock.now(),
            details={"space_id": space_id, "recipient_id": recipient_id, "name": recipient.name},
        )


async def remove_space_member(
    env: Env, *, org_id: int, actor: Actor, space_id: int, recipient_id: int
) -> None:
    async with env.sessions() as session, session.begin():
        space = await get_scoped(session, Space, org_id=org_id, id=space_id, what="space")
        membership = await session.get(SpaceMember, (space_id, recipient_id))
        if membership is None:
            raise NotFound(f"recipient {recipient_id} is not a member of {space.name}")
        await session.delete(membership)
        await audit.record(
            session,
            org_id=org_id,
            actor=actor,
            action="space.member_removed",
            at=env.clock.now(),
            details={"space_id": space_id, "recipient_id": recipient_id},
        )


async def delete_space(env: Env, *, org_id: int, actor: Actor, space_id: int) -> SpaceDeletion:
    """Revoke the space's shares and remove recipients who belonged to no other space.

    No document is deleted; removed recipients keep their history but can open nothing.
    """
    now = env.clock.now()
    async with env.sessions() as session, session.begin():
        space = await get_scoped(
            session, Space, org_id=org_id, id=space_id, what="space", lock=True
        )
        shares = (
            await session.exec(
                select(Share).where(
                    Share.org_id == org_id,
                    Share.space_id == space_id,
                    col(Share.revoked_at).is_(None),
                )
            )
        ).all()
        for share in shares:
            share.revoked_at = now
            share.space_id = None
            session.add(share)
        members = (
            await session.exec(select(SpaceMember).where(SpaceMember.space_id == space_id))
        ).all()
        removed: list[str] = []
        for membership in members:
            others = await session.exec(
                select(func.count())
                .select_from(SpaceMember)
                .where(
                    SpaceMember.recipient_id == membership.recipient_id,
                    SpaceMember.space_id != space_id,
                )
            )
            if others.one() == 0:
                recipient = await session.get(Recipient, membership.recipient_id)
                assert recipient is not None
                recipient.status = "deleted"
                session.add(recipient)
                removed.append(recipient.name)
                await _revoke_recipient_shares(session, org_id, recipient.id, now)
        # Revoked space shares keep their rows (history points at them) but lose the space.
        await session.exec(delete(SpaceMember).where(col(SpaceMember.space_id) == space_id))
        await session.flush()
        await session.delete(space)
        await audit.record(
            session,
            org_id=org_id,
            actor=actor,
            action="space.deleted",
            at=now,
            details={
                "space_id": space_id,
                "name": space.name,
                "revoked_shares": len(shares),
                "removed_recipients": removed,
            },
        )
    return SpaceDeletion(revoked_shares=len(shares), removed_recipients=removed)


async def _revoke_recipient_shares(
    session: AsyncSession, org_id: int, recipient_id: int | None, now: datetime
) -> None:
    shares = (
        await session.exec(
            select(Share).where(
                Share.org_id == org_id,
                Share.recipient_id == recipient_id,
                col(Share.revoked_at).is_(None),
            )
        )
    ).all()
    for share in shares:
        share.revoked_at = now
        session.add(share)


async def list_spaces(env: Env, *, org_id: int) -> list[SpaceSummary]:
    async with env.sessions() as session:
        rows = (
            await session.exec(
                select(Space, func.count(col(SpaceMember.recipient_id)))
                .join(SpaceMember, col(SpaceMember.space_id) == Space.id, isouter=True)
                .where(Space.org_id == org_id)
                .group_by(col(Space.id))
                .order_by(col(Space.id))
            )
        ).all()
    return [SpaceSummary(space, count) for space, count in rows]


async def space_members(env: Env, *, org_id: int, space_id: int) -> Sequence[Recipient]:
    async with env.sessions() as session:
        await get_scoped(session, Space, org_id=org_id, id=space_id, what="space")
        return (
            await session.exec(
                select(Recipient)
                .join(SpaceMember, col(SpaceMember.recipient_id) == Recipient.id)
                .where(SpaceMember.space_id == space_id)
                .order_by(col(Recipient.id))
            )
        ).all()
