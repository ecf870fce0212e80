"""The chat services beside the web pages in `inkpost serve`: the Slack app for staff
(at POST /slack/events), the Telegram bot for recipients, and the delivery worker
(Telegram, with mail as the fallback)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

from aiohttp import web
from telegram.ext import Application

from bot.delivery import RecipientDelivery
from bot.mail import MailSender, SmtpConfig
from bot.slack import app as slack_app
from bot.telegram.app import TelegramConfig, build_application, running, webhook_handler
from bot.telegram.sender import TelegramSender
from inkpost.runtime import Runtime
from inkpost.settings import Settings
from workflows.context import Env

TELEGRAM_API = "https://api.telegram.org"


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
    token, secret = settings.slack_bot_token, settings.slack_signing_secret
    if token is None or secret is None:
        return None
    return slack_app.SlackConfig(
        bot_token=token.get_secret_value(),
        signing_secret=secret.get_secret_value(),
        public_url=settings.public_url,
        api_url=settings.slack_api_url,
    )


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
        lease=timedelta(seconds=settings.outbox_lease_seconds),
        unsettled=settings.outbox_unsettled,
    )


def attach(app: web.Application, runtime: Runtime) -> None:
    """Add the configured services to ``app``: routes now, start and stop with the app."""
    settings = runtime.settings
    config = telegram_config(settings)
    mail = mail_sender(settings)
    application: Application | None = None
    slack = slack_config(settings)
    if slack is not None:
        slack_app.attach(app, slack_app.build_app(slack, runtime.env))
    if config is not None:
        application, _ = build_application(config, runtime.env)
        if config.webhook_secret:
            app.router.add_post(
                "/telegram/webhook", webhook_handler(application, config.webhook_secret)
            )
    if config is None and mail is None:
        return

    async def lifetime(_: web.Application) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            telegram = None
            if application is not None and config is not None:
                await stack.enter_async_context(running(application, config))
                telegram = TelegramSender(application.bot, runtime.env)
            worker = recipient_delivery(settings, runtime.env, telegram=telegram, mail=mail)
            stop = asyncio.Event()
            task = asyncio.create_task(worker.run(stop), name="recipient-delivery")
            try:
                yield
            finally:
                stop.set()
                await task

    app.cleanup_ctx.append(lifetime)
