"""CLI commands about organisations (tenants): creating one, its settings, the list."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer

from inkpost.cli.context import JsonOption, OrgScope, in_org, operator, with_runtime
from inkpost.cli.output import Column, show_record, show_rows
from inkpost.errors import UserError
from inkpost.runtime import Runtime
from storage.models import Organization
from storage.rows import id_of
from workflows.people import organizations
from workflows.sharing import staff_notices

org_app = typer.Typer(help="Organisations (tenants).", no_args_is_help=True)


class ActiveContent(StrEnum):
    ALLOW = "allow"
    REFUSE = "refuse"


SlackChannelOption = Annotated[
    str | None,
    typer.Option(
        "--slack-channel",
        help="Slack channel id (like C0123ABCD) that gets every staff notice; "
        "'' sends each to the staff member who shared.",
        show_default=False,
    ),
]
ContactEmailOption = Annotated[
    str | None,
    typer.Option(
        "--contact-email",
        help="Address clients may write to, shown on the pages that tell them something "
        "went wrong; '' removes it.",
        show_default=False,
    ),
]
ContactPhoneOption = Annotated[
    str | None,
    typer.Option(
        "--contact-phone",
        help="Number clients may call (digits, spaces, +, -, ( and )), shown beside the "
        "address; '' removes it.",
        show_default=False,
    ),
]
ORG_COLUMNS = (
    Column("id", "Id", "right"),
    Column("slug", "Slug"),
    Column("name", "Name"),
    Column("slack_team_id", "Slack team"),
    Column("slack_channel", "Notice channel"),
    Column("default_language", "Language"),
    Column("allow_active_content", "Active content"),
    Column("contact_email", "Contact email"),
    Column("contact_phone", "Contact phone"),
    Column("created_at", "Created"),
)


def org_row(org: Organization) -> dict[str, Any]:
    return {
        "id": org.id,
        "slug": org.slug,
        "name": org.name,
        "slack_team_id": org.slack_team_id,
        "slack_channel": org.slack_channel,
        "default_language": org.default_language,
        "timezone": org.timezone,
        "categories": list(org.categories),
        "allow_active_content": org.allow_active_content,
        "contact_email": org.contact_email,
        "contact_phone": org.contact_phone,
        "created_at": org.created_at,
    }


@org_app.command("create")
def org_create(
    ctx: typer.Context,
    *,
    slug: Annotated[str, typer.Argument(help="Short name: a-z, 0-9 and '-'.")],
    name: Annotated[str, typer.Argument(help="The organisation's full name.")],
    slack_team: Annotated[
        str | None, typer.Option("--slack-team", help="Slack team (workspace) id, like T0123.")
    ] = None,
    slack_channel: SlackChannelOption = None,
    language: Annotated[str, typer.Option(help="Default language.")] = "en",
    timezone: Annotated[str, typer.Option(help="Time zone name.")] = "UTC",
    contact_email: ContactEmailOption = None,
    contact_phone: ContactPhoneOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create an organisation."""

    actor = operator()

    async def work(runtime: Runtime) -> Organization:
        channel = staff_notices.check_slack_channel(slack_channel)
        org = await organizations.create_organization(
            runtime.env,
            slug=slug,
            name=name,
            actor=actor,
            slack_team_id=slack_team,
            default_language=language,
            timezone=timezone,
            contact_email=contact_email,
            contact_phone=contact_phone,
        )
        if channel is None:
            return org
        return await staff_notices.set_notice_channel(
            runtime.env, org_id=id_of(org), actor=actor, channel=channel
        )

    org = with_runtime(ctx, work)
    show_record(org_row(org), title=f"Created organisation {org.slug}", as_json=as_json)


@org_app.command("edit")
def org_edit(
    ctx: typer.Context,
    *,
    slack_channel: SlackChannelOption = None,
    active_content: Annotated[
        ActiveContent | None,
        typer.Option(
            help="Whether uploads may be PDFs that run JavaScript or programs by themselves "
            "(refused by default; each accepted one records what it holds).",
            case_sensitive=False,
        ),
    ] = None,
    contact_email: ContactEmailOption = None,
    contact_phone: ContactPhoneOption = None,
    as_json: JsonOption = False,
) -> None:
    """Change the organisation's settings (the one --org names, or the only one)."""
    contacts = (contact_email, contact_phone)
    if slack_channel is None and active_content is None and contacts == (None, None):
        raise UserError(
            "say what to change: --slack-channel C0123ABCD, --active-content allow, "
            "--contact-email office@example.com or --contact-phone '+46 8 123 456 78'"
        )

    async def work(scope: OrgScope) -> Organization:
        # Every value is checked before the first is saved: a bad one changes nothing.
        if slack_channel is not None:
            staff_notices.check_slack_channel(slack_channel)
        organizations.check_contact_email(contact_email)
        organizations.check_contact_phone(contact_phone)
        org = None
        if slack_channel is not None:
            org = await staff_notices.set_notice_channel(
                scope.env, org_id=scope.org_id, actor=scope.actor, channel=slack_channel
            )
        if active_content is not None:
            org = await organizations.set_active_content(
                scope.env,
                org_id=scope.org_id,
                actor=scope.actor,
                allow=active_content is ActiveContent.ALLOW,
            )
        if contacts != (None, None):
            org = await organizations.set_contacts(
                scope.env,
                org_id=scope.org_id,
                actor=scope.actor,
                email=contact_email,
                phone=contact_phone,
            )
        assert org is not None
        return org

    org = in_org(ctx, work)
    show_record(org_row(org), title=f"Updated organisation {org.slug}", as_json=as_json)


@org_app.command("list")
def org_list(ctx: typer.Context, *, as_json: JsonOption = False) -> None:
    """List organisations."""

    async def work(runtime: Runtime) -> list[dict[str, Any]]:
        return [org_row(o) for o in await organizations.list_organizations(runtime.env)]

    show_rows(with_runtime(ctx, work), columns=ORG_COLUMNS, title="Organisations", as_json=as_json)
