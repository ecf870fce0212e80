"""Staff see what recipients did: `/inkpost status`, the App Home tab, staff notices in
Slack, and the Retry buttons of deliveries given up."""

from __future__ import annotations

from dataclasses import dataclass

from slack_sdk.web.async_client import AsyncWebClient
from sqlmodel import select

from bot.slack.features.status import RETRY_FROM_STATUS
from bot.slack.notices import RETRY_FROM_NOTICE
from bot.slack.notify import StaffNotifier
from storage.models import Notification
from tests.conftest import STAFF
from tests.fakes.slack_api import ResponseMessage
from tests.helpers import upload
from tests.scenarios.slack_stage import BORIS, NINA, STELLA, Stage
from workflows.context import Actor, Env
from workflows.outbox import claims
from workflows.people import organizations, recipients, staff
from workflows.sharing import access, sharing
from workflows.sharing.access import Visitor
from workflows.sharing.sharing import ShareTerms
from workflows.signing import creation, deciding, party_page

VISITOR = Visitor(ip="198.51.100.7")


@dataclass(frozen=True)
class Office:
    """What happened in Acme's portal: who opened what, and one delivery given up."""

    failed_id: int


async def _stella_id(stage: Stage) -> int:
    context = await staff.staff_of_slack(stage.env, team_id="T0001", user_id=STELLA)
    assert context.staff.id is not None
    return context.staff.id


async def _recipient(env: Env, org_id: int, client_id: int, name: str) -> int:
    person = await recipients.add_recipient(
        env, org_id=org_id, actor=STAFF, client_id=client_id, name=name
    )
    assert person.id is not None
    return person.id


async def _share(env: Env, org_id: int, document_id: int, recipient_id: int, by: int) -> str:
    result = await sharing.share_with_recipient(
        env,
        org_id=org_id,
        actor=STAFF,
        document_id=document_id,
        recipient_id=recipient_id,
        terms=ShareTerms(staff_id=by),
    )
    assert result.token is not None
    return result.token


async def _office(stage: Stage) -> Office:
    """Fee table shared with Rita (opened) and Carl (not); Annex with Rita (not opened, its
    delivery given up); another organisation with documents of its own."""
    env, org_id = stage.env, stage.org_id
    stella = await _stella_id(stage)
    rita = await _recipient(env, org_id, stage.client_id, "Rita Recipient")
    carl = await _recipient(env, org_id, stage.client_id, "Carl <Colleague>")
    fee = await upload(env, org_id=org_id, client_id=stage.client_id, title="Fee table 2027")
    annex = await upload(env, org_id=org_id, client_id=stage.client_id, title="Annex A")
    assert fee.id is not None and annex.id is not None
    await access.open_shared(env, await _share(env, org_id, fee.id, rita, stella), VISITOR)
    await _share(env, org_id, fee.id, carl, stella)
    await claims.claim_due(env, worker="w", channels=["recipient"])  # Rita's and Carl's
    await _share(env, org_id, annex.id, rita, stella)
    [row] = await claims.claim_due(env, worker="w", channels=["recipient"])
    await claims.mark_failed(env, row, worker="w", error="Forbidden: bot blocked", permanent=True)
    await _other_office(env)
    assert row.id is not None
    return Office(failed_id=row.id)


async def _other_office(env: Env) -> None:
    org = await organizations.create_organization(env, slug="other", name="Other", actor=STAFF)
    assert org.id is not None
    sam = await organizations.add_staff(env, org_id=org.id, actor=STAFF, name="Sam")
    client = await organizations.add_client(env, org_id=org.id, actor=STAFF, name="Theirs")
    assert client.id is not None and sam.id is not None
    olga = await _recipient(env, org.id, client.id, "Olga Other")
    secret = await upload(env, org_id=org.id, client_id=client.id, title="Their secret")
    assert secret.id is not None
    await access.open_shared(env, await _share(env, org.id, secret.id, olga, sam.id), VISITOR)
    await _share(env, org.id, secret.id, await _recipient(env, org.id, client.id, "Oz"), sam.id)
    rows = await claims.claim_due(env, worker="o", channels=["recipient"])
    for row in rows:
        if row.org_id == org.id:
            await claims.mark_failed(env, row, worker="o", error="their failure", permanent=True)


async def _status(stage: Stage, user: str = STELLA) -> ResponseMessage:
    return await stage.command(user, "status")


async def _row(env: Env, notification_id: int) -> Notification:
    async with env.sessions() as session:
        row = await session.get(Notification, notification_id)
    assert row is not None
    return row


async def _response_after(stage: Stage, before: int) -> ResponseMessage:
    await stage.fake.wait_for(lambda: len(stage.fake.responses) > before, what="an answer")
    return stage.fake.responses[-1]


async def test_status_shows_what_waits_what_was_opened_and_what_failed(stage: Stage) -> None:
    await _office(stage)

    answer = await _status(stage)

    shown = str(answer.blocks)
    assert answer.body.get("response_type") == "ephemeral"
    assert "*Not opened yet* (2)" in shown
    assert "*D-1* Fee table 2027 · 1 of 2 opened" in shown
    assert "*D-2* Annex A · 0 of 1 opened" in shown
    assert "Rita Recipient opened *D-1* Fee table 2027" in shown
    assert "*Failed deliveries* (1)" in shown
    assert "Share notice to Rita Recipient · *D-2* Annex A" in shown
    assert "Forbidden: bot blocked" in shown


async def test_status_lists_requests_waiting_for_decisions(stage: Stage) -> None:
    document = await upload(stage.env, org_id=stage.org_id, client_id=stage.client_id)
    assert document.id is not None
    created = await creation.create_request(
        stage.env,
        org_id=stage.org_id,
        actor=STAFF,
        staff_id=None,
        new=creation.NewRequest(
            document_ids=[document.id],
            parties=[
                creation.NewParty(role="approver", name="Ada", phone="+46 70 111 22 33"),
                creation.NewParty(role="signer", name="Bo <i>", phone="+46 70 444 55 66"),
            ],
            title="Lease 2027",
        ),
    )
    page = Actor(type="party", label="page")
    await party_page.record_opened(stage.env, created.parties[0].token, document.id, actor=page)
    await deciding.decide(
        stage.env,
        created.parties[0].token,
        deciding.Decision(kind="approve", consent=True),
        actor=page,
    )

    shown = str((await _status(stage)).blocks)

    assert "*Waiting for decisions* (1)" in shown
    assert "*S-1* Lease 2027 · 1 of 2 decided · waiting for Bo &lt;i&gt;" in shown


async def test_status_of_a_quiet_office_lists_no_request(stage: Stage) -> None:
    assert "No signature request is waiting." in str((await _status(stage)).blocks)


async def test_status_shows_nothing_of_another_organisation(stage: Stage) -> None:
    await _office(stage)

    shown = str((await _status(stage)).body)

    for theirs in ("Their secret", "Olga Other", "their failure", "Oz"):
        assert theirs not in shown


async def test_status_of_a_quiet_office_says_so(stage: Stage) -> None:
    shown = str((await _status(stage)).blocks)

    assert "Every shared document has been opened by everyone." in shown
    assert "Nobody has opened or downloaded a document yet." in shown
    assert "No delivery has failed." in shown


async def test_status_is_refused_to_blocked_staff_and_strangers(stage: Stage) -> None:
    await organizations.set_staff_status(
        stage.env, org_id=stage.org_id, actor=STAFF, staff_id=stage.boris_id, blocked=True
    )

    blocked = await _status(stage, BORIS)
    stranger = await _status(stage, NINA)

    assert "blocked" in (blocked.text or "")
    assert "ask Stella Staff" in (stranger.text or "")


async def test_help_lists_status(stage: Stage) -> None:
    answer = await stage.command(STELLA, "help")

    assert "/inkpost status" in str(answer.blocks)


async def test_the_home_tab_shows_the_same_for_the_staff_members_organisation(
    stage: Stage,
) -> None:
    await _office(stage)

    view = await stage.open_home(STELLA)

    shown = str(view["blocks"])
    assert "Inkpost · Acme Law" in shown
    assert "*D-1* Fee table 2027 · 1 of 2 opened" in shown
    assert "Rita Recipient opened *D-1* Fee table 2027" in shown
    assert "Annex A" in shown and "Their secret" not in shown


async def test_the_messages_tab_publishes_nothing(stage: Stage) -> None:
    event = {
        "type": "app_home_opened",
        "user": STELLA,
        "channel": stage.fake.dm_channel(STELLA),
        "tab": "messages",
        "event_ts": "1700000000.000200",
    }
    await stage.slack.event(event)
    await stage.open_home(STELLA)  # answered after the first event

    assert len(stage.fake.requests_for("views.publish")) == 1


async def test_the_home_tab_of_a_stranger_says_whom_to_ask(stage: Stage) -> None:
    view = await stage.open_home(NINA)

    assert "ask Stella Staff" in str(view["blocks"])
    assert "Failed deliveries" not in str(view["blocks"])


async def test_retry_in_the_home_tab_retries_and_shows_it(stage: Stage) -> None:
    office = await _office(stage)
    view = await stage.open_home(STELLA)

    response = await stage.slack.block_action(STELLA, RETRY_FROM_STATUS, view=view)
    assert response.status == 200
    await stage.fake.wait_for(
        lambda: "will be tried again" in str((stage.fake.home_view(STELLA) or {}).get("blocks"))
    )

    assert (await _row(stage.env, office.failed_id)).status == "pending"
    shown = str((stage.fake.home_view(STELLA) or {})["blocks"])
    assert "*Failed deliveries* (0)" in shown


async def test_retry_in_the_status_message_replaces_it_and_a_second_click_is_refused(
    stage: Stage,
) -> None:
    office = await _office(stage)
    answer = await _status(stage)
    message = {**answer.body, "ts": "1700000000.000300"}
    channel = stage.fake.dm_channel(STELLA)

    before = len(stage.fake.responses)
    await stage.slack.block_action(STELLA, RETRY_FROM_STATUS, message=message, channel_id=channel)
    retried = await _response_after(stage, before)
    before = len(stage.fake.responses)
    await stage.slack.block_action(STELLA, RETRY_FROM_STATUS, message=message, channel_id=channel)
    again = await _response_after(stage, before)

    assert retried.body.get("replace_original") is True
    assert f"Delivery {office.failed_id} will be tried again now." in str(retried.blocks)
    assert "*Failed deliveries* (0)" in str(retried.blocks)
    assert (await _row(stage.env, office.failed_id)).status == "pending"
    assert "That delivery no longer failed: it was retried already" in str(again.blocks)


async def test_a_retry_button_naming_no_delivery_is_refused(stage: Stage) -> None:
    office = await _office(stage)
    answer = await _status(stage)
    message = {**answer.body, "ts": "1700000000.000400"}

    before = len(stage.fake.responses)
    await stage.slack.block_action(
        STELLA,
        RETRY_FROM_STATUS,
        "12; drop table",
        message=message,
        channel_id=stage.fake.dm_channel(STELLA),
    )
    refused = await _response_after(stage, before)

    assert "This button does not name a delivery" in str(refused.blocks)
    assert (await _row(stage.env, office.failed_id)).status == "dead"


async def test_a_retry_button_of_another_organisation_retries_nothing(stage: Stage) -> None:
    await _office(stage)
    async with stage.env.sessions() as session:
        theirs = (
            await session.exec(
                select(Notification).where(
                    Notification.org_id != stage.org_id, Notification.status == "dead"
                )
            )
        ).first()
    assert theirs is not None
    answer = await _status(stage)
    message = {**answer.body, "ts": "1700000000.000500"}

    before = len(stage.fake.responses)
    await stage.slack.block_action(
        STELLA,
        RETRY_FROM_STATUS,
        str(theirs.id),
        message=message,
        channel_id=stage.fake.dm_channel(STELLA),
    )
    refused = await _response_after(stage, before)

    assert "retried already" in str(refused.blocks)
    assert (await _row(stage.env, theirs.id or 0)).status == "dead"


async def test_staff_are_told_in_slack_and_retry_from_the_notice(stage: Stage) -> None:
    office = await _office(stage)
    notifier = StaffNotifier(
        stage.env, AsyncWebClient(token=stage.fake.token, base_url=stage.fake.api_url)
    )
    await notifier.run_once()

    told = stage.fake.messages_to(STELLA)
    assert [m.text for m in told] == [
        "Rita Recipient opened D-1 Fee table 2027",
        "Delivery of D-2 Annex A to Rita Recipient failed for good",
    ]
    before = len(stage.fake.responses)
    await stage.slack.block_action(STELLA, RETRY_FROM_NOTICE, message=told[1])
    await _response_after(stage, before)

    assert (await _row(stage.env, office.failed_id)).status == "pending"
    assert "Retried by Stella Staff" in str(told[1].blocks)
    assert told[1].action_ids() == []
