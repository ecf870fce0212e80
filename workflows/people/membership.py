"""Named sets of recipients, and who is in them.

Groups (for sharing with many at once) and spaces (client panels) are both a named set
whose members are recipients; making one, adding and removing members with their checks and
history, and listing them work the same for both. What differs is a `Kind`. What only one
of them does stays in its own module: a group's bulk add in `groups`, a space's client,
shares and deletion in `spaces`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, NamedTuple, TypeVar

from sqlalchemy import select as sa_select
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Group, GroupMember, Recipient, Space, SpaceMember
from storage.rows import id_of
from storage.walls import EVERY_CLIENT
from workflows import audit
from workflows.context import Actor, Env
from workflows.errors import Conflict, InvalidInput, NotFound
from workflows.scope import get_scoped

Place = TypeVar("Place", Group, Space)
RECIPIENTS = Recipient.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Kind(Generic[Place]):
    """What tells groups and spaces apart where their members are kept."""

    what: str
    """How messages name one: "group", "space"."""
    model: type[Place]
    link: type[GroupMember] | type[SpaceMember]
    key: str
    """The link's column naming the set, and the key that names it in the history."""
    created: str
    joined: str
    left: str
    events: Callable[[Place, Sequence[Recipient]], list[dict[str, Any]]]
    """The details of the history events for these people joining or leaving."""

    def link_row(self, place: Place, recipient_id: int) -> GroupMember | SpaceMember:
        """The row that makes the recipient a member of ``place``."""
        fields = {self.key: id_of(place), "recipient_id": recipient_id, "org_id": place.org_id}
        return self.link(**fields)

    @property
    def place_column(self) -> Any:
        return col(getattr(self.link, self.key))


def _group_events(group: Group, people: Sequence[Recipient]) -> list[dict[str, Any]]:
    """A group records one event for everyone who joined (or left) at once."""
    return [{"group_id": group.id, "name": group.name, "recipient_ids": [r.id for r in people]}]


def _space_events(space: Space, people: Sequence[Recipient]) -> list[dict[str, Any]]:
    """A space records one event a person, naming both."""
    return [
        {"space_id": space.id, "recipient_id": r.id, "name": r.name, "space": space.name}
        for r in people
    ]


GROUPS = Kind(
    what="group",
    model=Group,
    link=GroupMember,
    key="group_id",
    created="group.created",
    joined="group.members_added",
    left="group.members_removed",
    events=_group_events,
)
SPACES = Kind(
    what="space",
    model=Space,
    link=SpaceMember,
    key="space_id",
    created="space.created",
    joined="space.member_added",
    left="space.member_removed",
    events=_space_events,
)


@dataclass(frozen=True)
class MembershipChange:
    """Who joined and who left (names), after setting the members of a space or group."""

    added: list[str]
    removed: list[str]


def check_moves(add: Sequence[int], remove: Sequence[int]) -> None:
    """Refuse a change of members that names nobody, or adds and removes the same person."""
    if not add and not remove:
        raise InvalidInput("choose someone to add or remove")
    if set(add) & set(remove):
        raise InvalidInput("the same person cannot be added and removed at once")


async def live_recipient(session: AsyncSession, org_id: int, recipient_id: int) -> Recipient:
    """The recipient, locked, unless removed: who may join a set or have their details
    changed."""
    recipient = await get_scoped(
        session, Recipient, org_id=org_id, id=recipient_id, what="recipient", lock=True
    )
    if recipient.status == "deleted":
        raise Conflict(f"recipient {recipient.name} was removed")
    return recipient


async def create(
    session: AsyncSession,
    kind: Kind[Place],
    *,
    place: Place,
    actor: Actor,
    member_ids: Sequence[int],
    at: datetime,
) -> Place:
    """Store ``place`` with its first members, in the caller's transaction; a name the
    organisation already uses (in any case) is refused."""
    model, org_id = kind.model, place.org_id
    exists = await session.exec(
        select(model)
        .where(model.org_id == org_id, func.lower(model.name) == place.name.lower())
        .execution_options(**EVERY_CLIENT)
    )
    if exists.first():
        raise Conflict(f"a {kind.what} named '{place.name}' already exists")
    session.add(place)
    await session.flush()
    members = [await live_recipient(session, org_id, r) for r in dict.fromkeys(member_ids)]
    for recipient in members:
        session.add(kind.link_row(place, id_of(recipient)))
    await audit.record(
        session,
        org_id=org_id,
        actor=actor,
        action=kind.created,
        at=at,
        details={kind.key: place.id, "name": place.name, "recipient_ids": [r.id for r in members]},
    )
    return place


async def counted(env: Env, kind: Kind[Place], *, org_id: int) -> list[tuple[Place, int]]:
    """The organisation's sets of this kind, oldest first, each with how many are in it."""
    model = kind.model
    async with env.sessions() as session:
        rows = await session.exec(
            select(model, func.count(col(kind.link.recipient_id)))
            .join(kind.link, kind.place_column == model.id, isouter=True)
            .where(model.org_id == org_id)
            .group_by(col(model.id))
            .order_by(col(model.id))
        )
        return [(place, count) for place, count in rows.all()]


async def members(
    session: AsyncSession, kind: Kind[Place], *, org_id: int, place_id: int
) -> Sequence[Recipient]:
    return (
        await session.exec(
            select(Recipient)
            .join(kind.link, col(kind.link.recipient_id) == Recipient.id)
            .where(kind.place_column == place_id, Recipient.org_id == org_id)
            .order_by(col(Recipient.id))
        )
    ).all()


class MemberRow(NamedTuple):
    """A member as a plain row of what sharing needs: a group may hold thousands, and full
    models would cost most of the time of sharing with them."""

    id: int
    name: str
    status: str
    access_expires_at: datetime | None
    client_id: int


async def member_rows(
    session: AsyncSession, kind: Kind[Place], *, org_id: int, place_id: int
) -> list[MemberRow]:
    people = RECIPIENTS.c
    query = (
        sa_select(people.id, people.name, people.status, people.access_expires_at, people.client_id)
        .join(kind.link, col(kind.link.recipient_id) == people.id)
        .where(kind.place_column == place_id, people.org_id == org_id)
        .order_by(people.id)
    )
    rows = await (await session.connection()).execute(query)
    return [MemberRow(*row) for row in rows.all()]


async def list_members(
    env: Env, kind: Kind[Place], *, org_id: int, place_id: int
) -> Sequence[Recipient]:
    async with env.reads() as session:
        await get_scoped(session, kind.model, org_id=org_id, id=place_id, what=kind.what)
        return await members(session, kind, org_id=org_id, place_id=place_id)


async def join(
    session: AsyncSession, kind: Kind[Place], *, place: Place, recipient_ids: Sequence[int]
) -> tuple[list[Recipient], list[Recipient]]:
    """Make each recipient a member unless they are one: (who joined, who already was).
    Every one of them must be a live recipient of the organisation."""
    joined: list[Recipient] = []
    already: list[Recipient] = []
    for recipient_id in dict.fromkeys(recipient_ids):
        recipient = await live_recipient(session, place.org_id, recipient_id)
        if await session.get(kind.link, (place.id, recipient_id)) is None:
            session.add(kind.link_row(place, recipient_id))
            joined.append(recipient)
        else:
            already.append(recipient)
    return joined, already


async def leave(
    session: AsyncSession, kind: Kind[Place], *, place_id: int, recipient_id: int
) -> bool:
    """End one membership; False when there was none."""
    membership = await session.get(kind.link, (place_id, recipient_id))
    if membership is None:
        return False
    await session.delete(membership)
    return True


async def change_members(
    env: Env,
    kind: Kind[Place],
    *,
    org_id: int,
    actor: Actor,
    place_id: int,
    add: Sequence[int] = (),
    remove: Sequence[int] = (),
) -> MembershipChange:
    """Add and remove members in one transaction; adding a member is a no-op, removing
    someone who is not one is refused."""
    check_moves(add, remove)
    now = env.clock.now()
    async with env.sessions() as session, session.begin():
        place = await get_scoped(
            session, kind.model, org_id=org_id, id=place_id, what=kind.what, lock=True
        )
        current = {r.id: r for r in await members(session, kind, org_id=org_id, place_id=place_id)}
        joining = [
            await live_recipient(session, org_id, r) for r in dict.fromkeys(add) if r not in current
        ]
        leaving = []
        for recipient_id in dict.fromkeys(remove):
            if recipient_id not in current:
                raise NotFound(f"recipient {recipient_id} is not a member of {place.name}")
            leaving.append(current[recipient_id])
        for recipient in joining:
            session.add(kind.link_row(place, id_of(recipient)))
        for recipient in leaving:
            await leave(session, kind, place_id=place_id, recipient_id=id_of(recipient))
        for action, people in ((kind.joined, joining), (kind.left, leaving)):
            if people:
                await record(
                    session, kind, place=place, action=action, people=people, actor=actor, at=now
                )
    return MembershipChange(added=[r.name for r in joining], removed=[r.name for r in leaving])


async def record(
    session: AsyncSession,
    kind: Kind[Place],
    *,
    place: Place,
    action: str,
    people: Sequence[Recipient],
    actor: Actor,
    at: datetime,
) -> None:
    """Put these people joining (or leaving) ``place`` in the history, as its kind does."""
    for details in kind.events(place, people):
        await audit.record(
            session, org_id=place.org_id, actor=actor, action=action, at=at, details=details
        )


async def sets_of(
    session: AsyncSession, kind: Kind[Place], *, org_id: int, recipient_id: int
) -> list[Place]:
    """The sets of this kind the recipient is in, by name."""
    model = kind.model
    rows = await session.exec(
        select(model)
        .join(kind.link, kind.place_column == model.id)
        .where(kind.link.recipient_id == recipient_id, model.org_id == org_id)
        .order_by(col(model.name))
    )
    return list(rows.all())
