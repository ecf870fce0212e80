"""The chat services beside the web pages in `inkpost serve`: the Slack app for staff
(at POST /slack/events, or over Socket Mode with an app token) with its worker for staff
notices, the Telegram bot for recipients, the delivery worker (Telegram, with mail as the
fallback), the worker that seals completed signature requests, and the one that calls
organisations' webhook endpoints. Each worker runs the outbox's one loop
(`workflows.outbox.loop`) for as long as the app (``cleanup_ctx``).

Of all the processes serving one installation, only the one holding a role
(`inkpost.roles`) takes the bot's updates from Telegram and sends through it, and only one
posts staff notices to Slack: those limits are per bot. Sealing, webhooks and the scans
run in every process; their claims and dedupe keys keep them from doing anything twice."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import timedelta

from aiohttp import web
from slack_bolt.app.async_app import AsyncApp
from telegram import Bot
from telegram.error import TelegramError
from telegram.ext import Application

from bot.delivery import RecipientDelivery
from bot.mail import MailSender, SmtpConfig
from bot.slack import app as slack_app
from bot.slack import notify as slack_notify
from bot.slack.socket_mode import AppTokenRefused, socket_mode
from bot.telegram.app import (
    TelegramConfig,
    build_application,
    receiving,
    started,
    webhook_handler,
)
from bot.telegram.sender import TelegramSender
from inkpost import scheduler, sealer, webhooks
from inkpost.errors import UserError
from inkpost.roles import RoleHolder, Work
from inkpost.runtime import Runtime
from inkpost.settings import Settings
from storage.role_locks import role_lock
from workflows.context import Env
from workflows.errors import Unavailable
from workflows.signing.seal_keys import SealKey

TELEGRAM_API = "https://api.telegram.org"
TELEGRAM_ROLE = "telegram-bot"
"""Takes the bot's updates from Telegram and sends through it (recipients' notices, by
Telegram and by mail): one process at a time, under Telegram's limits per bot."""
SLACK_ROLE = "slack-notices"
"""Posts staff notices through the Slack app, at Slack's pace per channel."""


def telegram_config(settings: Settings) -> TelegramConfig | None:
    if settings.telegram_token is None:
        return None
    secret = settings.telegram_webhook_secret
    return TelegramConfig(
        token=settings.telegram_token.get_secret_value(),
        public_url=settings.public_url,
        max_upload_bytes=settings.max_upload_bytes,
        api_url=settings.telegram_api_url,
        webhook_secret=secret.get_secret_value() if secret else None,
    )


def slack_config(settings: Settings) -> slack_app.SlackConfig | None:
    """Slack is on with the bot token plus the app token (Socket Mode) or the signing
    secret (HTTP)."""
    token, secret = settings.slack_bot_token, settings.slack_signing_secret
    app_token = settings.slack_app_token
    if token is None or (secret is None and app_token is None):
        return None
    return slack_app.SlackConfig(
        bot_token=token.get_secret_value(),
        signing_secret=secret.get_secret_value() if secret else None,
        public_url=settings.public_url,
        api_url=settings.slack_api_url,
        app_token=app_token.get_secret_value() if app_token else None,
        webhook_policy=webhooks.address_policy(settings),
    )


def bot_username(bot: Bot) -> Callable[[], Awaitable[str]]:
    """Asks the Bot API who the bot is (getMe) when an invitation link needs its name."""

    async def username() -> str:
        try:
            me = await bot.get_me()
        except TelegramError as e:
            raise Unavailable(f"Telegram did not tell the bot's name ({e.message})") from e
        if not me.username:
            raise Unavailable("the Telegram bot has no username to link to")
        return me.username

    return username


def mail_sender(settings: Settings) -> MailSender | None:
    if settings.smtp_url is None:
        return None
    return MailSender(
        SmtpConfig.from_url(settings.smtp_url.get_secret_value(), sender=settings.mail_from)
    )


def recipient_delivery(
    settings: Settings,
    env: Env,
    *,
    telegram: TelegramSender | None,
    mail: MailSender | None,
) -> RecipientDelivery:
    """The worker that takes recipients' notifications out, as the settings tune it."""
    return RecipientDelivery(
        env,
        public_url=settings.public_url,
        telegram=telegram,
        mail=mail,
        telegram_username=bot_username(telegram.bot) if telegram is not None else None,
        lease=timedelta(seconds=settings.outbox_lease_seconds),
        unsettled=settings.outbox_unsettled,
    )


def staff_notices(
    runtime: Runtime, config: slack_app.SlackConfig
) -> Callable[[web.Application], AsyncIterator[None]]:
    """The Slack worker that posts staff notices, in the process that holds its role, as
    long as the app runs."""

    def work() -> contextlib.AbstractAsyncContextManager[None]:
        notifier = slack_notify.StaffNotifier(
            runtime.env,
            slack_app.web_client(config),
            lease=timedelta(seconds=runtime.settings.outbox_lease_seconds),
        )
        return notifier.loop.running()

    async def lifetime(_: web.Application) -> AsyncIterator[None]:
        async with role(runtime, SLACK_ROLE, work).contending():
            yield

    return lifetime


def role(runtime: Runtime, name: str, work: Work) -> RoleHolder:
    """``work`` in whichever serving process of the installation holds role ``name``."""
    return RoleHolder(
        role_lock(runtime.engine, name),
        work,
        retry_seconds=runtime.settings.role_retry_seconds,
    )


def slack_socket(
    bolt: AsyncApp, config: slack_app.SlackConfig
) -> Callable[[web.Application], AsyncIterator[None]]:
    """The Socket Mode connection, open as long as the app; a refused app token stops the
    start with one line."""

    async def lifetime(_: web.Application) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            try:
                await stack.enter_async_context(socket_mode(bolt, config))
            except AppTokenRefused as e:
                raise UserError(f"Slack refused INKPOST_SLACK_APP_TOKEN: {e.error}") from e
            yield

    return lifetime


def sealing(runtime: Runtime, seal: SealKey) -> Callable[[web.Application], AsyncIterator[None]]:
    """The worker that seals completed signature requests with ``seal``, timestamped by
    the configured authority."""
    worker = sealer.SealWorker(
        runtime.env,
        key=seal,
        timestamper=sealer.timestamper(runtime.settings),
        fetcher_backend=sealer.fetcher_backend(),
    )
    return worker.loop.lifetime()


def attach(app: web.Application, runtime: Runtime, *, seal: SealKey | None = None) -> None:
    """Add the configured services to ``app``: routes now, start and stop with the app;
    with ``seal``, the worker that seals completed signature requests and the job that
    writes sealed checkpoints of the history."""
    settings = runtime.settings
    config = telegram_config(settings)
    mail = mail_sender(settings)
    application: Application | None = None
    if seal is not None:
        app.cleanup_ctx.append(sealing(runtime, seal))
    app.cleanup_ctx.append(webhooks.lifetime(runtime))
    app.cleanup_ctx.append(
        scheduler.lifetime(
            runtime.env,
            interval_seconds=settings.scan_interval_seconds,
            checkpointing=scheduler.checkpoint_plan(settings, seal),
        )
    )
    if config is not None:
        application, _ = build_application(config, runtime.env)
        if config.webhook_secret:
            app.router.add_post(
                "/telegram/webhook", webhook_handler(application, config.webhook_secret)
            )
    slack = slack_config(settings)
    if slack is not None:
        if application is not None:
            slack = replace(slack, telegram_username=bot_username(application.bot))
        bolt = slack_app.build_app(slack, runtime.env)
        if slack.socket_mode:
            app.cleanup_ctx.append(slack_socket(bolt, slack))
        else:
            slack_app.attach(app, bolt)
        app.cleanup_ctx.append(staff_notices(runtime, slack))
    if application is not None and config is not None:
        app.cleanup_ctx.append(telegram_bot(runtime, application, config, mail=mail))
    elif mail is not None:
        worker = recipient_delivery(settings, runtime.env, telegram=None, mail=mail)
        app.cleanup_ctx.append(worker.loop.lifetime())


def telegram_bot(
    runtime: Runtime, application: Application, config: TelegramConfig, *, mail: MailSender | None
) -> Callable[[web.Application], AsyncIterator[None]]:
    """The Telegram bot as long as the app runs: in every process, ready to handle the
    updates the webhook route is given; in the one that holds its role, taking updates
    from Telegram and delivering recipients' notices through it (and by mail)."""

    @contextlib.asynccontextmanager
    async def work() -> AsyncIterator[None]:
        telegram = TelegramSender(application.bot, runtime.env)
        worker = recipient_delivery(runtime.settings, runtime.env, telegram=telegram, mail=mail)
        async with receiving(application, config), worker.loop.running():
            yield

    async def lifetime(_: web.Application) -> AsyncIterator[None]:
        async with started(application), role(runtime, TELEGRAM_ROLE, work).contending():
            yield

    return lifetime
