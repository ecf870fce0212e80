"""Clients, recipients, groups, spaces, shares and links through the API."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from storage.models import Share, WebhookEndpoint
from tests.conftest import Tenant, make_tenant
from tests.helpers import count_rows, upload
from tests.web_api.conftest import bearer, make_key
from workflows.context import Env
from workflows.sharing import access


async def test_clients_and_recipients_are_created_changed_and_blocked(
    client: TestClient, env: Env, key: str
) -> None:
    made = await client.post(
        "/api/v1/clients", json={"name": "Baltic Freight"}, headers=bearer(key)
    )
    assert made.status == 201
    client_id = (await made.json())["id"]
    person = await client.post(
        "/api/v1/recipients",
        json={"client_id": client_id, "name": "Bo Baltic", "email": "bo@baltic.test"},
        headers=bearer(key),
    )
    assert person.status == 201
    person_id = (await person.json())["id"]
    changed = await client.patch(
        f"/api/v1/recipients/{person_id}", json={"language": "sv"}, headers=bearer(key)
    )
    assert (await changed.json())["language"] == "sv"
    blocked = await client.post(f"/api/v1/recipients/{person_id}/block", headers=bearer(key))
    assert (await blocked.json())["status"] == "blocked"
    again = await client.post(f"/api/v1/recipients/{person_id}/block", headers=bearer(key))
    assert again.status == 409
    listed = await client.get(
        "/api/v1/recipients", params={"client_id": str(client_id)}, headers=bearer(key)
    )
    assert [r["name"] for r in (await listed.json())["items"]] == ["Bo Baltic"]


async def test_a_misspelt_field_is_refused_by_name(client: TestClient, key: str) -> None:
    response = await client.post(
        "/api/v1/clients", json={"name": "X", "shared_cabnet": True}, headers=bearer(key)
    )
    assert response.status == 422
    problem = await response.json()
    assert problem["type"].endswith("/validation")
    assert problem["errors"] == [
        {"pointer": "/shared_cabnet", "detail": "Extra inputs are not permitted"}
    ]


async def test_a_duplicate_client_is_a_conflict_problem(client: TestClient, key: str) -> None:
    response = await client.post(
        "/api/v1/clients", json={"name": "Nordic Timber"}, headers=bearer(key)
    )
    assert response.status == 409
    assert (await response.json())["type"].endswith("/conflict")


async def test_groups_and_spaces_are_created_and_their_members_changed(
    client: TestClient, tenant: Tenant, key: str
) -> None:
    group = await client.post(
        "/api/v1/groups",
        json={"name": "Board", "member_ids": [tenant.recipient_id]},
        headers=bearer(key),
    )
    assert group.status == 201
    group_id = (await group.json())["id"]
    members = await client.get(f"/api/v1/groups/{group_id}/members", headers=bearer(key))
    assert [m["id"] for m in (await members.json())["items"]] == [tenant.recipient_id]
    space = await client.post(
        "/api/v1/spaces",
        json={"name": "Timber panel", "client_id": tenant.client_id},
        headers=bearer(key),
    )
    space_id = (await space.json())["id"]
    change = await client.post(
        f"/api/v1/spaces/{space_id}/members",
        json={"add": [tenant.recipient_id]},
        headers=bearer(key),
    )
    assert (await change.json()) == {"added": ["Rita Recipient"], "removed": []}
    spaces = await client.get("/api/v1/spaces", headers=bearer(key))
    assert [s["name"] for s in (await spaces.json())["items"]] == ["Timber panel"]


async def test_groups_and_spaces_are_deleted_and_another_organisations_are_not_found(
    client: TestClient, env: Env, tenant: Tenant, key: str
) -> None:
    group = await client.post(
        "/api/v1/groups",
        json={"name": "Board", "member_ids": [tenant.recipient_id]},
        headers=bearer(key),
    )
    group_id = (await group.json())["id"]
    space = await client.post(
        "/api/v1/spaces",
        json={"name": "Timber panel", "client_id": tenant.client_id},
        headers=bearer(key),
    )
    space_id = (await space.json())["id"]
    other = await make_tenant(env, slug="other")
    outsider = await make_key(env, other, scopes=("read", "write"))
    refused = await client.delete(f"/api/v1/groups/{group_id}", headers=bearer(outsider))
    assert refused.status == 404
    assert refused.content_type == "application/problem+json"
    reader = await make_key(env, tenant, name="reader", scopes=("read",))
    assert (await client.delete(f"/api/v1/spaces/{space_id}", headers=bearer(reader))).status == 403

    gone = await client.delete(f"/api/v1/groups/{group_id}", headers=bearer(key))
    assert (await gone.json()) == {"id": group_id, "name": "Board"}
    closed = await client.delete(f"/api/v1/spaces/{space_id}", headers=bearer(key))
    assert (await closed.json()) == {"id": space_id, "revoked_shares": 0, "removed_recipients": []}
    groups = await client.get("/api/v1/groups", headers=bearer(key))
    assert (await groups.json())["items"] == []
    again = await client.delete(f"/api/v1/spaces/{space_id}", headers=bearer(key))
    assert again.status == 404


async def test_share_link_and_revoke(
    client: TestClient, env: Env, tenant: Tenant, key: str
) -> None:
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    shared = await client.post(
        f"/api/v1/documents/{document.id}/shares",
        json={"recipient_id": tenant.recipient_id},
        headers=bearer(key),
    )
    assert shared.status == 201, await shared.text()
    [share] = (await shared.json())["shares"]
    assert share["kind"] == "recipient" and share["recipient_id"] == tenant.recipient_id

    link = await client.post(
        f"/api/v1/documents/{document.id}/links", json={"max_downloads": 3}, headers=bearer(key)
    )
    made = await link.json()
    token = made["url"].rsplit("/d/", 1)[1]
    opened = await access.resolve(env, token)
    assert opened.document.id == document.id

    listed = await client.get(f"/api/v1/documents/{document.id}/shares", headers=bearer(key))
    assert [s["kind"] for s in (await listed.json())["items"]] == ["link", "recipient"]
    revoked = await client.post(f"/api/v1/shares/{made['id']}/revoke", headers=bearer(key))
    assert (await revoked.json())["revoked_at"] is not None
    page = await client.get(f"/d/{token}")
    assert page.status == 410


async def test_a_share_naming_two_targets_is_refused_and_shares_nothing(
    client: TestClient, env: Env, tenant: Tenant, key: str
) -> None:
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    response = await client.post(
        f"/api/v1/documents/{document.id}/shares",
        json={"recipient_id": tenant.recipient_id, "space_id": 1},
        headers=bearer(key),
    )
    assert response.status == 422
    assert "exactly one" in (await response.json())["errors"][0]["detail"]
    assert await count_rows(env, Share) == 0


async def test_webhooks_are_registered_listed_and_removed_by_an_admin_key(
    client: TestClient, env: Env, tenant: Tenant, key: str
) -> None:
    made = await client.post(
        "/api/v1/webhooks",
        json={"url": "https://erp.example.com/hooks", "events": ["request.completed"]},
        headers=bearer(key),
    )
    assert made.status == 201, await made.text()
    created = await made.json()
    assert created["secret"] and created["events"] == ["request.completed"]
    listed = await (await client.get("/api/v1/webhooks", headers=bearer(key))).json()
    assert [w["url"] for w in listed["items"]] == ["https://erp.example.com/hooks"]
    assert "secret" not in listed["items"][0]
    removed = await client.delete(f"/api/v1/webhooks/{created['id']}", headers=bearer(key))
    assert removed.status == 200
    again = await (await client.get("/api/v1/webhooks", headers=bearer(key))).json()
    assert again["items"] == []


async def test_a_webhook_secret_is_rotated_with_an_overlap_or_refused(
    client: TestClient, env: Env, tenant: Tenant, key: str
) -> None:
    made = await client.post(
        "/api/v1/webhooks",
        json={"url": "https://erp.example.com/hooks", "events": ["request.completed"]},
        headers=bearer(key),
    )
    created = await made.json()
    path = f"/api/v1/webhooks/{created['id']}/rotate-secret"
    rotated = await client.post(path, json={"overlap_hours": 1}, headers=bearer(key))
    assert rotated.status == 200, await rotated.text()
    body = await rotated.json()
    assert body["secret"].startswith("whsec_") and body["secret"] != created["secret"]
    async with env.reads() as session:
        row = await session.get(WebhookEndpoint, created["id"])
        assert row is not None
        assert (row.secret, row.previous_secret) == (body["secret"], created["secret"])
    too_long = await client.post(path, json={"overlap_hours": 169}, headers=bearer(key))
    assert too_long.status == 422
    assert (await too_long.json())["errors"][0]["pointer"] == "/overlap_hours"
    missing = await client.post(
        "/api/v1/webhooks/999999/rotate-secret", json={}, headers=bearer(key)
    )
    assert missing.status == 404
    reader = await make_key(env, tenant, name="reader", scopes=["read", "write"])
    assert (await client.post(path, json={}, headers=bearer(reader))).status == 403
    async with env.reads() as session:
        row = await session.get(WebhookEndpoint, created["id"])
        assert row is not None and row.secret == body["secret"]


async def test_a_private_webhook_address_and_a_walled_key_are_refused(
    client: TestClient, env: Env, tenant: Tenant, key: str
) -> None:
    private = await client.post(
        "/api/v1/webhooks",
        json={"url": "http://127.0.0.1:9000/hooks", "events": ["document.shared"]},
        headers=bearer(key),
    )
    assert private.status == 422
    walled = await make_key(env, tenant, name="timber", client_ids=[tenant.client_id])
    refused = await client.get("/api/v1/webhooks", headers=bearer(walled))
    assert refused.status == 403
    reader = await make_key(env, tenant, name="reader", scopes=["read", "write"])
    assert (await client.get("/api/v1/webhooks", headers=bearer(reader))).status == 403
