"""A phone-sized Chromium reads a link page, sees its previews and downloads the file."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from tests.web_sign.browser import BROWSER_TESTS, CHROMIUM, CHROMIUM_ARGS, PHONE, serve
from tests.web_sign.conftest import Link
from workflows.context import Env

pytestmark = BROWSER_TESTS


@pytest.fixture
async def base_url(app: web.Application) -> AsyncIterator[str]:
    async for url in serve(app):
        yield url


async def test_a_phone_reads_the_page_sees_previews_and_downloads(
    base_url: str, link: Link, env: Env, tmp_path: Path
) -> None:
    from playwright.async_api import async_playwright, expect

    stored = env.blobs.local_path(link.document.blob_key)
    assert stored is not None
    expected = await asyncio.to_thread(stored.read_bytes)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            context = await browser.new_context(
                viewport=PHONE, is_mobile=True, has_touch=True, accept_downloads=True
            )
            page = await context.new_page()
            response = await page.goto(base_url + link.page)
            assert response is not None and response.status == 200

            await expect(page.get_by_role("heading", name="Fee table 2027")).to_be_visible()
            images = page.locator("img")
            assert await images.count() == 3
            for index in range(3):  # lazy images load once scrolled to
                await images.nth(index).scroll_into_view_if_needed()
            # Polled from here: a page-side wait_for_function would evaluate its condition
            # as a string inside the page, which the page's CSP (no 'unsafe-eval') refuses.
            loaded = "imgs => imgs.every(i => i.complete && i.naturalWidth > 0)"
            for _ in range(200):
                if await images.evaluate_all(loaded):
                    break
                await asyncio.sleep(0.05)
            widths = await images.evaluate_all("imgs => imgs.map(i => i.naturalWidth)")
            assert widths == [800, 800, 800]
            scroll_width, inner_width = await page.evaluate(
                "[document.documentElement.scrollWidth, window.innerWidth]"
            )
            assert scroll_width <= inner_width, "the page scrolls sideways on a phone"
            await page.evaluate("window.scrollTo(0, 0)")
            await page.screenshot(path=str(tmp_path / "phone.png"), full_page=True)

            async with page.expect_download() as started:
                await page.get_by_role("link", name="Download").click()
            download = await started.value
            assert download.suggested_filename == "fee-table-2027.pdf"
            saved = await download.path()
            assert await asyncio.to_thread(Path(saved).read_bytes) == expected
            await context.close()
        finally:
            await browser.close()
