"""Groups: named sets of recipients, for sharing with many at once. A group only addresses
people; what is shared through it belongs to each recipient."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel import col, delete, update

from storage.models import Group, GroupMember, Recipient, Share
from workflows import audit
from workflows.context import Actor, Env
from workflows.errors import InvalidInput
from workflows.people import membership
from workflows.people.membership import GROUPS, MembershipChange
from workflows.scope import clean_text, get_scoped


@dataclass(frozen=True)
class GroupSummary:
    group: Group
    members: int


async def create_group(
    env: Env, *, org_id: int, actor: Actor, name: str, member_ids: Sequence[int] = ()
) -> Group:
    """A new group, with its first members in the same transaction."""
    title = clean_text(name, what="group name", max_len=200)
    assert title is not None
    now = env.clock.now()
    async with env.sessions() as session, session.begin():
        group = Group(org_id=org_id, name=title, created_at=now)
        return await membership.create(
            session, GROUPS, place=group, actor=actor, member_ids=member_ids, at=now
        )


async def add_to_group(
    env: Env, *, org_id: int, actor: Actor, group_id: int, recipient_ids: Sequence[int]
) -> int:
    """Add recipients to a group; returns how many were new members."""
    if not recipient_ids:
        raise InvalidInput("name at least one recipient")
    async with env.sessions() as session, session.begin():
        group = await get_scoped(session, Group, org_id=org_id, id=group_id, what="group")
        joined, _ = await membership.join(session, GROUPS, place=group, recipient_ids=recipient_ids)
        await audit.record(
            session,
            org_id=org_id,
            actor=actor,
            action=GROUPS.joined,
            at=env.clock.now(),
            details={
                "group_id": group_id,
                "name": group.name,
                "recipient_ids": list(recipient_ids),
            },
        )
    return len(joined)


async def list_groups(env: Env, *, org_id: int) -> list[GroupSummary]:
    found = await membership.counted(env, GROUPS, org_id=org_id)
    return [GroupSummary(group, count) for group, count in found]


async def list_group_members(env: Env, *, org_id: int, group_id: int) -> Sequence[Recipient]:
    return await membership.list_members(env, GROUPS, org_id=org_id, place_id=group_id)


async def change_group_members(
    env: Env,
    *,
    org_id: int,
    actor: Actor,
    group_id: int,
    add: Sequence[int] = (),
    remove: Sequence[int] = (),
) -> MembershipChange:
    """Add and remove members of a group in one transaction; adding a member is a no-op."""
    return await membership.change_members(
        env, GROUPS, org_id=org_id, actor=actor, place_id=group_id, add=add, remove=remove
    )


async def delete_group(env: Env, *, org_id: int, actor: Actor, group_id: int) -> Group:
    """Delete the group. What was shared through it stays shared with each recipient, since
    a group only addresses people; those shares just stop naming the group."""
    async with env.sessions() as session, session.begin():
        group = await get_scoped(
            session, Group, org_id=org_id, id=group_id, what="group", lock=True
        )
        await session.exec(
            update(Share)
            .where(col(Share.org_id) == org_id, col(Share.group_id) == group_id)
            .values(group_id=None)
        )
        await session.exec(delete(GroupMember).where(col(GroupMember.group_id) == group_id))
        await session.flush()
        await session.delete(group)
        await audit.record(
            session,
            org_id=org_id,
            actor=actor,
            action="group.deleted",
            at=env.clock.now(),
            details={"group_id": group_id, "name": group.name},
        )
    return group
