"""Links that do not work answer with the right status and a friendly page, never a trace,
in the reader's language and naming whom to ask when the link belongs to an organisation."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from aiohttp.test_utils import TestClient

from storage.models import PartyDecision
from storage.rows import id_of
from tests.conftest import STAFF, START, Tenant, make_tenant
from tests.helpers import count_rows, upload
from tests.web_sign.conftest import Link, assert_security_headers, make_link
from tests.web_sign.signing_helpers import envelope
from web_sign import errors
from workflows.context import Env, FixedClock
from workflows.errors import Unavailable
from workflows.people import organizations, recipients
from workflows.sharing import access, sharing
from workflows.signing.creation import NewParty


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
    assert "expired on 24 November 2026, 12:00 UTC" in await response.text()
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
    assert response.headers["Retry-After"] == "30"
    html = await response.text()
    assert "Temporarily unavailable" in html
    assert "db-7.internal" not in html


# -- whom to ask -----------------------------------------------------------------------------

OFFICE = "office@acme.test"
PHONE = "+46 (8) 123-456 78"


async def _with_contacts(
    env: Env, tenant: Tenant, *, email: str = OFFICE, phone: str = PHONE
) -> None:
    await organizations.set_contacts(
        env, org_id=tenant.org_id, actor=STAFF, email=email, phone=phone
    )


async def _expired_link(env: Env, tenant: Tenant, clock: FixedClock) -> Link:
    link = await make_link(env, tenant, expires_at=START + timedelta(days=1))
    clock.at = START + timedelta(days=2)
    return link


async def test_an_expired_link_names_the_organisation_and_how_to_reach_it(
    client: TestClient, env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    await _with_contacts(env, tenant)
    link = await _expired_link(env, tenant, clock)

    response = await client.get(link.page)

    html = await response.text()
    assert response.status == 410
    assert "<title>This link no longer works · Acme Law</title>" in html
    assert "expired on 24 November 2026, 12:00 UTC" in html
    assert "Questions? Contact Acme Law:" in html
    assert f'<a href="mailto:{OFFICE}">{OFFICE}</a>' in html
    assert f'<a href="tel:+46812345678">{PHONE}</a>' in html
    assert "whoever sent you the link" not in html


async def test_a_revoked_link_in_polish_names_the_organisation_in_polish(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    await _with_contacts(env, tenant, phone="")
    link = await make_link(env, tenant)
    await sharing.revoke_share(env, org_id=tenant.org_id, actor=STAFF, share_id=id_of(link.share))

    response = await client.get(link.page, headers={"Accept-Language": "pl"})

    html = await response.text()
    assert response.status == 410 and '<html lang="pl">' in html
    assert "Ten link już nie działa" in html and "Nadawca wycofał ten link." in html
    assert "revoked" not in html  # the English reason is not shown to a Polish reader
    assert "Masz pytania? Skontaktuj się z nadawcą, Acme Law:" in html
    assert f"mailto:{OFFICE}" in html and "tel:" not in html


async def test_without_contacts_the_page_still_names_the_organisation(
    client: TestClient, env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    link = await _expired_link(env, tenant, clock)

    html = await (await client.get(link.file)).text()

    assert "Questions? Contact Acme Law." in html
    assert "mailto:" not in html and "tel:" not in html


async def test_an_unknown_link_names_no_organisation(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    await _with_contacts(env, tenant)
    await make_link(env, tenant)

    for path in ("/d/" + "A" * 32, "/s/" + "A" * 32, "/s/" + "A" * 32 + "/doc/1", "/d/short"):
        response = await client.get(path)
        html = await response.text()
        assert response.status == 404, path
        assert "Acme" not in html and OFFICE not in html and "Questions?" not in html, path
        assert "contact whoever sent you the link" in html


async def test_a_refused_form_is_translated_and_names_the_organisation(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    await _with_contacts(env, tenant)
    request = await envelope(
        env, tenant, [NewParty(role="signer", name="Sam Signer", phone="+46 70 111 22 33")]
    )
    token = request.tokens["Sam Signer"]

    english = await client.post(f"/s/{token}/decide", data={"action": "sign"})
    russian = await client.post(
        f"/s/{token}/decide", data={"action": "sign"}, headers={"Accept-Language": "ru"}
    )

    assert english.status == russian.status == 403
    html = await english.text()
    assert "This form cannot be accepted" in html and "Reload the page and try again" in html
    assert f'Questions? Contact Acme Law: <a href="mailto:{OFFICE}">' in " ".join(html.split())
    text = await russian.text()
    assert '<html lang="ru">' in text and "Эту форму нельзя принять" in text
    assert "Есть вопросы? Свяжитесь с отправителем — Acme Law:" in text
    assert await count_rows(env, PartyDecision) == 0


async def test_a_portal_page_names_the_visitors_own_organisation_not_anothers(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    await _with_contacts(env, tenant)
    elsewhere = await make_tenant(env, slug="globex")
    await organizations.set_contacts(
        env, org_id=elsewhere.org_id, actor=STAFF, email="desk@globex.test"
    )
    theirs = await make_link(env, elsewhere)
    mine = await sharing.share_with_recipient(
        env, org_id=tenant.org_id, actor=STAFF,
        document_id=id_of((await make_link(env, tenant)).document),
        recipient_id=tenant.recipient_id,
    )  # fmt: skip
    page = await (await client.get(f"/d/{mine.token}")).text()
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert csrf is not None
    await client.post(f"/d/{mine.token}/me", data={"csrf": csrf.group(1)})

    response = await client.get(f"/me/documents/{id_of(theirs.share)}")

    html = await response.text()
    assert response.status == 404
    assert "Questions? Contact Acme Law:" in html and OFFICE in html
    assert "Globex" not in html and "desk@globex.test" not in html


async def test_a_contact_that_cannot_be_looked_up_is_left_out(
    client: TestClient, env: Env, tenant: Tenant, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    link = await _expired_link(env, tenant, clock)

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the store went away")

    monkeypatch.setattr(errors, "contact_behind", broken)

    response = await client.get(link.page)

    assert response.status == 410
    html = await response.text()
    assert "This link no longer works" in html and "Acme" not in html
