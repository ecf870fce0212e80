"""The checks of the channels that reach people: mail (SMTP), Telegram (Bot API) and Slack
(Web API, Socket Mode)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from urllib.parse import urlsplit

import aiohttp
import aiosmtplib
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse
from telegram import Bot, MenuButton, MenuButtonWebApp, WebhookInfo
from telegram.error import InvalidToken, NetworkError, TelegramError
from telegram.request import HTTPXRequest

from bot.mail import SmtpConfig
from bot.slack.app import EVENTS_PATH
from bot.slack.manifest import missing_scopes
from bot.telegram.app import COMMANDS
from inkpost.doctor.verdicts import Notes, Status, Verdict, fail, first_line, ok, skip
from inkpost.services import TELEGRAM_API
from inkpost.settings import Settings

SLACK_API = "https://slack.com/api/"


# -- mail -----------------------------------------------------------------------------------


async def check_mail(settings: Settings, seconds: float) -> Verdict:
    """The SMTP server answers, with TLS as the URL says, and takes the credentials."""
    if settings.smtp_url is None:
        return skip("not configured (set INKPOST_SMTP_URL to mail recipients without Telegram)")
    try:
        config = SmtpConfig.from_url(
            settings.smtp_url.get_secret_value(), sender=settings.mail_from
        )
    except ValueError as e:
        return fail(str(e))
    where = f"{'smtps' if config.use_tls else 'smtp'}://{config.host}:{config.port}"
    smtp = aiosmtplib.SMTP(
        hostname=config.host,
        port=config.port,
        username=config.username,
        password=config.password,
        use_tls=config.use_tls,
        start_tls=config.start_tls,
        timeout=seconds,
    )
    try:
        await smtp.connect()
    except aiosmtplib.SMTPAuthenticationError as e:
        return fail(
            f"{where}: the server refused the user name or password ({e.code} {e.message}) — "
            "check the credentials in INKPOST_SMTP_URL"
        )
    except (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPTimeoutError, OSError) as e:
        return fail(f"{where}: cannot connect ({first_line(e)}) — check INKPOST_SMTP_URL")
    except aiosmtplib.SMTPException as e:
        return fail(f"{where}: {first_line(e)} — check INKPOST_SMTP_URL")
    try:
        encrypted = smtp.get_transport_info("sslcontext") is not None
        with_tls = "TLS" if config.use_tls else "STARTTLS" if encrypted else "no TLS"
        login = f", logged in as {config.username}" if config.username else ""
        detail = f"{where}: connected ({with_tls}{login}), sending as {config.sender}"
        if config.username and not encrypted:
            return Verdict(
                Status.WARN,
                f"{detail}; the server offers no STARTTLS, so the password and the mail travel "
                "unencrypted — use smtps:// or a server with STARTTLS",
            )
        return ok(detail)
    finally:
        try:
            await smtp.quit()
        except aiosmtplib.SMTPException:
            smtp.close()


# -- Telegram -------------------------------------------------------------------------------


async def check_telegram(settings: Settings, seconds: float) -> Verdict:
    """getMe takes the token; the webhook (or none, when polling), commands, menu button."""
    if settings.telegram_token is None:
        return skip("not configured (set INKPOST_TELEGRAM_TOKEN to reach recipients in Telegram)")
    base = (settings.telegram_api_url or TELEGRAM_API).rstrip("/")
    bot = Bot(
        settings.telegram_token.get_secret_value(),
        base_url=f"{base}/bot",
        base_file_url=f"{base}/file/bot",
        request=_telegram_request(seconds),
        get_updates_request=_telegram_request(seconds),
    )
    try:
        try:
            await bot.initialize()  # getMe
        except InvalidToken as e:
            reason = e.__cause__ if isinstance(e.__cause__, TelegramError) else e
            return fail(
                f"getMe refused the token: {first_line(reason)} — check INKPOST_TELEGRAM_TOKEN"
            )
        except NetworkError as e:
            return fail(
                f"cannot reach the Bot API at {base} ({first_line(e)}) — check the network"
                + (" and INKPOST_TELEGRAM_API_URL" if settings.telegram_api_url else "")
            )
        info, commands, button = await asyncio.gather(
            bot.get_webhook_info(), bot.get_my_commands(), bot.get_chat_menu_button()
        )
        notes = Notes()
        _telegram_webhook(info, settings, notes)
        _telegram_commands([command.command for command in commands], notes)
        _telegram_menu_button(button, settings, notes)
        return notes.verdict(f"@{bot.username}")
    except TelegramError as e:
        return fail(f"the Bot API failed: {first_line(e)}")
    finally:
        await bot.shutdown()


def _telegram_request(seconds: float) -> HTTPXRequest:
    return HTTPXRequest(
        connection_pool_size=2,
        connect_timeout=seconds,
        read_timeout=seconds,
        write_timeout=seconds,
        pool_timeout=seconds,
    )


def _telegram_webhook(info: WebhookInfo, settings: Settings, notes: Notes) -> None:
    expected = f"{settings.public_url.rstrip('/')}/telegram/webhook"
    if settings.telegram_webhook_secret is None:
        if info.url:
            notes.warnings.append(
                f"a webhook is set ({info.url}), so long polling gets no updates until "
                "`inkpost serve` removes it — unless another installation uses this bot; to "
                "use webhooks here, set INKPOST_TELEGRAM_WEBHOOK_SECRET"
            )
        else:
            notes.facts.append("long polling (no webhook)")
        return
    if not info.url:
        notes.warnings.append(f"no webhook yet: `inkpost serve` sets {expected} when it starts")
    elif info.url != expected:
        notes.problems.append(
            f"the webhook points at {info.url}, not {expected} — check INKPOST_PUBLIC_URL and "
            "restart `inkpost serve` (or another installation uses this bot)"
        )
    else:
        notes.facts.append(f"webhook at {expected}")
        if info.last_error_message:
            notes.warnings.append(
                f"Telegram's last delivery to the webhook failed: {info.last_error_message}"
            )
        if info.pending_update_count:
            notes.facts.append(f"{info.pending_update_count} updates waiting")


def _telegram_commands(commands: Sequence[str], notes: Notes) -> None:
    missing = [name for name in COMMANDS if name not in commands]
    if not commands:
        notes.warnings.append("no commands set: `inkpost serve` sets them when it starts")
    elif missing:
        notes.warnings.append(
            f"commands {', '.join('/' + name for name in missing)} are not set — restart "
            "`inkpost serve`"
        )
    else:
        notes.facts.append(f"{len(commands)} commands set")


def _telegram_menu_button(button: MenuButton, settings: Settings, notes: Notes) -> None:
    if isinstance(button, MenuButtonWebApp):
        url = button.web_app.url
        if not url.startswith(settings.public_url.rstrip("/") + "/"):
            notes.problems.append(
                f"the menu button opens {url}, not a page of INKPOST_PUBLIC_URL "
                f"({settings.public_url}) — restart `inkpost serve`"
            )
        else:
            notes.facts.append(f"menu button opens {url}")
    else:
        notes.facts.append(f"menu button: {button.type}")


# -- Slack ----------------------------------------------------------------------------------


async def check_slack(settings: Settings, seconds: float) -> Verdict:
    """auth.test takes the bot token, which has every scope the code needs; the app token
    opens a Socket Mode connection, or requests come to PUBLIC_URL."""
    token = settings.slack_bot_token
    if token is None:
        return skip(
            "not configured (set INKPOST_SLACK_BOT_TOKEN with INKPOST_SLACK_SIGNING_SECRET, or "
            "with INKPOST_SLACK_APP_TOKEN for Socket Mode)"
        )
    base = (settings.slack_api_url or SLACK_API).rstrip("/") + "/"
    client = AsyncWebClient(
        token=token.get_secret_value(), base_url=base, timeout=math.ceil(seconds)
    )
    client.retry_handlers = []
    try:
        answer = await client.auth_test()
    except SlackApiError as e:
        error = e.response.get("error")
        if e.response.status_code != 200:  # Slack itself is in trouble, not the token
            return fail(
                f"Slack's Web API answered HTTP {e.response.status_code} ({error}) — try again "
                "later"
            )
        return fail(f"auth.test refused the bot token: {error} — check INKPOST_SLACK_BOT_TOKEN")
    except (aiohttp.ClientError, OSError, TimeoutError) as e:
        hint = "INKPOST_SLACK_API_URL" if settings.slack_api_url else "the network"
        return fail(f"cannot reach Slack's Web API at {base} ({first_line(e)}) — check {hint}")
    notes = Notes()
    granted = _header(answer, "x-oauth-scopes")
    if granted is None:
        notes.warnings.append("Slack did not say which scopes the bot token has")
    elif lacking := missing_scopes(granted.split(",")):
        notes.problems.append(
            f"the bot lacks the scopes {', '.join(lacking)} — add them to the app (see "
            "`inkpost slack manifest`) and reinstall it"
        )
    else:
        notes.facts.append("every scope the app needs is granted")
    if settings.slack_app_token is not None:
        await _slack_socket_mode(settings.slack_app_token.get_secret_value(), base, seconds, notes)
    elif settings.slack_signing_secret is None:
        notes.problems.append(
            "INKPOST_SLACK_SIGNING_SECRET is not set, so `inkpost serve` leaves Slack off — set "
            "it (or INKPOST_SLACK_APP_TOKEN for Socket Mode)"
        )
    else:
        url = settings.public_url.rstrip("/") + EVENTS_PATH
        if urlsplit(url).scheme != "https":
            notes.warnings.append(
                f"Slack sends requests only to https:// URLs, and they would go to {url} — set "
                "INKPOST_PUBLIC_URL to the https address (or use Socket Mode)"
            )
        else:
            notes.facts.append(f"requests at {url}")
    return notes.verdict(f"{answer.get('team')} ({answer.get('team_id')}) as {answer.get('user')}")


async def _slack_socket_mode(app_token: str, base: str, seconds: float, notes: Notes) -> None:
    client = AsyncWebClient(base_url=base, timeout=math.ceil(seconds))
    client.retry_handlers = []
    try:
        await client.apps_connections_open(app_token=app_token)
    except SlackApiError as e:
        notes.problems.append(
            f"apps.connections.open refused the app token: {e.response.get('error')} — check "
            "INKPOST_SLACK_APP_TOKEN (an app-level token with connections:write)"
        )
    else:
        notes.facts.append("Socket Mode: the app token opens connections")


def _header(response: AsyncSlackResponse, name: str) -> str | None:
    for key, value in (response.headers or {}).items():
        if key.lower() == name:
            return str(value)
    return None
