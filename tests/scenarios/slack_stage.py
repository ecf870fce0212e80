"""The Slack stage: the real bolt app behind aiohttp, signed requests from SlackSender, and
the real slack_sdk client talking to the fake Web API. Scenario modules take `stage`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiohttp import web

from bot.slack.app import SlackConfig, attach, build_app
from tests.conftest import STAFF
from tests.fakes.slack_api import DEFAULT_TEAM_ID, FakeSlackApi, ResponseMessage
from tests.fakes.slack_client import DEFAULT_SIGNING_SECRET, SlackSender
from tests.helpers import upload
from workflows.context import Env
from workflows.people import organizations

PUBLIC = "https://docs.example.test"
STELLA = "U0STELLA"
BORIS = "U0BORIS"
NINA = "U0NINA"
TELEGRAM_BOT = "inkpost_test_bot"


async def telegram_bot_username() -> str:
    """What the Bot API's getMe would say of the stage's Telegram bot."""
    return TELEGRAM_BOT


@dataclass
class Stage:
    env: Env
    fake: FakeSlackApi
    slack: SlackSender
    org_id: int
    client_id: int
    boris_id: int

    async def command(self, user_id: str, text: str) -> ResponseMessage:
        """The user types ``/inkpost text``; returns the app's answer to them."""
        before = len(self.fake.responses)
        response = await self.slack.command(user_id, text)
        assert response.status == 200
        await self.fake.wait_for(lambda: len(self.fake.responses) > before, what="an answer")
        return self.fake.responses[-1]

    async def open_home(self, user: str) -> dict[str, object]:
        """The user opens the App Home tab; returns the view published for them."""
        before = self.fake.home_view(user)
        event = {
            "type": "app_home_opened",
            "user": user,
            "channel": self.fake.dm_channel(user),
            "tab": "home",
            "event_ts": "1700000000.000100",
        }
        response = await self.slack.event(event)
        assert response.status == 200
        await self.fake.wait_for(lambda: self.fake.home_view(user) not in (None, before))
        view = self.fake.home_view(user)
        assert view is not None
        return view

    async def document(self, title: str = "Fee table 2027") -> str:
        document = await upload(self.env, org_id=self.org_id, client_id=self.client_id, title=title)
        return document.ref


@pytest.fixture
async def stage(env: Env, slack_api: FakeSlackApi) -> AsyncIterator[Stage]:
    org = await organizations.create_organization(
        env, slug="acme", name="Acme Law", actor=STAFF, slack_team_id=DEFAULT_TEAM_ID
    )
    assert org.id is not None
    await organizations.add_staff(
        env, org_id=org.id, actor=STAFF, name="Stella Staff", slack_user_id=STELLA, role="admin"
    )
    boris = await organizations.add_staff(
        env, org_id=org.id, actor=STAFF, name="Boris Blocked", slack_user_id=BORIS
    )
    client = await organizations.add_client(env, org_id=org.id, actor=STAFF, name="Nordic Timber")
    assert client.id is not None and boris.id is not None
    for user_id, name in ((STELLA, "stella"), (BORIS, "boris"), (NINA, "nina")):
        slack_api.add_user(user_id, name)
    config = SlackConfig(
        bot_token=slack_api.token,
        signing_secret=DEFAULT_SIGNING_SECRET,
        public_url=PUBLIC,
        api_url=slack_api.api_url,
        telegram_username=telegram_bot_username,
    )
    app = web.Application()
    attach(app, build_app(config, env))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with SlackSender(f"http://127.0.0.1:{port}", fake=slack_api) as slack:
            yield Stage(env, slack_api, slack, org.id, client.id, boris.id)
            assert slack.late_acks == [], "Slack needs an answer within 3 s"
    finally:
        await runner.cleanup()
