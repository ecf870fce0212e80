"""Administrators see the organisation's API keys in Slack and revoke one with its button;
members are refused."""

from __future__ import annotations

import pytest

from bot.slack.features import api_keys as slack_api_keys
from tests.conftest import STAFF
from tests.scenarios.slack_stage import BORIS, STELLA, Stage
from workflows import api_keys
from workflows.api_keys import BadKey


async def test_an_administrator_sees_the_keys_and_revokes_one(stage: Stage) -> None:
    empty = await stage.command(STELLA, "api-keys")
    assert "None yet" in str(empty.blocks)
    issued = await api_keys.create_key(
        stage.env, org_id=stage.org_id, actor=STAFF, name="erp-sync", scopes=["read", "sign"]
    )
    listing = await stage.command(STELLA, "api-keys")
    shown = str(listing.blocks)
    assert "erp-sync" in shown and "read, sign" in shown and "never used" in shown
    assert issued.token not in shown

    before = len(stage.fake.responses)
    response = await stage.slack.block_action(
        STELLA, slack_api_keys.REVOKE, str(issued.key.id),
        message={**listing.body, "ts": "1700000000.000100"},
        channel_id=stage.fake.dm_channel(STELLA),
    )  # fmt: skip
    assert response.status == 200
    await stage.fake.wait_for(lambda: len(stage.fake.responses) > before, what="the new list")
    after = str(stage.fake.responses[-1].blocks)
    assert "API key 'erp-sync' revoked" in after and "None yet" in after
    with pytest.raises(BadKey):
        await api_keys.authenticate(stage.env, token=issued.token)


async def test_members_are_refused(stage: Stage) -> None:
    refused = await stage.command(BORIS, "api-keys")
    assert refused.text == "Only administrators may manage API keys"
