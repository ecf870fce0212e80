"""Spaces: client panels whose members all see what is shared to the space."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import col, delete, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Client, Group, GroupMember, Recipient, Share, Space, SpaceMember
from workflows import audit
from workflows.context import Actor, Env
from workflows.errors import Conflict, NotFound
from workflows.people.recipients import MembershipChange, check_moves, live_recipient
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
        assert space.id is not None
        members = [await live_recipient(session, org_id, r) for r in dict.fromkeys(member_ids)]
        for recipient in members:
            assert recipient.id is not None
            session.add(SpaceMember(space_id=space.id, recipient_id=recipient.id, org_id=org_id))
        await audit.record(
            session,
            org_id=org_id,
            actor=actor,
            action="space.created",
            at=env.clock.now(),
            details={
                "space_id": space.id,
                "name": title,
                "recipient_ids": [r.id for r in members],
            },
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
    check_moves(add, remove)
    now = env.clock.now()
    async with env.sessions() as session, session.begin():
        space = await get_scoped(
            session, Space, org_id=org_id, id=space_id, what="space", lock=True
        )
        current = {r.id: r for r in await _members(session, space_id)}
        joining = [
            await live_recipient(session, org_id, r) for r in dict.fromkeys(add) if r not in current
        ]
        leaving = []
        for recipient_id in dict.fromkeys(remove):
            if recipient_id not in current:
                raise NotFound(f"recipient {recipient_id} is not a member of {space.name}")
            leaving.append(current[recipient_id])
        for recipient in joining:
            assert recipient.id is not None
            session.add(SpaceMember(space_id=space_id, recipient_id=recipient.id, org_id=org_id))
        for recipient in leaving:
            membership = await session.get(SpaceMember, (space_id, recipient.id))
            assert membership is not None
            await session.delete(membership)
        for action, people in (("space.member_added", joining), ("space.member_removed", leaving)):
            for recipient in people:
                await audit.record(
                    session,
                    org_id=org_id,
                    actor=actor,
                    action=action,
                    at=now,
                    details=_membership_details("space", space, recipient),
                )
    return MembershipChange(added=[r.name for r in joining], removed=[r.name for r in leaving])


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
    spaces = (
        await session.exec(
            select(Space)
            .join(SpaceMember, col(SpaceMember.space_id) == Space.id)
            .where(SpaceMember.recipient_id == recipient_id, Space.org_id == org_id)
            .order_by(col(Space.name))
        )
    ).all()
    groups = (
        await session.exec(
            select(Group)
            .join(GroupMember, col(GroupMember.group_id) == Group.id)
            .where(GroupMember.recipient_id == recipient_id, Group.org_id == org_id)
            .order_by(col(Group.name))
        )
    ).all()
    return Memberships(spaces=list(spaces), groups=list(groups))


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
    added: list[str] = []
    removed: list[str] = []
    async with env.sessions() as session, session.begin():
        recipient = await live_recipient(session, org_id, recipient_id)
        before = await _memberships(session, org_id, recipient_id)
        for kind, held, wanted in (
            ("space", before.spaces, space_ids),
            ("group", before.groups, group_ids),
        ):
            if wanted is None:
                continue
            joined, left = await _move(
                session, org_id=org_id, recipient=recipient, kind=kind, held=held, wanted=wanted
            )
            for action, places in ((_JOINED[kind], joined), (_LEFT[kind], left)):
                for place in places:
                    await audit.record(
                        session,
                        org_id=org_id,
                        actor=actor,
                        action=action,
                        at=now,
                        details=_membership_details(kind, place, recipient),
                    )
            added += [p.name for p in joined]
            removed += [p.name for p in left]
    return MembershipChange(added=added, removed=removed)


_JOINED = {"space": "space.member_added", "group": "group.members_added"}
_LEFT = {"space": "space.member_removed", "group": "group.members_removed"}


async def _move(
    session: AsyncSession,
    *,
    org_id: int,
    recipient: Recipient,
    kind: str,
    held: Sequence[Space | Group],
    wanted: Sequence[int],
) -> tuple[list[Space | Group], list[Space | Group]]:
    """Join the ``kind`` places in ``wanted`` and leave the others; (joined, left)."""
    model: type[Space | Group] = Space if kind == "space" else Group
    link: type[SpaceMember | GroupMember] = SpaceMember if kind == "space" else GroupMember
    current = {place.id: place for place in held}
    ids = list(dict.fromkeys(wanted))
    joined: list[Space | Group] = [
        await get_scoped(session, model, org_id=org_id, id=i, what=kind)
        for i in ids
        if i not in current
    ]
    left = [place for i, place in current.items() if i not in ids]
    for place in joined:
        assert place.id is not None and recipient.id is not None
        session.add(_link(kind, place.id, recipient.id, org_id))
    for place in left:
        membership = await session.get(link, (place.id, recipient.id))
        if membership is not None:
            await session.delete(membership)
    return joined, left


def _link(kind: str, place_id: int, recipient_id: int, org_id: int) -> SpaceMember | GroupMember:
    if kind == "space":
        return SpaceMember(space_id=place_id, recipient_id=recipient_id, org_id=org_id)
    return GroupMember(group_id=place_id, recipient_id=recipient_id, org_id=org_id)


def _membership_details(kind: str, place: Space | Group, recipient: Recipient) -> dict[str, Any]:
    """The details each kind has always recorded for a change of members."""
    if kind == "space":
        return {
            "space_id": place.id,
            "recipient_id": recipient.id,
            "name": recipient.name,
            "space": place.name,
        }
    return {"group_id": place.id, "name": place.name, "recipient_ids": [recipient.id]}


async def _members(session: AsyncSession, space_id: int) -> Sequence[Recipient]:
    return (
        await session.exec(
            select(Recipient)
            .join(SpaceMember, col(SpaceMember.recipient_id) == Recipient.id)
            .where(SpaceMember.space_id == space_id)
            .order_by(col(Recipient.id))
        )
    ).all()
