"""The fake Slack Web API, driven by the real slack_sdk client; the signed sender, checked
against slack_sdk's own SignatureVerifier and a real bolt app."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack_api import GENERAL_CHANNEL, FakeSlackApi, ManualClock, Rate, RateLimits
from tests.fakes.slack_client import DEFAULT_SIGNING_SECRET, VERIFICATION_TOKEN, SlackSender

ALICE = "U0ALICE"
BOB = "U0BOB"
JSON = dict[str, Any]


def section(text: str) -> JSON:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def button(text: str, action_id: str = "approve", value: str = "doc-1") -> JSON:
    element = {"type": "button", "text": {"type": "plain_text", "text": text}}
    return {"type": "actions", "elements": [{**element, "action_id": action_id, "value": value}]}


def modal(title: str = "Share a document", **extra: Any) -> JSON:
    return {
        "type": "modal",
        "callback_id": "share",
        "title": {"type": "plain_text", "text": title},
        "submit": {"type": "plain_text", "text": "Share"},
        "blocks": [
            {
                "type": "input",
                "block_id": "title",
                "label": {"type": "plain_text", "text": "Title"},
                "element": {"type": "plain_text_input", "action_id": "title_input"},
            },
            {
                "type": "input",
                "block_id": "space",
                "label": {"type": "plain_text", "text": "Space"},
                "element": {
                    "type": "static_select",
                    "action_id": "space_select",
                    "options": [
                        {"text": {"type": "plain_text", "text": n.title()}, "value": n}
                        for n in ("acme", "globex")
                    ],
                },
            },
            {
                "type": "input",
                "block_id": "due",
                "optional": True,
                "label": {"type": "plain_text", "text": "Due"},
                "element": {"type": "datepicker", "action_id": "due_date"},
            },
        ],
        **extra,
    }


@pytest.fixture
def fake(slack_api: FakeSlackApi) -> FakeSlackApi:
    """The fake with two users; rate limits on, as in Slack."""
    slack_api.add_user(ALICE, "alice", is_admin=True)
    slack_api.add_user(BOB, "bob")
    return slack_api


@pytest.fixture
def client(fake: FakeSlackApi) -> AsyncWebClient:
    return AsyncWebClient(token=fake.token, base_url=fake.api_url)


async def slack_error(call: Awaitable[Any]) -> SlackApiError:
    with pytest.raises(SlackApiError) as caught:
        await call
    return caught.value


# --- Web API: auth and messages ---------------------------------------------------------------


async def test_auth_test_names_the_bot_and_workspace(client: AsyncWebClient) -> None:
    response = await client.auth_test()
    assert response["ok"] is True
    assert (response["team_id"], response["user_id"], response["bot_id"]) == (
        "T0001",
        "U0BOT",
        "B0BOT",
    )


async def test_a_missing_token_is_not_authed_and_a_wrong_one_invalid_auth(
    fake: FakeSlackApi,
) -> None:
    anonymous = AsyncWebClient(base_url=fake.api_url)
    wrong = AsyncWebClient(token="xoxb-not-the-token", base_url=fake.api_url)
    assert (await slack_error(anonymous.auth_test())).response["error"] == "not_authed"
    error = await slack_error(wrong.chat_postMessage(channel=GENERAL_CHANNEL, text="hi"))
    assert error.response["error"] == "invalid_auth"
    assert error.response.status_code == 200
    assert [(r.method, r.error) for r in fake.requests] == [
        ("auth.test", "not_authed"),
        ("chat.postMessage", "invalid_auth"),
    ]


async def test_post_message_records_channel_text_blocks_ts_and_thread(
    fake: FakeSlackApi, client: AsyncWebClient
) -> None:
    parent = await client.chat_postMessage(
        channel=GENERAL_CHANNEL, text="Contract ready", blocks=[section("*Contract*")]
    )
    reply = await client.chat_postMessage(
        channel=GENERAL_CHANNEL, text="Signed", thread_ts=parent["ts"]
    )
    direct = await client.chat_postMessage(channel=ALICE, text="For you")

    assert parent["channel"] == GENERAL_CHANNEL
    assert float(reply["ts"]) > float(parent["ts"])
    first, second, third = fake.posted
    assert (first.text, first.blocks[0]["text"]["text"], first.thread_ts) == (
        "Contract ready",
        "*Contract*",
        None,
    )
    assert first.blocks[0]["block_id"], "Slack fills in a block_id"
    assert (second.thread_ts, second.ts) == (parent["ts"], reply["ts"])
    assert third.channel == direct["channel"] == fake.dm_channel(ALICE)
    assert fake.messages_to(ALICE) == [third]


async def test_update_permalink_and_ephemeral_work_on_posted_messages(
    fake: FakeSlackApi, client: AsyncWebClient
) -> None:
    posted = await client.chat_postMessage(channel=GENERAL_CHANNEL, text="Draft")
    await client.chat_update(channel=GENERAL_CHANNEL, ts=posted["ts"], text="Final")
    link = await client.chat_getPermalink(channel=GENERAL_CHANNEL, message_ts=posted["ts"])
    await client.chat_postEphemeral(channel=GENERAL_CHANNEL, user=BOB, text="Only you")

    message = fake.message(GENERAL_CHANNEL, posted["ts"])
    assert message is not None
    assert (message.text, [e["text"] for e in message.edits]) == ("Final", ["Draft"])
    assert link["permalink"].endswith(
        f"/archives/{GENERAL_CHANNEL}/p{posted['ts'].replace('.', '')}"
    )
    assert [(e.user, e.text) for e in fake.ephemeral] == [(BOB, "Only you")]
    missing = await slack_error(client.chat_update(channel=GENERAL_CHANNEL, ts="1.2", text="x"))
    assert missing.response["error"] == "message_not_found"


@pytest.mark.parametrize(
    ("blocks", "pointer"),
    [
        pytest.param([{"type": "carousel"}], "/blocks/0/type", id="unknown-block-type"),
        pytest.param([section("x" * 3001)], "/blocks/0/text/text", id="section-text-3001"),
        pytest.param([section("x")] * 51, "/blocks", id="51-blocks"),
        pytest.param([button("x" * 76)], "/blocks/0/elements/0/text/text", id="button-text-76"),
        pytest.param(
            [{"type": "header", "text": {"type": "mrkdwn", "text": "Hi"}}],
            "/blocks/0/text/type",
            id="header-mrkdwn",
        ),
        pytest.param([{**section("x"), "colour": "red"}], "/blocks/0/colour", id="unknown-field"),
    ],
)
async def test_invalid_blocks_are_refused_like_slack(
    client: AsyncWebClient, blocks: list[JSON], pointer: str
) -> None:
    error = await slack_error(
        client.chat_postMessage(channel=GENERAL_CHANNEL, text="fallback", blocks=blocks)
    )
    assert error.response["error"] == "invalid_blocks"
    messages = error.response["response_metadata"]["messages"]
    assert any(f"[json-pointer:{pointer}]" in m for m in messages), messages


async def test_text_over_40000_characters_is_msg_too_long(client: AsyncWebClient) -> None:
    error = await slack_error(client.chat_postMessage(channel=GENERAL_CHANNEL, text="x" * 40_001))
    assert error.response["error"] == "msg_too_long"


async def test_unknown_channel_and_user_answer_not_found(client: AsyncWebClient) -> None:
    lost = await slack_error(client.chat_postMessage(channel="C0NOWHERE", text="hi"))
    nobody = await slack_error(client.users_info(user="U0NOBODY"))
    assert (lost.response["error"], nobody.response["error"]) == (
        "channel_not_found",
        "user_not_found",
    )


async def test_conversations_open_gives_one_dm_per_user_and_users_info_the_profile(
    fake: FakeSlackApi, client: AsyncWebClient
) -> None:
    first = await client.conversations_open(users=[BOB])
    again = await client.conversations_open(users=BOB)
    info = await client.users_info(user=ALICE)

    assert first["channel"]["id"].startswith("D")
    assert again["channel"]["id"] == first["channel"]["id"] == fake.dm_channel(BOB)
    assert again["already_open"] is True
    assert (info["user"]["name"], info["user"]["is_admin"]) == ("alice", True)


# --- Web API: views ---------------------------------------------------------------------------


async def test_views_open_takes_a_fresh_trigger_once(
    fake: FakeSlackApi, client: AsyncWebClient
) -> None:
    trigger = fake.issue_trigger(ALICE)
    opened = await client.views_open(trigger_id=trigger, view=modal())
    reused = await slack_error(client.views_open(trigger_id=trigger, view=modal()))
    unknown = await slack_error(client.views_open(trigger_id="1.2.abc", view=modal()))

    assert opened["view"]["id"].startswith("V")
    assert opened["view"]["state"] == {"values": {}}
    assert [v["id"] for v in fake.open_views(ALICE)] == [opened["view"]["id"]]
    assert (fake.views[0].method, fake.views[0].callback_id) == ("views.open", "share")
    assert reused.response["error"] == "exchanged_trigger_id"
    assert unknown.response["error"] == "invalid_trigger_id"


async def test_views_open_refuses_a_trigger_older_than_3_seconds(
    fake: FakeSlackApi, client: AsyncWebClient
) -> None:
    clock = ManualClock()
    fake.clock = clock
    trigger = fake.issue_trigger(ALICE)
    clock.advance(3.0)
    error = await slack_error(client.views_open(trigger_id=trigger, view=modal()))
    assert error.response["error"] == "expired_trigger_id"


@pytest.mark.parametrize(
    "view",
    [
        pytest.param(modal(title="x" * 25), id="title-25"),
        pytest.param(modal(private_metadata="x" * 3001), id="private-metadata-3001"),
        pytest.param({**modal(), "submit": None}, id="inputs-without-submit"),
        pytest.param({**modal(), "type": "home"}, id="home-in-views-open"),
    ],
)
async def test_views_open_refuses_invalid_modals_with_invalid_arguments(
    fake: FakeSlackApi, client: AsyncWebClient, view: JSON
) -> None:
    view = {k: v for k, v in view.items() if v is not None}
    error = await slack_error(client.views_open(trigger_id=fake.issue_trigger(ALICE), view=view))
    assert error.response["error"] == "invalid_arguments"


async def test_views_update_by_view_id_checks_the_hash(
    fake: FakeSlackApi, client: AsyncWebClient
) -> None:
    opened = (await client.views_open(trigger_id=fake.issue_trigger(ALICE), view=modal()))["view"]
    updated = await client.views_update(
        view_id=opened["id"], hash=opened["hash"], view=modal(title="Shared")
    )
    stale = await slack_error(
        client.views_update(view_id=opened["id"], hash=opened["hash"], view=modal())
    )
    missing = await slack_error(client.views_update(view_id="V0NOPE", view=modal()))

    assert updated["view"]["id"] == opened["id"]
    assert updated["view"]["hash"] != opened["hash"]
    assert fake.current_view(opened["id"])["title"]["text"] == "Shared"
    assert [v.method for v in fake.views] == ["views.open", "views.update"]
    assert (stale.response["error"], missing.response["error"]) == ("hash_conflict", "not_found")


async def test_views_push_stacks_at_most_three_modals(
    fake: FakeSlackApi, client: AsyncWebClient
) -> None:
    await client.views_open(trigger_id=fake.issue_trigger(ALICE), view=modal())
    for _ in range(2):
        await client.views_push(trigger_id=fake.issue_trigger(ALICE), view=modal())
    error = await slack_error(client.views_push(trigger_id=fake.issue_trigger(ALICE), view=modal()))
    assert error.response["error"] == "push_limit_reached"
    root, second, third = fake.open_views(ALICE)
    assert third["root_view_id"] == root["id"]
    assert third["previous_view_id"] == second["id"]


async def test_views_publish_sets_the_users_home_tab(
    fake: FakeSlackApi, client: AsyncWebClient
) -> None:
    home = {"type": "home", "blocks": [section("Your documents")]}
    first = await client.views_publish(user_id=BOB, view=home)
    second = await client.views_publish(user_id=BOB, view=home, hash=first["view"]["hash"])
    stranger = await slack_error(client.views_publish(user_id="U0NOBODY", view=home))

    assert second["view"]["id"] == first["view"]["id"]
    assert fake.home_view(BOB) == second["view"]
    assert fake.views[-1].method == "views.publish"
    assert stranger.response["error"] == "invalid_arguments"


# --- Web API: files ---------------------------------------------------------------------------


async def test_files_upload_v2_stores_the_bytes_and_shares_them(
    fake: FakeSlackApi, client: AsyncWebClient
) -> None:
    pdf = b"%PDF-1.7\n" + bytes(range(256)) * 8
    response = await client.files_upload_v2(
        channel=GENERAL_CHANNEL,
        file=pdf,
        filename="contract.pdf",
        title="Contract",
        initial_comment="Please sign",
    )

    (stored,) = fake.uploaded_files
    assert (stored.data, stored.name, stored.title, stored.mimetype) == (
        pdf,
        "contract.pdf",
        "Contract",
        "application/pdf",
    )
    assert response["file"]["id"] == stored.id
    assert [r.method for r in fake.requests] == [
        "files.getUploadURLExternal",
        "upload",
        "files.completeUploadExternal",
    ]
    (share,) = fake.messages_in(GENERAL_CHANNEL)
    assert (share.text, share.files[0]["id"]) == ("Please sign", stored.id)
    info = await client.files_info(file=stored.id)
    assert info["file"]["channels"] == [GENERAL_CHANNEL]


async def test_an_upload_url_takes_multipart_and_checks_the_declared_length(
    fake: FakeSlackApi, client: AsyncWebClient
) -> None:
    ticket = await client.files_getUploadURLExternal(filename="memo.txt", length=5)
    short = await client.files_getUploadURLExternal(filename="short.txt", length=50)
    async with aiohttp.ClientSession() as session:
        form = aiohttp.FormData()
        form.add_field("filename", b"hello", filename="memo.txt")
        async with session.post(ticket["upload_url"], data=form) as uploaded:
            assert (uploaded.status, await uploaded.text()) == (200, "OK - 5")
        async with session.post(short["upload_url"], data=b"hello") as mismatched:
            assert mismatched.status == 400
    await client.files_completeUploadExternal(files=[{"id": ticket["file_id"], "title": "Memo"}])

    (stored,) = fake.uploaded_files
    assert (stored.data, stored.title, stored.channels) == (b"hello", "Memo", [])


async def test_complete_upload_of_an_unknown_file_is_file_not_found(
    client: AsyncWebClient,
) -> None:
    error = await slack_error(client.files_completeUploadExternal(files=[{"id": "F0NOPE"}]))
    assert error.response["error"] == "file_not_found"


async def test_url_private_download_needs_the_bot_token(fake: FakeSlackApi) -> None:
    file = fake.user_uploads_file(ALICE, "scan.pdf", b"%PDF-scan", "application/pdf")
    url = file["url_private_download"]
    async with aiohttp.ClientSession() as session:
        async with session.get(url, allow_redirects=False) as anonymous:
            assert anonymous.status == 302
            assert anonymous.headers["Location"].startswith("/?redir=")
        async with session.get(url) as followed:
            assert followed.content_type == "text/html", "without a token you get a login page"
        async with session.get(url, headers={"Authorization": "Bearer xoxb-wrong"}) as wrong:
            assert wrong.status == 403
        bot = {"Authorization": f"Bearer {fake.token}"}
        async with session.get(url, headers=bot) as authorized:
            assert authorized.status == 200
            assert await authorized.read() == b"%PDF-scan"


# --- Web API: rate limits ---------------------------------------------------------------------


@pytest.fixture
def one_per_second(fake: FakeSlackApi) -> FakeSlackApi:
    fake.rate_limits = RateLimits(per_channel={"chat.postMessage": Rate(1, 1.0)})
    return fake


async def test_a_second_message_within_a_second_is_ratelimited_with_retry_after(
    one_per_second: FakeSlackApi, client: AsyncWebClient
) -> None:
    await client.chat_postMessage(channel=GENERAL_CHANNEL, text="one")
    await client.chat_postMessage(channel=ALICE, text="another channel is fine")
    error = await slack_error(client.chat_postMessage(channel=GENERAL_CHANNEL, text="two"))

    assert error.response.status_code == 429
    assert error.response.headers["Retry-After"] == "1"
    assert error.response["error"] == "ratelimited"
    assert [m.text for m in one_per_second.messages_in(GENERAL_CHANNEL)] == ["one"]


async def test_the_rate_limit_retry_handler_waits_retry_after_and_succeeds(
    one_per_second: FakeSlackApi,
) -> None:
    client = AsyncWebClient(
        token=one_per_second.token,
        base_url=one_per_second.api_url,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)],
    )
    await client.chat_postMessage(channel=GENERAL_CHANNEL, text="one")
    started = time.monotonic()
    await client.chat_postMessage(channel=GENERAL_CHANNEL, text="two")

    assert time.monotonic() - started >= 0.99, "Retry-After: 1 was honoured"
    assert [r.status for r in one_per_second.requests_for("chat.postMessage")] == [200, 429, 200]
    assert [m.text for m in one_per_second.messages_in(GENERAL_CHANNEL)] == ["one", "two"]


async def test_manual_clock_and_switch_control_the_limits(
    one_per_second: FakeSlackApi, client: AsyncWebClient
) -> None:
    clock = ManualClock()
    one_per_second.clock = clock
    await client.chat_postMessage(channel=GENERAL_CHANNEL, text="one")
    clock.advance(1.0)
    await client.chat_postMessage(channel=GENERAL_CHANNEL, text="two")
    one_per_second.rate_limits = None
    await client.chat_postMessage(channel=GENERAL_CHANNEL, text="three")
    one_per_second.throttle(methods=["users.info"], retry_after=7)
    error = await slack_error(client.users_info(user=ALICE))
    assert (error.response.status_code, error.response.headers["Retry-After"]) == (429, "7")


# --- The signed sender ------------------------------------------------------------------------

Received = list[tuple[str, dict[str, str], str]]


@pytest.fixture
async def verifying_app() -> AsyncIterator[tuple[str, Received]]:
    """A tiny app that checks signatures with slack_sdk's SignatureVerifier."""
    verifier = SignatureVerifier(DEFAULT_SIGNING_SECRET)
    received: Received = []

    async def handle(request: web.Request) -> web.Response:
        body = await request.text()
        if not verifier.is_valid_request(body, dict(request.headers)):
            return web.Response(status=401, text="invalid signature")
        received.append((request.content_type, dict(request.headers), body))
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/slack/events", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}", received
    await runner.cleanup()


async def test_signatures_match_slack_sdk_verifier(
    verifying_app: tuple[str, Received], fake: FakeSlackApi
) -> None:
    base_url, received = verifying_app
    async with SlackSender(base_url, fake=fake) as slack:
        good = await slack.command(ALICE, "share contract.pdf")
        bad = await slack.command(ALICE, "share", bad_signature=True)
        old = await slack.event({"type": "app_home_opened", "user": ALICE}, age=301)
        other_secret = SlackSender(base_url, "another-secret", fake=fake)
        async with other_secret:
            forged = await other_secret.command(ALICE, "share")

    assert good.status == 200
    assert (bad.status, old.status, forged.status) == (401, 401, 401)
    assert await bad.text() == "invalid signature"
    ((content_type, _, body),) = received
    assert content_type == "application/x-www-form-urlencoded"
    assert "command=%2Finkpost" in body


async def test_events_carry_the_envelope_and_retry_headers(
    verifying_app: tuple[str, Received], fake: FakeSlackApi
) -> None:
    base_url, received = verifying_app
    message = fake.user_posts_message(ALICE, "hello")
    async with SlackSender(base_url, fake=fake) as slack:
        await slack.event(message, event_id="Ev0001")
        await slack.event(message, event_id="Ev0001", retry_num=1, retry_reason="http_timeout")
        await slack.url_verification("challenge-token")

    (_, first_headers, first), (_, retry_headers, retry), (_, _, challenge) = received
    assert "X-Slack-Retry-Num" not in first_headers
    assert (retry_headers["X-Slack-Retry-Num"], retry_headers["X-Slack-Retry-Reason"]) == (
        "1",
        "http_timeout",
    )
    envelope, retried = json.loads(first), json.loads(retry)
    assert envelope["event_id"] == retried["event_id"] == "Ev0001"
    assert envelope["type"] == "event_callback"
    assert envelope["authorizations"][0]["user_id"] == fake.bot_user_id
    assert (envelope["event"]["channel_type"], envelope["event"]["text"]) == ("im", "hello")
    assert json.loads(challenge) == {
        "token": VERIFICATION_TOKEN,
        "type": "url_verification",
        "challenge": "challenge-token",
    }


# --- The sender against a real bolt app -------------------------------------------------------


@pytest.fixture
async def bolt(fake: FakeSlackApi) -> AsyncIterator[tuple[AsyncApp, SlackSender]]:
    """A bolt AsyncApp on aiohttp, talking to the fake, and a sender pointed at it."""
    app = AsyncApp(
        client=AsyncWebClient(token=fake.token, base_url=fake.api_url),
        signing_secret=DEFAULT_SIGNING_SECRET,
    )
    runner = web.AppRunner(app.web_app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    async with SlackSender(f"http://127.0.0.1:{runner.addresses[0][1]}", fake=fake) as sender:
        yield app, sender
    await runner.cleanup()


async def test_bolt_opens_a_modal_from_a_command_and_reads_the_submission(
    fake: FakeSlackApi, bolt: tuple[AsyncApp, SlackSender]
) -> None:
    app, slack = bolt
    submitted: list[JSON] = []

    @app.command("/inkpost")
    async def open_modal(ack: Callable[..., Awaitable[None]], body: JSON, client: Any) -> None:
        await ack()
        await client.views_open(trigger_id=body["trigger_id"], view=modal())

    @app.view("share")
    async def on_submit(ack: Callable[..., Awaitable[None]], view: JSON) -> None:
        await ack()
        submitted.append(view["state"]["values"])

    response = await slack.command(ALICE, "share")
    assert response.status == 200
    (opened,) = await fake.wait_for(lambda: fake.open_views(ALICE), what="a modal")

    answer = await slack.view_submission(
        ALICE, opened, {"title_input": "Lease", "space_select": "acme"}
    )
    assert answer.status == 200
    values = await fake.wait_for(lambda: submitted and submitted[0], what="the submission")
    assert values["title"]["title_input"] == {"type": "plain_text_input", "value": "Lease"}
    assert values["space"]["space_select"]["selected_option"]["value"] == "acme"
    assert values["due"]["due_date"] == {"type": "datepicker", "selected_date": None}
    assert fake.open_views(ALICE) == [], "an empty ack closes the modal"
    with pytest.raises(ValueError, match="not on U0ALICE's screen"):
        await slack.view_submission(ALICE, opened, {"title_input": "Again"})


async def test_a_required_input_cannot_be_submitted_empty(
    fake: FakeSlackApi, client: AsyncWebClient, bolt: tuple[AsyncApp, SlackSender]
) -> None:
    _, slack = bolt
    view = (await client.views_open(trigger_id=fake.issue_trigger(BOB), view=modal()))["view"]
    with pytest.raises(ValueError, match="required input 'Title'"):
        await slack.view_submission(BOB, view, {"space_select": "acme"})
    with pytest.raises(ValueError, match="offers no option 'initech'"):
        await slack.view_submission(BOB, view, {"title_input": "x", "space_select": "initech"})


async def test_bolt_answers_to_slack_are_applied_like_slack(
    fake: FakeSlackApi, client: AsyncWebClient, bolt: tuple[AsyncApp, SlackSender]
) -> None:
    app, slack = bolt

    @app.command("/inkpost")
    async def working(ack: Callable[..., Awaitable[None]]) -> None:
        await ack("Working on it…")

    @app.view("share")
    async def refuse(ack: Callable[..., Awaitable[None]]) -> None:
        await ack(response_action="errors", errors={"title": "Title is taken"})

    await slack.command(BOB, "status")
    view = (await client.views_open(trigger_id=fake.issue_trigger(BOB), view=modal()))["view"]
    await slack.view_submission(BOB, view, {"title_input": "Lease", "space_select": "globex"})

    (ack_message,) = fake.responses
    assert (ack_message.via, ack_message.text) == ("ack", "Working on it…")
    assert fake.view_errors == [(view["id"], {"title": "Title is taken"})]
    assert [v["id"] for v in fake.open_views(BOB)] == [view["id"]], "errors keep the modal open"


async def test_a_view_slack_would_refuse_in_a_response_action_is_reported(
    fake: FakeSlackApi, client: AsyncWebClient, bolt: tuple[AsyncApp, SlackSender]
) -> None:
    app, slack = bolt

    @app.view("share")
    async def update(ack: Callable[..., Awaitable[None]]) -> None:
        await ack(response_action="update", view=modal(title="A title far too long for Slack"))

    view = (await client.views_open(trigger_id=fake.issue_trigger(BOB), view=modal()))["view"]
    await slack.view_submission(BOB, view, {"title_input": "Lease", "space_select": "acme"})

    (problem,) = fake.rejected_responses
    assert "response_action update" in problem and "/view/title/text" in problem
    fake.rejected_responses.clear()  # otherwise the fixture fails the test, as it should


async def test_bolt_answers_a_button_through_the_response_url(
    fake: FakeSlackApi, client: AsyncWebClient, bolt: tuple[AsyncApp, SlackSender]
) -> None:
    app, slack = bolt

    @app.action("approve")
    async def approve(ack: Callable[..., Awaitable[None]], action: JSON, respond: Any) -> None:
        await ack()
        await respond(text=f"Approved {action['value']}", replace_original=True)

    await client.chat_postMessage(channel=GENERAL_CHANNEL, text="Approve?", blocks=[button("Yes")])
    (message,) = fake.messages_in(GENERAL_CHANNEL)
    await slack.block_action(BOB, "approve", message=message)

    (response,) = await fake.wait_for(lambda: fake.responses, what="a response_url message")
    assert (response.via, response.user_id, response.text) == (
        "response_url",
        BOB,
        "Approved doc-1",
    )
    assert message.text == "Approved doc-1"
    with pytest.raises(ValueError, match="no element"):
        await slack.block_action(BOB, "reject", message=message)


async def test_a_message_shortcut_carries_the_users_files(
    fake: FakeSlackApi, bolt: tuple[AsyncApp, SlackSender]
) -> None:
    app, slack = bolt
    seen: list[JSON] = []

    @app.shortcut("file_document")
    async def file_document(ack: Callable[..., Awaitable[None]], shortcut: JSON) -> None:
        await ack()
        seen.append(shortcut)

    scan = fake.user_uploads_file(ALICE, "scan.pdf", b"%PDF", "application/pdf")
    message = fake.user_posts_message(ALICE, "here", files=[scan])
    await slack.message_shortcut(ALICE, "file_document", message)

    (shortcut,) = await fake.wait_for(lambda: seen, what="the shortcut")
    assert shortcut["type"] == "message_action"
    assert shortcut["channel"]["id"] == fake.dm_channel(ALICE)
    assert shortcut["message"]["files"][0]["url_private_download"] == scan["url_private_download"]
