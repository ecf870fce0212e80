"""Staff in Slack: help, link, history and find; who may use the app; signatures, retries."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest
from aiohttp import ClientSession

from bot.slack.blocks import REVOKE_LINK, WATCH_LINK
from tests.conftest import STAFF
from tests.fakes.slack_api import DEFAULT_TEAM_ID, GENERAL_CHANNEL
from tests.fakes.slack_client import VERIFICATION_TOKEN, replay
from tests.helpers import upload
from tests.scenarios.slack_stage import BORIS, NINA, PUBLIC, STELLA, Stage
from workflows import audit
from workflows.documents import filing
from workflows.errors import Gone
from workflows.people import organizations
from workflows.sharing import access, sharing


async def test_help_lists_every_subcommand(stage: Stage) -> None:
    answer = await stage.command(STELLA, "help")

    for name in ("help", "link", "history", "find"):
        assert f"/inkpost {name}" in str(answer.blocks)
    assert answer.body.get("response_type") == "ephemeral"


async def test_unknown_subcommand_answers_with_help(stage: Stage) -> None:
    answer = await stage.command(STELLA, "dance")

    assert "dance" in str(answer.blocks) and "/inkpost find" in str(answer.blocks)


async def test_link_opens_until_revoked_from_its_button(stage: Stage) -> None:
    ref = await stage.document()

    answer = await stage.command(STELLA, f"link {ref}")

    match = re.search(re.escape(PUBLIC) + r"/d/([A-Za-z0-9_-]+)", answer.text or "")
    assert match is not None, answer.text
    found = await access.resolve(stage.env, match.group(1))
    assert found.document.ref == ref
    assert "expires 2026-11-30" in (answer.text or "")

    before = len(stage.fake.responses)
    message = {**answer.body, "ts": "1700000000.000100"}
    channel = stage.fake.dm_channel(STELLA)
    response = await stage.slack.block_action(
        STELLA, REVOKE_LINK, message=message, channel_id=channel
    )
    assert response.status == 200
    await stage.fake.wait_for(lambda: len(stage.fake.responses) > before)
    revoked = stage.fake.responses[-1]
    assert revoked.body.get("replace_original") is True
    assert "revoked" in (revoked.text or "")
    with pytest.raises(Gone):
        await access.resolve(stage.env, match.group(1))


async def test_a_link_can_ask_to_be_told_if_it_expires_unused(stage: Stage) -> None:
    ref = await stage.document()
    answer = await stage.command(STELLA, f"link {ref} 3")
    message = {**answer.body, "ts": "1700000000.000200"}
    channel = stage.fake.dm_channel(STELLA)

    async def press() -> str | None:
        before = len(stage.fake.responses)
        await stage.slack.block_action(STELLA, WATCH_LINK, message=message, channel_id=channel)
        await stage.fake.wait_for(lambda: len(stage.fake.responses) > before)
        return stage.fake.responses[-1].text

    first = await press()
    again = await press()

    assert first is not None and "expires on 2026-11-26 12:00 UTC without being opened" in first
    assert again == first
    [share] = await sharing.list_shares(stage.env, org_id=stage.org_id)
    assert share.notify_unused_expiry
    await sharing.revoke_share(stage.env, org_id=stage.org_id, actor=STAFF, share_id=share.id or 0)
    assert "was revoked" in (await press() or "")


async def test_history_shows_who_did_what(stage: Stage) -> None:
    ref = await stage.document()
    await stage.command(STELLA, f"link {ref}")

    answer = await stage.command(STELLA, f"history {ref}")

    shown = str(answer.blocks)
    assert "document added" in shown and "link created" in shown
    assert "Stella Staff" in shown


async def test_find_finds_by_title_and_says_when_nothing_matches(stage: Stage) -> None:
    ref = await stage.document("Quarterly report")
    await stage.document("Fee table 2027")

    found = await stage.command(STELLA, "find quarterly")
    missing = await stage.command(STELLA, "find zeppelin")

    assert ref in str(found.blocks) and "Quarterly report" in str(found.blocks)
    assert "Fee table" not in str(found.blocks)
    assert "Nothing found" in (missing.text or "")


async def test_find_narrows_by_category_client_and_dates(stage: Stage) -> None:
    baltic = await organizations.add_client(
        stage.env, org_id=stage.org_id, actor=STAFF, name="Baltic Shipping"
    )
    nordic_again = await organizations.add_client(
        stage.env, org_id=stage.org_id, actor=STAFF, name="Nordic Timber Two"
    )
    assert baltic.id is not None and nordic_again.id is not None
    fees = await stage.document("Fee table 2027")
    shipping = await upload(
        stage.env,
        org_id=stage.org_id,
        client_id=baltic.id,
        title="Fee table shipping",
        category="contract",
    )

    by_client = await stage.command(STELLA, 'find fee client:"baltic shipping"')
    by_category = await stage.command(STELLA, 'find fee category:"fee table"')
    today = await stage.command(STELLA, "find fee from:2026-11-23 to:2026-11-23")
    tomorrow = await stage.command(STELLA, "find fee from:2026-11-24")
    ambiguous = await stage.command(STELLA, "find fee client:nordic")
    nobody = await stage.command(STELLA, "find fee client:zeppelin")
    bad_date = await stage.command(STELLA, "find fee from:yesterday")

    assert shipping.ref in str(by_client.blocks) and fees not in str(by_client.blocks)
    assert fees in str(by_category.blocks) and shipping.ref not in str(by_category.blocks)
    assert fees in str(today.blocks) and shipping.ref in str(today.blocks)
    assert "Nothing found" in (tomorrow.text or "")
    assert "Nordic Timber, Nordic Timber Two" in (ambiguous.text or "")
    assert "no client is named like 'zeppelin'" in (nobody.text or "").lower()
    assert "takes a date like" in (bad_date.text or "")


async def test_unknown_document_is_one_short_refusal(stage: Stage) -> None:
    answer = await stage.command(STELLA, "history D-999")

    assert answer.text == "Document D-999 not found"


async def test_unknown_slack_user_is_told_whom_to_ask(stage: Stage) -> None:
    await stage.document()

    answer = await stage.command(NINA, "link D-1")

    assert "ask Stella Staff" in (answer.text or "")
    assert "/d/" not in str(answer.body)


async def test_blocked_staff_are_refused(stage: Stage) -> None:
    await organizations.set_staff_status(
        stage.env, org_id=stage.org_id, actor=STAFF, staff_id=stage.boris_id, blocked=True
    )

    answer = await stage.command(BORIS, "find fee")

    assert "blocked" in (answer.text or "")


async def test_bad_signature_is_refused_with_401(stage: Stage) -> None:
    response = await stage.slack.command(STELLA, "help", bad_signature=True)

    assert response.status == 401
    assert stage.fake.responses == []


async def test_a_replayed_command_is_refused_and_does_nothing(stage: Stage) -> None:
    ref = await stage.document()
    await stage.command(STELLA, f"link {ref}")

    again = await replay(stage.slack)
    await stage.command(STELLA, "help")  # answered after any work the replay could start

    assert again.status == 401
    assert len(stage.fake.responses) == 2
    assert len(await sharing.list_shares(stage.env, org_id=stage.org_id)) == 1


async def test_request_older_than_five_minutes_is_refused_with_401(stage: Stage) -> None:
    response = await stage.slack.command(STELLA, "help", age=6 * 60)

    assert response.status == 401
    assert stage.fake.responses == []


async def test_retried_event_does_not_do_the_work_twice(stage: Stage) -> None:
    later_channel = stage.fake.add_channel("C0LATER", "later", members=[STELLA]).id

    def mention(ts: str, channel: str = GENERAL_CHANNEL) -> dict[str, str]:
        return {
            "type": "app_mention",
            "user": STELLA,
            "text": "<@U0BOT> hello",
            "ts": ts,
            "channel": channel,
            "event_ts": ts,
        }

    first = await stage.slack.event(mention("1700000000.000001"), event_id="Ev0000000001")
    await stage.fake.wait_for_messages(GENERAL_CHANNEL, 1)
    retry = await stage.slack.event(
        mention("1700000000.000001"), event_id="Ev0000000001", retry_num=1
    )
    # The work of an event starts before its ack: an answer to the retry would come
    # before the answer to a mention sent once the retry was acknowledged.
    later = await stage.slack.event(
        mention("1700000000.000002", later_channel), event_id="Ev0000000002"
    )
    await stage.fake.wait_for_messages(later_channel, 1)

    assert (first.status, retry.status, later.status) == (200, 200, 200)
    assert len(stage.fake.messages_in(GENERAL_CHANNEL)) == 1


async def test_retried_command_is_acknowledged_without_doing_it_again(stage: Stage) -> None:
    ref = await stage.document()
    other = await stage.document("Engagement letter")
    channel = stage.fake.dm_channel(STELLA)
    form = {
        "token": VERIFICATION_TOKEN,
        "team_id": DEFAULT_TEAM_ID,
        "channel_id": channel,
        "user_id": STELLA,
        "command": "/inkpost",
        "text": f"link {ref}",
        "response_url": stage.fake.issue_response_url(user_id=STELLA, channel_id=channel),
        "trigger_id": stage.fake.issue_trigger(STELLA),
    }
    body = urlencode(form)
    headers = {
        **stage.slack.sign(body),
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Retry-Num": "1",
        "X-Slack-Retry-Reason": "http_timeout",
    }

    async with (
        ClientSession() as session,
        session.post(stage.slack.url, data=body.encode(), headers=headers) as response,
    ):
        assert response.status == 200
    # The same work for another document, sent once the retry was acknowledged: an answer
    # to the retry would come first.
    later = await stage.command(STELLA, f"link {other}")

    assert "Engagement letter" in str(later.body)
    document = await filing.find_document(stage.env, org_id=stage.org_id, ref=ref)
    assert document.id is not None
    events = await audit.document_history(stage.env, org_id=stage.org_id, document_id=document.id)
    assert [e.action for e in events] == ["document.added"]
    assert len(stage.fake.responses) == 1
