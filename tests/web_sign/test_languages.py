"""Every page in its reader's language: chosen on the page, else the reader's own, else the
browser's wish, else English; with <html lang> and a switcher that never prints a token."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from aiohttp.test_utils import TestClient

from storage.models import Organization
from storage.rows import id_of
from tests.conftest import STAFF, Tenant
from tests.helpers import upload
from tests.web_sign.conftest import make_link
from web_sign.pages import LANGUAGE_COOKIE
from workflows.context import Env, FixedClock
from workflows.people.recipients import edit_recipient
from workflows.sharing import sharing
from workflows.sharing.sharing import ShareTerms


async def _personal_page(env: Env, tenant: Tenant) -> str:
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    made = await sharing.share_with_recipient(
        env, org_id=tenant.org_id, actor=STAFF, document_id=id_of(document),
        recipient_id=tenant.recipient_id,
    )  # fmt: skip
    return f"/d/{made.token}"


def _lang(html: str) -> str:
    found = re.search(r'<html lang="(\w+)">', html)
    assert found
    return found.group(1)


async def test_the_browsers_wish_then_english(client: TestClient) -> None:
    russian = await (await client.get("/me/sign-in", headers={"Accept-Language": "ru"})).text()
    german = await (await client.get("/me/sign-in", headers={"Accept-Language": "de"})).text()

    assert _lang(russian) == "ru" and "Ваши документы" in russian
    assert _lang(german) == "en" and "Your documents" in german


async def test_the_recipients_own_language_beats_the_browsers(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    await edit_recipient(
        env, org_id=tenant.org_id, actor=STAFF, recipient_id=tenant.recipient_id, language="sv"
    )
    page = await _personal_page(env, tenant)

    html = await (await client.get(page, headers={"Accept-Language": "pl"})).text()

    assert _lang(html) == "sv" and "Alla dina dokument" in html


async def test_a_language_chosen_on_the_page_is_kept_and_no_token_is_printed(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    page = await _personal_page(env, tenant)
    token = page.removeprefix("/d/")

    first = await client.get(page)
    html = await first.text()
    switch = re.findall(r'<a href="([^"]+)" lang="(\w+)" hreflang', html)
    chosen = await client.get(page + "?lang=pl")
    later = await (await client.get(page)).text()

    assert {lang for _, lang in switch} == {"pl", "ru", "sv"}
    assert all(href.startswith("?lang=") and token not in href for href, _ in switch)
    assert _lang(await chosen.text()) == "pl" and LANGUAGE_COOKIE in chosen.cookies
    assert chosen.cookies[LANGUAGE_COOKIE]["httponly"]
    assert _lang(later) == "pl" and "Dostarczone bezpiecznie przez Inkpost" in later


async def test_a_document_page_and_an_error_page_in_polish_and_russian(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    await edit_recipient(
        env, org_id=tenant.org_id, actor=STAFF, recipient_id=tenant.recipient_id, language="ru"
    )
    page = await _personal_page(env, tenant)

    russian = await (await client.get(page)).text()
    missing = await client.get("/d/" + "A" * 32, headers={"Accept-Language": "pl"})
    polish = await missing.text()

    assert "Скачать" in russian and "3 страницы" in russian
    assert "Размер" in russian and "Download" not in russian
    assert missing.status == 404 and _lang(polish) == "pl"
    assert "Ten link nie istnieje" in polish and "Sprawdź, czy otworzono cały link" in polish


async def test_times_are_written_on_the_organisations_clock(
    client: TestClient, env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    async with env.sessions() as session, session.begin():
        organization = await session.get(Organization, tenant.org_id)
        assert organization is not None
        organization.timezone = "Europe/Warsaw"
        session.add(organization)
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    until = datetime(2026, 12, 23, 12, tzinfo=UTC)
    assert until > clock.now()
    made = await sharing.share_with_recipient(
        env, org_id=tenant.org_id, actor=STAFF, document_id=id_of(document),
        recipient_id=tenant.recipient_id, terms=ShareTerms(expires_at=until),
    )  # fmt: skip

    html = await (await client.get(f"/d/{made.token}?lang=pl")).text()

    assert "23 grudnia 2026, 13:00 CET" in html and "12:00 UTC" not in html


async def test_a_public_link_speaks_the_organisations_language_unless_the_browser_asks(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    async with env.sessions() as session, session.begin():
        organization = await session.get(Organization, tenant.org_id)
        assert organization is not None
        organization.default_language = "sv"
        session.add(organization)
    link = await make_link(env, tenant)

    unasked = await (await client.get(link.page)).text()
    asked = await (await client.get(link.page, headers={"Accept-Language": "pl"})).text()

    assert _lang(unasked) == "sv" and _lang(asked) == "pl"


async def test_the_switcher_of_a_page_with_a_query_keeps_the_query(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    page = await _personal_page(env, tenant)

    html = await (await client.get(page + "?lang=sv&from=mail")).text()
    switch = dict(
        (lang, href) for href, lang in re.findall(r'<a href="([^"]+)" lang="(\w+)" hreflang', html)
    )

    assert _lang(html) == "sv"
    assert switch == {
        "en": "?lang=en&amp;from=mail",
        "pl": "?lang=pl&amp;from=mail",
        "ru": "?lang=ru&amp;from=mail",
    }
