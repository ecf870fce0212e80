"""Building and running the Telegram side: the PTB application, long polling or the
webhook route."""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from telegram import BotCommand, Update
from telegram.error import TelegramError
from telegram.ext import Application, ApplicationBuilder

from bot.telegram.handlers import RecipientBot
from bot.telegram.ratelimit import ChatRateLimiter
from bot.telegram.sender import TelegramSender
from workflows.context import Env

log = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
COMMANDS = ("documents", "send", "language", "notifications", "help", "stop")


@dataclass(frozen=True)
class TelegramConfig:
    token: str
    public_url: str
    max_upload_bytes: int
    api_url: str | None = None
    """Another Bot API server (a local one, or the tests' fake); None for Telegram's."""
    webhook_secret: str | None = None
    """Set: updates arrive at POST /telegram/webhook; unset: long polling."""
    poll_timeout: float = 10.0
    rate_limit: bool = True


def build_application(config: TelegramConfig, env: Env) -> tuple[Application, RecipientBot]:
    builder: Any = ApplicationBuilder().token(config.token).concurrent_updates(32)
    if config.api_url:
        base = config.api_url.rstrip("/")
        builder = builder.base_url(f"{base}/bot").base_file_url(f"{base}/file/bot")
    if config.rate_limit:
        builder = builder.rate_limiter(ChatRateLimiter(max_retries=2))
    if config.webhook_secret:
        builder = builder.updater(None)
    application = builder.build()
    recipient_bot = RecipientBot(
        env,
        sender=TelegramSender(application.bot, env),
        public_url=config.public_url,
        max_upload_bytes=config.max_upload_bytes,
    )
    for group, handlers in recipient_bot.handlers().items():
        application.add_handlers(handlers, group=group)
    application.add_error_handler(_log_error)
    return application, recipient_bot


async def _log_error(update: object, context: object) -> None:
    error = getattr(context, "error", None)
    log.error("telegram update failed: %s", type(error).__name__, exc_info=error)


def webhook_handler(
    application: Application, secret: str
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """POST /telegram/webhook: checks Telegram's secret header, then queues the update."""

    async def handle(request: web.Request) -> web.StreamResponse:
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), secret.encode()):
            raise web.HTTPForbidden(text="forbidden")
        try:
            data = await request.json()
            update = Update.de_json(data, application.bot)
        except (json.JSONDecodeError, ValueError, TypeError, KeyError):
            raise web.HTTPBadRequest(text="not an update") from None
        await application.update_queue.put(update)
        return web.json_response({"ok": True})

    return handle


@contextlib.asynccontextmanager
async def running(application: Application, config: TelegramConfig) -> AsyncIterator[Application]:
    """Start the bot: long polling, or tell Telegram where the webhook is; stop it after."""
    await application.initialize()
    try:
        await application.bot.set_my_commands([BotCommand(c, c) for c in COMMANDS])
    except TelegramError:  # the command menu is a nicety, never a blocker
        log.warning("could not set the bot's command menu")
    await application.start()
    try:
        if config.webhook_secret:
            await application.bot.set_webhook(
                f"{config.public_url.rstrip('/')}/telegram/webhook",
                secret_token=config.webhook_secret,
                allowed_updates=Update.ALL_TYPES,
            )
        else:
            assert application.updater is not None
            await application.updater.start_polling(
                timeout=int(config.poll_timeout), allowed_updates=Update.ALL_TYPES
            )
        yield application
    finally:
        if application.updater is not None and application.updater.running:
            await application.updater.stop()
        await application.stop()
        await application.shutdown()
