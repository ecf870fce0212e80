"""A phone-sized Chromium, in English and in Russian, checks a sealed PDF at /verify and
meets the pages of a link that does not exist, a link that expired and a refused form;
axe-core finds no serious or critical problem on any of them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from storage.rows import id_of
from tests.conftest import STAFF, START, Tenant
from tests.helpers import upload
from tests.web_sign.browser import BROWSER_TESTS, CHROMIUM, CHROMIUM_ARGS, PHONE, serve
from tests.web_sign.conftest import PUBLIC_URL, make_link
from tests.workflows.test_verification import completed_request
from web_sign import create_app
from workflows.context import Env, FixedClock
from workflows.people import organizations
from workflows.sharing import sharing
from workflows.signing.seal_keys import SealKey, create_self_signed_seal, load_seal_key

SERIOUS = ("serious", "critical")
WORDS = {
    "en-GB": {
        "lang": "en",
        "verify": "Check a sealed PDF",
        "file": "PDF file (up to 2 MB)",
        "check": "Check the seal",
        "sealed": "The seal is intact and matches a completed request",
        "missing": "This link does not exist",
        "expired": "This link no longer works",
        "refused": "This form cannot be accepted",
        "ask": "Questions? Contact Acme Law:",
        "portal": "All your documents",
    },
    "ru-RU": {
        "lang": "ru",
        "verify": "Проверка запечатанного PDF",
        "file": "Файл PDF (до 2 МБ)",
        "check": "Проверить печать",
        "sealed": "Печать цела и соответствует завершённому запросу",
        "missing": "Такой ссылки нет",
        "expired": "Эта ссылка больше не работает",
        "refused": "Эту форму нельзя принять",
        "ask": "Есть вопросы? Свяжитесь с отправителем — Acme Law:",
        "portal": "Все ваши документы",
    },
}

pytestmark = BROWSER_TESTS


@pytest.fixture(scope="module")
def seal(tmp_path_factory: pytest.TempPathFactory) -> SealKey:
    directory = tmp_path_factory.mktemp("seal") / "seal"
    return load_seal_key(*create_self_signed_seal(directory, common_name="Acme Law seal"))


@pytest.fixture
def app(env: Env, cache_dir: Path, seal: SealKey) -> web.Application:
    return create_app(
        env=env, cache_dir=cache_dir, public_url=PUBLIC_URL, seal_trust=seal.trust_anchors
    )


@pytest.fixture
async def base_url(app: web.Application) -> AsyncIterator[str]:
    async for url in serve(app):
        yield url


async def _accessible(axe: Any, page: Any, where: str) -> None:
    results = await axe.run(page)
    serious = [
        f"{v['id']}: {v['help']}"
        for v in results.response["violations"]
        if v.get("impact") in SERIOUS
    ]
    assert serious == [], f"{where}: {serious}"


@pytest.mark.parametrize("locale", list(WORDS))
async def test_verify_and_error_pages_pass_axe_in_the_readers_language(
    base_url: str,
    env: Env,
    tenant: Tenant,
    seal: SealKey,
    clock: FixedClock,
    tmp_path: Path,
    locale: str,
) -> None:
    from axe_playwright_python.async_playwright import Axe
    from playwright.async_api import async_playwright, expect

    words = WORDS[locale]
    await organizations.set_contacts(
        env, org_id=tenant.org_id, actor=STAFF, email="office@acme.test", phone="+46 8 123 456 78"
    )
    done = await completed_request(env, tenant, seal)
    sealed = tmp_path / "contract-signed.pdf"
    sealed.write_bytes(done.sealed)
    expiring = await make_link(env, tenant, expires_at=clock.at + timedelta(days=1))
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    personal = await sharing.share_with_recipient(
        env, org_id=tenant.org_id, actor=STAFF, document_id=id_of(document),
        recipient_id=tenant.recipient_id,
    )  # fmt: skip
    axe = Axe()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            context = await browser.new_context(
                viewport=PHONE, is_mobile=True, has_touch=True, locale=locale
            )
            page = await context.new_page()

            await page.goto(f"{base_url}/verify")
            assert await page.get_attribute("html", "lang") == words["lang"]
            await expect(page.get_by_role("heading", level=1)).to_have_text(words["verify"])
            await _accessible(axe, page, f"{locale} verify form")
            await page.get_by_label(words["file"]).set_input_files(str(sealed))
            await page.get_by_role("button", name=words["check"]).click()
            await expect(page.get_by_role("heading", level=1)).to_have_text(words["sealed"])
            await _accessible(axe, page, f"{locale} verify result")
            await page.screenshot(path=str(tmp_path / f"verdict-{locale}.png"), full_page=True)

            missing = await page.goto(f"{base_url}/d/{'A' * 32}")
            assert missing is not None and missing.status == 404
            await expect(page.get_by_role("heading", level=1)).to_have_text(words["missing"])
            assert await page.get_by_text("Acme Law").count() == 0
            await _accessible(axe, page, f"{locale} unknown link")

            clock.at = START + timedelta(days=2)
            expired = await page.goto(f"{base_url}{expiring.page}")
            assert expired is not None and expired.status == 410
            await expect(page.get_by_role("heading", level=1)).to_have_text(words["expired"])
            await expect(page.get_by_text(words["ask"])).to_be_visible()
            await expect(page.get_by_role("link", name="office@acme.test")).to_be_visible()
            await _accessible(axe, page, f"{locale} expired link")
            clock.at = START

            # A personal link's page speaks its recipient's language unless one is chosen.
            await page.goto(f"{base_url}/d/{personal.token}?lang={words['lang']}")
            await page.locator("input[name=csrf]").evaluate("input => { input.value = 'forged' }")
            await page.get_by_role("button", name=words["portal"]).click()
            await expect(page.get_by_role("heading", level=1)).to_have_text(words["refused"])
            await expect(page.get_by_role("link", name="+46 8 123 456 78")).to_be_visible()
            await _accessible(axe, page, f"{locale} refused form")
            await page.screenshot(path=str(tmp_path / f"refused-{locale}.png"), full_page=True)
            await context.close()
        finally:
            await browser.close()
