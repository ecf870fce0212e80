"""Spaces: client panels whose members all see what is shared to the space."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, delete, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Client, Group, Recipient, Share, Space, SpaceMember
from storage.rows import id_of
from workflows import audit
from workflows.context import Actor, Env
from workflows.errors import Conflict, InvalidInput, NotFound
from workflows.people import membership
from workflows.people.membership import (
    GROUPS,
    SPACES,
    Kind,
    MembershipChange,
    Place,
    live_recipient,
)
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
    env: Env,
    *,
    org_id: int,
    actor: Actor,
    name: str,
    client_id: int | None = None,
    member_ids: Sequence[int] = (),
) -> Space:
    """A new space, with its first members in the same transaction."""
    title = clean_text(name, what="space name", max_len=200)
    assert title is not None
    if client_id is None and env.wall is not None:
        raise InvalidInput("name the client the space is for: you work only with named clients")
    now = env.clock.now()
    async with env.sessions() as session, session.begin():
        if client_id is not None:
            await get_scoped(session, Client, org_id=org_id, id=client_id, what="client")
        space = Space(org_id=org_id, name=title, client_id=client_id, created_at=now)
        return await membership.create(
            session, SPACES, place=space, actor=actor, member_ids=member_ids, at=now
        )


async def add_space_member(
    env: Env, *, org_id: int, actor: Actor, space_id: int, recipient_id: int
) -> None:
    async with env.sessions() as session, session.begin():
        space = await get_scoped(session, Space, org_id=org_id, id=space_id, what="space")
        joined, already = await membership.join(
            session, SPACES, place=space, recipient_ids=[recipient_id]
        )
        if already:
            raise Conflict(f"{already[0].name} is already a member of {space.name}")
        await audit.record(
            session,
            org_id=org_id,
            actor=actor,
            action=SPACES.joined,
            at=env.clock.now(),
            details={"space_id": space_id, "recipient_id": recipient_id, "name": joined[0].name},
        )


async def remove_space_member(
    env: Env, *, org_id: int, actor: Actor, space_id: int, recipient_id: int
) -> None:
    async with env.sessions() as session, session.begin():
        space = await get_scoped(session, Space, org_id=org_id, id=space_id, what="space")
        if not await membership.leave(
            session, SPACES, place_id=space_id, recipient_id=recipient_id
        ):
            raise NotFound(f"recipient {recipient_id} is not a member of {space.name}")
        await audit.record(
            session,
            org_id=org_id,
            actor=actor,
            action=SPACES.left,
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
        for link in members:
            others = await session.exec(
                select(func.count())
                .select_from(SpaceMember)
                .where(
                    SpaceMember.recipient_id == link.recipient_id,
                    SpaceMember.space_id != space_id,
                )
            )
            if others.one() == 0:
                recipient = await session.get(Recipient, link.recipient_id)
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
    found = await membership.counted(env, SPACES, org_id=org_id)
    return [SpaceSummary(space, count) for space, count in found]


async def space_members(env: Env, *, org_id: int, space_id: int) -> Sequence[Recipient]:
    return await membership.list_members(env, SPACES, org_id=org_id, place_id=space_id)


async def change_space_members(
    env: Env,
    *,
    org_id: int,
    actor: Actor,
    space_id: int,
    add: Sequence[int] = (),
    remove: Sequence[int] = (),
) -> MembershipChange:
    """Add and remove members of a space in one transaction; adding a member is a no-op.

    Leaving a space only ends what the space showed; the person stays a recipient.
    """
    return await membership.change_members(
        env, SPACES, org_id=org_id, actor=actor, place_id=space_id, add=add, remove=remove
    )


@dataclass(frozen=True)
class Memberships:
    """The spaces and groups one recipient belongs to."""

    spaces: list[Space]
    groups: list[Group]


async def memberships_of(env: Env, *, org_id: int, recipient_id: int) -> Memberships:
    async with env.reads() as session:
        await get_scoped(session, Recipient, org_id=org_id, id=recipient_id, what="recipient")
        return await _memberships(session, org_id, recipient_id)


async def _memberships(session: AsyncSession, org_id: int, recipient_id: int) -> Memberships:
    return Memberships(
        spaces=await membership.sets_of(session, SPACES, org_id=org_id, recipient_id=recipient_id),
        groups=await membership.sets_of(session, GROUPS, org_id=org_id, recipient_id=recipient_id),
    )


async def set_memberships(
    env: Env,
    *,
    org_id: int,
    actor: Actor,
    recipient_id: int,
    space_ids: Sequence[int] | None,
    group_ids: Sequence[int] | None,
) -> MembershipChange:
    """Put one recipient in exactly these spaces and groups, in one transaction; None
    leaves that kind as it is. Returns the names of the spaces and groups joined and left."""
    now = env.clock.now()
    moves: list[MembershipChange] = []
    async with env.sessions() as session, session.begin():
        recipient = await live_recipient(session, org_id, recipient_id)
        before = await _memberships(session, org_id, recipient_id)
        if space_ids is not None:
            moves.append(
                await _move(
                    session,
                    SPACES,
                    recipient=recipient,
                    held=before.spaces,
                    wanted=space_ids,
                    actor=actor,
                    at=now,
                )
            )
        if group_ids is not None:
            moves.append(
                await _move(
                    session,
                    GROUPS,
                    recipient=recipient,
                    held=before.groups,
                    wanted=group_ids,
                    actor=actor,
                    at=now,
                )
            )
    return MembershipChange(
        added=[name for move in moves for name in move.added],
        removed=[name for move in moves for name in move.removed],
    )


async def _move(
    session: AsyncSession,
    kind: Kind[Place],
    *,
    recipient: Recipient,
    held: Sequence[Place],
    wanted: Sequence[int],
    actor: Actor,
    at: datetime,
) -> MembershipChange:
    """Join the sets of ``kind`` in ``wanted`` and leave the others, with their history."""
    recipient_id = id_of(recipient)
    current = {place.id: place for place in held}
    ids = list(dict.fromkeys(wanted))
    joined = [
        await get_scoped(session, kind.model, org_id=recipient.org_id, id=i, what=kind.what)
        for i in ids
        if i not in current
    ]
    left = [place for i, place in current.items() if i not in ids]
    for place in joined:
        session.add(kind.link_row(place, recipient_id))
    for place in left:
        await membership.leave(session, kind, place_id=id_of(place), recipient_id=recipient_id)
    for action, places in ((kind.joined, joined), (kind.left, left)):
        for place in places:
            await membership.record(
                session, kind, place=place, action=action, people=[recipient], actor=actor, at=at
            )
    return MembershipChange(added=[p.name for p in joined], removed=[p.name for p in left])
