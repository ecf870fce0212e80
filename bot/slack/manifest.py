"""The Slack app's manifest: what Slack's "Create an app from a manifest" takes to set up
the app Inkpost's code expects — the `/inkpost` command, the message shortcut, the Home
tab, the events the app listens to, and the bot scopes those need.

The bot scopes are derived, never listed by hand: every Web API method the code calls is
in ``WEB_API_SCOPES`` with the scopes Slack documents for it (a test scans the source and
fails when a call is missing here), and every event and surface brings its own. So the
manifest asks for exactly what the code uses, and ``inkpost doctor`` can name a scope an
installed app lacks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.slack.app import COMMAND, EVENTS_PATH, HELP
from bot.slack.feature import Usage
from bot.slack.features.api_keys import ApiKeys
from bot.slack.features.directory.directory import Directory
from bot.slack.features.lookup import Lookup
from bot.slack.features.sharing.sharing import Sharing
from bot.slack.features.signing.signing import Signing
from bot.slack.features.staff_clients import StaffClients
from bot.slack.features.status import Status
from bot.slack.features.upload.upload import Uploads
from bot.slack.features.upload.views import SHORTCUT
from bot.slack.features.webhooks import Webhooks

APP_NAME = "Inkpost"
DESCRIPTION = "Share client documents, collect signatures and follow who opened what."
SHORTCUT_NAME = "Save to Inkpost"
SHORTCUT_DESCRIPTION = "Store this message's files as documents"

WEB_API_SCOPES: Mapping[str, tuple[str, ...]] = {
    "auth.test": (),
    "chat.postMessage": ("chat:write",),
    "chat.update": ("chat:write",),
    "files.info": ("files:read",),
    "views.open": (),
    "views.publish": (),
    "views.update": (),
}
"""Every Web API method called with the bot token, and the bot scopes Slack lists for it."""


@dataclass(frozen=True)
class Subscription:
    """A bot event the app subscribes to, as the manifest names it, and its scopes."""

    event: str
    scopes: tuple[str, ...]


EVENTS: Mapping[str, tuple[Subscription, ...]] = {
    "app_home_opened": (Subscription("app_home_opened", ()),),
    "app_mention": (Subscription("app_mention", ("app_mentions:read",)),),
    # Only direct messages: files sent to the bot there (other messages are ignored).
    "message": (Subscription("message.im", ("im:history",)),),
}
"""Bolt's event listener types (``app.event(...)``) and the subscriptions they need."""

SURFACE_SCOPES: Mapping[str, tuple[str, ...]] = {
    "slash command": ("commands",),
    "message shortcut": ("commands",),
    "file download (url_private_download)": ("files:read",),
}
"""What the app does besides Web API calls and events, and the scopes it takes."""


def bot_scopes() -> list[str]:
    """The bot scopes the code needs, sorted."""
    needed: set[str] = set()
    for scopes in (*WEB_API_SCOPES.values(), *SURFACE_SCOPES.values()):
        needed.update(scopes)
    for subscriptions in EVENTS.values():
        for subscription in subscriptions:
            needed.update(subscription.scopes)
    return sorted(needed)


def bot_events() -> list[str]:
    """The bot events the manifest subscribes to, sorted."""
    return sorted({s.event for subscriptions in EVENTS.values() for s in subscriptions})


def subcommand_names() -> list[str]:
    """The `/inkpost` subcommands, in the order `/inkpost help` lists them."""
    usages: list[Usage] = [HELP]
    features = (Lookup, Sharing, Signing, Uploads, Status, Directory, StaffClients, Webhooks)
    for feature in (*features, ApiKeys):
        usages.extend(feature.usage)
    return [usage.usage.split(" ")[0] for usage in usages]


def manifest(*, public_url: str, socket_mode: bool, name: str = APP_NAME) -> dict[str, Any]:
    """The app manifest (JSON-ready) for an installation at ``public_url``; with
    ``socket_mode``, requests come over the WebSocket and no request URL is given."""
    url = None if socket_mode else public_url.rstrip("/") + EVENTS_PATH
    command: dict[str, Any] = {
        "command": COMMAND,
        "description": "Share documents, collect signatures, see who opened what",
        "usage_hint": " | ".join(subcommand_names()),
        "should_escape": False,
    }
    interactivity: dict[str, Any] = {"is_enabled": True}
    events: dict[str, Any] = {"bot_events": bot_events()}
    if url is not None:
        command["url"] = url
        interactivity["request_url"] = url
        interactivity["message_menu_options_url"] = url
        events["request_url"] = url
    return {
        "_metadata": {"major_version": 1, "minor_version": 1},
        "display_information": {"name": name, "description": DESCRIPTION},
        "features": {
            "app_home": {
                "home_tab_enabled": True,
                "messages_tab_enabled": True,
                "messages_tab_read_only_enabled": False,
            },
            "bot_user": {"display_name": name, "always_online": True},
            "shortcuts": [
                {
                    "name": SHORTCUT_NAME,
                    "type": "message",
                    "callback_id": SHORTCUT,
                    "description": SHORTCUT_DESCRIPTION,
                }
            ],
            "slash_commands": [command],
        },
        "oauth_config": {"scopes": {"bot": bot_scopes()}},
        "settings": {
            "event_subscriptions": events,
            "interactivity": interactivity,
            "org_deploy_enabled": False,
            "socket_mode_enabled": socket_mode,
            "token_rotation_enabled": False,
        },
    }


def missing_scopes(granted: Sequence[str]) -> list[str]:
    """The bot scopes the code needs that ``granted`` lacks, sorted."""
    have = {scope.strip() for scope in granted}
    return [scope for scope in bot_scopes() if scope not in have]
