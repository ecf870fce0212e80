"""Runs the web app until the process is told to stop (SIGTERM or SIGINT).

The runtime (engine, blob store) belongs to the caller, who opened it and closes it; this
module owns the aiohttp runner and site and always cleans them up.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import Callable, Iterator

from aiohttp import web

from inkpost import services
from inkpost.errors import UserError
from inkpost.runtime import Runtime
from inkpost.seal import ensure_seal
from inkpost.settings import Settings
from inkpost.webhooks import address_policy
from web_api.rate import RateLimit
from web_sign.app import create_app
from web_sign.logs import RedactingAccessLogger, install_redaction
from workflows.signing.seal_keys import BadSealKey, SealKey

LOG = logging.getLogger("inkpost.server")
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
QUIET_LOGGERS = (
    "httpx",
    "httpcore",
    "telegram.ext.Updater",
    "slack_bolt",
    "slack_sdk",
    "aiosqlite",
    "sqlalchemy.engine",
)
SHUTDOWN_TIMEOUT = 10.0
"""Seconds in-flight requests get to finish once a stop signal arrives."""


def configure_logging() -> None:
    """Log lines to stderr, link tokens redacted everywhere aiohttp and the app write."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # httpx logs every request URL at INFO, and a Bot API URL carries the bot's token; the
    # database drivers log statements with their parameters (a code on its way out).
    for chatty in QUIET_LOGGERS:
        logging.getLogger(chatty).setLevel(logging.WARNING)
    install_redaction()


def build_app(runtime: Runtime) -> web.Application:
    """The web pages plus whatever chat and mail services are configured, and the
    sealing worker with the organisation's seal, loaded (or created) once here."""
    settings = runtime.settings
    seal = load_seal(settings)
    app = create_app(
        env=runtime.env,
        cache_dir=settings.data_dir / "cache",
        public_url=settings.public_url.rstrip("/"),
        secret_key=settings.secret_key.get_secret_value() if settings.secret_key else None,
        telegram_bot_token=(
            settings.telegram_token.get_secret_value() if settings.telegram_token else None
        ),
        seal_trust=seal.trust_anchors,
        api_rate=RateLimit(per_minute=settings.api_rate_per_minute, burst=settings.api_rate_burst),
        api_webhook_policy=address_policy(settings),
    )
    services.attach(app, runtime, seal=seal)
    return app


def load_seal(settings: Settings) -> SealKey:
    """The seal that signs completed requests and that ``/verify`` trusts: the configured
    one, or the self-signed one under the data directory, created on first start. One
    line, and no server, when it cannot be loaded."""
    try:
        return ensure_seal(settings).key
    except (BadSealKey, OSError) as e:
        raise UserError(str(e)) from e


async def serve(runtime: Runtime, *, ready: Callable[[list[str]], None] | None = None) -> None:
    """Serve on ``settings.host:port`` until SIGTERM or SIGINT, then stop gracefully.

    ``ready`` is called with the bound addresses once the socket listens.
    """
    settings = runtime.settings
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for signum in STOP_SIGNALS:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, _stop_on, stop, signum)
            installed.append(signum)
    runner = web.AppRunner(
        build_app(runtime),
        access_log_class=RedactingAccessLogger,
        shutdown_timeout=SHUTDOWN_TIMEOUT,
    )
    try:
        await runner.setup()
        site = web.TCPSite(runner, settings.host, settings.port)
        await site.start()
        addresses = [_url(address) for address in runner.addresses]
        LOG.info("listening on %s", ", ".join(addresses))
        with start_up_heap_frozen():
            if ready is not None:
                ready(addresses)
            await stop.wait()
        LOG.info("stopping: finishing requests in flight")
    finally:
        await runner.cleanup()
        for signum in installed:
            loop.remove_signal_handler(signum)
    LOG.info("stopped")


@contextlib.contextmanager
def start_up_heap_frozen() -> Iterator[None]:
    """Keep what start-up loaded out of the cyclic collector's sight while serving.

    Modules, settings and the app live as long as the process. Left in the collector's
    oldest generation, every full collection walks them again: a share with ten thousand
    recipients allocates enough to trigger several, about a fifth of its time. Frozen
    after a collection (so no garbage is kept), later collections walk only what requests
    create."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _stop_on(stop: asyncio.Event, signum: signal.Signals) -> None:
    LOG.info("received %s", signum.name)
    stop.set()


def _url(address: object) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        return f"http://[{host}]:{port}" if ":" in str(host) else f"http://{host}:{port}"
    return str(address)
