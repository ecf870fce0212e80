"""Administrators manage webhook endpoints in Slack: the list, a modal to add one (the
secret comes once, in a direct message), a button to remove one; members are refused."""

from __future__ import annotations

import re

from bot.slack.features import webhooks
from storage.models import WebhookEndpoint
from tests.conftest import STAFF
from tests.fakes.slack_api import JSON, ResponseMessage
from tests.scenarios.slack_stage import BORIS, STELLA, Stage
from workflows.webhooks import endpoints
from workflows.webhooks.addresses import AddressPolicy

SECRET = re.compile(r"whsec_[A-Za-z0-9+/=]+")


async def _open_form(stage: Stage, listing: ResponseMessage) -> JSON:
    opened = len(stage.fake.views)
    response = await stage.slack.block_action(
        STELLA, webhooks.ADD, "add", message={**listing.body, "ts": "1700000000.000100"},
        channel_id=stage.fake.dm_channel(STELLA),
    )  # fmt: skip
    assert response.status == 200
    await stage.fake.wait_for(lambda: len(stage.fake.views) > opened, what="the modal")
    view: JSON = stage.fake.open_views(STELLA)[-1]
    return view


async def _submit(stage: Stage, view: JSON, values: JSON) -> JSON | str:
    told = len(stage.fake.messages_to(STELLA))
    response = await stage.slack.view_submission(STELLA, view, values)
    assert response.status == 200
    text = (await response.text()).strip()
    if text:
        errors: JSON = (await response.json())["errors"]
        return errors
    await stage.fake.wait_for(lambda: len(stage.fake.messages_to(STELLA)) > told, what="a DM")
    return str(stage.fake.messages_to(STELLA)[-1].message["blocks"])


async def test_an_administrator_adds_an_endpoint_and_gets_its_secret_once(stage: Stage) -> None:
    listing = await stage.command(STELLA, "webhooks")
    assert "None yet" in str(listing.blocks)
    view = await _open_form(stage, listing)

    refused = await _submit(
        stage, view, {webhooks.URL: "http://10.0.0.7/hooks", webhooks.EVENTS: ["document.shared"]}
    )
    added = await _submit(
        stage,
        view,
        {
            webhooks.URL: "https://erp.example.com/hooks",
            webhooks.EVENTS: ["document.shared", "request.completed"],
        },
    )

    assert isinstance(refused, dict) and "private address" in refused[webhooks.URL]
    assert isinstance(added, str) and len(SECRET.findall(added)) == 1
    [endpoint] = await endpoints.list_endpoints(stage.env, org_id=stage.org_id)
    assert endpoint.events == ("document.shared", "request.completed")
    again = await stage.command(STELLA, "webhooks")
    assert "https://erp.example.com/hooks" in str(again.blocks)
    assert not SECRET.search(str(again.blocks))


async def test_an_administrator_removes_an_endpoint_with_its_button(stage: Stage) -> None:
    made = await endpoints.register_endpoint(
        stage.env, org_id=stage.org_id, actor=STAFF, url="https://erp.example.com/h",
        events=["document.shared"], policy=AddressPolicy(),
    )  # fmt: skip
    listing = await stage.command(STELLA, "webhooks")
    before = len(stage.fake.responses)
    response = await stage.slack.block_action(
        STELLA, webhooks.REMOVE, str(made.endpoint.id),
        message={**listing.body, "ts": "1700000000.000100"},
        channel_id=stage.fake.dm_channel(STELLA),
    )  # fmt: skip
    assert response.status == 200
    await stage.fake.wait_for(lambda: len(stage.fake.responses) > before, what="the new list")
    shown = str(stage.fake.responses[-1].blocks)
    assert f"Endpoint {made.endpoint.id} removed" in shown and "None yet" in shown
    assert await endpoints.list_endpoints(stage.env, org_id=stage.org_id) == []


async def test_an_administrator_gives_an_endpoint_a_new_secret_by_direct_message(
    stage: Stage,
) -> None:
    made = await endpoints.register_endpoint(
        stage.env, org_id=stage.org_id, actor=STAFF, url="https://erp.example.com/h",
        events=["document.shared"], policy=AddressPolicy(),
    )  # fmt: skip
    listing = await stage.command(STELLA, "webhooks")
    before, told = len(stage.fake.responses), len(stage.fake.messages_to(STELLA))
    response = await stage.slack.block_action(
        STELLA, webhooks.ROTATE, str(made.endpoint.id),
        message={**listing.body, "ts": "1700000000.000100"},
        channel_id=stage.fake.dm_channel(STELLA),
    )  # fmt: skip
    assert response.status == 200
    await stage.fake.wait_for(lambda: len(stage.fake.responses) > before, what="the new list")
    await stage.fake.wait_for(lambda: len(stage.fake.messages_to(STELLA)) > told, what="a DM")
    [secret] = SECRET.findall(str(stage.fake.messages_to(STELLA)[-1].message["blocks"]))
    assert secret != made.secret
    shown = str(stage.fake.responses[-1].blocks)
    assert f"Endpoint {made.endpoint.id} has a new secret" in shown
    assert not SECRET.search(shown)
    async with stage.env.reads() as session:
        row = await session.get(WebhookEndpoint, made.endpoint.id)
        assert row is not None
        assert (row.secret, row.previous_secret) == (secret, made.secret)


async def test_members_are_refused(stage: Stage) -> None:
    refused = await stage.command(BORIS, "webhooks")
    assert refused.text == "Only administrators may manage webhooks"
