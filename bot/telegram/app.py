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
from telegram import Bot, BotCommand, Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import Application, ApplicationBuilder

from bot.i18n import FALLBACK, LANGUAGES, text
from bot.telegram import messages
from bot.telegram.handlers import RecipientBot
from bot.telegram.ratelimit import ChatRateLimiter
from bot.telegram.refusals import tell_store_down
from bot.telegram.sender import TelegramSender
from storage.errors import store_unreachable
from workflows.context import Env

log = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
COMMANDS = ("documents", "send", "language", "notifications", "help", "stop")
"""The commands in the bot's menu, in menu order; each is described by ``command.<name>``."""


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


def command_menu(language: str) -> list[BotCommand]:
    """The command menu in ``language``, each command described from the catalogue."""
    return [BotCommand(name, text(language, f"command.{name}", escape=False)) for name in COMMANDS]


async def set_command_menus(bot: Bot) -> None:
    """The menu in English for everyone, and in each catalogue's language for the users whose
    Telegram is set to it.

    The menu is a nicety, never a blocker: a language Telegram refuses is logged and skipped,
    and when Telegram cannot be reached the remaining languages are not tried.
    """
    menus: list[tuple[str, str | None]] = [(FALLBACK, None)]
    menus += [(language, language) for language in LANGUAGES]
    for language, language_code in menus:
        which = language_code or "default"
        try:
            await bot.set_my_commands(command_menu(language), language_code=language_code)
        except BadRequest as e:
            log.warning("Telegram refused the %s command menu: %s", which, e.message)
        except TelegramError as e:
            log.warning("could not set the %s command menu: %s", which, type(e).__name__)
            return


async def set_menu_button(bot: Bot, public_url: str) -> None:
    """Every chat's menu button, until a chat is given its own: the portal as a Mini App
    when the installation is served over HTTPS, else the list of commands. A nicety: a
    failure is only logged."""
    try:
        await bot.set_chat_menu_button(
            menu_button=messages.portal_menu_button(public_url, FALLBACK)
        )
    except TelegramError as e:
        log.warning("could not set the menu button: %s", type(e).__name__)


async def _log_error(update: object, context: object) -> None:
    """What no handler answered. A failed connection (the store out of reach) is told to
    the person (try again in a few minutes) and logged in one line; anything else is
    logged with its trace."""
    error = getattr(context, "error", None)
    if not isinstance(error, Exception) or not store_unreachable(error):
        log.error("telegram update failed: %s", type(error).__name__, exc_info=error)
        return
    log.warning("a telegram update failed, a connection failed: %s", type(error).__name__)
    if isinstance(update, Update):
        try:
            await tell_store_down(update)
        except TelegramError as e:
            log.warning("could not tell the person to try again later: %s", type(e).__name__)


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
    async with started(application), receiving(application, config):
        yield application


@contextlib.asynccontextmanager
async def started(application: Application) -> AsyncIterator[Application]:
    """The bot ready to call the Bot API and to handle the updates put in its queue (by the
    webhook route), but not asking Telegram for any: what every serving process runs."""
    await application.initialize()
    await application.start()
    try:
        yield application
    finally:
        await application.stop()
        await application.shutdown()


@contextlib.asynccontextmanager
async def receiving(application: Application, config: TelegramConfig) -> AsyncIterator[None]:
    """Set the menus, then take updates from Telegram: by long polling, or by telling it
    where the webhook is. One process of an installation at a time: Telegram answers a
    second poller with 409 Conflict."""
    await set_command_menus(application.bot)
    await set_menu_button(application.bot, config.public_url)
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
        yield
    finally:
        if application.updater is not None and application.updater.running:
            await application.updater.stop()
