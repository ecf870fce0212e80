"""Who may call the API: a valid key of the organisation with the scope an operation
needs; everyone else gets a problem, and a walled key sees nothing of other clients."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from openapi_spec_validator import validate

from tests.conftest import STAFF, Tenant, make_tenant
from tests.helpers import upload
from tests.web_api.conftest import bearer, make_key
from workflows import api_keys
from workflows.context import Env, FixedClock
from workflows.people import organizations


async def test_the_served_document_is_valid_openapi_31(client: TestClient) -> None:
    response = await client.get("/api/v1/openapi.json")
    assert response.status == 200
    spec = await response.json()
    validate(spec)
    assert spec["openapi"] == "3.1.0"
    assert "/documents" in spec["paths"]
    assert spec["components"]["schemas"]["DocumentOut"]["properties"]["ref"]


async def test_the_reference_page_lists_operations_and_loads_nothing(client: TestClient) -> None:
    response = await client.get("/api/v1/docs")
    assert response.status == 200
    page = await response.text()
    assert "/api/v1/documents/{document_id}/file" in page
    assert "<script" not in page and " src=" not in page and "<link" not in page


async def problem(response: ClientResponse) -> dict[str, Any]:
    assert response.content_type == "application/problem+json"
    body: dict[str, Any] = await response.json()
    return body


async def test_no_key_is_a_401_problem(client: TestClient) -> None:
    response = await client.get("/api/v1/documents")
    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert (await problem(response))["type"] == "https://inkpost.dev/problems/unauthenticated"


async def test_an_unknown_key_is_a_401_problem(client: TestClient) -> None:
    response = await client.get("/api/v1/documents", headers=bearer("ink_" + "x" * 32))
    assert response.status == 401


async def test_a_revoked_key_is_a_401_problem(
    client: TestClient, env: Env, tenant: Tenant, key: str
) -> None:
    assert (await client.get("/api/v1/documents", headers=bearer(key))).status == 200
    found = await api_keys.find_key(env, org_id=tenant.org_id, which="erp-sync")
    assert found.id is not None
    await api_keys.revoke_key(env, org_id=tenant.org_id, actor=STAFF, key_id=found.id)
    response = await client.get("/api/v1/documents", headers=bearer(key))
    assert response.status == 401
    assert "revoked" in str((await problem(response))["detail"])


async def test_another_organisations_key_sees_none_of_this_one(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    other = await make_tenant(env, "globex")
    their_key = await make_key(env, other, name="globex-erp")
    got = await client.get(f"/api/v1/documents/{document.id}", headers=bearer(their_key))
    assert got.status == 404
    listed = await client.get("/api/v1/documents", headers=bearer(their_key))
    assert (await listed.json())["items"] == []
    file = await client.get(f"/api/v1/documents/{document.id}/file", headers=bearer(their_key))
    assert file.status == 404


async def test_a_key_without_the_scope_is_a_403_problem(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    reader = await make_key(env, tenant, name="reader", scopes=["read"])
    response = await client.post("/api/v1/clients", json={"name": "X"}, headers=bearer(reader))
    assert response.status == 403
    body = await problem(response)
    assert body["type"] == "https://inkpost.dev/problems/missing-scope"
    assert "'write'" in str(body["detail"])
    assert (await client.get("/api/v1/documents", headers=bearer(reader))).status == 200


async def test_a_walled_key_sees_only_its_clients(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    other_client = await organizations.add_client(
        env, org_id=tenant.org_id, actor=STAFF, name="Acme Holdings"
    )
    assert other_client.id is not None
    mine = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id, title="Timber")
    theirs = await upload(env, org_id=tenant.org_id, client_id=other_client.id, title="Acme")
    walled = await make_key(env, tenant, name="timber", client_ids=[tenant.client_id])

    listed = await (await client.get("/api/v1/documents", headers=bearer(walled))).json()
    assert [d["title"] for d in listed["items"]] == ["Timber"]
    hidden = await client.get(f"/api/v1/documents/{theirs.id}", headers=bearer(walled))
    assert hidden.status == 404
    assert (await client.get(f"/api/v1/documents/{mine.id}", headers=bearer(walled))).status == 200
    clients = await (await client.get("/api/v1/clients", headers=bearer(walled))).json()
    assert [c["name"] for c in clients["items"]] == ["Nordic Timber"]
    events = await (await client.get("/api/v1/events", headers=bearer(walled))).json()
    assert {e["document_id"] for e in events["items"]} == {mine.id}


async def test_an_unknown_path_and_a_wrong_method_are_problems(
    client: TestClient, key: str
) -> None:
    missing = await client.get("/api/v1/nothing", headers=bearer(key))
    assert missing.status == 404 and missing.content_type == "application/problem+json"
    wrong = await client.delete("/api/v1/documents", headers=bearer(key))
    assert wrong.status == 405 and "GET" in wrong.headers["Allow"]


async def test_a_keys_last_use_is_written_at_most_once_a_minute(
    client: TestClient, env: Env, tenant: Tenant, key: str, clock: FixedClock
) -> None:
    async def last_used() -> object:
        found = await api_keys.find_key(env, org_id=tenant.org_id, which="erp-sync")
        return found.last_used_at

    assert await last_used() is None
    first = clock.at
    assert (await client.get("/api/v1/documents", headers=bearer(key))).status == 200
    assert await last_used() == first
    clock.at = first + api_keys.LAST_USED_EVERY - timedelta(seconds=1)
    assert (await client.get("/api/v1/documents", headers=bearer(key))).status == 200
    assert await last_used() == first
    clock.at = first + api_keys.LAST_USED_EVERY
    assert (await client.get("/api/v1/clients", headers=bearer(key))).status == 200
    assert await last_used() == clock.at
