"""Clients, recipients, groups and spaces: create, list, get, change; block recipients."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlmodel import col, select

from storage.models import Client, Group, GroupMember, Recipient, Space, SpaceMember
from web_api.models import Body, ListQuery, next_cursor
from web_api.pagination import decode_cursor
from web_api.problems import CONFLICT, INVALID
from web_api.registry import Call, Operation
from workflows.listing import page_of
from workflows.people import groups, organizations, recipients, spaces
from workflows.scope import get_scoped

Id: Any = Field(ge=1, le=2**31 - 1)
MEMBERS: Any = Field(default_factory=list, max_length=100)


# Clients ------------------------------------------------------------------------------


class ClientOut(BaseModel):
    id: int
    name: str
    shared_cabinet: bool = Field(
        description="Its recipients see each other's documents and may sign for each other."
    )
    created_at: datetime

    @classmethod
    def of(cls, client: Client) -> ClientOut:
        assert client.id is not None
        return cls(
            id=client.id,
            name=client.name,
            shared_cabinet=client.shared_cabinet,
            created_at=client.created_at,
        )


class ClientPage(BaseModel):
    items: list[ClientOut]
    next_cursor: str | None


class NewClient(Body):
    name: str = Field(min_length=1, max_length=200)
    shared_cabinet: bool = False


class ClientChange(Body):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    shared_cabinet: bool | None = None


async def list_clients(call: Call[Any]) -> ClientPage:
    query: ListQuery = call.query
    page = await page_of(
        call.env, Client, org_id=call.org_id, after=decode_cursor(query.cursor), limit=query.limit
    )
    return ClientPage(items=[ClientOut.of(c) for c in page.rows], next_cursor=next_cursor(page))


async def create_client(call: Call[Any]) -> ClientOut:
    body: NewClient = call.body
    client = await organizations.add_client(
        call.env,
        org_id=call.org_id,
        actor=call.actor,
        name=body.name,
        shared_cabinet=body.shared_cabinet,
    )
    return ClientOut.of(client)


async def get_client(call: Call[Any]) -> ClientOut:
    async with call.env.reads() as session:
        client = await get_scoped(
            session, Client, org_id=call.org_id, id=call.ids["client_id"], what="client"
        )
    return ClientOut.of(client)


async def update_client(call: Call[Any]) -> ClientOut:
    body: ClientChange = call.body
    client = await organizations.edit_client(
        call.env,
        org_id=call.org_id,
        actor=call.actor,
        client_id=call.ids["client_id"],
        name=body.name,
        shared_cabinet=body.shared_cabinet,
    )
    return ClientOut.of(client)


# Recipients ---------------------------------------------------------------------------


class RecipientOut(BaseModel):
    id: int
    client_id: int
    name: str
    email: str | None
    phone: str | None
    language: str
    status: str = Field(description="invited, active, blocked or deleted.")
    telegram_linked: bool
    access_expires_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, person: Recipient) -> RecipientOut:
        assert person.id is not None
        return cls(
            id=person.id,
            client_id=person.client_id,
            name=person.name,
            email=person.email,
            phone=person.phone,
            language=person.language,
            status=person.status,
            telegram_linked=person.telegram_chat_id is not None,
            access_expires_at=person.access_expires_at,
            created_at=person.created_at,
        )


class RecipientPage(BaseModel):
    items: list[RecipientOut]
    next_cursor: str | None


class RecipientQuery(ListQuery):
    client_id: int | None = Field(default=None, ge=1, le=2**31 - 1)


Language = Literal["en", "pl", "ru", "sv"]


class NewRecipient(Body):
    client_id: int = Id
    name: str = Field(min_length=1, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=32)
    language: Language = "en"


class RecipientChange(Body):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=32)
    language: Language | None = None


async def list_recipients(call: Call[Any]) -> RecipientPage:
    query: RecipientQuery = call.query
    where: list[Any] = [Recipient.status != "deleted"]
    if query.client_id is not None:
        where.append(Recipient.client_id == query.client_id)
    page = await page_of(
        call.env,
        Recipient,
        org_id=call.org_id,
        where=where,
        after=decode_cursor(query.cursor),
        limit=query.limit,
    )
    return RecipientPage(
        items=[RecipientOut.of(r) for r in page.rows], next_cursor=next_cursor(page)
    )


async def create_recipient(call: Call[Any]) -> RecipientOut:
    body: NewRecipient = call.body
    person = await recipients.add_recipient(
        call.env,
        org_id=call.org_id,
        actor=call.actor,
        client_id=body.client_id,
        name=body.name,
        email=body.email,
        phone=body.phone,
        language=body.language,
    )
    return RecipientOut.of(person)


async def get_recipient(call: Call[Any]) -> RecipientOut:
    person = await recipients.get_recipient(
        call.env, org_id=call.org_id, recipient_id=call.ids["recipient_id"]
    )
    return RecipientOut.of(person)


async def update_recipient(call: Call[Any]) -> RecipientOut:
    body: RecipientChange = call.body
    given = {name: getattr(body, name) for name in body.model_fields_set}
    person = await recipients.edit_recipient(
        call.env,
        org_id=call.org_id,
        actor=call.actor,
        recipient_id=call.ids["recipient_id"],
        **given,
    )
    return RecipientOut.of(person)


async def block_recipient(call: Call[Any]) -> RecipientOut:
    return await _blocked(call, blocked=True)


async def unblock_recipient(call: Call[Any]) -> RecipientOut:
    return await _blocked(call, blocked=False)


async def _blocked(call: Call[Any], *, blocked: bool) -> RecipientOut:
    person = await recipients.set_recipient_blocked(
        call.env,
        org_id=call.org_id,
        actor=call.actor,
        recipient_id=call.ids["recipient_id"],
        blocked=blocked,
    )
    return RecipientOut.of(person)


# Groups and spaces --------------------------------------------------------------------


class GroupOut(BaseModel):
    id: int
    name: str
    created_at: datetime

    @classmethod
    def of(cls, group: Group) -> GroupOut:
        assert group.id is not None
        return cls(id=group.id, name=group.name, created_at=group.created_at)


class GroupPage(BaseModel):
    items: list[GroupOut]
    next_cursor: str | None


class NewGroup(Body):
    name: str = Field(min_length=1, max_length=200)
    member_ids: list[int] = MEMBERS


class SpaceOut(BaseModel):
    id: int
    name: str
    client_id: int | None
    created_at: datetime

    @classmethod
    def of(cls, space: Space) -> SpaceOut:
        assert space.id is not None
        return cls(
            id=space.id, name=space.name, client_id=space.client_id, created_at=space.created_at
        )


class SpacePage(BaseModel):
    items: list[SpaceOut]
    next_cursor: str | None


class NewSpace(Body):
    name: str = Field(min_length=1, max_length=200)
    client_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    member_ids: list[int] = MEMBERS


class MemberChange(Body):
    add: list[int] = MEMBERS
    remove: list[int] = MEMBERS


class MembersOut(BaseModel):
    added: list[str] = Field(description="The names of those who joined.")
    removed: list[str] = Field(description="The names of those who left.")


class GroupDeleted(BaseModel):
    id: int
    name: str = Field(description="What the group was called.")


class SpaceDeleted(BaseModel):
    id: int
    revoked_shares: int = Field(description="Shares made through the space, now revoked.")
    removed_recipients: list[str] = Field(
        description="Members who belonged to no other space, and so can open nothing now."
    )


async def list_groups(call: Call[Any]) -> GroupPage:
    query: ListQuery = call.query
    page = await page_of(
        call.env, Group, org_id=call.org_id, after=decode_cursor(query.cursor), limit=query.limit
    )
    return GroupPage(items=[GroupOut.of(g) for g in page.rows], next_cursor=next_cursor(page))


async def create_group(call: Call[Any]) -> GroupOut:
    body: NewGroup = call.body
    group = await groups.create_group(
        call.env, org_id=call.org_id, actor=call.actor, name=body.name, member_ids=body.member_ids
    )
    return GroupOut.of(group)


async def group_members(call: Call[Any]) -> RecipientPage:
    return await _members(call, Group, "group_id")


async def change_group_members(call: Call[Any]) -> MembersOut:
    body: MemberChange = call.body
    change = await groups.change_group_members(
        call.env,
        org_id=call.org_id,
        actor=call.actor,
        group_id=call.ids["group_id"],
        add=body.add,
        remove=body.remove,
    )
    return MembersOut(added=list(change.added), removed=list(change.removed))


async def delete_group(call: Call[Any]) -> GroupDeleted:
    group_id = call.ids["group_id"]
    group = await groups.delete_group(
        call.env, org_id=call.org_id, actor=call.actor, group_id=group_id
    )
    return GroupDeleted(id=group_id, name=group.name)


async def list_spaces(call: Call[Any]) -> SpacePage:
    query: ListQuery = call.query
    page = await page_of(
        call.env, Space, org_id=call.org_id, after=decode_cursor(query.cursor), limit=query.limit
    )
    return SpacePage(items=[SpaceOut.of(s) for s in page.rows], next_cursor=next_cursor(page))


async def create_space(call: Call[Any]) -> SpaceOut:
    body: NewSpace = call.body
    space = await spaces.create_space(
        call.env,
        org_id=call.org_id,
        actor=call.actor,
        name=body.name,
        client_id=body.client_id,
        member_ids=body.member_ids,
    )
    return SpaceOut.of(space)


async def space_members(call: Call[Any]) -> RecipientPage:
    return await _members(call, Space, "space_id")


async def change_space_members(call: Call[Any]) -> MembersOut:
    body: MemberChange = call.body
    change = await spaces.change_space_members(
        call.env,
        org_id=call.org_id,
        actor=call.actor,
        space_id=call.ids["space_id"],
        add=body.add,
        remove=body.remove,
    )
    return MembersOut(added=list(change.added), removed=list(change.removed))


async def delete_space(call: Call[Any]) -> SpaceDeleted:
    space_id = call.ids["space_id"]
    deletion = await spaces.delete_space(
        call.env, org_id=call.org_id, actor=call.actor, space_id=space_id
    )
    return SpaceDeleted(
        id=space_id,
        revoked_shares=deletion.revoked_shares,
        removed_recipients=list(deletion.removed_recipients),
    )


async def _members(call: Call[Any], place: type[Group] | type[Space], name: str) -> RecipientPage:
    query: ListQuery = call.query
    place_id = call.ids[name]
    async with call.env.reads() as session:
        await get_scoped(
            session, place, org_id=call.org_id, id=place_id, what=name.removesuffix("_id")
        )
    if place is Group:
        members: Any = GroupMember
        column = GroupMember.group_id
    else:
        members = SpaceMember
        column = SpaceMember.space_id
    inside = select(members.recipient_id).where(column == place_id)
    page = await page_of(
        call.env,
        Recipient,
        org_id=call.org_id,
        where=[col(Recipient.id).in_(inside)],
        after=decode_cursor(query.cursor),
        limit=query.limit,
        newest_first=False,
    )
    return RecipientPage(
        items=[RecipientOut.of(r) for r in page.rows], next_cursor=next_cursor(page)
    )


def operations() -> list[Operation]:
    def op(method: str, path: str, operation_id: str, summary: str, **more: Any) -> Operation:
        tag = path.split("/")[1]
        return Operation(
            method=method,
            path=path,
            operation_id=operation_id,
            summary=summary,
            tag=tag,
            **({"scope": "read"} | more),
        )

    return [
        op(
            "GET",
            "/clients",
            "listClients",
            "List clients",
            handler=list_clients,
            query=ListQuery,
            response=ClientPage,
        ),
        op(
            "POST",
            "/clients",
            "createClient",
            "Add a client",
            handler=create_client,
            scope="write",
            body=NewClient,
            response=ClientOut,
            status=201,
            problems=(CONFLICT, INVALID),
        ),
        op(
            "GET",
            "/clients/{client_id}",
            "getClient",
            "Get a client",
            handler=get_client,
            response=ClientOut,
        ),
        op(
            "PATCH",
            "/clients/{client_id}",
            "updateClient",
            "Rename a client or change its shared cabinet",
            handler=update_client,
            scope="write",
            body=ClientChange,
            response=ClientOut,
            problems=(CONFLICT, INVALID),
        ),
        op(
            "GET",
            "/recipients",
            "listRecipients",
            "List recipients",
            handler=list_recipients,
            query=RecipientQuery,
            response=RecipientPage,
        ),
        op(
            "POST",
            "/recipients",
            "createRecipient",
            "Add a recipient at a client",
            handler=create_recipient,
            scope="write",
            body=NewRecipient,
            response=RecipientOut,
            status=201,
            problems=(CONFLICT, INVALID),
        ),
        op(
            "GET",
            "/recipients/{recipient_id}",
            "getRecipient",
            "Get a recipient",
            handler=get_recipient,
            response=RecipientOut,
        ),
        op(
            "PATCH",
            "/recipients/{recipient_id}",
            "updateRecipient",
            "Change a recipient's name, address, phone or language",
            handler=update_recipient,
            scope="write",
            body=RecipientChange,
            response=RecipientOut,
            problems=(CONFLICT, INVALID),
        ),
        op(
            "POST",
            "/recipients/{recipient_id}/block",
            "blockRecipient",
            "Block a recipient: they open nothing until unblocked",
            handler=block_recipient,
            scope="write",
            response=RecipientOut,
            problems=(CONFLICT,),
        ),
        op(
            "POST",
            "/recipients/{recipient_id}/unblock",
            "unblockRecipient",
            "Unblock a recipient",
            handler=unblock_recipient,
            scope="write",
            response=RecipientOut,
            problems=(CONFLICT,),
        ),
        op(
            "GET",
            "/groups",
            "listGroups",
            "List groups",
            handler=list_groups,
            query=ListQuery,
            response=GroupPage,
        ),
        op(
            "POST",
            "/groups",
            "createGroup",
            "Create a group of recipients",
            handler=create_group,
            scope="write",
            body=NewGroup,
            response=GroupOut,
            status=201,
            problems=(CONFLICT, INVALID),
        ),
        op(
            "GET",
            "/groups/{group_id}/members",
            "listGroupMembers",
            "List a group's members",
            handler=group_members,
            query=ListQuery,
            response=RecipientPage,
        ),
        op(
            "POST",
            "/groups/{group_id}/members",
            "changeGroupMembers",
            "Add and remove members of a group",
            handler=change_group_members,
            scope="write",
            body=MemberChange,
            response=MembersOut,
            problems=(CONFLICT, INVALID),
        ),
        op(
            "DELETE",
            "/groups/{group_id}",
            "deleteGroup",
            "Delete a group; what was shared through it stays with each member",
            handler=delete_group,
            scope="write",
            response=GroupDeleted,
        ),
        op(
            "GET",
            "/spaces",
            "listSpaces",
            "List spaces",
            handler=list_spaces,
            query=ListQuery,
            response=SpacePage,
        ),
        op(
            "POST",
            "/spaces",
            "createSpace",
            "Create a space (a client panel)",
            handler=create_space,
            scope="write",
            body=NewSpace,
            response=SpaceOut,
            status=201,
            problems=(CONFLICT, INVALID),
        ),
        op(
            "GET",
            "/spaces/{space_id}/members",
            "listSpaceMembers",
            "List a space's members",
            handler=space_members,
            query=ListQuery,
            response=RecipientPage,
        ),
        op(
            "POST",
            "/spaces/{space_id}/members",
            "changeSpaceMembers",
            "Add and remove members of a space",
            handler=change_space_members,
            scope="write",
            body=MemberChange,
            response=MembersOut,
            problems=(CONFLICT, INVALID),
        ),
        op(
            "DELETE",
            "/spaces/{space_id}",
            "deleteSpace",
            "Delete a space: its shares are revoked, no document is deleted",
            handler=delete_space,
            scope="write",
            response=SpaceDeleted,
        ),
    ]
