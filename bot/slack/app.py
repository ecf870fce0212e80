"""The bolt app that serves Slack at ``POST /slack/events``: verify, acknowledge, dispatch.

Bolt checks every request's signature and age (401 otherwise) and, with
``process_before_response=False``, answers Slack as soon as a listener calls ``ack`` while
the listener goes on; the work happens after the ack and its message goes back through the
``response_url``. Slack retries an event it thinks was lost with ``X-Slack-Retry-Num``;
`once_per_delivery` makes sure such a repeat never does the work twice.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import blocks
from bot.slack.blocks import Message
from bot.slack.commands import Lookup, team_of
from bot.slack.feature import Call, Feature, Subcommand, Usage, Who
from workflows.context import Env
from workflows.platform import first_delivery

COMMAND = "/inkpost"
EVENTS_PATH = "/slack/events"
RETRY_HEADER = "x-slack-retry-num"
SOURCE = "slack"
HELP = Usage("help", "this list", "/inkpost help")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SlackConfig:
    bot_token: str
    signing_secret: str
    public_url: str
    api_url: str | None = None
    """The Web API base (a local fake in tests); Slack's own when None."""


def web_client(config: SlackConfig) -> AsyncWebClient:
    if config.api_url is None:
        return AsyncWebClient(token=config.bot_token)
    return AsyncWebClient(token=config.bot_token, base_url=config.api_url.rstrip("/") + "/")


def features(config: SlackConfig, env: Env) -> list[Feature]:
    """Every part of the app; each brings its subcommands, help lines and listeners."""
    return [Lookup(env, public_url=config.public_url)]


def build_app(config: SlackConfig, env: Env, *, client: AsyncWebClient | None = None) -> AsyncApp:
    """The bolt app with the `/inkpost` command, its buttons and the events it hears."""
    app = AsyncApp(
        client=client or web_client(config),
        signing_secret=config.signing_secret,
        process_before_response=False,
    )
    parts = features(config, env)
    subcommands: dict[str, Subcommand] = {}
    usages = [HELP]
    for part in parts:
        subcommands.update(part.subcommands())
        usages.extend(part.usage)
        part.register(app)
    usage_lines = [(u.usage, u.what, u.example) for u in usages]

    async def once_per_delivery(
        req: AsyncBoltRequest, body: dict[str, Any], next: Callable[[], Awaitable[BoltResponse]]
    ) -> BoltResponse:
        """Acknowledge a repeated delivery without doing its work again."""
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if isinstance(event_id, str):
            if not await first_delivery(env, source=SOURCE, update_id=event_id):
                return BoltResponse(status=200, body="")
        elif req.headers.get(RETRY_HEADER):
            return BoltResponse(status=200, body="")
        return await next()

    app.middleware(once_per_delivery)

    @app.command(COMMAND)
    async def inkpost(
        ack: AsyncAck,
        respond: AsyncRespond,
        command: dict[str, Any],
        context: Any,
        client: AsyncWebClient,
    ) -> None:
        await ack()
        name, _, args = (command.get("text") or "").strip().partition(" ")
        name = name.lower()
        if name in ("", "help"):
            message: Message | None = blocks.help_message(usage_lines)
        elif name in subcommands:
            call = Call(
                who=Who(team_id=team_of(context, command), user_id=command["user_id"]),
                args=args.strip(),
                trigger_id=str(command.get("trigger_id") or ""),
                channel_id=str(command.get("channel_id") or ""),
                client=client,
            )
            message = await subcommands[name](call)
        else:
            intro = f"I don't know `{name}`. This is what I can do:"
            message = blocks.help_message(usage_lines, intro)
        if message is not None:
            await respond(response_type="ephemeral", **message)

    @app.event("app_mention")
    async def mentioned(event: dict[str, Any], client: AsyncWebClient) -> None:
        message = blocks.help_message(usage_lines, "Type `/inkpost` with one of these:")
        await client.chat_postMessage(channel=event["channel"], **message)

    @app.error
    async def failed(error: Exception, body: dict[str, Any]) -> None:
        log.exception("Slack request failed: %s", body.get("type"), exc_info=error)

    return app


def events_handler(bolt: AsyncApp) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        response = await bolt.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(response)

    return handle


def attach(app: web.Application, bolt: AsyncApp, *, path: str = EVENTS_PATH) -> None:
    """Serve Slack's requests for ``bolt`` at ``POST path`` of ``app``."""
    app.router.add_post(path, events_handler(bolt))
