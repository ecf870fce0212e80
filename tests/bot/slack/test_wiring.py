"""`inkpost serve` runs the Slack app when it has the bot token plus either the signing
secret (HTTP at POST /slack/events) or the app-level token (Socket Mode, no route)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from pydantic import SecretStr, ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.slack.app import SlackConfig, attach, build_app
from inkpost import services
from inkpost.runtime import Runtime
from inkpost.settings import Settings
from tests.fakes.slack_api import FakeSlackApi
from tests.fakes.slack_client import SlackSender
from workflows.context import Env

ROOT = Path(__file__).resolve().parents[3]
PUBLIC = "https://docs.example.test"


def _routes(app: web.Application) -> set[str]:
    return {route.resource.canonical for route in app.router.routes() if route.resource}


@pytest.mark.parametrize(
    ("token", "secret", "mounted"),
    [("xoxb-1", "s3cret", True), ("xoxb-1", None, False), (None, "s3cret", False)],
)
def test_slack_events_are_served_only_when_configured(
    engine: AsyncEngine, env: Env, token: str | None, secret: str | None, mounted: bool
) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        slack_bot_token=SecretStr(token) if token else None,
        slack_signing_secret=SecretStr(secret) if secret else None,
        telegram_token=None,
        smtp_url=None,
    )
    app = web.Application()

    services.attach(app, Runtime(settings=settings, engine=engine, env=env))

    assert ("/slack/events" in _routes(app)) is mounted


def _socket_settings(fake: FakeSlackApi, app_token: str, **more: Any) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        slack_bot_token=SecretStr(fake.token),
        slack_app_token=SecretStr(app_token),
        slack_api_url=fake.api_url,
        telegram_token=None,
        smtp_url=None,
        **more,
    )


async def test_with_an_app_token_slack_runs_over_socket_mode_and_has_no_route(
    engine: AsyncEngine, env: Env, slack_api: FakeSlackApi
) -> None:
    slack_api.add_user("U0STELLA", "stella")
    settings = _socket_settings(slack_api, slack_api.socket.app_token)
    app = web.Application()
    services.attach(app, Runtime(settings=settings, engine=engine, env=env))
    assert "/slack/events" not in _routes(app)

    runner = web.AppRunner(app)
    await runner.setup()
    try:
        connection = await slack_api.socket.wait_connected()
        before = len(slack_api.responses)
        await slack_api.socket.command("U0STELLA", "help")
        await slack_api.wait_for(lambda: len(slack_api.responses) > before, what="the help")
        assert "/inkpost find" in str(slack_api.responses[-1].blocks)
    finally:
        await runner.cleanup()
    await slack_api.wait_for(lambda: connection.closed, what="the socket closed on stop")


async def test_socket_mode_app_refuses_requests_over_http(env: Env) -> None:
    config = SlackConfig(
        bot_token="xoxb-1", signing_secret=None, public_url=PUBLIC, app_token="xapp-1"
    )
    app = web.Application()
    attach(app, build_app(config, env))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        async with SlackSender(url, signing_secret="") as slack:
            response = await slack.command("U0STELLA", "help")
    finally:
        await runner.cleanup()

    assert response.status == 401


def test_http_mode_still_needs_the_signing_secret() -> None:
    with pytest.raises(ValueError, match="signing secret"):
        SlackConfig(bot_token="xoxb-1", signing_secret=None, public_url=PUBLIC)


@pytest.mark.parametrize("value", ["xoxb-1-bot-token", "A0APP"])
def test_the_app_token_setting_must_be_app_level(value: str) -> None:
    with pytest.raises(ValidationError, match="an app-level token starts with xapp-"):
        Settings(_env_file=None, slack_app_token=value)  # type: ignore[call-arg]


def test_a_blank_app_token_setting_means_http_mode() -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        slack_bot_token=SecretStr("xoxb-1"),
        slack_signing_secret=SecretStr("s3cret"),
        slack_app_token="",
    )

    config = services.slack_config(settings)

    assert config is not None and not config.socket_mode


async def test_serve_stops_with_one_line_when_slack_refuses_the_app_token(
    tmp_path: Path, slack_api: FakeSlackApi
) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("INKPOST_")},
        "PYTHONPATH": str(ROOT),
        "INKPOST_DATA_DIR": str(tmp_path / "data"),
        "INKPOST_PORT": "0",
        "INKPOST_SLACK_BOT_TOKEN": slack_api.token,
        "INKPOST_SLACK_APP_TOKEN": "xapp-1-A0APP-1-Revoked",
        "INKPOST_SLACK_API_URL": slack_api.api_url,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "inkpost",
        "serve",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(60):
            stdout, stderr = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    errors = stderr.decode()
    assert process.returncode == 2, errors
    assert errors.strip().splitlines()[-1] == (
        "error: Slack refused INKPOST_SLACK_APP_TOKEN: invalid_auth"
    )
    assert "Traceback" not in errors and "ERROR" not in errors
    assert b"Inkpost is serving" not in stdout
