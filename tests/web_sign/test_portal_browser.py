"""A phone-sized Chromium walks the portal: from a personal link to the list, a filter, a
document and signing out everywhere; axe-core finds no serious or critical problem on any
page it passes (nor on the signing, verify and error pages)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from storage.rows import id_of
from tests.conftest import STAFF, Tenant
from tests.helpers import upload
from tests.web_sign.browser import BROWSER_TESTS, CHROMIUM, CHROMIUM_ARGS, PHONE, serve
from tests.web_sign.signing_helpers import envelope
from workflows.context import Env
from workflows.outbox.kinds import Preference
from workflows.people import preferences
from workflows.sharing import access, sharing
from workflows.signing.creation import NewParty

SERIOUS = ("serious", "critical")

pytestmark = BROWSER_TESTS


@pytest.fixture
async def base_url(app: web.Application) -> AsyncIterator[str]:
    async for url in serve(app):
        yield url


async def _shared(env: Env, tenant: Tenant, title: str) -> str:
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id, title=title)
    made = await sharing.share_with_recipient(
        env, org_id=tenant.org_id, actor=STAFF, document_id=id_of(document),
        recipient_id=tenant.recipient_id,
    )  # fmt: skip
    assert made.token is not None
    return made.token


async def _accessible(axe: Any, page: Any, where: str) -> None:
    results = await axe.run(page)
    serious = [
        f"{v['id']}: {v['help']}"
        for v in results.response["violations"]
        if v.get("impact") in SERIOUS
    ]
    assert serious == [], f"{where}: {serious}"


async def test_a_phone_walks_the_portal_and_every_page_passes_axe(
    base_url: str, env: Env, tenant: Tenant, tmp_path: Path
) -> None:
    from axe_playwright_python.async_playwright import Axe
    from playwright.async_api import async_playwright, expect

    await _shared(env, tenant, "Engagement letter")
    opened = await _shared(env, tenant, "Fee table 2027")
    await access.open_shared(env, opened, access.Visitor(ip=None, user_agent=None))
    request = await envelope(
        env, tenant, [NewParty(role="signer", recipient_id=tenant.recipient_id)]
    )
    axe = Axe()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            context = await browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
            page = await context.new_page()
            await page.goto(f"{base_url}/d/{opened}")
            await _accessible(axe, page, "document page")

            await page.get_by_role("button", name="All your documents").click()
            await expect(
                page.get_by_role("heading", name="Documents for Rita Recipient")
            ).to_be_visible()
            await expect(page.get_by_role("link", name="Engagement letter")).to_be_visible()
            await _accessible(axe, page, "portal")
            width, inner = await page.evaluate(
                "[document.documentElement.scrollWidth, window.innerWidth]"
            )
            assert width <= inner, "the portal scrolls sideways on a phone"
            await page.screenshot(path=str(tmp_path / "portal.png"), full_page=True)

            await page.get_by_label("Not opened yet").check()
            await page.get_by_role("button", name="Show").click()
            await expect(page.get_by_role("link", name="Engagement letter")).to_be_visible()
            assert await page.get_by_role("link", name="Fee table 2027").count() == 0

            await page.get_by_role("link", name="Engagement letter").click()
            await expect(page.get_by_role("heading", name="Engagement letter")).to_be_visible()

            await page.goto(f"{base_url}/me")
            await page.get_by_label("New documents by email").uncheck()
            await page.get_by_role("button", name="Save notifications").click()
            await expect(page.get_by_text("Saved.")).to_be_visible()
            assert not await page.get_by_label("New documents by email").is_checked()
            unsubscribe = await preferences.mint_unsubscribe(
                env, recipient_id=tenant.recipient_id, kind=Preference.REMINDER
            )
            await page.goto(f"{base_url}/me/unsubscribe/{unsubscribe}")
            await _accessible(axe, page, "unsubscribe page")
            await page.get_by_role("button", name="Turn off these emails").click()
            await expect(
                page.get_by_role("heading", name="You will get no more emails about this")
            ).to_be_visible()
            await _accessible(axe, page, "unsubscribed page")

            await page.goto(f"{base_url}/s/{request.tokens['Rita Recipient']}")
            await _accessible(axe, page, "signing page")
            await page.goto(f"{base_url}/verify")
            await _accessible(axe, page, "verify page")
            await page.goto(f"{base_url}/d/{'A' * 32}")
            await _accessible(axe, page, "error page")

            await page.goto(f"{base_url}/me")
            await page.get_by_role("button", name="Sign out everywhere").click()
            await expect(page.get_by_text("You are signed out, in every browser.")).to_be_visible()
            await _accessible(axe, page, "sign-in page")
            await page.get_by_label("Email address").fill("rita@acme-client.test")
            await page.get_by_role("button", name="Mail me a sign-in link").click()
            await expect(page.get_by_role("heading", name="Check your mail")).to_be_visible()
            await _accessible(axe, page, "mail sent page")
            await page.goto(f"{base_url}/me/sign-in/{'B' * 32}")
            await _accessible(axe, page, "sign-in confirmation")
            await context.close()
        finally:
            await browser.close()
