"""`inkpost serve` mounts the Slack app only when it has both the token and the secret."""

from __future__ import annotations

import pytest
from aiohttp import web
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from inkpost import services
from inkpost.runtime import Runtime
from inkpost.settings import Settings
from workflows.context import Env


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
