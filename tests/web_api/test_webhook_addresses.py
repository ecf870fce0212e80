"""The operator's webhook address policy holds for endpoints registered through the API."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from tests.web_api.conftest import bearer
from workflows.webhooks.addresses import AddressPolicy


@pytest.fixture
def webhook_policy() -> AddressPolicy:
    return AddressPolicy.of(allow_private=False, networks=["10.0.0.0/8"])


async def test_a_network_the_operator_allowed_is_accepted_and_others_are_not(
    client: TestClient, key: str
) -> None:
    allowed = await client.post(
        "/api/v1/webhooks",
        json={"url": "http://10.1.2.3/hooks", "events": ["document.shared"]},
        headers=bearer(key),
    )
    refused = await client.post(
        "/api/v1/webhooks",
        json={"url": "http://192.168.1.2/hooks", "events": ["document.shared"]},
        headers=bearer(key),
    )
    assert allowed.status == 201, await allowed.text()
    assert refused.status == 422
