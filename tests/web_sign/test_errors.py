"""Links that do not work answer with the right status and a friendly page, never a trace."""

from __future__ import annotations

from datetime import timedelta

import pytest
from aiohttp.test_utils import TestClient

from tests.conftest import STAFF, START, Tenant
from tests.helpers import upload
from tests.web_sign.conftest import Link, assert_security_headers, make_link
from workflows.context import Env, FixedClock
from workflows.errors import Unavailable
from workflows.people import recipients
from workflows.sharing import access, sharing


async def test_an_unknown_token_answers_404(client: TestClient) -> None:
    response = await client.get("/d/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")

    assert response.status == 404
    html = await response.text()
    assert "This link does not exist" in html
    assert response.headers["Cache-Control"] == "no-store"
    assert_security_headers(response.headers)


@pytest.mark.parametrize("token", ["short", "has.dots.in.it.and.is.long.enough"])
async def test_a_malformed_token_answers_404(client: TestClient, token: str) -> None:
    for path in (f"/d/{token}", f"/d/{token}/file", f"/d/{token}/pages/1.png"):
        response = await client.get(path)
        assert response.status == 404, path


async def test_a_revoked_link_answers_410(client: TestClient, env: Env, tenant: Tenant) -> None:
    link = await make_link(env, tenant)
    assert link.share.id is not None
    await sharing.revoke_share(env, org_id=tenant.org_id, actor=STAFF, share_id=link.share.id)

    for path in (link.page, link.file, link.preview(1)):
        response = await client.get(path)
        assert response.status == 410, path
    assert "This link was revoked" in await (await client.get(link.page)).text()


async def test_an_expired_link_answers_410(
    client: TestClient, env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    link = await make_link(env, tenant, expires_at=START + timedelta(days=1))
    assert (await client.get(link.page)).status == 200

    clock.at = START + timedelta(days=1, seconds=1)

    response = await client.get(link.page)
    assert response.status == 410
    assert "expired on 2026-11-24 12:00 UTC" in await response.text()
    assert (await client.get(link.file)).status == 410


async def test_outside_the_window_answers_403_with_its_dates(
    client: TestClient, env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    link = await make_link(
        env,
        tenant,
        available_from=START + timedelta(days=2, hours=-3),
        available_until=START + timedelta(days=9),
    )

    response = await client.get(link.page)
    assert response.status == 403
    html = await response.text()
    assert "not available yet" in html
    assert "25 November 2026, 09:00 UTC" in html
    assert "2 December 2026, 12:00 UTC" in html
    assert (await client.get(link.file)).status == 403
    assert (await client.get(link.preview(1))).status == 403

    clock.at = START + timedelta(days=10)
    response = await client.get(link.page)
    assert response.status == 403
    assert "no longer available" in await response.text()


async def test_a_blocked_recipients_share_answers_403(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    assert document.id is not None
    shared = await sharing.share_with_recipient(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        document_id=document.id,
        recipient_id=tenant.recipient_id,
    )
    assert shared.token is not None
    assert (await client.get(f"/d/{shared.token}")).status == 200

    await recipients.set_recipient_blocked(
        env, org_id=tenant.org_id, actor=STAFF, recipient_id=tenant.recipient_id, blocked=True
    )

    response = await client.get(f"/d/{shared.token}")
    assert response.status == 403
    assert "access to this organisation" in await response.text()
    assert (await client.get(f"/d/{shared.token}/file")).status == 403


async def test_unknown_paths_and_methods_get_friendly_pages(client: TestClient) -> None:
    missing = await client.get("/no/such/page")
    assert missing.status == 404
    assert "Page not found" in await missing.text()
    assert missing.content_type == "text/html"

    wrong = await client.post("/healthz")
    assert wrong.status == 405
    assert "Method not allowed" in await wrong.text()
    assert "GET" in wrong.headers["Allow"]
    assert_security_headers(wrong.headers)


async def test_an_unexpected_failure_answers_500_without_a_traceback(
    client: TestClient, link: Link, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError(f"internal detail about {link.token}")

    monkeypatch.setattr(access, "open_shared", broken)

    response = await client.get(link.page)

    assert response.status == 500
    html = await response.text()
    assert "Something went wrong" in html
    assert "Traceback" not in html and "internal detail" not in html and link.token not in html


async def test_a_workflow_that_cannot_reach_its_store_answers_503(
    client: TestClient, link: Link, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def down(*args: object, **kwargs: object) -> None:
        raise Unavailable("database host db-7.internal refused the connection")

    monkeypatch.setattr(access, "open_shared", down)

    response = await client.get(link.page)

    assert response.status == 503
    html = await response.text()
    assert "Temporarily unavailable" in html
    assert "db-7.internal" not in html
