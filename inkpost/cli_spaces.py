"""CLI commands about sets of recipients: groups (for bulk sharing) and spaces (client
panels whose members all see what is shared to the space)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import typer

from inkpost.cli_context import JsonOption, OrgScope, client_id, in_org
from inkpost.cli_people import RECIPIENT_COLUMNS, ClientOption, recipient_row
from inkpost.output import Column, say, show_record, show_rows
from storage.models import Group, Space
from workflows import recipients, spaces

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
        return await recipients.create_group(
            scope.env, org_id=scope.org_id, actor=scope.actor, name=name
        )

    group = in_org(ctx, work)
    show_record(group_row(group, 0), title=f"Created group {group.id}", as_json=as_json)


@group_app.command("add")
def group_add(
    ctx: typer.Context,
    *,
    group_id: Annotated[int, typer.Argument(help="The group's id.", show_default=False)],
    recipient_ids: Annotated[
        list[int], typer.Argument(help="Recipient ids to add.", show_default=False)
    ],
) -> None:
    """Add recipients to a group."""

    async def work(scope: OrgScope) -> int:
        return await recipients.add_to_group(
            scope.env,
            org_id=scope.org_id,
            actor=scope.actor,
            group_id=group_id,
            recipient_ids=recipient_ids,
        )

    added = in_org(ctx, work)
    already = len(set(recipient_ids)) - added
    note = f" ({already} already in it)" if already else ""
    say(f"Added {added} recipient(s) to group {group_id}{note}.")


@group_app.command("list")
def group_list(ctx: typer.Context, *, as_json: JsonOption = False) -> None:
    """List groups."""

    async def work(scope: OrgScope) -> list[dict[str, Any]]:
        found = await recipients.list_groups(scope.env, org_id=scope.org_id)
        return [group_row(g.group, g.members) for g in found]

    show_rows(in_org(ctx, work), columns=GROUP_COLUMNS, title="Groups", as_json=as_json)


# Spaces -------------------------------------------------------------------------------

SPACE_COLUMNS = (
    Column("id", "Id", "right"),
    Column("name", "Name"),
    Column("client_id", "Client", "right"),
    Column("members", "Members", "right"),
)


def space_row(space: Space, members: int) -> dict[str, Any]:
    return {
        "id": space.id,
        "name": space.name,
        "client_id": space.client_id,
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

    async def work(scope: OrgScope) -> Space:
        return await spaces.create_space(
            scope.env,
            org_id=scope.org_id,
            actor=scope.actor,
            name=name,
            client_id=await client_id(scope, client) if client else None,
        )

    space = in_org(ctx, work)
    show_record(space_row(space, 0), title=f"Created space {space.id}", as_json=as_json)


def _membership_command(
    change: Callable[..., Awaitable[Any]], done: str, help_text: str
) -> Callable[..., None]:
    """A command that adds a recipient to a space or removes them: ``change`` is the
    workflow, ``done`` how the result reads ("is now a member of")."""

    def command(
        ctx: typer.Context,
        space_id: Annotated[int, typer.Argument(help="The space's id.", show_default=False)],
        recipient_id: Annotated[
            int, typer.Argument(help="The recipient's id.", show_default=False)
        ],
    ) -> None:
        async def work(scope: OrgScope) -> None:
            await change(
                scope.env,
                org_id=scope.org_id,
                actor=scope.actor,
                space_id=space_id,
                recipient_id=recipient_id,
            )

        in_org(ctx, work)
        say(f"Recipient {recipient_id} {done} space {space_id}.")

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
    space_id: Annotated[int, typer.Argument(help="The space's id.", show_default=False)],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Delete a space: revoke its shares and remove members who are in no other space.

    No document is deleted.
    """
    if not yes:
        typer.confirm(
            f"Delete space {space_id}, revoke its shares and remove members who belong to no "
            "other space?",
            abort=True,
            err=True,
        )

    async def work(scope: OrgScope) -> spaces.SpaceDeletion:
        return await spaces.delete_space(
            scope.env, org_id=scope.org_id, actor=scope.actor, space_id=space_id
        )

    deletion = in_org(ctx, work)
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
        return [space_row(s.space, s.members) for s in found]

    show_rows(in_org(ctx, work), columns=SPACE_COLUMNS, title="Spaces", as_json=as_json)


@space_app.command("members")
def space_members(
    ctx: typer.Context,
    space_id: Annotated[int, typer.Argument(help="The space's id.", show_default=False)],
    as_json: JsonOption = False,
) -> None:
    """List the members of a space."""

    async def work(scope: OrgScope) -> list[dict[str, Any]]:
        found = await spaces.space_members(scope.env, org_id=scope.org_id, space_id=space_id)
        return [recipient_row(r) for r in found]

    show_rows(in_org(ctx, work), columns=RECIPIENT_COLUMNS, title="Space members", as_json=as_json)
