"""Staff in Slack over Socket Mode: the same app, its requests arriving on a WebSocket.

The app opens the connection with its app-level token, acknowledges every envelope within
3 s on the socket, answers through the response_url as over HTTP, never does a redelivered
envelope's work twice, and moves to a new connection when Slack asks.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.slack.app import SlackConfig, build_app
from bot.slack.blocks import REVOKE_LINK
from bot.slack.socket_mode import AppTokenRefused, socket_mode
from tests.fakes.slack_api import GENERAL_CHANNEL, find_element
from tests.fakes.slack_socket import ACK_DEADLINE, SocketMode
from tests.scenarios.slack_stage import PUBLIC, STELLA, Stage
from workflows import audit
from workflows.documents import filing
from workflows.errors import Gone
from workflows.sharing import access

LATER_CHANNEL = "C0LATER"
"""Where a mention sent after another is answered, to tell the two answers apart."""


def _config(stage: Stage, app_token: str) -> SlackConfig:
    return SlackConfig(
        bot_token=stage.fake.token,
        signing_secret=None,
        public_url=PUBLIC,
        api_url=stage.fake.api_url,
        app_token=app_token,
    )


@pytest.fixture
async def socket(stage: Stage) -> AsyncIterator[SocketMode]:
    """The stage's app served over Socket Mode, connected to the fake."""
    config = _config(stage, stage.fake.socket.app_token)
    async with socket_mode(build_app(config, stage.env), config):
        await stage.fake.socket.wait_connected()
        yield stage.fake.socket
    assert stage.fake.socket.late_acks == [], "Slack needs an ack within 3 s"


async def _answer(stage: Stage, socket: SocketMode, text: str) -> Any:
    """``/inkpost text`` from Stella over the socket; the answer that comes back."""
    before = len(stage.fake.responses)
    ack = await socket.command(STELLA, text)
    assert ack.seconds < ACK_DEADLINE
    await stage.fake.wait_for(lambda: len(stage.fake.responses) > before, what="an answer")
    return stage.fake.responses[-1]


def _mention(ts: str, channel: str = GENERAL_CHANNEL) -> dict[str, str]:
    return {
        "type": "app_mention",
        "user": STELLA,
        "text": "<@U0BOT> hello",
        "ts": ts,
        "channel": channel,
        "event_ts": ts,
    }


async def test_help_answers_through_the_response_url_as_over_http(
    stage: Stage, socket: SocketMode
) -> None:
    over_socket = await _answer(stage, socket, "help")
    over_http = await stage.command(STELLA, "help")

    assert over_socket.via == "response_url"
    assert over_socket.body == over_http.body
    assert "/inkpost find" in str(over_socket.blocks)
    assert [a.type for a in socket.acks] == ["slash_commands"]
    assert socket.acks[0].payload is None, "the answer goes to the response_url, not the ack"


async def test_find_answers_after_a_prompt_ack(stage: Stage, socket: SocketMode) -> None:
    ref = await stage.document("Quarterly report")
    await stage.document("Fee table 2027")

    found = await _answer(stage, socket, "find quarterly")

    assert ref in str(found.blocks) and "Quarterly report" in str(found.blocks)
    assert "Fee table" not in str(found.blocks)
    assert all(ack.seconds < ACK_DEADLINE for ack in socket.acks)


async def test_revoke_button_works_over_the_socket(stage: Stage, socket: SocketMode) -> None:
    ref = await stage.document()
    answer = await _answer(stage, socket, f"link {ref}")
    token = re.search(re.escape(PUBLIC) + r"/d/([A-Za-z0-9_-]+)", answer.text or "")
    assert token is not None, answer.text
    channel = stage.fake.dm_channel(STELLA)
    message = {**answer.body, "ts": "1700000000.000100"}
    found = find_element(message["blocks"], REVOKE_LINK)
    assert found is not None
    block_id, button = found

    before = len(stage.fake.responses)
    ack = await socket.interaction(
        {
            "type": "block_actions",
            "team": {"id": stage.fake.team_id, "domain": stage.fake.team_domain},
            "user": stage.fake.user(STELLA).to_payload_user(),
            "api_app_id": stage.fake.app_id,
            "token": "InkpostLegacyVerificationToken",
            "container": {
                "type": "message",
                "message_ts": message["ts"],
                "channel_id": channel,
                "is_ephemeral": True,
            },
            "trigger_id": stage.fake.issue_trigger(STELLA),
            "channel": {"id": channel, "name": "directmessage"},
            "message": message,
            "state": {"values": {}},
            "response_url": stage.fake.issue_response_url(
                user_id=STELLA, channel_id=channel, kind="actions"
            ),
            "actions": [
                {
                    "type": "button",
                    "action_id": REVOKE_LINK,
                    "block_id": block_id,
                    "text": button["text"],
                    "value": button.get("value"),
                    "action_ts": "1700000001.000200",
                }
            ],
        }
    )
    await stage.fake.wait_for(lambda: len(stage.fake.responses) > before, what="the revoke")

    assert ack.type == "interactive"
    assert "revoked" in (stage.fake.responses[-1].text or "")
    with pytest.raises(Gone):
        await access.resolve(stage.env, token.group(1))


async def test_redelivered_event_does_the_work_once(stage: Stage, socket: SocketMode) -> None:
    stage.fake.add_channel(LATER_CHANNEL, "later", members=[STELLA])
    first = await socket.event(_mention("1700000000.000001"), event_id="Ev0000000001")
    await stage.fake.wait_for_messages(GENERAL_CHANNEL, 1)

    again = await socket.redeliver(first.envelope_id)
    # The work of an envelope starts before its ack: an answer to the repeat would come
    # before the answer to a mention sent once the repeat was acknowledged.
    later = await socket.event(
        _mention("1700000000.000002", LATER_CHANNEL), event_id="Ev0000000002"
    )
    await stage.fake.wait_for_messages(LATER_CHANNEL, 1)

    assert socket.envelopes[again.envelope_id]["retry_attempt"] == 1
    assert again.envelope_id != first.envelope_id
    assert {first.envelope_id, again.envelope_id, later.envelope_id} <= {
        ack.envelope_id for ack in socket.acks
    }
    assert len(stage.fake.messages_in(GENERAL_CHANNEL)) == 1


async def test_retry_of_an_event_that_never_arrived_does_the_work(
    stage: Stage, socket: SocketMode
) -> None:
    await socket.event(
        _mention("1700000000.000003"),
        event_id="Ev0000000003",
        retry_attempt=1,
        retry_reason="timeout",
    )

    await stage.fake.wait_for_messages(GENERAL_CHANNEL, 1)


async def test_redelivered_command_is_acknowledged_without_doing_it_again(
    stage: Stage, socket: SocketMode
) -> None:
    ref = await stage.document()
    other = await stage.document("Engagement letter")
    await _answer(stage, socket, f"link {ref}")
    first = socket.acks[-1]

    again = await socket.redeliver(first.envelope_id)
    # The same work for another document, sent once the repeat was acknowledged: an
    # answer to the repeat would come first.
    later = await _answer(stage, socket, f"link {other}")

    assert again.payload is None
    assert "Engagement letter" in str(later.body)
    document = await filing.find_document(stage.env, org_id=stage.org_id, ref=ref)
    assert document.id is not None
    events = await audit.document_history(stage.env, org_id=stage.org_id, document_id=document.id)
    assert [e.action for e in events].count("link.created") == 1
    assert len(stage.fake.responses) == 2


async def test_reconnects_when_slack_asks_and_keeps_working(
    stage: Stage, socket: SocketMode
) -> None:
    await socket.disconnect("refresh_requested")

    second = await socket.wait_connected(2)
    await stage.fake.wait_for(lambda: socket.connections[0].closed, what="the old socket closed")
    answer = await _answer(stage, socket, "help")

    assert "/inkpost find" in str(answer.blocks)
    assert socket.acks[-1].connection == second.number == 2
    assert len(stage.fake.requests_for("apps.connections.open")) == 2


async def test_a_refused_app_token_stops_the_start(stage: Stage) -> None:
    config = _config(stage, "xapp-1-A0APP-1-NotTheRightToken")

    with pytest.raises(AppTokenRefused) as refused:
        async with socket_mode(build_app(config, stage.env), config):
            pass

    assert refused.value.error == "invalid_auth"
    assert stage.fake.socket.connections == []


async def test_a_bot_token_in_place_of_the_app_token_is_refused(stage: Stage) -> None:
    config = _config(stage, stage.fake.token)

    with pytest.raises(AppTokenRefused) as refused:
        async with socket_mode(build_app(config, stage.env), config):
            pass

    assert refused.value.error == "not_allowed_token_type"


async def test_slack_unavailable_at_start_is_retried_in_the_background(stage: Stage) -> None:
    stage.fake.outage(1, methods=["apps.connections.open"])
    config = _config(stage, stage.fake.socket.app_token)

    async with socket_mode(build_app(config, stage.env), config):
        await stage.fake.socket.wait_connected()
        answer = await _answer(stage, stage.fake.socket, "help")

    assert "/inkpost find" in str(answer.blocks)
    assert [r.status for r in stage.fake.requests_for("apps.connections.open")] == [503, 200]


async def test_a_first_delivery_marked_retry_attempt_zero_is_handled(
    stage: Stage, socket: SocketMode
) -> None:
    await _answer(stage, socket, "help")
    payload = socket.envelopes[socket.acks[-1].envelope_id]["payload"]

    before = len(stage.fake.responses)
    await socket.send("slash_commands", payload, accepts_response_payload=True, retry_attempt=0)

    await stage.fake.wait_for(lambda: len(stage.fake.responses) > before, what="an answer")
