"""A staff member walled off to Nordic Timber, in Slack: search, the lists, the pickers, the
App Home and the document commands show and touch nothing of Acme Holdings."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from bot.slack.features import staff_clients
from bot.slack.features.sharing.views import DOCUMENT, RECIPIENTS
from storage.models import Share
from storage.rows import id_of
from tests.conftest import STAFF
from tests.fakes.slack_api import JSON, ResponseMessage
from tests.helpers import count_rows, upload
from tests.scenarios.slack_stage import STELLA, Stage
from tests.scenarios.test_slack_share import open_share
from workflows.people import client_access, groups, organizations, recipients
from workflows.sharing import sharing

WANDA = "U0WANDA"


@dataclass(frozen=True)
class Walled:
    ours: str
    theirs: str


@pytest.fixture
async def walled(stage: Stage) -> Walled:
    env, org_id = stage.env, stage.org_id
    acme = await organizations.add_client(env, org_id=org_id, actor=STAFF, name="Acme Holdings")
    rita = await recipients.add_recipient(
        env, org_id=org_id, actor=STAFF, client_id=stage.client_id, name="Rita Timber"
    )
    anders = await recipients.add_recipient(
        env, org_id=org_id, actor=STAFF, client_id=id_of(acme), name="Anders Acme"
    )
    await groups.create_group(
        env, org_id=org_id, actor=STAFF, name="Timber board", member_ids=[id_of(rita)]
    )
    await groups.create_group(
        env, org_id=org_id, actor=STAFF, name="Everyone", member_ids=[id_of(rita), id_of(anders)]
    )
    ours = await upload(env, org_id=org_id, client_id=stage.client_id, title="Fee table Timber")
    theirs = await upload(env, org_id=org_id, client_id=id_of(acme), title="Fee table Acme")
    for document, person in ((ours, rita), (theirs, anders)):
        await sharing.share_with_recipient(
            env, org_id=org_id, actor=STAFF, document_id=id_of(document),
            recipient_id=id_of(person),
        )  # fmt: skip
    wanda = await organizations.add_staff(
        env, org_id=org_id, actor=STAFF, name="Wanda Wall", slack_user_id=WANDA
    )
    await client_access.limit_staff(
        env, org_id=org_id, actor=STAFF, staff_id=id_of(wanda), client_ids=[stage.client_id]
    )
    stage.fake.add_user(WANDA, "wanda")
    return Walled(ours.ref, theirs.ref)


async def test_find_finds_only_the_members_clients(stage: Stage, walled: Walled) -> None:
    found = await stage.command(WANDA, "find fee table")
    by_client = await stage.command(WANDA, 'find fee client:"acme holdings"')

    assert walled.ours in str(found.blocks) and walled.theirs not in str(found.blocks)
    assert "no client is named like 'acme holdings'" in (by_client.text or "").lower()


async def test_the_lists_hold_only_the_members_clients(stage: Stage, walled: Walled) -> None:
    clients = str((await stage.command(WANDA, "clients")).blocks)
    people = str((await stage.command(WANDA, "recipients")).blocks)
    sets = str((await stage.command(WANDA, "groups")).blocks)

    assert "Nordic Timber" in clients and "Acme" not in clients
    assert "Rita Timber" in people and "Anders" not in people
    assert "Timber board" in sets and "Everyone" not in sets


async def test_another_clients_document_is_not_found_and_gets_no_link(
    stage: Stage, walled: Walled
) -> None:
    shares = await count_rows(stage.env, Share)

    history = await stage.command(WANDA, f"history {walled.theirs}")
    link = await stage.command(WANDA, f"link {walled.theirs}")

    assert history.text == f"Document {walled.theirs} not found"
    assert link.text == f"Document {walled.theirs} not found"
    assert await count_rows(stage.env, Share) == shares


async def test_the_share_form_offers_only_the_members_clients(stage: Stage, walled: Walled) -> None:
    view = await open_share(stage, WANDA)

    documents = await stage.slack.block_suggestion(WANDA, DOCUMENT, "fee", view=view)
    people = await stage.slack.block_suggestion(WANDA, RECIPIENTS, "", view=view)

    assert [o["text"]["text"] for o in documents["options"]][0].startswith(walled.ours)
    assert len(documents["options"]) == 1
    assert [o["text"]["text"].split(" ·")[0] for o in people["options"]] == ["Rita Timber"]


async def test_the_home_tab_shows_only_the_members_clients(stage: Stage, walled: Walled) -> None:
    view = await stage.open_home(WANDA)

    shown = str(view["blocks"])
    assert "Fee table Timber" in shown and "Fee table Acme" not in shown


# -- administrators set the wall in Slack --------------------------------------------------


async def _edit_clients(stage: Stage, listing: ResponseMessage, name: str) -> JSON:
    """Click "Clients…" beside ``name`` in the staff list; the modal it opens."""
    value = next(
        block["accessory"]["value"]
        for block in listing.blocks or []
        if name in block.get("text", {}).get("text", "") and "accessory" in block
    )
    opened = len(stage.fake.views)
    response = await stage.slack.block_action(
        STELLA, staff_clients.EDIT, value, message={**listing.body, "ts": "1700000000.000100"},
        channel_id=stage.fake.dm_channel(STELLA),
    )  # fmt: skip
    assert response.status == 200
    await stage.fake.wait_for(lambda: len(stage.fake.views) > opened, what="the modal")
    view: JSON = stage.fake.open_views(STELLA)[-1]
    return view


async def _save(stage: Stage, view: JSON, values: JSON) -> JSON | str:
    """Submit the modal: its field errors, or the direct message that says what changed."""
    told = len(stage.fake.messages_to(STELLA))
    response = await stage.slack.view_submission(STELLA, view, values)
    assert response.status == 200
    text = (await response.text()).strip()
    if text:
        errors: JSON = (await response.json())["errors"]
        return errors
    await stage.fake.wait_for(lambda: len(stage.fake.messages_to(STELLA)) > told, what="a DM")
    return str(stage.fake.messages_to(STELLA)[-1].message["text"])


async def test_administrators_see_who_is_walled_and_members_are_refused(
    stage: Stage, walled: Walled
) -> None:
    listing = await stage.command(STELLA, "staff")
    refused = await stage.command(WANDA, "staff")

    shown = str(listing.blocks)
    assert "*Wanda Wall* · member · only Nordic Timber" in shown
    assert "*Stella Staff* · administrator · every client" in shown
    assert refused.text == "Only administrators may see and limit which clients staff see"


async def test_an_administrator_walls_a_member_off_in_a_modal(stage: Stage, walled: Walled) -> None:
    listing = await stage.command(STELLA, "staff")
    view = await _edit_clients(stage, listing, "Boris Blocked")
    offered = await stage.slack.block_suggestion(STELLA, staff_clients.CLIENTS, "", view=view)

    empty = await _save(stage, view, {staff_clients.SCOPE: staff_clients.ONLY})
    saved = await _save(
        stage, view,
        {staff_clients.SCOPE: staff_clients.ONLY, staff_clients.CLIENTS: [str(stage.client_id)]},
    )  # fmt: skip

    assert [o["text"]["text"] for o in offered["options"]] == ["Acme Holdings", "Nordic Timber"]
    assert empty == {
        staff_clients.CLIENTS: "Pick at least one client, or let them see every client"
    }
    assert saved == "Boris Blocked now sees only Nordic Timber."
    boris = await client_access.client_access(
        stage.env, org_id=stage.org_id, staff_id=stage.boris_id
    )
    assert boris.names == "Nordic Timber"


async def test_lifting_a_wall_in_the_modal_gives_every_client_back(
    stage: Stage, walled: Walled
) -> None:
    listing = await stage.command(STELLA, "staff")
    view = await _edit_clients(stage, listing, "Wanda Wall")

    saved = await _save(stage, view, {staff_clients.SCOPE: staff_clients.EVERY})

    assert saved == "Wanda Wall now sees every client."
    found = await stage.command(WANDA, "find fee table")
    assert walled.theirs in str(found.blocks)
