"""What the browser tests share: Debian's Chromium as Playwright drives it, a phone's
viewport, the marks that skip them without it, and the app on a real loopback socket."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from web_sign import RedactingAccessLogger

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 390, "height": 844}
HAVE_CHROMIUM = CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)

BROWSER_TESTS = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not HAVE_CHROMIUM,
        reason=f"Debian's chromium is not installed at {CHROMIUM} (apt-get install chromium)",
    ),
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]
"""The marks of a browser test module (``pytestmark = BROWSER_TESTS``)."""


async def serve(app: web.Application) -> AsyncIterator[str]:
    """``app`` on a loopback port, as ``inkpost serve`` runs it; yields its base URL."""
    runner = web.AppRunner(app, access_log_class=RedactingAccessLogger)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()
