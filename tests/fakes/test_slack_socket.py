"""The fake's Socket Mode speaks Slack's wire format: single-use tickets, hello first,
envelopes answered by envelope_id, app-level tokens only where Slack takes them."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from tests.fakes.slack_api import DEFAULT_BOT_TOKEN, FakeSlackApi
from tests.fakes.slack_socket import DEFAULT_APP_TOKEN

JSON = dict[str, object]


async def _call(
    session: aiohttp.ClientSession, fake: FakeSlackApi, token: str, method: str
) -> JSON:
    url, headers = f"{fake.api_url}{method}", {"Authorization": f"Bearer {token}"}
    async with session.post(url, headers=headers) as response:
        return dict(await response.json())


async def _open(session: aiohttp.ClientSession, fake: FakeSlackApi, token: str) -> JSON:
    return await _call(session, fake, token, "apps.connections.open")


async def test_a_ticket_admits_one_connection_which_hears_hello_first() -> None:
    async with FakeSlackApi() as fake, aiohttp.ClientSession() as session:
        opened = await _open(session, fake, fake.socket.app_token)
        url = str(opened["url"])
        async with session.ws_connect(url) as ws:
            hello = await ws.receive_json()
            with pytest.raises(aiohttp.WSServerHandshakeError) as again:
                await session.ws_connect(url)

    assert opened["ok"] is True and url.startswith(f"ws://127.0.0.1:{fake.url.split(':')[-1]}/")
    assert hello["type"] == "hello" and hello["connection_info"] == {"app_id": fake.app_id}
    assert again.value.status == 401


@pytest.mark.parametrize(
    ("method", "token", "error"),
    [
        ("apps.connections.open", DEFAULT_BOT_TOKEN, "not_allowed_token_type"),
        ("apps.connections.open", "xapp-1-A0APP-1-Wrong", "invalid_auth"),
        ("auth.test", DEFAULT_APP_TOKEN, "not_allowed_token_type"),
    ],
)
async def test_tokens_are_taken_only_where_slack_takes_them(
    method: str, token: str, error: str
) -> None:
    async with FakeSlackApi() as fake, aiohttp.ClientSession() as session:
        body = await _call(session, fake, token, method)

    assert body == {"ok": False, "error": error}


async def test_envelopes_are_acked_by_id_and_stray_acks_are_refused() -> None:
    async with FakeSlackApi() as fake, aiohttp.ClientSession() as session:
        opened = await _open(session, fake, fake.socket.app_token)
        async with session.ws_connect(str(opened["url"])) as ws:
            await ws.receive_json()

            async def app() -> None:
                envelope = await ws.receive_json()
                await ws.send_str(json.dumps({"envelope_id": "not-sent"}))
                await ws.send_str(json.dumps({"envelope_id": envelope["envelope_id"]}))

            acking = asyncio.create_task(app())
            ack = await fake.socket.send("events_api", {"type": "event_callback"}, retry_attempt=0)
            await acking

    assert ack.type == "events_api" and ack.payload is None and ack.seconds < 3
    assert fake.socket.envelopes[ack.envelope_id]["retry_attempt"] == 0
    assert fake.rejected_responses == [
        "Socket Mode: ack for an unknown or answered envelope not-sent"
    ]
