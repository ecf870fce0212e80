"""The portal at /me in a browser: signing in from a personal link's page or a mailed link,
the list, opening a document, signing out everywhere, and forms that only this page in this
browser may send."""

from __future__ import annotations

import dataclasses
import re
from http.cookies import SimpleCookie
from typing import Any

from aiohttp import FormData
from aiohttp.test_utils import TestClient
from sqlmodel import select

from inkpost.sample_pdf import make_pdf
from storage.models import Document, Notification, PortalSession, Recipient
from storage.rows import id_of
from tests.conftest import STAFF, Tenant, make_tenant
from tests.helpers import add_person, count_rows, stored_notifications, upload
from tests.web_sign.conftest import assert_security_headers, make_link
from tests.web_sign.signing_helpers import envelope, link_only
from web_sign import create_app
from web_sign.portal_session import SESSION_COOKIE
from workflows.context import Env
from workflows.outbox.kinds import Kind, Preference, Via
from workflows.people import preferences
from workflows.portal import sessions
from workflows.sharing import access, sharing
from workflows.signing.creation import NewParty

RITA = "rita@acme-client.test"


async def _personal_link(
    env: Env, tenant: Tenant, *, title: str = "Fee table 2027", **kw: Any
) -> str:
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id, title=title)
    made = await sharing.share_with_recipient(
        env, org_id=tenant.org_id, actor=STAFF, document_id=id_of(document),
        recipient_id=kw.get("recipient_id", tenant.recipient_id),
    )  # fmt: skip
    assert made.token is not None
    return made.token


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert found, html
    return found.group(1)


def _cookie(response: Any, name: str = SESSION_COOKIE) -> Any:
    jar = SimpleCookie()
    for header in response.headers.getall("Set-Cookie", []):
        jar.load(header)
    return jar[name]


async def _enter(client: TestClient, env: Env, tenant: Tenant) -> Any:
    """Open a personal link's page and press "All your documents"; the answer."""
    token = await _personal_link(env, tenant)
    page = await (await client.get(f"/d/{token}")).text()
    return await client.post(f"/d/{token}/me", data={"csrf": _csrf(page)}, allow_redirects=False)


async def test_without_a_session_the_portal_asks_to_sign_in(client: TestClient) -> None:
    response = await client.get("/me", allow_redirects=False)

    assert response.status == 303 and response.headers["Location"] == "/me/sign-in"


async def test_a_personal_links_page_signs_its_recipient_in(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    entered = await _enter(client, env, tenant)

    assert entered.status == 303 and entered.headers["Location"] == "/me"
    cookie = _cookie(entered)
    assert cookie["path"] == "/me" and cookie["httponly"] and cookie["samesite"] == "Lax"
    assert not cookie["secure"]
    assert int(cookie["max-age"]) == int(sessions.LONGEST.total_seconds())
    home = await client.get("/me")
    html = await home.text()
    assert home.status == 200
    assert_security_headers(home.headers)
    assert "Documents for Rita Recipient" in html and "Fee table 2027" in html
    assert "Acme Law · Nordic Timber" in html


async def test_a_public_links_page_offers_no_portal(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    link = await make_link(env, tenant)

    html = await (await client.get(link.page)).text()

    assert "All your documents" not in html and "/me" not in html


async def test_the_portal_form_without_its_token_signs_nobody_in(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    token = await _personal_link(env, tenant)

    refused = await client.post(f"/d/{token}/me", data={"csrf": "0" * 64})

    assert refused.status == 403
    assert "This form cannot be accepted" in await refused.text()
    assert await count_rows(env, PortalSession) == 0


async def test_a_document_opens_on_its_page_and_anothers_is_not_found(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    await _enter(client, env, tenant)
    html = await (await client.get("/me")).text()
    [path] = re.findall(r'href="(/me/documents/\d+)"', html)
    olga = await add_person(env, tenant, name="Olga Other")
    elsewhere = await make_tenant(env, slug="globex")
    theirs = [
        await _personal_link(env, tenant, title="Olga's letter", recipient_id=olga),
        await _personal_link(env, elsewhere, title="Globex letter"),
    ]
    share_ids = [id_of((await access.resolve(env, token)).share) for token in theirs]

    opened = await client.get(path, allow_redirects=False)
    page = await client.get(opened.headers["Location"])
    others = [await client.get(f"/me/documents/{share_id}") for share_id in share_ids]

    assert opened.status == 303 and opened.headers["Location"].startswith("/d/")
    assert "Fee table 2027" in await page.text()
    assert {r.status for r in others} == {404}
    assert "Olga" not in html and "Globex" not in html


async def test_signing_out_everywhere_makes_the_cookie_worthless(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    held = _cookie(await _enter(client, env, tenant)).value
    html = await (await client.get("/me")).text()

    refused = await client.post("/me/sign-out", data={"csrf": "0" * 64})
    out = await client.post("/me/sign-out", data={"csrf": _csrf(html)}, allow_redirects=False)

    assert refused.status == 403
    assert out.status == 303 and out.headers["Location"] == "/me/sign-in?out=1"
    client.session.cookie_jar.update_cookies({SESSION_COOKIE: held}, client.make_url("/me"))
    again = await client.get("/me", allow_redirects=False)
    assert again.status == 303
    signed_out = await (await client.get("/me/sign-in?out=1")).text()
    assert "You are signed out, in every browser." in signed_out


async def test_a_mailed_link_signs_in_once_by_a_button(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    form = await (await client.get("/me/sign-in")).text()

    asked = await client.post("/me/sign-in", data={"csrf": _csrf(form), "email": RITA})

    assert asked.status == 200
    assert f"If {RITA} is an address documents are sent to" in await asked.text()
    async with env.reads() as session:
        [row] = (
            await session.exec(select(Notification).where(Notification.kind == Kind.PORTAL_SIGN_IN))
        ).all()
    link = await sessions.mint_sign_in(env, request_id=row.payload["request_id"])
    assert link is not None
    confirm = await client.get(f"/me/sign-in/{link.token}")
    confirm_html = await confirm.text()
    assert "Continue to your documents" in confirm_html
    assert await count_rows(env, PortalSession) == 0  # opening the mail's link is not enough

    entered = await client.post(
        f"/me/sign-in/{link.token}", data={"csrf": _csrf(confirm_html)}, allow_redirects=False
    )
    again = await client.post(f"/me/sign-in/{link.token}", data={"csrf": _csrf(confirm_html)})

    assert entered.status == 303 and entered.headers["Location"] == "/me"
    assert again.status == 410
    assert "Documents for Rita Recipient" in await (await client.get("/me")).text()


async def test_the_answer_does_not_tell_whether_an_address_is_known(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    form = await (await client.get("/me/sign-in")).text()

    known = await client.post("/me/sign-in", data={"csrf": _csrf(form), "email": RITA})
    unknown = await client.post(
        "/me/sign-in", data={"csrf": _csrf(form), "email": "nobody@else.test"}
    )

    assert known.status == unknown.status == 200
    assert (await known.text()).replace(RITA, "X") == (await unknown.text()).replace(
        "nobody@else.test", "X"
    )


async def test_the_sign_in_form_needs_its_token_a_real_address_and_patience(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    form = await (await client.get("/me/sign-in")).text()
    csrf = _csrf(form)

    forged = await client.post("/me/sign-in", data={"csrf": "0" * 64, "email": RITA})
    bad = await client.post("/me/sign-in", data={"csrf": csrf, "email": "not an address"})
    for _ in range(sessions.PER_ADDRESS):
        await client.post("/me/sign-in", data={"csrf": csrf, "email": RITA})
    limited = await client.post("/me/sign-in", data={"csrf": csrf, "email": RITA})

    assert forged.status == 403
    assert bad.status == 400 and "is not an email address" in await bad.text()
    assert limited.status == 429 and "try again in an hour" in await limited.text()


async def test_without_a_mail_server_the_page_promises_no_mail(
    aiohttp_client: Any, env: Env, tmp_path: Any
) -> None:
    app = create_app(
        env=dataclasses.replace(env, reach=frozenset({"telegram"})),
        cache_dir=tmp_path / "cache",
        public_url="http://127.0.0.1:8080",
    )
    client = await aiohttp_client(app)
    form = await (await client.get("/me/sign-in")).text()
    other_form = await (await client.get("/me/sign-in/" + "A" * 32)).text()

    asked = await client.post("/me/sign-in", data={"csrf": _csrf(other_form), "email": RITA})

    assert "Signing in by email is not available here" in form and 'name="email"' not in form
    assert asked.status == 503


async def test_a_signing_link_of_a_recipient_leads_to_their_portal_and_an_outsiders_not(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    request = await envelope(
        env, tenant, [NewParty(role="signer", recipient_id=tenant.recipient_id), link_only("Ola")]
    )
    theirs = request.tokens["Rita Recipient"]
    outsider = await (await client.get(f"/s/{request.tokens['Ola']}")).text()
    page = await (await client.get(f"/s/{theirs}")).text()
    csrf = re.search(
        r'action="/s/[^"]+/me"[^>]*>\s*<input type="hidden" name="csrf" value="([0-9a-f]+)"', page
    )
    assert csrf is not None

    entered = await client.post(
        f"/s/{theirs}/me", data={"csrf": csrf.group(1)}, allow_redirects=False
    )

    assert "All your documents" not in outsider
    assert entered.status == 303 and entered.headers["Location"] == "/me"
    assert "Documents for Rita Recipient" in await (await client.get("/me")).text()


async def test_a_request_waiting_for_the_recipient_opens_its_signing_page(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    await envelope(env, tenant, [NewParty(role="signer", recipient_id=tenant.recipient_id)])
    await _enter(client, env, tenant)
    html = await (await client.get("/me")).text()
    [path] = re.findall(r'href="(/me/requests/\d+)"', html)

    opened = await client.get(path, allow_redirects=False)

    assert "Waiting for your decision" in html and "Loan agreement" in html
    assert opened.status == 303 and opened.headers["Location"].startswith("/s/")
    assert (await client.get("/me/requests/999999")).status == 404


def _return_form(csrf: str, data: bytes, *, filename: str = "signed.pdf") -> FormData:
    form = FormData()
    form.add_field("csrf", csrf)
    form.add_field("title", "Signed contract")
    form.add_field("file", data, filename=filename, content_type="application/pdf")
    return form


async def test_a_document_sent_back_from_the_browser_is_filed_and_staff_told(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    await _enter(client, env, tenant)
    csrf = _csrf(await (await client.get("/me")).text())

    sent = await client.post(
        "/me/return", data=_return_form(csrf, make_pdf("Signed")), allow_redirects=False
    )

    assert sent.status == 303 and sent.headers["Location"] == "/me?sent=1"
    assert "Your document was sent." in await (await client.get("/me?sent=1")).text()
    [notice] = await stored_notifications(env, kind=Kind.DOCUMENT_RETURNED)
    async with env.reads() as session:
        returned = await session.get(Document, notice.payload["document_id"])
    assert returned is not None and returned.title == "Signed contract"
    assert returned.direction == "inbound"


async def test_a_bad_file_or_a_forged_form_stores_nothing(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    await _enter(client, env, tenant)
    csrf = _csrf(await (await client.get("/me")).text())
    before = await count_rows(env, Document)

    forged = await client.post("/me/return", data=_return_form("0" * 64, make_pdf("Signed")))
    damaged = await client.post("/me/return", data=_return_form(csrf, b"%PDF-1.7\nbroken"))
    empty = await client.post("/me/return", data=_return_form(csrf, b""))

    assert forged.status == 403
    assert damaged.status == 400 and "The PDF is truncated" in await damaged.text()
    assert empty.status == 400
    assert await count_rows(env, Document) == before
    assert await stored_notifications(env, kind=Kind.DOCUMENT_RETURNED) == []


async def test_one_click_unsubscribe_works_without_cookies_and_opening_changes_nothing(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    token = await preferences.mint_unsubscribe(
        env, recipient_id=tenant.recipient_id, kind=Preference.SHARED
    )

    page = await client.get(f"/me/unsubscribe/{token}")
    still = await _recipient(env, tenant)
    clicked = await client.post(
        f"/me/unsubscribe/{token}", data="List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )  # fmt: skip

    assert page.status == 200 and "Turn off these emails" in await page.text()
    assert preferences.wants(still, Preference.SHARED, Via.EMAIL)
    assert clicked.status == 200
    assert "You will get no more emails about this" in await clicked.text()
    assert not preferences.wants(await _recipient(env, tenant), Preference.SHARED, Via.EMAIL)
    assert (await client.post(f"/me/unsubscribe/{'A' * 32}")).status == 410


async def test_notifications_and_language_are_chosen_in_the_portal(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    await _enter(client, env, tenant)
    html = await (await client.get("/me")).text()
    csrf = _csrf(html)
    boxes = re.findall(r'name="on" value="([a-z:._]+)"', html)
    keep = [b for b in boxes if b != "email:document.shared"]

    forged = await client.post("/me/notifications", data={"csrf": "0" * 64, "on": keep})
    saved = await client.post(
        "/me/notifications", data=[("csrf", csrf), *(("on", b) for b in keep)],
        allow_redirects=False,
    )  # fmt: skip
    language = await client.post(
        "/me/language", data={"csrf": csrf, "language": "ru"}, allow_redirects=False
    )
    bad = await client.post("/me/language", data={"csrf": csrf, "language": "xx"})

    assert boxes == [
        "email:document.shared", "email:reminder", "email:signature",
    ]  # fmt: skip
    assert forged.status == 403
    assert saved.status == language.status == 303
    rita = await _recipient(env, tenant)
    assert not preferences.wants(rita, Preference.SHARED, Via.EMAIL)
    assert preferences.wants(rita, Preference.REMINDER, Via.EMAIL)
    assert preferences.wants(rita, Preference.CABINET, Via.EMAIL)  # not offered: no cabinet
    assert rita.language == "ru"
    assert bad.status == 400 and "Выберите один из этих языков: English," in await bad.text()
    russian = await (await client.get("/me?saved=1")).text()
    assert '<html lang="ru">' in russian and "Сохранено." in russian
    assert "Документы для: Rita Recipient" in russian


async def _recipient(env: Env, tenant: Tenant) -> Recipient:
    async with env.reads() as session:
        found = await session.get(Recipient, tenant.recipient_id)
    assert found is not None
    return found
