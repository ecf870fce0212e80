"""Whom a document may be shared with, and why not.

A document belongs to a client, and goes to that client's people only: its recipients,
its spaces, and groups of its recipients. Sharing it with another client's recipient,
space or group is refused (`AcrossClients`) unless staff say so on purpose
(``ShareTerms.across_clients``), and then the share's history names the other client. A
group that mixes several clients' people is refused whatever staff say: one share with it
would hand one client's document to another client's people along with their own.

Each check raises what sharing with that target would refuse and returns what the share
needs; sharing raises, and `check_targets` collects the refusals for a form that shares
with several targets at once."""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Row
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Client, Document, Group, Recipient, Share, Space
from storage.rows import id_of
from workflows.context import Env
from workflows.errors import Conflict, InvalidInput, NotAllowed, WorkflowError
from workflows.people.membership import GROUPS, MemberRow, member_rows
from workflows.people.recipients import can_receive
from workflows.scope import get_scoped


class AcrossClients(NotAllowed):
    """The target is another client's: sharing with it needs staff to say so on purpose."""


@dataclass(frozen=True)
class Checked:
    """A target sharing may go on with, and the other client it reaches, if any."""

    name: str
    other_client: str | None = None
    """The client the target belongs to when not the document's (shared on purpose)."""


async def recipient(
    session: AsyncSession,
    *,
    document: Document,
    recipient_id: int,
    now: datetime,
    across_clients: bool,
) -> tuple[MemberRow, Checked]:
    person = await get_scoped(
        session, Recipient, org_id=document.org_id, id=recipient_id, what="recipient"
    )
    refusal = can_receive(person, now)
    if refusal:
        raise NotAllowed(f"cannot share: {refusal}")
    other = await _other_client(
        session, document, person.client_id, across_clients, f"{person.name} is a recipient of"
    )
    row = MemberRow(
        id_of(person), person.name, person.status, person.access_expires_at, person.client_id
    )
    return row, Checked(person.name, other)


async def group(
    session: AsyncSession, *, document: Document, group_id: int, across_clients: bool
) -> tuple[list[MemberRow], Checked]:
    found = await get_scoped(session, Group, org_id=document.org_id, id=group_id, what="group")
    members = await member_rows(session, GROUPS, org_id=document.org_id, place_id=group_id)
    if not members:
        raise InvalidInput(f"group {found.name} has no members")
    # Removed people receive nothing and do not make a group cross clients.
    clients = sorted({m.client_id for m in members if m.status != "deleted"})
    if len(clients) > 1:
        names = ", ".join([await client_name(session, c) for c in clients])
        ours = await client_name(session, document.client_id)
        raise NotAllowed(
            f"group {found.name} mixes people of several clients ({names}); share "
            f"{document.ref} with {ours}'s own recipients, spaces or groups instead"
        )
    theirs = clients[0] if clients else document.client_id
    other = await _other_client(
        session, document, theirs, across_clients, f"group {found.name} holds people of"
    )
    return members, Checked(found.name, other)


async def space(
    session: AsyncSession,
    *,
    document: Document,
    space_id: int,
    now: datetime,
    across_clients: bool,
) -> tuple[Space, Checked]:
    found = await get_scoped(session, Space, org_id=document.org_id, id=space_id, what="space")
    held = await session.exec(
        select(Share).where(
            Share.org_id == document.org_id,
            Share.document_id == document.id,
            Share.space_id == space_id,
            col(Share.revoked_at).is_(None),
        )
    )
    if any(active(share, now) for share in held.all()):
        raise Conflict(f"{document.ref} is already shared with space {found.name}")
    other = await _other_client(
        session, document, found.client_id, across_clients, f"space {found.name} belongs to"
    )
    return found, Checked(found.name, other)


async def _other_client(
    session: AsyncSession,
    document: Document,
    client_id: int | None,
    across_clients: bool,
    target: str,
) -> str | None:
    """The name of ``client_id`` when it is not the document's client; refused unless
    ``across_clients``. ``target`` says whose the target is, up to the client's name."""
    if client_id == document.client_id:
        return None
    theirs = await client_name(session, client_id) if client_id else "no client"
    if not across_clients:
        ours = await client_name(session, document.client_id)
        raise AcrossClients(f"{document.ref} belongs to {ours}, and {target} {theirs}")
    return theirs


async def client_name(session: AsyncSession, client_id: int) -> str:
    client = await session.get(Client, client_id)
    return client.name if client is not None else f"client {client_id}"


async def people_elsewhere(
    session: AsyncSession,
    *,
    documents: Sequence[Document],
    recipients: Sequence[Recipient],
    across_clients: bool,
) -> dict[int, str]:
    """For each recipient who is a person of a client other than a document's, the client
    (by recipient id). Refused (`AcrossClients`, naming the first) unless staff send the
    documents across clients on purpose."""
    found: dict[int, str] = {}
    for person in recipients:
        for document in documents:
            if person.client_id != document.client_id:
                target = f"{person.name} is a recipient of"
                theirs = await _other_client(
                    session, document, person.client_id, across_clients, target
                )
                if theirs is not None:
                    found[id_of(person)] = theirs
                break
    return found


def active(share: Share | Row[Any], now: datetime) -> bool:
    """Whether the share still opens: not revoked, not expired, downloads left."""
    if share.revoked_at is not None:
        return False
    if share.expires_at is not None and share.expires_at <= now:
        return False
    return share.max_downloads is None or share.download_count < share.max_downloads


@dataclass(frozen=True)
class TargetProblems:
    """Why sharing would refuse each kind of target; all lists are empty when it would not."""

    recipients: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    spaces: list[str] = field(default_factory=list)
    across_clients: list[str] = field(default_factory=list)
    """Those of the refusals that sharing on purpose across clients would lift."""

    def __bool__(self) -> bool:
        return bool(self.recipients or self.groups or self.spaces)


async def check_targets(
    env: Env,
    *,
    org_id: int,
    document_id: int,
    recipient_ids: Sequence[int] = (),
    group_ids: Sequence[int] = (),
    space_ids: Sequence[int] = (),
    across_clients: bool = False,
) -> TargetProblems:
    """What `share_with_recipient`, `share_with_group` and `share_with_space` would refuse
    for these targets, found before any of them is called: a form shares with several
    targets at once and must share with none when one of them would be refused."""
    now = env.clock.now()
    problems = TargetProblems()
    async with env.reads() as session:
        document = await get_scoped(
            session, Document, org_id=org_id, id=document_id, what="document"
        )
        across = across_clients
        for recipient_id in recipient_ids:
            problems.recipients.extend(
                await _refusal(
                    recipient(
                        session,
                        document=document,
                        recipient_id=recipient_id,
                        now=now,
                        across_clients=across,
                    ),
                    problems,
                )
            )
        for group_id in group_ids:
            problems.groups.extend(
                await _refusal(
                    group(session, document=document, group_id=group_id, across_clients=across),
                    problems,
                )
            )
        for space_id in space_ids:
            problems.spaces.extend(
                await _refusal(
                    space(
                        session,
                        document=document,
                        space_id=space_id,
                        now=now,
                        across_clients=across,
                    ),
                    problems,
                )
            )
    return problems


async def _refusal(check: Awaitable[object], problems: TargetProblems) -> list[str]:
    """What ``check`` refuses, as a list of its one message; empty when it passes."""
    try:
        await check
    except AcrossClients as e:
        problems.across_clients.append(str(e))
        return [str(e)]
    except WorkflowError as e:
        return [str(e)]
    return []
