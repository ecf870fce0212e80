"""A phone-sized Chromium signs: opens the document, ticks, types, draws, signs; and the
Telegram Mini App hands Telegram's launch data over so the signer needs no code."""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import pytest
from aiohttp import web

from storage.models import Recipient
from tests.conftest import Tenant
from tests.web_sign.browser import BROWSER_TESTS, CHROMIUM, CHROMIUM_ARGS, PHONE, serve
from tests.web_sign.signing_helpers import (
    decisions,
    envelope,
    init_data,
    link_only,
    party_named,
    signing_app,
)
from workflows.context import Env, FixedClock
from workflows.signing.creation import NewParty

if TYPE_CHECKING:
    from playwright.async_api import Page

pytestmark = BROWSER_TESTS


@pytest.fixture
def app(env: Env, cache_dir: Path) -> web.Application:
    return signing_app(env, cache_dir, secret_key="browser-test-secret")


@pytest.fixture
async def base_url(app: web.Application) -> AsyncIterator[str]:
    async for url in serve(app):
        yield url


async def _draw(page: Page, selector: str) -> None:
    """A signature-like squiggle with the mouse across the canvas."""
    canvas = page.locator(selector)
    await canvas.scroll_into_view_if_needed()
    box = await canvas.bounding_box()
    assert box is not None
    mouse = page.mouse
    x, y, w, h = box["x"], box["y"], box["width"], box["height"]
    await mouse.move(x + w * 0.1, y + h * 0.6)
    await mouse.down()
    for step in range(1, 21):
        await mouse.move(x + w * (0.1 + 0.04 * step), y + h * (0.6 - 0.3 * (step % 2)), steps=3)
    await mouse.up()


async def test_a_phone_opens_the_document_draws_and_signs(
    base_url: str, env: Env, tenant: Tenant, tmp_path: Path
) -> None:
    from playwright.async_api import async_playwright, expect

    request = await envelope(env, tenant, [link_only("Sam Signer")], title="Loan 2027")
    token = request.tokens["Sam Signer"]
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            context = await browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
            page = await context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            await page.goto(f"{base_url}/s/{token}")
            await expect(page.get_by_role("heading", name="Loan 2027")).to_be_visible()
            await expect(page.get_by_text("Not opened yet")).to_be_visible()

            await page.get_by_role("link", name="Loan agreement").click()
            await expect(page.get_by_role("heading", name="Loan agreement")).to_be_visible()
            assert await page.locator("figure.page img").count() == 3
            await page.get_by_role("link", name="Back to the request").first.click()
            await expect(page.locator(".doc-state.opened")).to_have_text("Opened")

            await page.get_by_label("I have read the documents above").check()
            await page.get_by_label("Your full name").fill("Samuel Signer")
            await expect(page.locator("[data-signature-pad] canvas")).to_be_visible()
            await _draw(page, "[data-signature-pad] canvas")
            drawn = await page.locator("[data-signature-field]").input_value()
            assert drawn.startswith("data:image/png;base64,")
            width, client_width = await page.evaluate(
                "[document.documentElement.scrollWidth, window.innerWidth]"
            )
            assert width <= client_width, "the page scrolls sideways on a phone"
            await page.screenshot(path=str(tmp_path / "before-signing.png"), full_page=True)

            await page.get_by_role("button", name="Sign", exact=True).click()
            await expect(page.get_by_role("heading", name="Signed")).to_be_visible()
            await expect(page.get_by_text("Samuel Signer signed this request on")).to_be_visible()
            assert await page.locator("form[action$='/decide']").count() == 0
            assert errors == []
            await context.close()
        finally:
            await browser.close()

    [decision] = await decisions(env)
    assert decision.decision == "signed" and decision.typed_name == "Samuel Signer"
    assert decision.user_agent and "Chrome" in decision.user_agent
    assert decision.signature_blob_key is not None
    stored = env.blobs.local_path(decision.signature_blob_key)
    assert stored is not None
    png = stored.read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and png[12:16] == b"IHDR"
    assert struct.unpack(">II", png[16:24]) == (600, 200)
    assert len(png) > 500, "the drawing left no strokes"


async def test_the_mini_app_passes_telegrams_data_and_the_signer_needs_no_code(
    base_url: str, env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    from playwright.async_api import async_playwright, expect

    async with env.sessions() as session, session.begin():
        rita = await session.get(Recipient, tenant.recipient_id)
        assert rita is not None
        rita.telegram_chat_id = rita.telegram_user_id = 5550001
        rita.telegram_active = True
        session.add(rita)
    request = await envelope(
        env, tenant, [NewParty(role="signer", recipient_id=tenant.recipient_id)]
    )
    token = request.tokens["Rita Recipient"]
    launch = init_data(at=clock.now(), user_id=5550001)
    fragment = f"tgWebAppData={quote(launch, safe='')}&tgWebAppVersion=7.10&tgWebAppPlatform=ios"
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            context = await browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
            page = await context.new_page()
            await page.goto(f"{base_url}/tg/app?s={token}#{fragment}")
            await page.wait_for_url(f"{base_url}/s/{token}")
            assert await page.get_by_text("Send me a code").count() == 0

            await page.get_by_role("link", name="Loan agreement").click()
            await page.get_by_role("link", name="Back to the request").first.click()
            carried = page.locator("form[action$='/decide'] [data-tg-init-data]").first
            assert await carried.input_value() == launch
            await page.get_by_label("I have read the documents above").check()
            await page.get_by_label("Your full name").fill("Rita Recipient")
            await page.get_by_role("button", name="Sign", exact=True).click()
            await expect(page.get_by_role("heading", name="Signed")).to_be_visible()
            await context.close()
        finally:
            await browser.close()

    [decision] = await decisions(env)
    assert decision.auth_level == "telegram"
    assert (await party_named(env, "Rita Recipient")).verified_via == "telegram"
