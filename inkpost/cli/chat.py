"""CLI commands for reaching recipients: Telegram invitations and the outbox."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from inkpost.cli.context import (
    JsonOption,
    OrgScope,
    in_org,
    named,
    named_argument,
    settings_of,
)
from inkpost.cli.output import Column, say, show_record, show_rows
from inkpost.errors import UserError
from inkpost.settings import Settings
from storage.models import Notification
from workflows import outbox
from workflows.outbox import claims
from workflows.outbox.kinds import Status
from workflows.people import linking

outbox_app = typer.Typer(
    help="The outbox: notifications waiting, sent or given up.", no_args_is_help=True
)

RecipientArg = Annotated[str, named_argument("recipient", "RECIPIENT")]


async def bot_username(settings: Settings) -> str:
    """The bot's @username, asked of the Bot API (getMe)."""
    from telegram import Bot
    from telegram.error import TelegramError

    if settings.telegram_token is None:
        raise UserError("Telegram is not configured: set INKPOST_TELEGRAM_TOKEN")
    base = (settings.telegram_api_url or "https://api.telegram.org").rstrip("/")
    bot = Bot(
        settings.telegram_token.get_secret_value(),
        base_url=f"{base}/bot",
        base_file_url=f"{base}/file/bot",
    )
    try:
        async with bot:
            return bot.username
    except TelegramError as e:
        raise UserError(f"the Telegram Bot API did not answer getMe: {e.message}") from e


def invite(ctx: typer.Context, recipient: RecipientArg, as_json: JsonOption = False) -> None:
    """Invite a recipient: by mail when they have an address and a mail server is set up
    (a one-time link to their portal, and one to link Telegram where it is set up), else a
    single-use Telegram link printed here to hand over. Each works for 7 days; inviting
    again sends a fresh invitation, at most once a minute."""
    settings = settings_of(ctx)

    async def bot_name() -> str:
        return await bot_username(settings)

    async def work(scope: OrgScope) -> dict[str, Any]:
        recipient_id = await named(scope, "recipient", recipient)
        made = await linking.invite_recipient(
            scope.env,
            org_id=scope.org_id,
            actor=scope.actor,
            recipient_id=recipient_id,
            bot_name=bot_name if settings.telegram_token is not None else None,
        )
        not_mailed = made.not_mailed
        if not_mailed is not None and "email" not in scope.env.reach:
            not_mailed += " (set INKPOST_SMTP_URL)"
        return {
            "recipient_id": recipient_id,
            "name": made.recipient.name,
            "mailed_to": made.mailed_to,
            "not_mailed": not_mailed,
            "telegram": settings.telegram_token is not None,
            "link": f"https://t.me/{made.bot}?start={made.code}" if made.code else None,
            "expires_at": made.expires_at,
        }

    result = in_org(ctx, work)
    if as_json:
        show_record(result, title="Invitation", as_json=True)
        return
    if result["mailed_to"]:
        links = "their portal and Telegram" if result["telegram"] else "their portal"
        say(
            f"Invitation for {result['name']} is on its way to {result['mailed_to']}, with "
            f"one-time links to {links}, each valid for {linking.INVITE_LIFETIME.days} days "
            "from when it goes out."
        )
        return
    say(f"No mail was sent: {result['not_mailed']}.")
    say(f"Invitation for {result['name']} (valid until {result['expires_at']:%Y-%m-%d %H:%M} UTC):")
    say(result["link"])


OUTBOX_COLUMNS = (
    Column("id", "Id", "right"),
    Column("kind", "Kind"),
    Column("channel", "Channel"),
    Column("target", "Target"),
    Column("status", "Status"),
    Column("attempts", "Attempts", "right"),
    Column("next_attempt_at", "Next attempt"),
    Column("last_error", "Last error"),
)


def outbox_row(row: Notification) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "channel": row.channel,
        "target": row.target,
        "status": row.status,
        "attempts": row.attempts,
        "next_attempt_at": row.next_attempt_at,
        "delivered_via": row.delivered_via,
        "last_error": row.last_error,
        "created_at": row.created_at,
    }


@outbox_app.command("list")
def outbox_list(
    ctx: typer.Context,
    *,
    dead: Annotated[bool, typer.Option("--dead", help="Only notifications given up.")] = False,
    status: Annotated[
        str | None, typer.Option(help="pending, sending, sent, waiting, dead or cancelled.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
    as_json: JsonOption = False,
) -> None:
    """List notifications, oldest first."""
    if dead and status and status != Status.DEAD:
        raise UserError("--dead and --status go together only as --status dead")
    wanted = Status.DEAD if dead else status

    async def work(scope: OrgScope) -> list[dict[str, Any]]:
        rows = await outbox.list_notifications(
            scope.env, org_id=scope.org_id, status=wanted, limit=limit
        )
        return [outbox_row(row) for row in rows]

    show_rows(in_org(ctx, work), columns=OUTBOX_COLUMNS, title="Notifications", as_json=as_json)


@outbox_app.command("retry")
def outbox_retry(
    ctx: typer.Context,
    ids: Annotated[list[int] | None, typer.Argument(help="Ids of dead notifications.")] = None,
    *,
    every: Annotated[bool, typer.Option("--all", help="Every dead notification.")] = False,
) -> None:
    """Give dead notifications a fresh set of attempts, now."""
    if not ids and not every:
        raise UserError("name the notifications to retry, or pass --all")
    if ids and every:
        raise UserError("give ids or --all, not both")

    async def work(scope: OrgScope) -> int:
        return await claims.retry_dead(scope.env, org_id=scope.org_id, ids=ids or None)

    count = in_org(ctx, work)
    say(f"{count} notification{'s' if count != 1 else ''} will be tried again.")
