"""Staff share a document from Slack: `/inkpost share`, its modal and pickers, and the
Share, Link and History buttons under search results."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlmodel import col, select

from bot.slack.blocks import FOUND_HISTORY, FOUND_LINK, FOUND_SHARE
from bot.slack.features.sharing.views import (
    ACROSS,
    DATE,
    DAYS,
    DOCUMENT,
    GROUPS,
    MESSAGE,
    RECIPIENTS,
    SPACES,
)
from storage.models import Notification, Share
from storage.rows import id_of
from tests.conftest import STAFF, START
from tests.fakes.slack_api import JSON, ResponseMessage, find_element
from tests.helpers import upload
from tests.scenarios.slack_stage import BORIS, NINA, PUBLIC, STELLA, Stage
from workflows.people import groups, organizations, recipients, spaces
from workflows.sharing import sharing


async def open_share(stage: Stage, user_id: str, text: str = "share") -> JSON:
    """``/inkpost {text}`` and the share modal once it has loaded."""
    response = await stage.slack.command(user_id, text)
    assert response.status == 200
    return await loaded_modal(stage, user_id)


async def loaded_modal(stage: Stage, user_id: str) -> JSON:
    def loaded() -> JSON | None:
        views = stage.fake.open_views(user_id)
        if views and find_element(views[-1]["blocks"], DOCUMENT):
            return views[-1]
        return None

    view: JSON = await stage.fake.wait_for(loaded, what="the share form")
    return view


async def recipient(stage: Stage, name: str, *, email: str | None = None) -> int:
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


async def shares(stage: Stage) -> list[Share]:
    return list(await sharing.list_shares(stage.env, org_id=stage.org_id))


async def notified(stage: Stage) -> set[str]:
    """The recipients who have a 'document shared' notification waiting."""
    async with stage.env.sessions() as session:
        rows = await session.exec(
            select(Notification.target).where(
                Notification.org_id == stage.org_id,
                Notification.kind == "document.shared",
                col(Notification.channel) == "recipient",
            )
        )
        return set(rows.all())


async def submit(stage: Stage, view: JSON, values: dict[str, Any]) -> None:
    response = await stage.slack.view_submission(STELLA, view, values)
    assert response.status == 200


def errors_shown(stage: Stage, view: JSON) -> dict[str, str]:
    shown = [errors for view_id, errors in stage.fake.view_errors if view_id == view["id"]]
    assert shown, "the modal shows no errors"
    return shown[-1]


async def test_pickers_offer_only_this_organisations_documents_and_recipients(
    stage: Stage,
) -> None:
    ours = await stage.document("Fee table 2027")
    await recipient(stage, "Anna Berg", email="anna@nordic.test")
    other = await organizations.create_organization(
        stage.env, slug="globex", name="Globex", actor=STAFF
    )
    assert other.id is not None
    client = await organizations.add_client(
        stage.env, org_id=other.id, actor=STAFF, name="Globex Client"
    )
    assert client.id is not None
    await upload(stage.env, org_id=other.id, client_id=client.id, title="Fee table of Globex")
    await recipients.add_recipient(
        stage.env, org_id=other.id, actor=STAFF, client_id=client.id, name="Anna Other"
    )
    view = await open_share(stage, STELLA)

    documents = await stage.slack.block_suggestion(STELLA, DOCUMENT, "fee", view=view)
    people = await stage.slack.block_suggestion(STELLA, RECIPIENTS, "anna", view=view)

    assert [o["value"] for o in documents["options"]] == [ours]
    assert [o["text"]["text"] for o in people["options"]] == ["Anna Berg · anna@nordic.test"]


async def test_pickers_keep_to_slacks_limits_on_options(stage: Stage) -> None:
    long_title = "Annual statement of fees, charges and commissions for the financial year 2027"
    ref = await stage.document(long_title)
    for number in range(105):
        await recipient(stage, f"Client contact {number:03}")
    view = await open_share(stage, STELLA)

    by_ref = await stage.slack.block_suggestion(STELLA, DOCUMENT, ref, view=view)
    everyone = await stage.slack.block_suggestion(STELLA, RECIPIENTS, "", view=view)

    [shown] = by_ref["options"]
    assert shown["value"] == ref and len(shown["text"]["text"]) == 75
    assert shown["text"]["text"].endswith("…")
    assert len(everyone["options"]) == 100
    assert everyone["options"][0]["text"]["text"] == "Client contact 000"


async def test_more_groups_than_a_select_holds_are_searched_by_name(stage: Stage) -> None:
    for number in range(101):
        await groups.create_group(
            stage.env, org_id=stage.org_id, actor=STAFF, name=f"Team {number:03}"
        )
    view = await open_share(stage, STELLA)

    found = await stage.slack.block_suggestion(STELLA, GROUPS, "team 050", view=view)

    assert [o["text"]["text"] for o in found["options"]] == ["Team 050 (0 people)"]


async def test_sharing_through_the_modal_shares_notifies_and_reports(stage: Stage) -> None:
    ref = await stage.document("Fee table")
    anna, bert = await recipient(stage, "Anna"), await recipient(stage, "Bert")
    carl, dora = await recipient(stage, "Carl"), await recipient(stage, "Dora")
    emil = await recipient(stage, "Emil")
    group = await groups.create_group(stage.env, org_id=stage.org_id, actor=STAFF, name="Partners")
    assert group.id is not None
    await groups.add_to_group(
        stage.env, org_id=stage.org_id, actor=STAFF, group_id=group.id, recipient_ids=[carl, dora]
    )
    space = await spaces.create_space(
        stage.env, org_id=stage.org_id, actor=STAFF, name="Board", client_id=stage.client_id
    )
    assert space.id is not None
    await spaces.add_space_member(
        stage.env, org_id=stage.org_id, actor=STAFF, space_id=space.id, recipient_id=emil
    )
    view = await open_share(stage, STELLA, f"share {ref}")

    await submit(
        stage,
        view,
        {
            DOCUMENT: ref,
            RECIPIENTS: [str(anna), str(bert)],
            GROUPS: [str(group.id)],
            SPACES: [str(space.id)],
            MESSAGE: "Please sign by Friday",
            DAYS: "14",
        },
    )

    [answer] = await stage.fake.wait_for_messages(stage.fake.dm_channel(STELLA))
    assert answer.text == (f"Shared {ref} Fee table with 2 recipients, 1 group (2 people), 1 space")
    assert stage.fake.open_views(STELLA) == []
    made = await shares(stage)
    assert {s.recipient_id for s in made if s.kind == "recipient"} == {anna, bert, carl, dora}
    assert [s.space_id for s in made if s.kind == "space"] == [space.id]
    assert {s.message for s in made} == {"Please sign by Friday"}
    assert {s.expires_at for s in made} == {START + timedelta(days=14)}
    assert await notified(stage) == {str(r) for r in (anna, bert, carl, dora, emil)}


async def test_nothing_to_share_with_is_an_error_on_the_recipients_field(stage: Stage) -> None:
    ref = await stage.document()
    view = await open_share(stage, STELLA, f"share {ref}")

    await submit(stage, view, {DOCUMENT: ref})

    assert errors_shown(stage, view) == {
        "recipients": "Pick at least one recipient, group or space"
    }
    assert stage.fake.open_views(STELLA)[-1]["id"] == view["id"]
    assert await shares(stage) == []


async def test_a_blocked_recipient_is_shown_on_the_field_and_nobody_gets_the_document(
    stage: Stage,
) -> None:
    ref = await stage.document()
    anna, bert = await recipient(stage, "Anna"), await recipient(stage, "Bert Blocked")
    await recipients.set_recipient_blocked(
        stage.env, org_id=stage.org_id, actor=STAFF, recipient_id=bert, blocked=True
    )
    view = await open_share(stage, STELLA)
    offered = await stage.slack.block_suggestion(STELLA, RECIPIENTS, "bert", view=view)

    await submit(stage, view, {DOCUMENT: ref, RECIPIENTS: [str(anna), str(bert)]})

    assert offered["options"][0]["text"]["text"] == "Bert Blocked (blocked)"
    assert errors_shown(stage, view) == {
        "recipients": "Cannot share: recipient Bert Blocked is blocked"
    }
    assert await shares(stage) == [] and await notified(stage) == set()


async def test_another_tenants_recipient_is_not_found(stage: Stage) -> None:
    ref = await stage.document()
    other = await organizations.create_organization(
        stage.env, slug="globex", name="Globex", actor=STAFF
    )
    assert other.id is not None
    client = await organizations.add_client(stage.env, org_id=other.id, actor=STAFF, name="G")
    assert client.id is not None
    theirs = await recipients.add_recipient(
        stage.env, org_id=other.id, actor=STAFF, client_id=client.id, name="Their Person"
    )
    view = await open_share(stage, STELLA)

    await submit(stage, view, {DOCUMENT: ref, RECIPIENTS: [str(theirs.id)]})

    assert errors_shown(stage, view) == {"recipients": f"Recipient {theirs.id} not found"}
    assert await shares(stage) == []


async def test_refusals_of_groups_spaces_and_documents_show_on_their_fields(
    stage: Stage,
) -> None:
    ref = await stage.document()
    empty = await groups.create_group(stage.env, org_id=stage.org_id, actor=STAFF, name="Nobody")
    space = await spaces.create_space(
        stage.env, org_id=stage.org_id, actor=STAFF, name="Board", client_id=stage.client_id
    )
    assert space.id is not None and empty.id is not None
    await spaces.add_space_member(
        stage.env,
        org_id=stage.org_id,
        actor=STAFF,
        space_id=space.id,
        recipient_id=await recipient(stage, "Anna"),
    )
    view = await open_share(stage, STELLA)
    await submit(stage, view, {DOCUMENT: ref, SPACES: [str(space.id)]})
    await stage.fake.wait_for_messages(stage.fake.dm_channel(STELLA))
    before = await shares(stage)
    view = await open_share(stage, STELLA)

    await submit(stage, view, {DOCUMENT: ref, GROUPS: [str(empty.id)], SPACES: [str(space.id)]})
    first = errors_shown(stage, view)
    await submit(stage, view, {DOCUMENT: "D-999", SPACES: [str(space.id)]})
    second = errors_shown(stage, view)

    assert first == {
        "groups": "Group Nobody has no members",
        "spaces": f"{ref} is already shared with space Board",
    }
    assert second == {"document": "Document D-999 not found"}
    assert await shares(stage) == before


async def test_expiry_errors_show_on_the_expiry_fields(stage: Stage) -> None:
    ref = await stage.document()
    anna = await recipient(stage, "Anna")
    view = await open_share(stage, STELLA)
    base = {DOCUMENT: ref, RECIPIENTS: [str(anna)]}
    yesterday = START.date() - timedelta(days=1)

    await submit(stage, view, {**base, DAYS: "7", DATE: date(2027, 1, 31)})
    both = errors_shown(stage, view)
    await submit(stage, view, {**base, DATE: yesterday})
    past = errors_shown(stage, view)
    await submit(stage, view, {**base, DAYS: "0"})
    zero = errors_shown(stage, view)

    assert both == {"date": "Give a number of days or a date, not both"}
    assert past == {"date": "Pick today or a later date"}
    assert zero == {"days": "Give a whole number of days from 1 to 3650"}
    assert await shares(stage) == []


async def test_a_date_gives_access_to_the_end_of_that_day(stage: Stage) -> None:
    ref = await stage.document()
    anna = await recipient(stage, "Anna")
    view = await open_share(stage, STELLA)

    await submit(stage, view, {DOCUMENT: ref, RECIPIENTS: [str(anna)], DATE: date(2027, 1, 31)})

    [answer] = await stage.fake.wait_for_messages(stage.fake.dm_channel(STELLA))
    [made] = await shares(stage)
    assert made.expires_at == datetime(2027, 2, 1, tzinfo=UTC)
    assert "access ends 2027-02-01 00:00 UTC" in str(answer.blocks)


async def test_find_then_share_opens_the_modal_with_the_document_chosen(stage: Stage) -> None:
    await stage.document("Fee table 2026")
    ref = await stage.document("Fee table 2027")
    found = await stage.command(STELLA, "find fee")

    response = await click(stage, found, FOUND_SHARE, ref)

    assert response.status == 200
    view = await loaded_modal(stage, STELLA)
    _, picker = find_element(view["blocks"], DOCUMENT) or ("", {})
    assert picker["initial_option"]["value"] == ref
    assert picker["initial_option"]["text"]["text"] == f"{ref} Fee table 2027"


async def test_find_results_answer_link_and_history_buttons(stage: Stage) -> None:
    ref = await stage.document("Fee table 2027")
    found = await stage.command(STELLA, "find fee")

    before = len(stage.fake.responses)
    await click(stage, found, FOUND_LINK, ref)
    await stage.fake.wait_for(lambda: len(stage.fake.responses) > before)
    link = stage.fake.responses[-1]
    await click(stage, found, FOUND_HISTORY, ref)
    await stage.fake.wait_for(lambda: len(stage.fake.responses) > before + 1)
    history = stage.fake.responses[-1]

    assert f"{PUBLIC}/d/" in (link.text or "") and ref in (link.text or "")
    assert link.body.get("replace_original") is False
    assert history.text == f"History of {ref}: 2 events"
    assert "link created" in str(history.blocks)


async def test_someone_who_is_not_staff_cannot_open_the_form(stage: Stage) -> None:
    ref = await stage.document()

    answer = await stage.command(NINA, f"share {ref}")

    assert "ask Stella Staff" in (answer.text or "")
    assert stage.fake.requests_for("views.open") == []


async def test_an_unknown_document_is_refused_before_the_form_opens(stage: Stage) -> None:
    answer = await stage.command(STELLA, "share D-404")

    assert answer.text == "Document D-404 not found"
    assert stage.fake.requests_for("views.open") == []


async def test_staff_blocked_while_the_form_is_open_can_neither_search_nor_share(
    stage: Stage,
) -> None:
    ref = await stage.document()
    anna = await recipient(stage, "Anna")
    view = await open_share(stage, BORIS)
    await organizations.set_staff_status(
        stage.env, org_id=stage.org_id, actor=STAFF, staff_id=stage.boris_id, blocked=True
    )

    offered = await stage.slack.block_suggestion(BORIS, RECIPIENTS, "anna", view=view)
    response = await stage.slack.view_submission(
        BORIS, view, {DOCUMENT: ref, RECIPIENTS: [str(anna)]}
    )

    assert response.status == 200 and offered == {"options": []}
    assert errors_shown(stage, view) == {"document": "Your access to Acme Law is blocked"}
    assert await shares(stage) == []


async def click(stage: Stage, answer: ResponseMessage, action_id: str, ref: str) -> Any:
    """Click ``action_id`` under the search result ``ref`` of an ephemeral answer."""
    message = {**answer.body, "ts": "1700000000.000100"}
    return await stage.slack.block_action(
        STELLA, action_id, ref, message=message, channel_id=stage.fake.dm_channel(STELLA)
    )


async def test_another_clients_people_are_shared_with_only_when_ticked(stage: Stage) -> None:
    ref = await stage.document()
    nordic = await organizations.add_client(
        stage.env, org_id=stage.org_id, actor=STAFF, name="Nordic Family Trust"
    )
    theirs = await recipients.add_recipient(
        stage.env, org_id=stage.org_id, actor=STAFF, client_id=id_of(nordic), name="Nils"
    )
    view = await open_share(stage, STELLA)

    await submit(stage, view, {DOCUMENT: ref, RECIPIENTS: [str(theirs.id)]})
    refused = errors_shown(stage, view)
    await submit(stage, view, {DOCUMENT: ref, RECIPIENTS: [str(theirs.id)], ACROSS: ["yes"]})
    await stage.fake.wait_for_messages(stage.fake.dm_channel(STELLA))

    assert refused["recipients"].endswith("and Nils is a recipient of Nordic Family Trust")
    assert refused["across"] == "Tick “Share outside the document's client” to share it anyway"
    [share] = await shares(stage)
    assert share.recipient_id == theirs.id
