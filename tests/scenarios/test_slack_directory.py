"""Staff keep the directory in Slack: recipients, groups, spaces and clients, through lists
with buttons and modals whose refusals appear on their fields."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from typing import Any

import pytest
from sqlmodel import select

from bot.slack.features.directory import views
from bot.slack.features.directory.recipients import RecipientForms
from inkpost import services
from storage.models import AuditEvent, Recipient, Share
from tests.conftest import STAFF, START
from tests.fakes.slack_api import DEFAULT_TEAM_ID, ResponseMessage
from tests.fakes.telegram_api import FakeTelegramApi
from tests.helpers import stored_notifications
from tests.scenarios.slack_stage import BORIS, NINA, STELLA, TELEGRAM_BOT, Stage
from workflows.documents import filing
from workflows.errors import Conflict, Unavailable
from workflows.outbox.kinds import Kind
from workflows.people import groups, linking, organizations, recipients, spaces, staff
from workflows.people.linking import ChatIdentity
from workflows.sharing import sharing

JSON = dict[str, Any]


# -- how a person uses the lists ----------------------------------------------------------


async def click(
    stage: Stage, user: str, message: ResponseMessage, action_id: str, value: Any = None
) -> ResponseMessage | JSON:
    """Click ``action_id`` on a list message; returns the answer message or the modal opened."""
    before_responses = len(stage.fake.responses)
    before_views = len(stage.fake.views)
    response = await stage.slack.block_action(
        user,
        action_id,
        value,
        message={**message.body, "ts": "1700000000.000100"},
        channel_id=stage.fake.dm_channel(user),
    )
    assert response.status == 200
    await stage.fake.wait_for(
        lambda: (
            len(stage.fake.responses) > before_responses or len(stage.fake.views) > before_views
        ),
        what="an answer or a modal",
    )
    if len(stage.fake.views) > before_views:
        return stage.fake.open_views(user)[-1]
    return stage.fake.responses[-1]


async def choose(
    stage: Stage, user: str, message: ResponseMessage, name: str, do: str
) -> ResponseMessage | JSON:
    """Pick ``do`` in the row menu of the recipient called ``name``."""
    for block in message.blocks or []:
        accessory = block.get("accessory") or {}
        if accessory.get("action_id") == views.RECIPIENT_MENU and name in block["text"]["text"]:
            for option in accessory["options"]:
                if f'"do":"{do}"' in option["value"]:
                    return await click(stage, user, message, views.RECIPIENT_MENU, option)
    raise AssertionError(f"no {do} for {name} in {message.blocks}")


def button_value(message: ResponseMessage, action_id: str, row: str | None = None) -> str:
    """The value of ``action_id`` on the list, in the row that names ``row`` when given."""
    last_text = ""
    for block in message.blocks or []:
        if block["type"] == "section":
            last_text = block["text"]["text"]
            accessory = block.get("accessory") or {}
            if accessory.get("action_id") == action_id and (row is None or row in last_text):
                return str(accessory["value"])
        for element in block.get("elements", []):
            if element.get("action_id") == action_id and (row is None or row in last_text):
                return str(element["value"])
    raise AssertionError(f"no {action_id} for {row} in {message.blocks}")


async def submit(stage: Stage, user: str, view: JSON, values: JSON) -> JSON | None:
    """Submit the modal; returns the field errors, or None once it closed."""
    before = len(stage.fake.responses)
    response = await stage.slack.view_submission(user, view, values)
    assert response.status == 200
    text = (await response.text()).strip()
    if text:
        body = await response.json()
        if body.get("response_action") == "errors":
            return dict(body["errors"])
    assert stage.fake.open_views(user) == []
    await stage.fake.wait_for(lambda: len(stage.fake.responses) > before, what="the list")
    return None


def shown(message: ResponseMessage | JSON) -> str:
    assert isinstance(message, ResponseMessage)
    return str(message.blocks)


async def person(stage: Stage, name: str, **fields: Any) -> Recipient:
    return await recipients.add_recipient(
        stage.env,
        org_id=stage.org_id,
        actor=STAFF,
        client_id=stage.client_id,
        name=name,
        **fields,
    )


async def other_org(stage: Stage) -> tuple[int, Recipient]:
    """Another tenant with a client and a recipient, in another Slack workspace."""
    org = await organizations.create_organization(
        stage.env, slug="globex", name="Globex", actor=STAFF, slack_team_id="T0GLOBEX"
    )
    assert org.id is not None
    client = await organizations.add_client(stage.env, org_id=org.id, actor=STAFF, name="Initech")
    assert client.id is not None
    stranger = await recipients.add_recipient(
        stage.env, org_id=org.id, actor=STAFF, client_id=client.id, name="Stranger"
    )
    return org.id, stranger


async def actions(stage: Stage) -> list[str]:
    """The audit trail of the stage's organisation, as action names."""
    async with stage.env.reads() as session:
        found = await session.exec(
            select(AuditEvent.action).where(AuditEvent.org_id == stage.org_id)
        )
        return list(found.all())


async def all_people(stage: Stage) -> list[Recipient]:
    return list(await recipients.list_recipients(stage.env, org_id=stage.org_id))


# -- recipients ---------------------------------------------------------------------------


async def test_recipients_list_shows_client_channel_status_and_email(stage: Stage) -> None:
    linked = await person(stage, "Liam Linked", email="liam@example.com")
    assert linked.id is not None
    invite = await linking.create_invite(
        stage.env, org_id=stage.org_id, actor=STAFF, recipient_id=linked.id
    )
    await linking.redeem_invite(stage.env, code=invite.code, chat=ChatIdentity(chat_id=42))
    waiting = await person(stage, "Ida Invited")
    assert waiting.id is not None
    await linking.create_invite(
        stage.env, org_id=stage.org_id, actor=STAFF, recipient_id=waiting.id
    )
    barred = await person(stage, "Bo Barred")
    assert barred.id is not None
    await recipients.set_recipient_blocked(
        stage.env, org_id=stage.org_id, actor=STAFF, recipient_id=barred.id, blocked=True
    )

    answer = await stage.command(STELLA, "recipients")

    rows = {
        b["text"]["text"].split("\n")[0]: b["text"]["text"]
        for b in answer.blocks or []
        if "accessory" in b
    }
    assert "Nordic Timber" in rows["*Liam Linked*"] and "Telegram linked" in rows["*Liam Linked*"]
    assert "liam@example.com" in rows["*Liam Linked*"]
    assert "Invited, link valid until 2026-11-30" in rows["*Ida Invited*"]
    assert "no email" in rows["*Ida Invited*"]
    assert "Blocked" in rows["*Bo Barred*"]
    assert answer.body.get("response_type") == "ephemeral"
    assert views.RECIPIENT_ADD in str(answer.blocks)


async def test_recipients_with_words_lists_only_matches(stage: Stage) -> None:
    await person(stage, "Anna Berg", email="anna@timber.se")
    await person(stage, "Carl Dahl")

    answer = await stage.command(STELLA, "recipients berg")

    assert "Anna Berg" in shown(answer) and "Carl Dahl" not in shown(answer)
    assert "matching “berg”" in shown(answer)


async def test_long_list_pages_forward_and_back(stage: Stage) -> None:
    for number in range(1, 46):
        await person(stage, f"Person {number:02d}")

    first = await stage.command(STELLA, "recipients")
    second = await click(stage, STELLA, first, views.PAGE_NEXT)
    assert isinstance(second, ResponseMessage)
    back = await click(stage, STELLA, second, views.PAGE_PREVIOUS)

    assert len(first.blocks or []) <= 50
    assert "Person 40" in shown(first) and "Person 41" not in shown(first)
    assert "Person 41" in shown(second) and "Person 45" in shown(second)
    assert "Person 01" not in shown(second) and "Page 2 of 2" in shown(second)
    assert second.body.get("replace_original") is True
    assert views.PAGE_NEXT not in shown(second)
    assert "Person 01" in shown(back)


async def test_add_recipient_through_the_modal(stage: Stage) -> None:
    answer = await stage.command(STELLA, "recipients")
    modal = await click(stage, STELLA, answer, views.RECIPIENT_ADD)
    assert isinstance(modal, dict)
    offered = await stage.slack.block_suggestion(STELLA, views.PICK_CLIENT, "nord", view=modal)
    assert [o["text"]["text"] for o in offered["options"]] == ["Nordic Timber"]

    errors = await submit(
        stage,
        STELLA,
        modal,
        {
            views.NAME: "Anna Berg",
            views.PICK_CLIENT: offered["options"][0],
            views.EMAIL: "anna@timber.se",
            views.PHONE: "+46 70 123 45 67",
            views.LANGUAGE: "sv",
            views.EXPIRY: date(2027, 3, 31),
        },
    )

    assert errors is None
    [anna] = await all_people(stage)
    assert (anna.name, anna.email, anna.language) == ("Anna Berg", "anna@timber.se", "sv")
    assert anna.client_id == stage.client_id
    assert anna.access_expires_at is not None
    assert anna.access_expires_at.isoformat() == "2027-04-01T00:00:00+00:00"
    redrawn = str(stage.fake.responses[-1].blocks)
    assert "Added Anna Berg" in redrawn and "access until 2027-03-31" in redrawn


async def test_bad_recipient_input_shows_on_each_field_and_adds_nobody(stage: Stage) -> None:
    answer = await stage.command(STELLA, "recipients")
    modal = await click(stage, STELLA, answer, views.RECIPIENT_ADD)
    assert isinstance(modal, dict)

    errors = await submit(
        stage,
        STELLA,
        modal,
        {
            views.NAME: "   ",
            views.PICK_CLIENT: str(stage.client_id),
            views.EMAIL: "anna-at-timber",
            views.PHONE: "call me",
            views.LANGUAGE: "en",
            views.EXPIRY: START.date() - timedelta(days=1),
        },
    )

    assert errors is not None
    assert errors[views.NAME] == "Name must not be empty"
    assert errors[views.EMAIL] == "'anna-at-timber' is not an email address"
    assert errors[views.PHONE] == "'call me' is not a phone number"
    assert errors[views.EXPIRY] == "Pick today or a later day"
    assert views.CLIENT not in errors
    assert await all_people(stage) == []
    assert stage.fake.open_views(STELLA) != []


async def test_client_of_another_organisation_is_refused(stage: Stage) -> None:
    other_id, stranger = await other_org(stage)
    answer = await stage.command(STELLA, "recipients")
    modal = await click(stage, STELLA, answer, views.RECIPIENT_ADD)
    assert isinstance(modal, dict)

    errors = await submit(
        stage,
        STELLA,
        modal,
        {views.NAME: "Mole", views.PICK_CLIENT: str(stranger.client_id), views.LANGUAGE: "en"},
    )

    assert errors == {views.CLIENT: f"Client {stranger.client_id} not found"}
    assert await all_people(stage) == []
    assert len(await recipients.list_recipients(stage.env, org_id=other_id)) == 1


async def test_edit_recipient_changes_only_what_was_changed(stage: Stage) -> None:
    anna = await person(stage, "Anna Berg", email="anna@timber.se", phone="+46 70 1")
    answer = await stage.command(STELLA, "recipients")
    modal = await choose(stage, STELLA, answer, "Anna Berg", "edit")
    assert isinstance(modal, dict)
    initial = {
        b["block_id"]: b["element"].get("initial_value")
        for b in modal["blocks"]
        if b["type"] == "input"
    }
    assert initial[views.NAME] == "Anna Berg" and initial[views.EMAIL] == "anna@timber.se"

    errors = await submit(
        stage,
        STELLA,
        modal,
        {
            views.NAME: "Anna Berg-Lund",
            views.EMAIL: "",
            views.PHONE: "+46 70 1",
            views.LANGUAGE: "en",
            views.EXPIRY: date(2027, 1, 15),
        },
    )

    assert errors is None
    [edited] = await all_people(stage)
    assert (edited.id, edited.name, edited.email, edited.phone) == (
        anna.id,
        "Anna Berg-Lund",
        None,
        "+46 70 1",
    )
    assert edited.access_expires_at is not None
    assert edited.access_expires_at.date() == date(2027, 1, 16)
    assert "Saved Anna Berg-Lund" in str(stage.fake.responses[-1].blocks)
    assert (await actions(stage)).count("recipient.edited") == 1


async def test_edit_with_bad_values_changes_nothing(stage: Stage) -> None:
    await person(stage, "Anna Berg", email="anna@timber.se")
    answer = await stage.command(STELLA, "recipients")
    modal = await choose(stage, STELLA, answer, "Anna Berg", "edit")
    assert isinstance(modal, dict)

    errors = await submit(
        stage,
        STELLA,
        modal,
        {
            views.NAME: "Anna B",
            views.EMAIL: "nope",
            views.LANGUAGE: "en",
            views.EXPIRY: date(2020, 1, 1),
        },
    )

    assert errors == {
        views.EMAIL: "'nope' is not an email address",
        views.EXPIRY: "Pick today or a later day",
    }
    [anna] = await all_people(stage)
    assert (anna.name, anna.email, anna.access_expires_at) == ("Anna Berg", "anna@timber.se", None)


async def test_invite_shows_the_telegram_link_that_links_them(stage: Stage) -> None:
    anna = await person(stage, "Anna Berg")
    answer = await stage.command(STELLA, "recipients")

    invitation = await choose(stage, STELLA, answer, "Anna Berg", "invite")

    assert isinstance(invitation, ResponseMessage)
    assert invitation.body.get("replace_original") is False
    match = re.search(
        rf"https://t\.me/{TELEGRAM_BOT}\?start=([A-Za-z0-9_-]+)", invitation.text or ""
    )
    assert match is not None, invitation.text
    linked = await linking.redeem_invite(
        stage.env, code=match.group(1), chat=ChatIdentity(chat_id=777)
    )
    assert linked.recipient.id == anna.id


async def test_invite_by_mail_says_where_it_went_and_the_list_when(stage: Stage) -> None:
    await person(stage, "Anna Berg", email="anna@timber.se")
    answer = await stage.command(STELLA, "recipients")

    invitation = await choose(stage, STELLA, answer, "Anna Berg", "invite")

    assert isinstance(invitation, ResponseMessage)
    assert invitation.text == (
        "Invitation for Anna Berg is on its way to anna@timber.se, with one-time links to "
        "their portal and Telegram, each valid for 7 days from when it goes out."
    )
    [row] = await stored_notifications(stage.env, kind=Kind.INVITATION)
    assert row.status == "pending"
    listed = await stage.command(STELLA, "recipients")
    assert "Invited by mail" in shown(listed)
    assert "invitation last sent 2026-11-23 12:00" in shown(listed)
    again = await choose(stage, STELLA, listed, "Anna Berg", "invite")
    assert isinstance(again, ResponseMessage)
    assert again.text == (
        "An invitation to Anna Berg was sent 0 seconds ago; wait a minute before sending another"
    )
    assert len(await stored_notifications(stage.env, kind=Kind.INVITATION)) == 1


async def test_invite_without_an_address_says_no_mail_was_sent(stage: Stage) -> None:
    await person(stage, "Anna Berg")
    answer = await stage.command(STELLA, "recipients")

    invitation = await choose(stage, STELLA, answer, "Anna Berg", "invite")

    assert isinstance(invitation, ResponseMessage)
    assert (invitation.text or "").startswith("No mail was sent: Anna Berg has no email address.")
    assert await stored_notifications(stage.env, kind=Kind.INVITATION) == []


async def test_invite_of_a_blocked_recipient_is_refused(stage: Stage) -> None:
    anna = await person(stage, "Anna Berg")
    assert anna.id is not None
    await recipients.set_recipient_blocked(
        stage.env, org_id=stage.org_id, actor=STAFF, recipient_id=anna.id, blocked=True
    )
    answer = await stage.command(STELLA, "recipients")

    refusal = await choose(stage, STELLA, answer, "Anna Berg", "invite")

    assert isinstance(refusal, ResponseMessage)
    assert refusal.text == "Cannot invite: recipient Anna Berg is blocked"
    [still] = await all_people(stage)
    assert still.invite_code_hash is None


async def test_block_and_unblock_from_the_row_menu(stage: Stage) -> None:
    await person(stage, "Anna Berg")
    answer = await stage.command(STELLA, "recipients")

    blocked = await choose(stage, STELLA, answer, "Anna Berg", "block")
    assert isinstance(blocked, ResponseMessage)
    [anna] = await all_people(stage)
    assert anna.status == "blocked"
    assert "Anna Berg is blocked" in shown(blocked) and ":no_entry: Blocked" in shown(blocked)

    unblocked = await choose(stage, STELLA, blocked, "Anna Berg", "unblock")
    [anna] = await all_people(stage)
    assert anna.status == "invited"
    assert "Anna Berg is unblocked" in shown(unblocked)


async def test_recipient_joins_spaces_and_groups_from_one_modal(stage: Stage) -> None:
    anna = await person(stage, "Anna Berg")
    assert anna.id is not None
    board = await groups.create_group(stage.env, org_id=stage.org_id, actor=STAFF, name="Board")
    panel = await spaces.create_space(stage.env, org_id=stage.org_id, actor=STAFF, name="Panel")
    old = await spaces.create_space(stage.env, org_id=stage.org_id, actor=STAFF, name="Old panel")
    assert old.id is not None
    await spaces.change_space_members(
        stage.env, org_id=stage.org_id, actor=STAFF, space_id=old.id, add=[anna.id]
    )
    answer = await stage.command(STELLA, "recipients")
    modal = await choose(stage, STELLA, answer, "Anna Berg", "places")
    assert isinstance(modal, dict)
    offered = await stage.slack.block_suggestion(STELLA, views.PICK_SPACES, "", view=modal)
    assert {o["text"]["text"] for o in offered["options"]} == {"Panel", "Old panel"}

    errors = await submit(
        stage,
        STELLA,
        modal,
        {views.PICK_SPACES: [str(panel.id)], views.PICK_GROUPS: [str(board.id)]},
    )

    assert errors is None
    held = await spaces.memberships_of(stage.env, org_id=stage.org_id, recipient_id=anna.id)
    assert [s.name for s in held.spaces] == ["Panel"]
    assert [g.name for g in held.groups] == ["Board"]
    assert "Added: Panel, Board; removed: Old panel." in str(stage.fake.responses[-1].blocks)


async def test_member_changes_groups_but_not_spaces_of_a_recipient(stage: Stage) -> None:
    anna = await person(stage, "Anna Berg")
    assert anna.id is not None
    board = await groups.create_group(stage.env, org_id=stage.org_id, actor=STAFF, name="Board")
    await spaces.create_space(stage.env, org_id=stage.org_id, actor=STAFF, name="Panel")
    answer = await stage.command(BORIS, "recipients")
    modal = await choose(stage, BORIS, answer, "Anna Berg", "places")
    assert isinstance(modal, dict)

    assert views.PICK_SPACES not in str(modal["blocks"])
    assert "only administrators change spaces" in str(modal["blocks"])
    assert await submit(stage, BORIS, modal, {views.PICK_GROUPS: [str(board.id)]}) is None
    held = await spaces.memberships_of(stage.env, org_id=stage.org_id, recipient_id=anna.id)
    assert [g.name for g in held.groups] == ["Board"] and held.spaces == []


async def test_group_of_another_organisation_is_refused_for_a_recipient(stage: Stage) -> None:
    other_id, _ = await other_org(stage)
    theirs = await groups.create_group(stage.env, org_id=other_id, actor=STAFF, name="Theirs")
    anna = await person(stage, "Anna Berg")
    assert anna.id is not None
    answer = await stage.command(STELLA, "recipients")
    modal = await choose(stage, STELLA, answer, "Anna Berg", "places")
    assert isinstance(modal, dict)

    errors = await submit(stage, STELLA, modal, {views.PICK_GROUPS: [str(theirs.id)]})

    assert errors == {views.GROUPS: f"Group {theirs.id} not found"}
    assert (await spaces.memberships_of(stage.env, org_id=stage.org_id, recipient_id=anna.id)) == (
        spaces.Memberships(spaces=[], groups=[])
    )


async def test_pickers_offer_only_this_organisations_people(stage: Stage) -> None:
    await other_org(stage)
    await person(stage, "Sam Stranger-Not")
    answer = await stage.command(STELLA, "groups")
    modal = await click(stage, STELLA, answer, views.COLLECTION_ADD)
    assert isinstance(modal, dict)

    offered = await stage.slack.block_suggestion(STELLA, views.PICK_RECIPIENTS, "str", view=modal)

    assert [o["text"]["text"] for o in offered["options"]] == ["Sam Stranger-Not"]


async def test_an_admin_deletes_a_recipient_who_holds_nothing_after_confirming(
    stage: Stage,
) -> None:
    await person(stage, "Anna Berg")
    await person(stage, "Bo Bricks")
    answer = await stage.command(STELLA, "recipients")

    prompt = await choose(stage, STELLA, answer, "Anna Berg", "delete")

    assert isinstance(prompt, ResponseMessage)
    assert prompt.body.get("replace_original") is True and prompt.text == "Delete Anna Berg?"
    [delete] = [
        e
        for b in prompt.blocks or []
        for e in b.get("elements", [])
        if e.get("action_id") == views.RECIPIENT_DELETE
    ]
    assert delete["style"] == "danger" and delete["confirm"]["confirm"]["text"] == "Delete"
    deleted = await click(stage, STELLA, prompt, views.RECIPIENT_DELETE, delete["value"])
    assert isinstance(deleted, ResponseMessage)
    assert "Deleted Anna Berg; their history stays." in shown(deleted)
    assert "Anna Berg*" not in shown(deleted) and "*Bo Bricks*" in shown(deleted)
    assert [p.name for p in await all_people(stage)] == ["Bo Bricks"]
    assert "recipient.deleted" in await actions(stage)


async def test_a_recipient_who_was_sent_a_document_cannot_be_deleted_from_slack(
    stage: Stage,
) -> None:
    anna = await person(stage, "Anna Berg")
    assert anna.id is not None
    document = await _document_id(stage, await stage.document())
    await sharing.share_with_recipient(
        stage.env, org_id=stage.org_id, actor=STAFF, document_id=document, recipient_id=anna.id
    )
    answer = await stage.command(STELLA, "recipients")

    prompt = await choose(stage, STELLA, answer, "Anna Berg", "delete")

    assert isinstance(prompt, ResponseMessage)
    assert prompt.text == (
        "Anna Berg cannot be deleted: they hold 1 share of a document, 1 notification on its way."
    )
    assert views.RECIPIENT_DELETE not in shown(prompt) and "Block them instead" in shown(prompt)
    back = await click(
        stage, STELLA, prompt, views.BACK_TO_LIST, button_value(prompt, views.BACK_TO_LIST)
    )
    assert isinstance(back, ResponseMessage) and "*Anna Berg*" in shown(back)
    assert len(await all_people(stage)) == 1


async def test_only_admins_delete_recipients(stage: Stage) -> None:
    await person(stage, "Anna Berg")
    as_member = await stage.command(BORIS, "recipients")
    as_admin = await stage.command(STELLA, "recipients")
    assert '"do":"delete"' not in shown(as_member)
    prompt = await choose(stage, STELLA, as_admin, "Anna Berg", "delete")
    assert isinstance(prompt, ResponseMessage)

    refused = await click(
        stage, BORIS, prompt, views.RECIPIENT_DELETE, button_value(prompt, views.RECIPIENT_DELETE)
    )

    assert isinstance(refused, ResponseMessage)
    assert refused.text == "Only administrators may delete recipients"
    assert len(await all_people(stage)) == 1


# -- groups -------------------------------------------------------------------------------


async def test_add_group_with_members(stage: Stage) -> None:
    anna = await person(stage, "Anna Berg")
    carl = await person(stage, "Carl Dahl")
    answer = await stage.command(BORIS, "groups")
    modal = await click(stage, BORIS, answer, views.COLLECTION_ADD)
    assert isinstance(modal, dict) and modal["title"]["text"] == "New group"

    errors = await submit(
        stage,
        BORIS,
        modal,
        {views.NAME: "Board", views.PICK_RECIPIENTS: [str(anna.id), str(carl.id)]},
    )

    assert errors is None
    [summary] = await groups.list_groups(stage.env, org_id=stage.org_id)
    assert (summary.group.name, summary.members) == ("Board", 2)
    redrawn = str(stage.fake.responses[-1].blocks)
    assert "Created group Board with 2 members" in redrawn and "Anna Berg, Carl Dahl" in redrawn


async def test_group_name_taken_or_empty_is_shown_on_the_name(stage: Stage) -> None:
    await groups.create_group(stage.env, org_id=stage.org_id, actor=STAFF, name="Board")
    answer = await stage.command(STELLA, "groups")
    modal = await click(stage, STELLA, answer, views.COLLECTION_ADD)
    assert isinstance(modal, dict)

    taken = await submit(stage, STELLA, modal, {views.NAME: "board"})
    empty = await submit(stage, STELLA, modal, {views.NAME: "  "})

    assert taken == {views.NAME: "A group named 'board' already exists"}
    assert empty == {views.NAME: "Group name must not be empty"}
    assert len(await groups.list_groups(stage.env, org_id=stage.org_id)) == 1


async def test_group_with_a_member_of_another_organisation_is_not_created(stage: Stage) -> None:
    _, stranger = await other_org(stage)
    answer = await stage.command(STELLA, "groups")
    modal = await click(stage, STELLA, answer, views.COLLECTION_ADD)
    assert isinstance(modal, dict)

    errors = await submit(
        stage, STELLA, modal, {views.NAME: "Board", views.PICK_RECIPIENTS: [str(stranger.id)]}
    )

    assert errors == {views.MEMBERS: f"Recipient {stranger.id} not found"}
    assert await groups.list_groups(stage.env, org_id=stage.org_id) == []


async def test_edit_group_members_adds_and_removes(stage: Stage) -> None:
    anna = await person(stage, "Anna Berg")
    carl = await person(stage, "Carl Dahl")
    assert anna.id is not None and carl.id is not None
    board = await groups.create_group(
        stage.env, org_id=stage.org_id, actor=STAFF, name="Board", member_ids=[anna.id]
    )
    answer = await stage.command(BORIS, "groups")
    modal = await click(
        stage,
        BORIS,
        answer,
        views.COLLECTION_MEMBERS,
        button_value(answer, views.COLLECTION_MEMBERS, "Board"),
    )
    assert isinstance(modal, dict)
    removable = await stage.slack.block_suggestion(BORIS, views.PICK_MEMBERS, "", view=modal)
    assert [o["text"]["text"] for o in removable["options"]] == ["Anna Berg"]

    errors = await submit(
        stage,
        BORIS,
        modal,
        {views.PICK_RECIPIENTS: [str(carl.id)], views.PICK_MEMBERS: [str(anna.id)]},
    )

    assert errors is None
    assert board.id is not None
    members = await groups.list_group_members(stage.env, org_id=stage.org_id, group_id=board.id)
    assert [m.name for m in members] == ["Carl Dahl"]
    assert "Added: Carl Dahl; removed: Anna Berg." in str(stage.fake.responses[-1].blocks)


async def test_edit_group_members_refuses_nonsense(stage: Stage) -> None:
    anna = await person(stage, "Anna Berg")
    carl = await person(stage, "Carl Dahl")
    assert anna.id is not None
    board = await groups.create_group(
        stage.env, org_id=stage.org_id, actor=STAFF, name="Board", member_ids=[anna.id]
    )
    answer = await stage.command(STELLA, "groups")
    modal = await click(stage, STELLA, answer, views.COLLECTION_MEMBERS)
    assert isinstance(modal, dict)

    nobody = await submit(stage, STELLA, modal, {})
    both = await submit(
        stage,
        STELLA,
        modal,
        {views.PICK_RECIPIENTS: [str(anna.id)], views.PICK_MEMBERS: [str(anna.id)]},
    )
    outsider = await submit(stage, STELLA, modal, {views.PICK_MEMBERS: [str(carl.id)]})

    assert nobody == {views.ADD_MEMBERS: "Choose someone to add or remove"}
    assert both == {views.ADD_MEMBERS: "The same person cannot be added and removed at once"}
    assert outsider == {views.REMOVE_MEMBERS: f"Recipient {carl.id} is not a member of Board"}
    assert board.id is not None
    members = await groups.list_group_members(stage.env, org_id=stage.org_id, group_id=board.id)
    assert [m.name for m in members] == ["Anna Berg"]


async def test_only_admins_delete_groups(stage: Stage) -> None:
    anna = await person(stage, "Anna Berg")
    assert anna.id is not None
    board = await groups.create_group(
        stage.env, org_id=stage.org_id, actor=STAFF, name="Board", member_ids=[anna.id]
    )
    as_member = await stage.command(BORIS, "groups")
    as_admin = await stage.command(STELLA, "groups")
    assert views.COLLECTION_DELETE not in shown(as_member)
    assert "confirm" in str(as_admin.blocks)

    refused = await click(stage, BORIS, as_admin, views.COLLECTION_DELETE)
    assert isinstance(refused, ResponseMessage)
    assert refused.text == "Only administrators may delete groups"
    assert len(await groups.list_groups(stage.env, org_id=stage.org_id)) == 1

    ref = await stage.document()
    document = await _document_id(stage, ref)
    assert board.id is not None
    await sharing.share_with_group(
        stage.env, org_id=stage.org_id, actor=STAFF, document_id=document, group_id=board.id
    )
    deleted = await click(stage, STELLA, as_admin, views.COLLECTION_DELETE)
    assert isinstance(deleted, ResponseMessage)
    assert "Deleted group Board" in shown(deleted) and "No groups yet" in shown(deleted)
    assert await groups.list_groups(stage.env, org_id=stage.org_id) == []
    async with stage.env.reads() as session:
        [share] = (await session.exec(select(Share).where(Share.recipient_id == anna.id))).all()
    assert (share.group_id, share.revoked_at) == (None, None)


async def _document_id(stage: Stage, ref: str) -> int:
    document = await filing.find_document(stage.env, org_id=stage.org_id, ref=ref)
    assert document.id is not None
    return document.id


# -- spaces -------------------------------------------------------------------------------


async def test_members_see_spaces_but_cannot_manage_them(stage: Stage) -> None:
    await spaces.create_space(stage.env, org_id=stage.org_id, actor=STAFF, name="Panel")
    as_member = await stage.command(BORIS, "spaces")
    as_admin = await stage.command(STELLA, "spaces")

    assert "Panel" in shown(as_member)
    assert views.COLLECTION_ADD not in shown(as_member)
    assert views.COLLECTION_MEMBERS not in shown(as_member)
    assert "Only administrators change spaces" in shown(as_member)
    for action_id in (views.COLLECTION_ADD, views.COLLECTION_MEMBERS, views.COLLECTION_DELETE):
        refused = await click(stage, BORIS, as_admin, action_id)
        assert isinstance(refused, ResponseMessage)
        assert (refused.text or "").startswith("Only administrators may"), refused.text
    assert stage.fake.open_views(BORIS) == []
    assert len(await spaces.list_spaces(stage.env, org_id=stage.org_id)) == 1


async def test_admin_adds_edits_and_deletes_a_space(stage: Stage) -> None:
    anna = await person(stage, "Anna Berg")
    carl = await person(stage, "Carl Dahl")
    answer = await stage.command(STELLA, "spaces")
    modal = await click(stage, STELLA, answer, views.COLLECTION_ADD)
    assert isinstance(modal, dict) and modal["title"]["text"] == "New space"
    assert (
        await submit(
            stage, STELLA, modal, {views.NAME: "Panel", views.PICK_RECIPIENTS: [str(anna.id)]}
        )
        is None
    )
    listed = stage.fake.responses[-1]
    assert "Created space Panel with 1 member" in str(listed.blocks)

    edit = await click(stage, STELLA, listed, views.COLLECTION_MEMBERS)
    assert isinstance(edit, dict)
    assert await submit(stage, STELLA, edit, {views.PICK_RECIPIENTS: [str(carl.id)]}) is None
    [panel] = await spaces.list_spaces(stage.env, org_id=stage.org_id)
    assert panel.members == 2

    deleted = await click(stage, STELLA, stage.fake.responses[-1], views.COLLECTION_DELETE)
    assert isinstance(deleted, ResponseMessage)
    assert "Deleted space Panel" in shown(deleted)
    assert "recipients removed: Anna Berg, Carl Dahl" in shown(deleted)
    assert await spaces.list_spaces(stage.env, org_id=stage.org_id) == []


async def test_space_name_taken_is_shown_on_the_name(stage: Stage) -> None:
    await spaces.create_space(stage.env, org_id=stage.org_id, actor=STAFF, name="Panel")
    answer = await stage.command(STELLA, "spaces")
    modal = await click(stage, STELLA, answer, views.COLLECTION_ADD)
    assert isinstance(modal, dict)

    errors = await submit(stage, STELLA, modal, {views.NAME: "PANEL"})

    assert errors == {views.NAME: "A space named 'PANEL' already exists"}
    assert len(await spaces.list_spaces(stage.env, org_id=stage.org_id)) == 1


async def test_space_of_another_organisation_cannot_be_edited(stage: Stage) -> None:
    other_id, _ = await other_org(stage)
    theirs = await spaces.create_space(stage.env, org_id=other_id, actor=STAFF, name="Theirs")
    await spaces.create_space(stage.env, org_id=stage.org_id, actor=STAFF, name="Panel")
    answer = await stage.command(STELLA, "spaces")
    ours = json.loads(button_value(answer, views.COLLECTION_DELETE, "Panel"))
    forged = json.dumps({**ours, "id": theirs.id})

    refused = await click(stage, STELLA, answer, views.COLLECTION_DELETE, forged)

    assert isinstance(refused, ResponseMessage)
    assert refused.text == f"Space {theirs.id} not found"
    assert len(await spaces.list_spaces(stage.env, org_id=other_id)) == 1


# -- clients ------------------------------------------------------------------------------


async def test_add_and_edit_a_client(stage: Stage) -> None:
    answer = await stage.command(BORIS, "clients")
    assert "Nordic Timber" in shown(answer) and "private cabinet" in shown(answer)
    modal = await click(stage, BORIS, answer, views.CLIENT_ADD)
    assert isinstance(modal, dict)

    assert (
        await submit(
            stage, BORIS, modal, {views.NAME: "Baltic Steel", views.CABINET: [views.SHARED]}
        )
        is None
    )
    listed = stage.fake.responses[-1]
    assert "Added client Baltic Steel" in str(listed.blocks)
    assert "*Baltic Steel* · shared cabinet" in str(listed.blocks)

    edit = await click(
        stage, BORIS, listed, views.CLIENT_EDIT, button_value(listed, views.CLIENT_EDIT, "Baltic")
    )
    assert isinstance(edit, dict)
    assert (
        await submit(stage, BORIS, edit, {views.NAME: "Baltic Steel AB", views.CABINET: []}) is None
    )
    found = {
        c.name: c.shared_cabinet
        for c in await organizations.list_clients(stage.env, org_id=stage.org_id)
    }
    assert found == {"Nordic Timber": False, "Baltic Steel AB": False}


async def test_client_name_taken_or_empty_is_refused(stage: Stage) -> None:
    await organizations.add_client(stage.env, org_id=stage.org_id, actor=STAFF, name="Baltic Steel")
    answer = await stage.command(STELLA, "clients")
    add = await click(stage, STELLA, answer, views.CLIENT_ADD)
    assert isinstance(add, dict)
    taken = await submit(stage, STELLA, add, {views.NAME: "nordic timber"})
    empty = await submit(stage, STELLA, add, {views.NAME: " "})

    edit = await click(
        stage, STELLA, answer, views.CLIENT_EDIT, button_value(answer, views.CLIENT_EDIT, "Baltic")
    )
    assert isinstance(edit, dict)
    renamed = await submit(stage, STELLA, edit, {views.NAME: "Nordic Timber"})

    assert taken == {views.NAME: "A client named 'nordic timber' already exists"}
    assert empty == {views.NAME: "Client name must not be empty"}
    assert renamed == {views.NAME: "A client named 'Nordic Timber' already exists"}
    names = [c.name for c in await organizations.list_clients(stage.env, org_id=stage.org_id)]
    assert names == ["Nordic Timber", "Baltic Steel"]


# -- who may ------------------------------------------------------------------------------


async def test_directory_commands_are_in_help(stage: Stage) -> None:
    answer = await stage.command(STELLA, "help")

    for name in ("recipients [WORDS]", "groups", "spaces", "clients"):
        assert f"/inkpost {name}" in str(answer.blocks)


async def test_unknown_people_see_no_directory(stage: Stage) -> None:
    await person(stage, "Anna Berg")

    answer = await stage.command(NINA, "recipients")

    assert "ask Stella Staff" in (answer.text or "")
    assert "Anna Berg" not in str(answer.body)


async def test_lists_other_than_recipients_take_no_words(stage: Stage) -> None:
    answer = await stage.command(STELLA, "groups board")

    assert answer.text == "`/inkpost groups` takes no words; the list shows them all"


# -- the Telegram bot's name --------------------------------------------------------------


async def test_invitation_links_use_the_name_getme_reports(telegram_api: FakeTelegramApi) -> None:
    async with telegram_api.bot() as bot:
        assert await services.bot_username(bot)() == "inkpost_test_bot"

        telegram_api.outage(1, methods=("getMe",))
        with pytest.raises(Unavailable, match="Telegram did not tell the bot's name"):
            await services.bot_username(bot)()


async def test_without_telegram_or_an_address_no_invitation_is_made(stage: Stage) -> None:
    anna = await person(stage, "Anna Berg")
    assert anna.id is not None
    context = await staff.staff_of_slack(stage.env, team_id=DEFAULT_TEAM_ID, user_id=STELLA)

    with pytest.raises(Conflict, match="Telegram is not set up here and Anna Berg has no email"):
        await RecipientForms(stage.env).invite(context, anna.id)

    [still] = await all_people(stage)
    assert still.invite_code_hash is None and still.invite_sent_at is None


async def test_without_telegram_the_invitation_is_mailed_all_the_same(stage: Stage) -> None:
    anna = await person(stage, "Anna Berg", email="anna@timber.se")
    assert anna.id is not None
    context = await staff.staff_of_slack(stage.env, team_id=DEFAULT_TEAM_ID, user_id=STELLA)

    said = await RecipientForms(stage.env).invite(context, anna.id)

    assert "with one-time links to their portal, each valid" in str(said["text"])
    [still] = await all_people(stage)
    assert still.invite_sent_at == START


async def test_too_many_search_words_are_refused(stage: Stage) -> None:
    answer = await stage.command(STELLA, "recipients " + "berg " * 12)

    assert answer.text == "Search with up to 50 characters"


async def test_a_forged_button_changes_nothing(stage: Stage) -> None:
    await person(stage, "Anna Berg")
    answer = await stage.command(STELLA, "recipients")

    refused = await click(stage, STELLA, answer, views.RECIPIENT_ADD, "{")

    assert isinstance(refused, ResponseMessage)
    assert refused.text == "This button does not belong to Inkpost"
    assert stage.fake.open_views(STELLA) == []
