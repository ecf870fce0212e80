"""The Slack worker for staff notices against the fake Web API: who is told what, grouped,
paced per conversation, and never lost to a 429 or an outage."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import pytest
from aiohttp import web
from pydantic import SecretStr
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.slack.notices import RETRY_FROM_NOTICE
from bot.slack.notify import StaffNotifier
from inkpost import services
from inkpost.runtime import Runtime
from inkpost.settings import Settings
from storage.models import StaffUser
from tests.conftest import STAFF, START, Tenant
from tests.fakes.slack_api import FakeSlackApi, ManualClock
from tests.helpers import stored_notifications, upload
from workflows import outbox
from workflows.context import Actor, Env, FixedClock
from workflows.outbox import claims
from workflows.outbox.kinds import (
    AccessPayload,
    Channel,
    DeadSummaryPayload,
    Kind,
    LinkUnusedPayload,
    UnopenedPayload,
)
from workflows.people import organizations, recipients
from workflows.sharing import access, links, sharing, staff_notices
from workflows.sharing.access import Visitor
from workflows.sharing.sharing import ShareTerms
from workflows.signing import creation, deciding, party_page

STELLA = "U0STELLA"
SAM = "U0SAM"
VISITOR = Visitor(ip="198.51.100.7")
SLACK = ("slack",)
"""The outbox channel of notices to staff."""


@pytest.fixture
def manual(slack_api: FakeSlackApi) -> ManualClock:
    """One clock for the fake's rate limits and the worker's pacing."""
    clock = ManualClock()
    slack_api.clock = clock
    return clock


@pytest.fixture
async def client(slack_api: FakeSlackApi) -> AsyncIterator[AsyncWebClient]:
    yield AsyncWebClient(token=slack_api.token, base_url=slack_api.api_url)


def _notifier(
    env: Env, client: AsyncWebClient, manual: ManualClock, **options: object
) -> StaffNotifier:
    async def sleep(seconds: float) -> None:
        until = manual.now + seconds
        await asyncio.sleep(0)
        manual.now = max(manual.now, until)

    return StaffNotifier(env, client, clock=manual, sleep=sleep, **options)  # type: ignore[arg-type]


async def _on_slack(env: Env, fake: FakeSlackApi, staff_id: int, user_id: str) -> None:
    async with env.sessions() as session, session.begin():
        member = await session.get(StaffUser, staff_id)
        assert member is not None
        member.slack_user_id = user_id
        session.add(member)
    fake.add_user(user_id, user_id.lower())


async def _share(
    env: Env, tenant: Tenant, *, recipient_id: int, document_id: int, staff_id: int
) -> str:
    result = await sharing.share_with_recipient(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        document_id=document_id,
        recipient_id=recipient_id,
        terms=ShareTerms(staff_id=staff_id),
    )
    assert result.token is not None
    return result.token


async def _opened(env: Env, tenant: Tenant, title: str = "Fee table 2027") -> str:
    """Rita opens a document Stella shared with her; returns her token."""
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id, title=title)
    token = await _share(
        env,
        tenant,
        recipient_id=tenant.recipient_id,
        document_id=document.id or 0,
        staff_id=tenant.staff_id,
    )
    await access.open_shared(env, token, VISITOR)
    return token


async def test_a_first_open_reaches_the_sharer_once_in_a_direct_message(
    env: Env, tenant: Tenant, slack_api: FakeSlackApi, client: AsyncWebClient, manual: ManualClock
) -> None:
    await _on_slack(env, slack_api, tenant.staff_id, STELLA)
    token = await _opened(env, tenant)
    await access.open_shared(env, token, VISITOR)
    notifier = _notifier(env, client, manual)

    assert await notifier.run_once() == 1
    assert await notifier.run_once() == 0

    [message] = slack_api.messages_to(STELLA)
    assert message.text == "Rita Recipient opened D-1 Fee table 2027"
    assert "*D-1* Fee table 2027" in str(message.blocks)
    [row] = await stored_notifications(env, channels=SLACK)
    assert (row.status, row.delivered_via, row.result["ts"]) == ("sent", "slack", message.ts)


async def test_many_opens_at_once_are_one_message_listing_names_up_to_a_limit(
    env: Env, tenant: Tenant, slack_api: FakeSlackApi, client: AsyncWebClient, manual: ManualClock
) -> None:
    await _on_slack(env, slack_api, tenant.staff_id, STELLA)
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    for n in range(12):
        person = await recipients.add_recipient(
            env,
            org_id=tenant.org_id,
            actor=STAFF,
            client_id=tenant.client_id,
            name=f"Person {n:02d}",
        )
        token = await _share(
            env,
            tenant,
            recipient_id=person.id or 0,
            document_id=document.id or 0,
            staff_id=tenant.staff_id,
        )
        await access.open_shared(env, token, VISITOR)

    assert await _notifier(env, client, manual).run_once() == 12

    [message] = slack_api.messages_to(STELLA)
    assert message.text == "12 recipients opened D-1 Fee table 2027"
    shown = str(message.blocks)
    assert "Person 00" in shown and "Person 09" in shown and "and 2 more" in shown
    assert "Person 10" not in shown
    assert {row.status for row in await stored_notifications(env, channels=SLACK)} == {"sent"}


async def test_a_link_is_someone_and_names_are_shown_literally(
    env: Env, tenant: Tenant, slack_api: FakeSlackApi, client: AsyncWebClient, manual: ManualClock
) -> None:
    await _on_slack(env, slack_api, tenant.staff_id, STELLA)
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    link = await links.create_link(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        document_id=document.id or 0,
        terms=ShareTerms(staff_id=tenant.staff_id),
    )
    assert link.token is not None
    await access.open_shared(env, link.token, VISITOR)
    odd = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id, title="Q&A <draft>")
    token = await _share(
        env,
        tenant,
        recipient_id=tenant.recipient_id,
        document_id=odd.id or 0,
        staff_id=tenant.staff_id,
    )
    await access.open_shared(env, token, VISITOR)

    await _notifier(env, client, manual).run_once()

    first, second = slack_api.messages_to(STELLA)
    assert first.text == "Someone with a link opened D-1 Fee table 2027"
    assert second.text == "Rita Recipient opened D-2 Q&amp;A &lt;draft&gt;"
    assert "*D-2* Q&amp;A &lt;draft&gt;" in str(second.blocks)


async def test_opens_and_downloads_are_told_apart(
    env: Env, tenant: Tenant, slack_api: FakeSlackApi, client: AsyncWebClient, manual: ManualClock
) -> None:
    await _on_slack(env, slack_api, tenant.staff_id, STELLA)
    token = await _opened(env, tenant)
    await access.start_download(env, token, VISITOR)

    await _notifier(env, client, manual).run_once()

    assert [m.text for m in slack_api.messages_to(STELLA)] == [
        "Rita Recipient opened D-1 Fee table 2027",
        "Rita Recipient downloaded D-1 Fee table 2027",
    ]


async def test_a_delivery_given_up_is_told_with_a_retry_button(
    env: Env, tenant: Tenant, slack_api: FakeSlackApi, client: AsyncWebClient, manual: ManualClock
) -> None:
    await _on_slack(env, slack_api, tenant.staff_id, STELLA)
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    await _share(
        env,
        tenant,
        recipient_id=tenant.recipient_id,
        document_id=document.id or 0,
        staff_id=tenant.staff_id,
    )
    [row] = await claims.claim_due(env, worker="w", channels=["recipient"])
    await claims.mark_failed(env, row, worker="w", error="Forbidden: blocked", permanent=True)

    await _notifier(env, client, manual).run_once()

    [message] = slack_api.messages_to(STELLA)
    assert message.text == "Delivery of D-1 Fee table 2027 to Rita Recipient failed for good"
    assert "Forbidden: blocked" in str(message.blocks)
    assert message.action_ids() == [RETRY_FROM_NOTICE]
    button = message.blocks[-2]["elements"][0] if message.blocks else {}
    assert button["value"] == str(row.id)


async def test_a_429_waits_its_retry_after_and_is_no_failure(
    env: Env,
    tenant: Tenant,
    clock: FixedClock,
    slack_api: FakeSlackApi,
    client: AsyncWebClient,
    manual: ManualClock,
) -> None:
    await _on_slack(env, slack_api, tenant.staff_id, STELLA)
    await _opened(env, tenant)
    slack_api.throttle(1, methods=["chat.postMessage"], retry_after=30)
    notifier = _notifier(env, client, manual)

    await notifier.run_once()

    [row] = await stored_notifications(env, channels=SLACK)
    assert (row.status, row.attempts) == ("pending", 0)
    assert row.next_attempt_at == START + timedelta(seconds=30)
    assert await notifier.run_once() == 0
    clock.at += timedelta(seconds=30)
    await notifier.run_once()
    [row] = await stored_notifications(env, channels=SLACK)
    assert (row.status, row.attempts) == ("sent", 1)
    refused, sent = slack_api.requests_for("chat.postMessage")
    assert (refused.status, sent.status) == (429, 200)
    assert sent.at - refused.at >= 30


async def test_an_outage_backs_off_and_the_notice_is_delivered_after(
    env: Env,
    tenant: Tenant,
    clock: FixedClock,
    slack_api: FakeSlackApi,
    client: AsyncWebClient,
    manual: ManualClock,
) -> None:
    await _on_slack(env, slack_api, tenant.staff_id, STELLA)
    await _opened(env, tenant)
    slack_api.outage(2, methods=["chat.postMessage"])
    notifier = _notifier(env, client, manual)

    for expected in (1, 2):
        await notifier.run_once()
        [row] = await stored_notifications(env, channels=SLACK)
        assert (row.status, row.attempts) == ("pending", expected)
        assert "503" in (row.last_error or "")
        assert await notifier.run_once() == 0  # backing off
        clock.at += timedelta(hours=1)
    await notifier.run_once()

    [row] = await stored_notifications(env, channels=SLACK)
    assert row.status == "sent"
    assert len(slack_api.messages_to(STELLA)) == 1


async def test_a_channel_the_bot_is_not_in_gives_up_and_tells_nobody_else(
    env: Env, tenant: Tenant, slack_api: FakeSlackApi, client: AsyncWebClient, manual: ManualClock
) -> None:
    slack_api.add_channel("C0NOTICES", "notices", bot_member=False)
    await staff_notices.set_notice_channel(
        env, org_id=tenant.org_id, actor=STAFF, channel="C0NOTICES"
    )
    await _opened(env, tenant)

    await _notifier(env, client, manual).run_once()

    [row] = await stored_notifications(env, channels=SLACK)
    assert (row.status, row.last_error) == ("dead", "Slack refused the message: not_in_channel")


async def test_a_notice_with_nowhere_to_go_waits_for_a_channel(
    env: Env, tenant: Tenant, slack_api: FakeSlackApi, client: AsyncWebClient, manual: ManualClock
) -> None:
    await _opened(env, tenant)
    notifier = _notifier(env, client, manual)

    await notifier.run_once()
    [row] = await stored_notifications(env, channels=SLACK)
    assert (row.status, row.attempts) == ("waiting", 0)

    slack_api.add_channel("C0NOTICES", "notices")
    await staff_notices.set_notice_channel(
        env, org_id=tenant.org_id, actor=STAFF, channel="C0NOTICES"
    )
    await notifier.run_once()

    [message] = slack_api.messages_in("C0NOTICES")
    assert message.text == "Rita Recipient opened D-1 Fee table 2027"


async def test_each_conversation_gets_at_most_one_message_a_second(
    env: Env, tenant: Tenant, slack_api: FakeSlackApi, client: AsyncWebClient, manual: ManualClock
) -> None:
    await _on_slack(env, slack_api, tenant.staff_id, STELLA)
    sam = await organizations.add_staff(env, org_id=tenant.org_id, actor=STAFF, name="Sam")
    await _on_slack(env, slack_api, sam.id or 0, SAM)
    for title in ("One", "Two", "Three", "Four"):
        await _opened(env, tenant, title)
    for title in ("Five", "Six"):
        document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id, title=title)
        token = await _share(
            env,
            tenant,
            recipient_id=tenant.recipient_id,
            document_id=document.id or 0,
            staff_id=sam.id or 0,
        )
        await access.open_shared(env, token, VISITOR)
    started = manual.now

    assert await _notifier(env, client, manual).run_once() == 6

    posts = slack_api.requests_for("chat.postMessage")
    assert all(p.status == 200 for p in posts)
    for user in (STELLA, SAM):
        times = [p.at for p in posts if p.params["channel"] == user]
        gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
        assert gaps and min(gaps) >= 1.0, (user, times)
    assert len(slack_api.messages_to(STELLA)) == 4 and len(slack_api.messages_to(SAM)) == 2
    assert manual.now - started < 4.5  # the two conversations were served side by side


async def test_messages_that_would_outlive_the_lease_are_handed_back_uncounted(
    env: Env, tenant: Tenant, slack_api: FakeSlackApi, client: AsyncWebClient, manual: ManualClock
) -> None:
    await _on_slack(env, slack_api, tenant.staff_id, STELLA)
    for title in ("One", "Two", "Three"):
        await _opened(env, tenant, title)
    notifier = _notifier(env, client, manual, lease=timedelta(seconds=2))

    await notifier.run_once()

    rows = await stored_notifications(env, channels=SLACK)
    assert [(r.status, r.attempts) for r in rows] == [("sent", 1), ("sent", 1), ("pending", 0)]
    assert len(slack_api.messages_to(STELLA)) == 2


async def test_the_running_worker_delivers_what_arrives_and_stops_cleanly(
    env: Env, tenant: Tenant, slack_api: FakeSlackApi, client: AsyncWebClient
) -> None:
    await _on_slack(env, slack_api, tenant.staff_id, STELLA)
    notifier = StaffNotifier(env, client, idle_seconds=0.05)

    async with notifier.loop.running():
        await _opened(env, tenant)
        await slack_api.wait_for(lambda: len(slack_api.messages_to(STELLA)) == 1)

    [row] = await stored_notifications(env, channels=SLACK)
    assert row.status == "sent"


async def test_serve_runs_the_worker_when_slack_is_configured(
    engine: AsyncEngine, env: Env, tenant: Tenant, slack_api: FakeSlackApi
) -> None:
    await _on_slack(env, slack_api, tenant.staff_id, STELLA)
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        slack_bot_token=SecretStr(slack_api.token),
        slack_signing_secret=SecretStr("s3cret"),
        slack_api_url=slack_api.api_url,
        telegram_token=None,
        smtp_url=None,
    )
    app = web.Application()
    services.attach(app, Runtime(settings=settings, engine=engine, env=env))
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await _opened(env, tenant)
        await slack_api.wait_for(lambda: len(slack_api.messages_to(STELLA)) == 1)
    finally:
        await runner.cleanup()

    [row] = await stored_notifications(env, channels=SLACK)
    assert row.status == "sent"


PARTY = Actor(type="party", label="signing page")


async def test_a_signature_request_moving_on_is_told_to_who_sent_it(
    env: Env, tenant: Tenant, slack_api: FakeSlackApi, client: AsyncWebClient, manual: ManualClock
) -> None:
    await _on_slack(env, slack_api, tenant.staff_id, STELLA)
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    assert document.id is not None
    created = await creation.create_request(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        staff_id=tenant.staff_id,
        new=creation.NewRequest(
            document_ids=[document.id],
            parties=[
                creation.NewParty(role="approver", name="Ada <b>", phone="+46 70 111 22 33"),
                creation.NewParty(role="approver", name="Bo", phone="+46 70 444 55 66"),
            ],
            title="Fee table sign-off",
        ),
    )
    ada, bo = created.parties
    page = deciding.Decision(kind="approve", consent=True)
    await party_page.record_opened(env, ada.token, document.id, actor=PARTY)
    await deciding.decide(env, ada.token, page, actor=PARTY)
    await deciding.decide(
        env, bo.token, deciding.Decision(kind="decline", reason="No"), actor=PARTY
    )
    notifier = _notifier(env, client, manual)

    while await notifier.run_once():
        pass

    texts = [m.text for m in slack_api.messages_to(STELLA)]
    assert texts == [
        "Ada &lt;b&gt; approved S-1 Fee table sign-off",
        "S-1 Fee table sign-off was declined; it has ended for everyone",
    ]
    assert all(row.status == "sent" for row in await stored_notifications(env, channels=SLACK))


async def test_reminders_to_staff_each_say_what_is_due(
    env: Env, tenant: Tenant, slack_api: FakeSlackApi, client: AsyncWebClient, manual: ManualClock
) -> None:
    await _on_slack(env, slack_api, tenant.staff_id, STELLA)
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    assert document.id is not None
    olaf = await recipients.add_recipient(
        env, org_id=tenant.org_id, actor=STAFF, client_id=tenant.client_id, name="Olaf <O>"
    )
    assert olaf.id is not None
    until = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    payloads = [
        UnopenedPayload(
            document_id=document.id,
            recipient_ids=(tenant.recipient_id, olaf.id),
            available_until=until,
        ),
        LinkUnusedPayload(document_id=document.id, share_id=7, expires_at=until),
        AccessPayload(
            kind=Kind.RECIPIENT_ACCESS_ENDING,
            recipient_id=tenant.recipient_id,
            access_expires_at=until,
        ),
        DeadSummaryPayload(
            count=3, by_kind={"document.shared": 2, "sign.invite": 1}, day=date(2026, 11, 23)
        ),
    ]
    async with env.sessions() as session, session.begin():
        for number, payload in enumerate(payloads):
            await outbox.enqueue(
                session,
                org_id=tenant.org_id,
                channel=Channel.SLACK,
                target=f"staff:{tenant.staff_id}",
                payload=payload,
                dedupe_key=f"test:{number}",
                at=env.clock.now(),
            )
    notifier = _notifier(env, client, manual)

    while await notifier.run_once():
        pass

    texts = [m.text for m in slack_api.messages_to(STELLA)]
    assert texts == [
        "D-1 Fee table 2027 stops being available on 2026-11-26 12:00 UTC; "
        "not opened yet by Rita Recipient, Olaf &lt;O&gt;",
        "Your link to D-1 Fee table 2027 (share 7) expired on 2026-11-26 12:00 UTC "
        "without being opened or downloaded",
        "Rita Recipient's access to your documents ends on 2026-11-26 12:00 UTC",
        "3 notifications could not be delivered (document.shared 2, sign.invite 1)",
    ]
    assert all(row.status == "sent" for row in await stored_notifications(env, channels=SLACK))
