"""Staff send documents for signature from Slack: `/inkpost sign`, its modal and pickers,
the message with each party's link and Cancel, and `/inkpost requests`."""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import col, select

from bot.slack.features.signing.views import (
    ACROSS,
    APPROVERS,
    CANCEL,
    DOCUMENTS,
    EXPIRES,
    LANGUAGE,
    MESSAGE,
    ORDER,
    PEOPLE,
    REMIND,
    SIGNERS,
    VIEWERS,
)
from storage.models import Notification, SignatureRequest
from storage.rows import id_of
from tests.conftest import STAFF, START
from tests.fakes.slack_api import JSON, PostedMessage, find_element
from tests.helpers import confirmed_browser, upload
from tests.scenarios.slack_stage import BORIS, NINA, PUBLIC, STELLA, Stage
from workflows.outbox.kinds import Kind
from workflows.people import organizations, recipients
from workflows.signing import deciding, party_page

LINK = re.compile(re.escape(PUBLIC) + r"/s/([A-Za-z0-9_-]+)")


async def open_sign(stage: Stage, text: str = "sign", user_id: str = STELLA) -> JSON:
    """``/inkpost {text}`` and the request modal it opens."""
    response = await stage.slack.command(user_id, text)
    assert response.status == 200

    def opened() -> JSON | None:
        views = stage.fake.open_views(user_id)
        if views and find_element(views[-1]["blocks"], DOCUMENTS):
            return views[-1]
        return None

    view: JSON = await stage.fake.wait_for(opened, what="the request form")
    return view


async def recipient(stage: Stage, name: str, email: str | None = None) -> int:
    added = await recipients.add_recipient(
        stage.env,
        org_id=stage.org_id,
        actor=STAFF,
        client_id=stage.client_id,
        name=name,
        email=email,
    )
    assert added.id is not None
    return added.id


async def submit(stage: Stage, view: JSON, values: dict[str, Any]) -> None:
    response = await stage.slack.view_submission(
        STELLA, view, {LANGUAGE: "en", ORDER: "parallel", **values}
    )
    assert response.status == 200


def errors_shown(stage: Stage, view: JSON) -> dict[str, str]:
    shown = [errors for view_id, errors in stage.fake.view_errors if view_id == view["id"]]
    assert shown, "the modal shows no errors"
    return shown[-1]


async def requests_made(stage: Stage) -> list[SignatureRequest]:
    async with stage.env.reads() as session:
        rows = await session.exec(select(SignatureRequest).order_by(col(SignatureRequest.id)))
        return list(rows.all())


async def sent(stage: Stage) -> PostedMessage:
    [message] = await stage.fake.wait_for_messages(stage.fake.dm_channel(STELLA))
    return message


async def test_a_request_to_recipients_and_other_people_lists_each_partys_link(
    stage: Stage,
) -> None:
    contract = await stage.document("Contract 2027")
    annex = await stage.document("Annex A")
    anna = await recipient(stage, "Anna Berg", "anna@nordic.test")
    bert = await recipient(stage, "Bert Boss", "bert@nordic.test")
    view = await open_sign(stage, f"sign {contract}")
    _, picker = find_element(view["blocks"], DOCUMENTS) or ("", {})
    assert [o["value"] for o in picker["initial_options"]] == [contract]

    await submit(
        stage,
        view,
        {
            DOCUMENTS: [contract, annex],
            SIGNERS: [str(anna)],
            APPROVERS: [str(bert)],
            PEOPLE: "Carl Client <carl@client.test>\n\nviewer: Vera View, @vera_view",
            ORDER: "sequential",
            EXPIRES: datetime(2026, 12, 31).date(),
            MESSAGE: "Please sign by Friday",
            LANGUAGE: "sv",
        },
    )

    message = await sent(stage)
    assert stage.fake.open_views(STELLA) == []
    [request] = await requests_made(stage)
    assert (request.ref, request.signing_order, request.language) == ("S-1", "sequential", "sv")
    assert request.expires_at == datetime(2027, 1, 1, tzinfo=UTC)
    assert request.message == "Please sign by Friday"
    tokens = LINK.findall(message.text)
    assert len(tokens) == 4 and message.text.startswith("Sent S-1 Contract 2027")
    pages = [await party_page.open_page(stage.env, token) for token in tokens]
    assert [(p.party.position, p.party.role, p.party.name) for p in pages] == [
        (1, "signer", "Anna Berg"),
        (2, "approver", "Bert Boss"),
        (3, "signer", "Carl Client"),
        (4, "viewer", "Vera View"),
    ]
    assert (pages[2].party.email, pages[2].party.language) == ("carl@client.test", "sv")
    assert pages[0].party.language == "en"
    assert pages[3].party.telegram_username == "vera_view"
    assert [d.ref for d in pages[0].state.documents] == [contract, annex]
    assert pages[0].may_decide and pages[1].waiting_for == "Anna Berg"
    shown = str(message.blocks)
    assert "invited when their turn comes" in shown and CANCEL in message.action_ids()


async def test_pickers_offer_pdfs_only_and_recipients_of_this_organisation(stage: Stage) -> None:
    pdf = await stage.document("Fee table 2027")
    await upload(
        stage.env,
        org_id=stage.org_id,
        client_id=stage.client_id,
        title="Fee table notes",
        filename="fee-notes.txt",
        data=b"plain notes about fees",
    )
    await recipient(stage, "Anna Berg", "anna@nordic.test")
    other = await organizations.create_organization(
        stage.env, slug="globex", name="Globex", actor=STAFF
    )
    assert other.id is not None
    client = await organizations.add_client(stage.env, org_id=other.id, actor=STAFF, name="G")
    assert client.id is not None
    await recipients.add_recipient(
        stage.env, org_id=other.id, actor=STAFF, client_id=client.id, name="Anna Other"
    )
    view = await open_sign(stage)

    documents = await stage.slack.block_suggestion(STELLA, DOCUMENTS, "fee", view=view)
    people = await stage.slack.block_suggestion(STELLA, APPROVERS, "anna", view=view)

    assert [o["value"] for o in documents["options"]] == [pdf]
    assert [o["text"]["text"] for o in people["options"]] == ["Anna Berg · anna@nordic.test"]


async def test_a_document_that_is_no_pdf_is_refused_on_the_field(stage: Stage) -> None:
    pdf = await stage.document()
    notes = await upload(
        stage.env,
        org_id=stage.org_id,
        client_id=stage.client_id,
        title="Notes",
        filename="notes.txt",
        data=b"plain notes",
    )
    anna = await recipient(stage, "Anna Berg")
    view = await open_sign(stage)

    await submit(stage, view, {DOCUMENTS: [pdf, notes.ref, "D-99"], SIGNERS: [str(anna)]})

    assert errors_shown(stage, view) == {
        "documents": f"{notes.ref} is not a PDF; only PDFs can be signed; document D-99 not found"
    }
    assert await requests_made(stage) == []
    answer = await stage.command(STELLA, f"sign {notes.ref}")
    assert answer.text == f"{notes.ref} is not a PDF; only PDFs can be signed"


async def test_a_request_without_a_signer_or_approver_is_refused(stage: Stage) -> None:
    ref = await stage.document()
    vera = await recipient(stage, "Vera View")
    view = await open_sign(stage)

    await submit(stage, view, {DOCUMENTS: [ref], VIEWERS: [str(vera)]})
    only_viewers = errors_shown(stage, view)
    await submit(stage, view, {DOCUMENTS: [ref], PEOPLE: "viewer: Vic <vic@client.test>"})
    typed_viewer = errors_shown(stage, view)

    expected = {"signers": "Pick at least one signer or approver; viewers decide nothing"}
    assert only_viewers == expected and typed_viewer == expected
    assert await requests_made(stage) == []


async def test_a_bad_line_of_people_is_named_on_the_field(stage: Stage) -> None:
    ref = await stage.document()
    view = await open_sign(stage)

    await submit(
        stage,
        view,
        {
            DOCUMENTS: [ref],
            PEOPLE: "Carl Client <carl@client.test>\nDora Doe\nboss: Eva <eva@x.test>",
        },
    )

    assert errors_shown(stage, view) == {
        "people": "Line 2 “Dora Doe”: give Dora Doe's email, phone or Telegram username: "
        "“Name <email>”, “Name, +phone” or “Name, @telegram”; line 3 “boss: Eva <eva@x.test>”: "
        "'boss:' is not a role; use signer:, approver: or viewer:"
    }
    assert await requests_made(stage) == []


async def test_recipients_who_cannot_take_part_are_refused_on_their_field(stage: Stage) -> None:
    ref = await stage.document()
    anna = await recipient(stage, "Anna Berg")
    bert = await recipient(stage, "Bert Blocked")
    await recipients.set_recipient_blocked(
        stage.env, org_id=stage.org_id, actor=STAFF, recipient_id=bert, blocked=True
    )
    view = await open_sign(stage)

    await submit(
        stage,
        view,
        {DOCUMENTS: [ref], SIGNERS: [str(anna)], APPROVERS: [str(bert), str(anna)]},
    )
    errors = errors_shown(stage, view)
    await submit(stage, view, {DOCUMENTS: [ref], SIGNERS: [str(anna)], EXPIRES: START.date()})

    assert errors == {
        "approvers": f"Recipient Bert Blocked is blocked; {anna} is already picked as signer"
    }
    await sent(stage)
    [request] = await requests_made(stage)
    assert request.expires_at == datetime(2026, 11, 24, tzinfo=UTC)


async def test_an_expiry_in_the_past_is_refused_on_its_field(stage: Stage) -> None:
    ref = await stage.document()
    anna = await recipient(stage, "Anna Berg")
    view = await open_sign(stage)

    await submit(
        stage,
        view,
        {DOCUMENTS: [ref], SIGNERS: [str(anna)], EXPIRES: START.date() - timedelta(days=1)},
    )

    assert errors_shown(stage, view) == {"expires": "Pick today or a later date"}
    assert await requests_made(stage) == []


async def test_someone_who_is_not_staff_gets_no_form_and_no_request(stage: Stage) -> None:
    ref = await stage.document()
    anna = await recipient(stage, "Anna Berg")

    answer = await stage.command(NINA, f"sign {ref}")
    listed = await stage.command(NINA, "requests")

    assert "ask Stella Staff" in (answer.text or "") and "ask Stella Staff" in (listed.text or "")
    assert stage.fake.requests_for("views.open") == []
    view = await open_sign(stage, user_id=BORIS)
    await organizations.set_staff_status(
        stage.env, org_id=stage.org_id, actor=STAFF, staff_id=stage.boris_id, blocked=True
    )
    offered = await stage.slack.block_suggestion(BORIS, SIGNERS, "anna", view=view)
    response = await stage.slack.view_submission(
        BORIS, view, {DOCUMENTS: [ref], SIGNERS: [str(anna)], LANGUAGE: "en", ORDER: "parallel"}
    )
    assert response.status == 200 and offered == {"options": []}
    assert errors_shown(stage, view) == {"documents": "Your access to Acme Law is blocked"}
    assert await requests_made(stage) == []


async def test_cancel_ends_the_request_and_a_second_press_says_so(stage: Stage) -> None:
    ref = await stage.document()
    anna = await recipient(stage, "Anna Berg", "anna@nordic.test")
    view = await open_sign(stage)
    await submit(stage, view, {DOCUMENTS: [ref], SIGNERS: [str(anna)]})
    message = await sent(stage)
    stale = copy.deepcopy(message.message)

    before = len(stage.fake.responses)
    await stage.slack.block_action(STELLA, CANCEL, message=message)
    await stage.fake.wait_for(lambda: len(stage.fake.responses) > before)
    first = stage.fake.responses[-1]
    await stage.slack.block_action(
        STELLA, CANCEL, message=stale, channel_id=stage.fake.dm_channel(STELLA)
    )
    await stage.fake.wait_for(lambda: len(stage.fake.responses) > before + 1)
    second = stage.fake.responses[-1]

    assert first.body.get("replace_original") is True
    assert first.text == "S-1 Fee table 2027 was cancelled by Stella Staff; its parties are told."
    assert CANCEL not in message.action_ids()
    assert second.body.get("replace_original") is False
    assert second.text == "S-1 is already cancelled"
    [request] = await requests_made(stage)
    assert request.status == "cancelled"
    async with stage.env.reads() as session:
        kinds = (
            await session.exec(
                select(Notification.kind).where(Notification.kind == Kind.SIGN_ENDED)
            )
        ).all()
    assert kinds == [Kind.SIGN_ENDED]


async def test_requests_lists_pending_ones_and_shows_one_with_its_parties(stage: Stage) -> None:
    ref = await stage.document("Contract 2027")
    anna = await recipient(stage, "Anna Berg", "anna@nordic.test")
    view = await open_sign(stage)
    await submit(
        stage,
        view,
        {DOCUMENTS: [ref], SIGNERS: [str(anna)], PEOPLE: "approver: Bo <bo@client.test>"},
    )
    message = await sent(stage)
    bo_token = LINK.findall(message.text)[1]
    page = await party_page.open_page(stage.env, bo_token)
    await deciding.decide(
        stage.env,
        bo_token,
        deciding.Decision(kind="approve", needs_review=False),
        actor=party_page.party_actor(page, ip="203.0.113.9", user_agent="Firefox"),
        browser=await confirmed_browser(stage.env, bo_token),
    )

    listed = await stage.command(STELLA, "requests")
    shown = await stage.command(STELLA, "requests s-1")
    none = await stage.command(STELLA, "requests completed")
    unknown = await stage.command(STELLA, "requests S-9")

    assert listed.text == "1 pending signature requests"
    assert "*S-1* Contract 2027 · pending" in str(listed.blocks)
    assert shown.text == "S-1 Contract 2027: pending, 1 of 2 decided"
    blocks = str(shown.blocks)
    assert "*1. Signer* Anna Berg" in blocks and "to decide" in blocks
    assert "*2. Approver* Bo" in blocks and "approved" in blocks and "code:email" in blocks
    assert CANCEL in blocks
    assert none.text == "No completed signature requests."
    assert unknown.text == "Request S-9 not found"


async def test_remind_reminds_the_waiting_parties_at_most_once_an_hour(stage: Stage) -> None:
    ref = await stage.document()
    anna = await recipient(stage, "Anna Berg", "anna@nordic.test")
    view = await open_sign(stage)
    await submit(stage, view, {DOCUMENTS: [ref], SIGNERS: [str(anna)]})
    message = await sent(stage)

    async def press() -> str | None:
        before = len(stage.fake.responses)
        await stage.slack.block_action(STELLA, REMIND, message=message)
        await stage.fake.wait_for(lambda: len(stage.fake.responses) > before)
        return stage.fake.responses[-1].text

    first = await press()
    second = await press()

    assert first == "Reminded Anna Berg"
    assert second is not None and "remind them again from 13:00 UTC" in second
    async with stage.env.reads() as session:
        reminders = (
            await session.exec(select(Notification).where(Notification.kind == Kind.SIGN_REMINDER))
        ).all()
    assert [n.target for n in reminders] == [str(anna)]


async def test_a_recipient_of_another_client_is_a_party_only_when_ticked(stage: Stage) -> None:
    ref = await stage.document("Contract 2027")
    nordic = await organizations.add_client(
        stage.env, org_id=stage.org_id, actor=STAFF, name="Nordic Family Trust"
    )
    nils = await recipients.add_recipient(
        stage.env, org_id=stage.org_id, actor=STAFF, client_id=id_of(nordic), name="Nils"
    )
    view = await open_sign(stage)

    await submit(stage, view, {DOCUMENTS: [ref], SIGNERS: [str(nils.id)]})
    shown = errors_shown(stage, view)
    assert await requests_made(stage) == []
    await submit(stage, view, {DOCUMENTS: [ref], SIGNERS: [str(nils.id)], ACROSS: ["yes"]})
    await sent(stage)

    assert (
        shown["signers"]
        == "D-1 belongs to Nordic Timber, and Nils is a recipient of Nordic Family Trust"
    )
    assert shown["across"].startswith("Tick “Send to people of another client")
    [request] = await requests_made(stage)
    assert request.ref == "S-1"
