"""``/healthz``: can this process reach its store and its medium?"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web
from sqlalchemy import text

from web_sign.logs import LOG
from web_sign.state import ENV
from workflows.context import Env

CHECK_TIMEOUT = 5.0


async def healthz(request: web.Request) -> web.Response:
    """200 ``{"status": "ok", "database": "ok", "blobs": "ok"}``, or 503 naming the part
    that failed (details go to the log, not to whoever asks)."""
    env = request.app[ENV]
    database, blobs = await asyncio.gather(
        _check("database", lambda: _ping_database(env)),
        _check("blobs", env.blobs.check),
    )
    healthy = database == blobs == "ok"
    body = {"status": "ok" if healthy else "unavailable", "database": database, "blobs": blobs}
    return web.json_response(body, status=200 if healthy else 503)


async def _ping_database(env: Env) -> None:
    async with env.sessions() as session:
        connection = await session.connection()
        await connection.execute(text("SELECT 1"))


async def _check(part: str, probe: Callable[[], Awaitable[None]]) -> str:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            await probe()
    except Exception as e:
        LOG.warning("health check of the %s failed: %s: %s", part, type(e).__name__, e)
        return "failed"
    return "ok"
