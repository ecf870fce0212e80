"""The bolt app that serves Slack at ``POST /slack/events``: verify, acknowledge, dispatch.

Bolt checks every request's signature and age (401 otherwise) and, with
``process_before_response=False``, answers Slack as soon as a listener calls ``ack`` while
the listener goes on; the work happens after the ack and its message goes back through the
``response_url``. Slack retries an event it thinks was lost with ``X-Slack-Retry-Num``;
`once_per_delivery` makes sure such a repeat never does the work twice.

With an app-level token the same app runs in Socket Mode instead (`bot.slack.socket_mode`):
requests arrive over a WebSocket the app opened, so there is no URL to sign for and no
route; a Socket Mode envelope's ``retry_attempt`` reaches the middleware as the same header.
"""

from __future__ import annotations

import logging
import secrets
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
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import blocks
from bot.slack.blocks import Message
from bot.slack.feature import Call, Feature, Subcommand, Usage, Who
from bot.slack.features.api_keys import ApiKeys
from bot.slack.features.directory.directory import BotUsername, Directory
from bot.slack.features.lookup import Lookup
from bot.slack.features.sharing.sharing import Sharing
from bot.slack.features.signing.signing import Signing
from bot.slack.features.staff_clients import StaffClients
from bot.slack.features.status import Status
from bot.slack.features.upload.upload import Uploads
from bot.slack.features.webhooks import Webhooks
from bot.slack.listeners import RefusingApp, team_of
from storage.errors import log_failure
from workflows.context import Env
from workflows.platform import first_delivery
from workflows.webhooks.addresses import AddressPolicy

COMMAND = "/inkpost"
EVENTS_PATH = "/slack/events"
RETRY_HEADER = "x-slack-retry-num"
SOURCE = "slack"
SIGNATURES = "slack-signature"
"""Where the signatures of requests already received are kept, one row each."""
HELP = Usage("help", "this list", "/inkpost help")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SlackConfig:
    bot_token: str
    signing_secret: str | None
    """Verifies requests to ``POST /slack/events``; not needed in Socket Mode."""
    public_url: str
    api_url: str | None = None
    """The Web API base (a local fake in tests); Slack's own when None."""
    telegram_username: BotUsername | None = None
    """Says the Telegram bot's @username for invitation links; None when Telegram is off."""
    app_token: str | None = None
    """The app-level token (``xapp-…``): Socket Mode instead of HTTP when set."""
    webhook_policy: AddressPolicy = AddressPolicy()
    """Where webhook endpoints added in Slack may point (the operator's setting)."""

    def __post_init__(self) -> None:
        if self.app_token is None and not self.signing_secret:
            raise ValueError("Slack over HTTP needs the signing secret")

    @property
    def socket_mode(self) -> bool:
        return self.app_token is not None


def web_client(config: SlackConfig, *, wait_when_limited: bool = False) -> AsyncWebClient:
    """The Web API client; with ``wait_when_limited``, a 429 waits its Retry-After and is
    tried again (twice at most) — for answering people, not for the outbox's workers,
    which settle a 429 themselves."""
    if config.api_url is None:
        client = AsyncWebClient(token=config.bot_token)
    else:
        client = AsyncWebClient(token=config.bot_token, base_url=config.api_url.rstrip("/") + "/")
    if wait_when_limited:
        client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=2))
    return client


def features(config: SlackConfig, env: Env) -> list[Feature]:
    """Every part of the app; each brings its subcommands, help lines and listeners."""
    return [
        Lookup(env, public_url=config.public_url),
        Sharing(env),
        Signing(env, public_url=config.public_url),
        Uploads(env, api_url=config.api_url),
        Status(env),
        Directory(env, telegram_username=config.telegram_username),
        StaffClients(env),
        Webhooks(env, policy=config.webhook_policy),
        ApiKeys(env),
    ]


def build_app(config: SlackConfig, env: Env, *, client: AsyncWebClient | None = None) -> AsyncApp:
    """The bolt app with the `/inkpost` command, its buttons and the events it hears."""
    app = AsyncApp(
        client=client or web_client(config, wait_when_limited=True),
        signing_secret=config.signing_secret or _unguessable_secret(),
        process_before_response=False,
    )
    listeners = RefusingApp(app)
    parts = features(config, env)
    subcommands: dict[str, Subcommand] = {}
    usages = [HELP]
    for part in parts:
        subcommands.update(part.subcommands())
        usages.extend(part.usage)
    usage_lines = [(u.usage, u.what, u.example) for u in usages]

    async def once_per_delivery(
        req: AsyncBoltRequest, body: dict[str, Any], next: Callable[[], Awaitable[BoltResponse]]
    ) -> BoltResponse:
        """Acknowledge a repeated delivery without doing its work again, and refuse a
        signed request sent a second time (a captured request replayed within the five
        minutes its signature is good for): Slack signs every request it sends anew."""
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if isinstance(event_id, str):
            if not await first_delivery(env, source=SOURCE, update_id=event_id):
                return BoltResponse(status=200, body="")
        elif _retry_number(req) > 0:
            return BoltResponse(status=200, body="")
        signature = (req.headers.get("x-slack-signature") or [""])[0].removeprefix("v0=")
        if signature and not await first_delivery(env, source=SIGNATURES, update_id=signature[:64]):
            log.warning("refused a replayed Slack request")
            return BoltResponse(status=401, body="this request was already received")
        return await next()

    app.middleware(once_per_delivery)

    @listeners.command(COMMAND)
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

    # Bolt tries listeners in the order they were added: the command, by far the most
    # frequent request, goes first, so it is matched before dozens of button listeners.
    for part in parts:
        part.register(listeners)

    @listeners.event("app_mention")
    async def mentioned(event: dict[str, Any], client: AsyncWebClient) -> None:
        message = blocks.help_message(usage_lines, "Type `/inkpost` with one of these:")
        await client.chat_postMessage(channel=event["channel"], **message)

    @listeners.event("message")
    async def unwanted_message() -> None:
        """Messages no feature listens for are acknowledged: Slack retries a 404."""

    @app.error
    async def failed(error: Exception, body: dict[str, Any]) -> None:
        """A listener's fault; a workflow's refusal never gets here (`RefusingApp`)."""
        log_failure(log, error, "Slack request failed: %s", body.get("type"))

    return app


def _unguessable_secret() -> str:
    """A signing secret nobody knows, for Socket Mode apps without one: Socket Mode requests
    skip signature checks (they come over the app's own authenticated WebSocket), while any
    HTTP request reaching such an app by mistake fails verification with 401."""
    return secrets.token_urlsafe(32)


def _retry_number(req: AsyncBoltRequest) -> int:
    """Which retry of a delivery this is: 0 for the first (Socket Mode sends
    ``retry_attempt: 0`` on first deliveries, HTTP sends no header)."""
    values = req.headers.get(RETRY_HEADER) or ["0"]
    try:
        return int(values[0])
    except ValueError:
        return 0


def events_handler(bolt: AsyncApp) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        response = await bolt.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(response)

    return handle


def attach(app: web.Application, bolt: AsyncApp, *, path: str = EVENTS_PATH) -> None:
    """Serve Slack's requests for ``bolt`` at ``POST path`` of ``app``."""
    app.router.add_post(path, events_handler(bolt))
