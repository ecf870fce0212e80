"""CLI commands about people: staff, clients and recipients. Each command is one workflow
call and one rendering of its result."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from typing import Annotated, Any

import typer

from inkpost.cli.chat import invite
from inkpost.cli.context import (
    DATE_HELP,
    NEVER,
    JsonOption,
    OrgScope,
    When,
    client_id,
    client_names,
    ending,
    in_org,
    named,
    named_argument,
    parse_when,
    parse_when_or_never,
)
from inkpost.cli.output import Column, emit_json, say, show_record, show_rows, warn
from storage.models import Client, Recipient, StaffUser
from storage.rows import id_of
from workflows.people import client_access, organizations, recipients
from workflows.people.recipients import UNSET

staff_app = typer.Typer(help="Staff members of the organisation.", no_args_is_help=True)
client_app = typer.Typer(
    help="Clients: the customer files documents belong to.", no_args_is_help=True
)
recipient_app = typer.Typer(help="Recipients: people at a client.", no_args_is_help=True)

StaffArg = Annotated[str, named_argument("staff member", "STAFF")]
RecipientArg = Annotated[str, named_argument("recipient", "RECIPIENT")]


ClientOption = Annotated[
    str | None, typer.Option("--client", help="Client id or name.", show_default=False)
]


# Staff --------------------------------------------------------------------------------

STAFF_COLUMNS = (
    Column("id", "Id", "right"),
    Column("name", "Name"),
    Column("email", "Email"),
    Column("slack_user_id", "Slack user"),
    Column("role", "Role"),
    Column("status", "Status"),
    Column("clients", "Clients"),
)


def staff_row(staff: StaffUser, clients: Sequence[Client] | None = None) -> dict[str, Any]:
    """A staff member; ``clients``: the only clients they see (None: every client)."""
    return {
        "id": staff.id,
        "name": staff.name,
        "email": staff.email,
        "slack_user_id": staff.slack_user_id,
        "role": staff.role,
        "status": staff.status,
        "clients": [c.name for c in clients] if clients is not None else "all",
        "created_at": staff.created_at,
    }


@staff_app.command("add")
def staff_add(
    ctx: typer.Context,
    *,
    name: Annotated[str, typer.Argument(help="Full name.")],
    email: Annotated[str | None, typer.Option(help="Email address.")] = None,
    slack_user: Annotated[
        str | None, typer.Option("--slack-user", help="Slack user id, like U0123.")
    ] = None,
    role: Annotated[str, typer.Option(help="admin or member.")] = "member",
    as_json: JsonOption = False,
) -> None:
    """Add a staff member."""

    async def work(scope: OrgScope) -> StaffUser:
        return await organizations.add_staff(
            scope.env,
            org_id=scope.org_id,
            actor=scope.actor,
            name=name,
            email=email,
            slack_user_id=slack_user,
            role=role,
        )

    staff = in_org(ctx, work)
    show_record(staff_row(staff), title=f"Added staff member {staff.id}", as_json=as_json)


@staff_app.command("list")
def staff_list(ctx: typer.Context, *, as_json: JsonOption = False) -> None:
    """List staff members."""

    async def work(scope: OrgScope) -> list[dict[str, Any]]:
        found = await organizations.list_staff(scope.env, org_id=scope.org_id)
        walled = await client_access.client_accesses(scope.env, org_id=scope.org_id)
        return [staff_row(s, walled.get(id_of(s), ()) if s.walled else None) for s in found]

    show_rows(in_org(ctx, work), columns=STAFF_COLUMNS, title="Staff", as_json=as_json)


@staff_app.command("limit")
def staff_limit(
    ctx: typer.Context,
    staff: StaffArg,
    *,
    clients: Annotated[
        list[str] | None,
        typer.Option(
            "--client",
            metavar="CLIENT",
            help="A client they may see (id or name); repeat for several.",
            show_default=False,
        ),
    ] = None,
    all_clients: Annotated[
        bool, typer.Option("--all-clients", help="Let them see every client again.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Limit a staff member to named clients (an ethical wall): they see and act on no
    other client's documents, people or requests, in the CLI and in Slack."""
    if bool(clients) == all_clients:
        raise typer.BadParameter("give --client (one or more) or --all-clients")

    async def work(scope: OrgScope) -> tuple[client_access.ClientAccess, str | None]:
        access = await client_access.limit_staff(
            scope.env,
            org_id=scope.org_id,
            actor=scope.actor,
            staff_id=await named(scope, "staff member", staff),
            client_ids=[await client_id(scope, c) for c in clients or ()] or None,
        )
        return access, scope.org.slack_channel

    access, channel = in_org(ctx, work)
    if as_json:
        emit_json(staff_row(access.staff, access.clients))
        return
    member = access.staff
    if access.clients is None:
        say(f"Staff member {member.id} {member.name} now sees every client.")
        return
    say(f"Staff member {member.id} {member.name} now sees only {access.names}.")
    if channel:
        warn(
            f"staff notices about every client go to the Slack channel {channel}: "
            f"keep {member.name} out of it"
        )


def _set_staff_blocked(ctx: typer.Context, *, staff: str, blocked: bool) -> None:
    async def work(scope: OrgScope) -> StaffUser:
        return await organizations.set_staff_status(
            scope.env,
            org_id=scope.org_id,
            actor=scope.actor,
            staff_id=await named(scope, "staff member", staff),
            blocked=blocked,
        )

    changed = in_org(ctx, work)
    say(f"Staff member {changed.id} {changed.name} is now {changed.status}.")


@staff_app.command("block")
def staff_block(ctx: typer.Context, staff: StaffArg) -> None:
    """Block a staff member."""
    _set_staff_blocked(ctx, staff=staff, blocked=True)


@staff_app.command("unblock")
def staff_unblock(ctx: typer.Context, staff: StaffArg) -> None:
    """Unblock a staff member."""
    _set_staff_blocked(ctx, staff=staff, blocked=False)


# Clients ------------------------------------------------------------------------------

CLIENT_COLUMNS = (
    Column("id", "Id", "right"),
    Column("name", "Name"),
    Column("shared_cabinet", "Shared cabinet"),
    Column("created_at", "Created"),
)


def client_row(client: Client) -> dict[str, Any]:
    return {
        "id": client.id,
        "name": client.name,
        "shared_cabinet": client.shared_cabinet,
        "created_at": client.created_at,
    }


@client_app.command("add")
def client_add(
    ctx: typer.Context,
    *,
    name: Annotated[str, typer.Argument(help="The client's name.")],
    shared_cabinet: Annotated[
        bool,
        typer.Option(
            "--shared-cabinet",
            help="Its recipients see each other's documents and may sign for each other.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Add a client."""

    async def work(scope: OrgScope) -> Client:
        return await organizations.add_client(
            scope.env,
            org_id=scope.org_id,
            actor=scope.actor,
            name=name,
            shared_cabinet=shared_cabinet,
        )

    client = in_org(ctx, work)
    show_record(client_row(client), title=f"Added client {client.id}", as_json=as_json)


@client_app.command("list")
def client_list(ctx: typer.Context, *, as_json: JsonOption = False) -> None:
    """List clients."""

    async def work(scope: OrgScope) -> list[dict[str, Any]]:
        found = await organizations.list_clients(scope.env, org_id=scope.org_id)
        return [client_row(c) for c in found]

    show_rows(in_org(ctx, work), columns=CLIENT_COLUMNS, title="Clients", as_json=as_json)


# Recipients ---------------------------------------------------------------------------

RECIPIENT_COLUMNS = (
    Column("id", "Id", "right"),
    Column("name", "Name"),
    Column("client", "Client"),
    Column("email", "Email"),
    Column("phone", "Phone"),
    Column("language", "Lang"),
    Column("status", "Status"),
    Column("access_expires_at", "Access until"),
    Column("invitation_last_sent", "Invitation last sent"),
)


def recipient_row(recipient: Recipient, client_names: dict[int, str]) -> dict[str, Any]:
    return {
        "id": recipient.id,
        "name": recipient.name,
        "client_id": recipient.client_id,
        "client": client_names.get(recipient.client_id),
        "email": recipient.email,
        "phone": recipient.phone,
        "language": recipient.language,
        "status": recipient.status,
        "telegram_linked": recipient.telegram_chat_id is not None,
        "access_expires_at": recipient.access_expires_at,
        "invitation_last_sent": recipient.invite_sent_at,
        "created_at": recipient.created_at,
    }


WhenOption = Annotated[
    When | None,
    typer.Option(
        "--access-expires",
        parser=parse_when,
        metavar="DATE",
        help=f"When access ends: {DATE_HELP}.",
        show_default=False,
    ),
]


@recipient_app.command("add")
def recipient_add(
    ctx: typer.Context,
    *,
    name: Annotated[str, typer.Argument(help="Full name.")],
    client: Annotated[str, typer.Option("--client", help="Client id or name.")],
    email: Annotated[str | None, typer.Option(help="Email address.")] = None,
    phone: Annotated[str | None, typer.Option(help="Phone number.")] = None,
    language: Annotated[str, typer.Option(help="en, pl, ru or sv.")] = "en",
    access_expires: WhenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add a recipient at a client."""

    async def work(scope: OrgScope) -> dict[str, Any]:
        added = await recipients.add_recipient(
            scope.env,
            org_id=scope.org_id,
            actor=scope.actor,
            client_id=await client_id(scope, client),
            name=name,
            email=email,
            phone=phone,
            language=language,
            access_expires_at=ending(access_expires, scope),
        )
        return recipient_row(added, await client_names(scope))

    row = in_org(ctx, work)
    show_record(row, title=f"Added recipient {row['id']}", as_json=as_json)


@recipient_app.command("list")
def recipient_list(
    ctx: typer.Context,
    *,
    client: ClientOption = None,
    include_removed: Annotated[
        bool, typer.Option("--all", help="Include recipients removed with their space.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """List recipients."""

    async def work(scope: OrgScope) -> list[dict[str, Any]]:
        found = await recipients.list_recipients(
            scope.env,
            org_id=scope.org_id,
            client_id=await client_id(scope, client) if client else None,
            include_removed=include_removed,
        )
        names = await client_names(scope)
        return [recipient_row(r, names) for r in found]

    show_rows(in_org(ctx, work), columns=RECIPIENT_COLUMNS, title="Recipients", as_json=as_json)


@recipient_app.command("edit")
def recipient_edit(
    ctx: typer.Context,
    *,
    recipient: RecipientArg,
    name: Annotated[str | None, typer.Option(help="New name.", show_default=False)] = None,
    email: Annotated[
        str | None, typer.Option(help="New email; '' clears it.", show_default=False)
    ] = None,
    phone: Annotated[
        str | None, typer.Option(help="New phone; '' clears it.", show_default=False)
    ] = None,
    language: Annotated[
        str | None, typer.Option(help="en, pl, ru or sv.", show_default=False)
    ] = None,
    access_expires: Annotated[
        str | None,
        typer.Option(
            "--access-expires",
            metavar="DATE|never",
            help=f"When access ends: {DATE_HELP}; or 'never'.",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Change a recipient's details; only the options given change."""
    expires: Any = UNSET
    if access_expires is not None:
        try:
            parsed = parse_when_or_never(access_expires)
        except typer.BadParameter as e:
            raise typer.BadParameter(e.message, param_hint="'--access-expires'") from None
        expires = None if parsed == NEVER else parsed

    async def work(scope: OrgScope) -> dict[str, Any]:
        changed = await recipients.edit_recipient(
            scope.env,
            org_id=scope.org_id,
            actor=scope.actor,
            recipient_id=await named(scope, "recipient", recipient),
            name=name,
            email=UNSET if email is None else email,
            phone=UNSET if phone is None else phone,
            language=language,
            access_expires_at=expires.ending(scope.org.timezone)
            if isinstance(expires, When)
            else expires,
        )
        return recipient_row(changed, await client_names(scope))

    row = in_org(ctx, work)
    show_record(row, title=f"Updated recipient {row['id']}", as_json=as_json)


def _set_recipient_blocked(ctx: typer.Context, *, recipient: str, blocked: bool) -> None:
    async def work(scope: OrgScope) -> Recipient:
        return await recipients.set_recipient_blocked(
            scope.env,
            org_id=scope.org_id,
            actor=scope.actor,
            recipient_id=await named(scope, "recipient", recipient),
            blocked=blocked,
        )

    changed = in_org(ctx, work)
    say(f"Recipient {changed.id} {changed.name} is now {changed.status}.")


@recipient_app.command("block")
def recipient_block(ctx: typer.Context, recipient: RecipientArg) -> None:
    """Block a recipient: they get and open nothing until unblocked."""
    _set_recipient_blocked(ctx, recipient=recipient, blocked=True)


@recipient_app.command("unblock")
def recipient_unblock(ctx: typer.Context, recipient: RecipientArg) -> None:
    """Unblock a recipient."""
    _set_recipient_blocked(ctx, recipient=recipient, blocked=False)


@recipient_app.command("show")
def recipient_show(
    ctx: typer.Context, recipient: RecipientArg, as_json: JsonOption = False
) -> None:
    """Show one recipient, with when their invitation was last sent."""

    async def work(scope: OrgScope) -> dict[str, Any]:
        found = await recipients.get_recipient(
            scope.env, org_id=scope.org_id, recipient_id=await named(scope, "recipient", recipient)
        )
        return recipient_row(found, await client_names(scope))

    row = in_org(ctx, work)
    show_record(row, title=f"Recipient {row['id']}", as_json=as_json)


@recipient_app.command("delete")
def recipient_delete(ctx: typer.Context, recipient: RecipientArg) -> None:
    """Delete a recipient who holds nothing that must be kept: no documents shared with or
    returned by them, no signature requests, nothing on its way to them. Their history
    stays. Anyone else is refused: block them instead."""

    async def work(scope: OrgScope) -> Recipient:
        try:
            return await recipients.delete_recipient(
                scope.env,
                org_id=scope.org_id,
                actor=scope.actor,
                recipient_id=await named(scope, "recipient", recipient),
            )
        except recipients.StillHolds as e:
            e.add_note(f"inkpost recipient block {shlex.quote(recipient)}")
            raise

    gone = in_org(ctx, work)
    say(f"Deleted recipient {gone.id} {gone.name}; their history stays.")


recipient_app.command("invite")(invite)
