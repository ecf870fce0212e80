"""The Slack app over Socket Mode: Slack's requests arrive on a WebSocket the app opens.

With an app-level token (``xapp-…``) nothing needs a public URL: ``apps.connections.open``
hands out a WebSocket URL, Slack sends each command, interaction and event there as an
envelope, and the app acknowledges it on the same socket (bolt's handler does that as soon
as a listener calls ``ack``, as over HTTP). slack_sdk's client keeps the connection: it
pings, and reconnects when Slack asks (``disconnect``) or the socket drops.

The first URL is asked for before anything else, so an app token Slack refuses stops the
start with Slack's reason instead of being retried forever in the background.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import aiohttp
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.app.async_app import AsyncApp
from slack_sdk.errors import SlackApiError

from bot.slack.app import SlackConfig

log = logging.getLogger(__name__)
CLIENT_LOGGER = "slack_sdk.socket_mode"
"""Where slack_sdk's connection keeping logs (quiet but for warnings in `inkpost serve`)."""
TRANSIENT_ERRORS = ("ratelimited", "service_unavailable", "fatal_error", "internal_error")
"""Slack's answers to ``apps.connections.open`` that a later attempt may not get."""


class AppTokenRefused(Exception):
    """Slack will not open a Socket Mode connection with this app token."""

    def __init__(self, error: str) -> None:
        super().__init__(f"Slack refused the app-level token: {error}")
        self.error = error
        """Slack's error name: invalid_auth, not_allowed_token_type, token_revoked…"""


@contextlib.asynccontextmanager
async def socket_mode(bolt: AsyncApp, config: SlackConfig) -> AsyncIterator[None]:
    """Serve ``bolt`` over Socket Mode while the block runs; raises `AppTokenRefused` on
    entry when Slack refuses the token."""
    if config.app_token is None:
        raise ValueError("Socket Mode needs an app-level token (xapp-…)")
    handler = AsyncSocketModeHandler(
        bolt, app_token=config.app_token, logger=logging.getLogger(CLIENT_LOGGER)
    )
    connecting: asyncio.Task[None] | None = None
    try:
        handler.client.wss_uri = await _first_url(handler)
        connecting = asyncio.create_task(_connect(handler), name="slack-socket-mode")
        yield
    finally:
        if connecting is not None:
            connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await connecting
        await handler.close_async()


async def _first_url(handler: AsyncSocketModeHandler) -> str | None:
    """A WebSocket URL to connect to, or None when Slack cannot be asked now (the client
    asks again while connecting); a refusal of the token raises."""
    client = handler.client
    try:
        response = await client.web_client.apps_connections_open(app_token=client.app_token)
        return str(response["url"])
    except SlackApiError as e:
        error = str(e.response.get("error") or "unknown_error")
        if e.response.status_code == 200 and error not in TRANSIENT_ERRORS:
            raise AppTokenRefused(error) from e
        log.warning("Slack Socket Mode: no connection yet (%s); retrying", error)
    except (aiohttp.ClientError, OSError, TimeoutError) as e:
        log.warning("Slack Socket Mode: cannot reach Slack yet (%s); retrying", e)
    return None


async def _connect(handler: AsyncSocketModeHandler) -> None:
    """Connect, retrying until it works (slack_sdk's client logs each failure)."""
    await handler.connect_async()
    log.info("Slack: connected over Socket Mode")
