"""`inkpost slack`: setting up the Slack app for staff."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

import typer

from bot.slack.manifest import manifest
from inkpost.cli.context import cli_state
from inkpost.cli.output import emit_json, warn

slack_app = typer.Typer(help="The Slack app for staff.", no_args_is_help=True)


@slack_app.command("manifest")
def slack_manifest(
    ctx: typer.Context,
    *,
    socket_mode: Annotated[
        bool | None,
        typer.Option(
            "--socket-mode/--http",
            help="Requests over Socket Mode or to INKPOST_PUBLIC_URL/slack/events "
            "(default: Socket Mode when INKPOST_SLACK_APP_TOKEN is set).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Print the app manifest (JSON) to paste into Slack's "Create an app from a manifest":
    the /inkpost command, the message shortcut, the Home tab, events and bot scopes."""
    state = cli_state(ctx)
    settings = state.settings
    over_socket = settings.slack_app_token is not None if socket_mode is None else socket_mode
    if not over_socket:
        if not state.explicit_public_url:
            warn(
                f"INKPOST_PUBLIC_URL is not set: the request URLs point at "
                f"{settings.public_url}, which Slack cannot reach"
            )
        elif urlsplit(settings.public_url).scheme != "https":
            warn(
                f"Slack sends requests only to https:// URLs, and INKPOST_PUBLIC_URL is "
                f"{settings.public_url}"
            )
    emit_json(manifest(public_url=settings.public_url, socket_mode=over_socket))
