"""CLI commands about sets of recipients: groups (for bulk sharing) and spaces (client
panels whose members all see what is shared to the space)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import typer

from inkpost.cli.context import (
    JsonOption,
    OrgScope,
    client_id,
    client_names,
    in_org,
    named,
    named_argument,
)
from inkpost.cli.output import Column, say, show_record, show_rows
from inkpost.cli.people import RECIPIENT_COLUMNS, ClientOption, recipient_row
from storage.models import Group, Space
from workflows.people import groups, spaces

GroupArg = Annotated[str, named_argument("group", "GROUP")]
SpaceArg = Annotated[str, named_argument("space", "SPACE")]
RecipientArg = Annotated[str, named_argument("recipient", "RECIPIENT")]

group_app = typer.Typer(help="Groups of recipients for bulk sharing.", no_args_is_help=True)
space_app = typer.Typer(
    help="Spaces: client panels whose members share documents.", no_args_is_help=True
)

# Groups -------------------------------------------------------------------------------

GROUP_COLUMNS = (
    Column("id", "Id", "right"),
    Column("name", "Name"),
    Column("members", "Members", "right"),
)


def group_row(group: Group, members: int) -> dict[str, Any]:
    return {"id": group.id, "name": group.name, "members": members}


@group_app.command("create")
def group_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The group's name.")],
    as_json: JsonOption = False,
) -> None:
    """Create a group."""

    async def work(scope: OrgScope) -> Group:
        return await groups.create_group(
            scope.env, org_id=scope.org_id, actor=scope.actor, name=name
        )

    group = in_org(ctx, work)
    show_record(group_row(group, 0), title=f"Created group {group.id}", as_json=as_json)


@group_app.command("add")
def group_add(
    ctx: typer.Context,
    *,
    group: GroupArg,
    people: Annotated[list[str], named_argument("recipient", "RECIPIENT…", many=True)],
) -> None:
    """Add recipients to a group."""

    async def work(scope: OrgScope) -> tuple[int, int]:
        ids = {await named(scope, "recipient", person) for person in people}
        added = await groups.add_to_group(
            scope.env,
            org_id=scope.org_id,
            actor=scope.actor,
            group_id=await named(scope, "group", group),
            recipient_ids=sorted(ids),
        )
        return added, len(ids) - added

    added, already = in_org(ctx, work)
    note = f" ({already} already in it)" if already else ""
    say(f"Added {added} recipient(s) to group {group}{note}.")


@group_app.command("list")
def group_list(ctx: typer.Context, *, as_json: JsonOption = False) -> None:
    """List groups."""

    async def work(scope: OrgScope) -> list[dict[str, Any]]:
        found = await groups.list_groups(scope.env, org_id=scope.org_id)
        return [group_row(g.group, g.members) for g in found]

    show_rows(in_org(ctx, work), columns=GROUP_COLUMNS, title="Groups", as_json=as_json)


# Spaces -------------------------------------------------------------------------------

SPACE_COLUMNS = (
    Column("id", "Id", "right"),
    Column("name", "Name"),
    Column("client", "Client"),
    Column("members", "Members", "right"),
)


def space_row(space: Space, members: int, names: dict[int, str]) -> dict[str, Any]:
    return {
        "id": space.id,
        "name": space.name,
        "client_id": space.client_id,
        "client": names.get(space.client_id) if space.client_id is not None else None,
        "members": members,
        "created_at": space.created_at,
    }


@space_app.command("create")
def space_create(
    ctx: typer.Context,
    *,
    name: Annotated[str, typer.Argument(help="The space's name.")],
    client: ClientOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a space (a client panel)."""

    async def work(scope: OrgScope) -> dict[str, Any]:
        space = await spaces.create_space(
            scope.env,
            org_id=scope.org_id,
            actor=scope.actor,
            name=name,
            client_id=await client_id(scope, client) if client else None,
        )
        return space_row(space, 0, await client_names(scope))

    row = in_org(ctx, work)
    show_record(row, title=f"Created space {row['id']}", as_json=as_json)


def _membership_command(
    change: Callable[..., Awaitable[Any]], done: str, help_text: str
) -> Callable[..., None]:
    """A command that adds a recipient to a space or removes them: ``change`` is the
    workflow, ``done`` how the result reads ("is now a member of")."""

    def command(ctx: typer.Context, space: SpaceArg, recipient: RecipientArg) -> None:
        async def work(scope: OrgScope) -> None:
            await change(
                scope.env,
                org_id=scope.org_id,
                actor=scope.actor,
                space_id=await named(scope, "space", space),
                recipient_id=await named(scope, "recipient", recipient),
            )

        in_org(ctx, work)
        say(f"Recipient {recipient} {done} space {space}.")

    command.__doc__ = help_text
    return command


space_app.command("add-member")(
    _membership_command(
        spaces.add_space_member, "is now a member of", "Make a recipient a member of a space."
    )
)
space_app.command("remove-member")(
    _membership_command(
        spaces.remove_space_member, "is no longer a member of", "Remove a recipient from a space."
    )
)


@space_app.command("delete")
def space_delete(
    ctx: typer.Context,
    space: SpaceArg,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Delete a space: revoke its shares and remove members who are in no other space.

    No document is deleted.
    """
    if not yes:
        typer.confirm(
            f"Delete space {space}, revoke its shares and remove members who belong to no "
            "other space?",
            abort=True,
            err=True,
        )

    async def work(scope: OrgScope) -> tuple[int, spaces.SpaceDeletion]:
        space_id = await named(scope, "space", space)
        deletion = await spaces.delete_space(
            scope.env, org_id=scope.org_id, actor=scope.actor, space_id=space_id
        )
        return space_id, deletion

    space_id, deletion = in_org(ctx, work)
    record = {
        "space_id": space_id,
        "revoked_shares": deletion.revoked_shares,
        "removed_recipients": deletion.removed_recipients,
    }
    if as_json:
        show_record(record, title="", as_json=True)
        return
    removed = ", ".join(deletion.removed_recipients) or "none"
    say(
        f"Deleted space {space_id}: {deletion.revoked_shares} share(s) revoked, "
        f"recipients removed: {removed}."
    )


@space_app.command("list")
def space_list(ctx: typer.Context, *, as_json: JsonOption = False) -> None:
    """List spaces."""

    async def work(scope: OrgScope) -> list[dict[str, Any]]:
        found = await spaces.list_spaces(scope.env, org_id=scope.org_id)
        names = await client_names(scope)
        return [space_row(s.space, s.members, names) for s in found]

    show_rows(in_org(ctx, work), columns=SPACE_COLUMNS, title="Spaces", as_json=as_json)


@space_app.command("members")
def space_members(
    ctx: typer.Context,
    space: SpaceArg,
    as_json: JsonOption = False,
) -> None:
    """List the members of a space."""

    async def work(scope: OrgScope) -> list[dict[str, Any]]:
        space_id = await named(scope, "space", space)
        found = await spaces.space_members(scope.env, org_id=scope.org_id, space_id=space_id)
        names = await client_names(scope)
        return [recipient_row(r, names) for r in found]

    show_rows(in_org(ctx, work), columns=RECIPIENT_COLUMNS, title="Space members", as_json=as_json)
