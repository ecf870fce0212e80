"""The web app served on a free loopback port from a thread of its own, over a store of
its own: for clients that block (schemathesis, benchmarks) in the test's thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from storage.blobs import FileBlobStore
from storage.db import make_engine, make_session_factory
from web_api.rate import RateLimit
from web_sign import create_app
from workflows.context import Env, Limits

T = TypeVar("T")


@dataclass
class LiveApp:
    base_url: str
    env: Env
    loop: asyncio.AbstractEventLoop

    def run(self, work: Awaitable[T]) -> T:
        """Run a coroutine on the app's loop (where its store lives) and wait for it."""
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(120)  # type: ignore[arg-type]


@contextmanager
def live_app(
    *,
    database_url: str,
    root: Path,
    rate: RateLimit | None = None,
    max_upload_bytes: int = 2 * 1024 * 1024,
    prepare: Callable[[Env], Awaitable[Any]] | None = None,
) -> Iterator[LiveApp]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start() -> tuple[Any, web.AppRunner, Env, int]:
        engine = make_engine(database_url)
        env = Env(
            sessions=make_session_factory(engine),
            blobs=FileBlobStore(root / "blobs"),
            limits=Limits(max_upload_bytes=max_upload_bytes),
        )
        app = create_app(
            env=env,
            cache_dir=root / "cache",
            public_url="http://127.0.0.1:8080",
            api_rate=rate or RateLimit(per_minute=1_000_000, burst=100_000),
        )
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return engine, runner, env, port

    engine, runner, env, port = asyncio.run_coroutine_threadsafe(start(), loop).result(120)
    live = LiveApp(base_url=f"http://127.0.0.1:{port}", env=env, loop=loop)
    try:
        yield live
    finally:

        async def stop() -> None:
            await runner.cleanup()
            await engine.dispose()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(120)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
