"""Ethical walls: an administrator limits a staff member to named clients.

A walled staff member works through an environment whose sessions see only those clients'
rows (`storage.walls`, `Env.walled`); here the limit is set, lifted and read. Only
administrators, and the operator at the server, may change it; an administrator sees every
client, so only members can be walled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Client, StaffClient, StaffUser
from storage.rows import id_of
from storage.walls import Wall
from workflows import audit
from workflows.context import Actor, Env
from workflows.errors import Conflict, InvalidInput, NotAllowed
from workflows.scope import get_scoped


@dataclass(frozen=True)
class ClientAccess:
    """Whom a staff member sees: every client (``clients`` is None) or only these."""

    staff: StaffUser
    clients: tuple[Client, ...] | None

    @property
    def wall(self) -> Wall | None:
        return None if self.clients is None else Wall.of(id_of(c) for c in self.clients)

    @property
    def names(self) -> str:
        if self.clients is None:
            return "every client"
        return ", ".join(c.name for c in self.clients) or "no client"


async def wall_of(session: AsyncSession, staff: StaffUser) -> Wall | None:
    """The wall ``staff`` works behind, or None when they see every client."""
    if not staff.walled:
        return None
    ids = await session.exec(
        select(StaffClient.client_id).where(StaffClient.staff_id == id_of(staff))
    )
    return Wall.of(ids.all())


async def client_access(env: Env, *, org_id: int, staff_id: int) -> ClientAccess:
    async with env.reads() as session:
        staff = await get_scoped(
            session, StaffUser, org_id=org_id, id=staff_id, what="staff member"
        )
        return ClientAccess(staff, await _clients_of(session, staff))


async def client_accesses(env: Env, *, org_id: int) -> dict[int, tuple[Client, ...]]:
    """The clients of every walled staff member of the organisation, by staff id."""
    async with env.reads() as session:
        rows = await session.exec(
            select(StaffClient.staff_id, Client)
            .join(Client, col(Client.id) == StaffClient.client_id)
            .where(StaffClient.org_id == org_id)
            .order_by(col(Client.name))
        )
        found: dict[int, list[Client]] = {}
        for staff_id, client in rows.all():
            found.setdefault(staff_id, []).append(client)
    return {staff_id: tuple(clients) for staff_id, clients in found.items()}


async def limit_staff(
    env: Env, *, org_id: int, actor: Actor, staff_id: int, client_ids: Sequence[int] | None
) -> ClientAccess:
    """Limit a member to ``client_ids``, or let them see every client again (None).

    Recorded in the history; nothing changes (and nothing is recorded) when the member
    already sees exactly that."""
    if env.wall is not None:
        raise NotAllowed("only administrators may change which clients staff see")
    if client_ids is not None and not client_ids:
        raise InvalidInput("name at least one client, or let them see every client")
    async with env.sessions() as session, session.begin():
        await _require_admin(session, org_id, actor)
        staff = await get_scoped(
            session, StaffUser, org_id=org_id, id=staff_id, what="staff member", lock=True
        )
        if client_ids is not None and staff.role == "admin":
            raise Conflict(f"{staff.name} is an administrator and sees every client")
        wanted = None
        if client_ids is not None:
            wanted = [
                await get_scoped(session, Client, org_id=org_id, id=i, what="client")
                for i in dict.fromkeys(client_ids)
            ]
        before = await _clients_of(session, staff)
        after = tuple(sorted(wanted, key=lambda c: c.name)) if wanted is not None else None
        if _ids(before) == _ids(after):
            return ClientAccess(staff, before)
        await session.exec(delete(StaffClient).where(col(StaffClient.staff_id) == staff_id))
        session.add_all(
            StaffClient(staff_id=staff_id, client_id=id_of(c), org_id=org_id) for c in after or ()
        )
        staff.walled = after is not None
        session.add(staff)
        await audit.record(
            session,
            org_id=org_id,
            actor=actor,
            action="staff.limited" if after is not None else "staff.unlimited",
            at=env.clock.now(),
            details={
                "staff_id": staff_id,
                "name": staff.name,
                "client_ids": sorted(_ids(after) or ()) if after is not None else None,
            },
        )
    return ClientAccess(staff, after)


async def _clients_of(session: AsyncSession, staff: StaffUser) -> tuple[Client, ...] | None:
    if not staff.walled:
        return None
    rows = await session.exec(
        select(Client)
        .join(StaffClient, col(StaffClient.client_id) == Client.id)
        .where(StaffClient.staff_id == id_of(staff))
        .order_by(col(Client.name))
    )
    return tuple(rows.all())


def _ids(clients: tuple[Client, ...] | None) -> frozenset[int] | None:
    return None if clients is None else frozenset(id_of(c) for c in clients)


async def _require_admin(session: AsyncSession, org_id: int, actor: Actor) -> None:
    """The operator at the server (a system actor) or an administrator may; no one else."""
    if actor.type != "staff":
        return
    member = await session.get(StaffUser, int(actor.id or 0))
    if member is None or member.org_id != org_id or member.role != "admin":
        raise NotAllowed("only administrators may change which clients staff see")
