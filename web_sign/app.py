"""The web application of the link pages: ``create_app`` wires routes, state and lifetimes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web
from asn1crypto import x509 as asn1_x509

import web_api
from web_api.rate import RateLimit
from web_sign import health, mini_app, portal, signing, verify, views
from web_sign.errors import error_pages
from web_sign.logs import install_redaction
from web_sign.metrics import Metrics, metrics_handler, stamp_start
from web_sign.pages import STATIC_DIR, make_templates
from web_sign.previews import Previews
from web_sign.security import add_security_headers
from web_sign.small_files import SmallFiles
from web_sign.state import (
    ENV,
    METRICS,
    PREVIEWS,
    RECORDER,
    SETTINGS,
    SMALL_FILES,
    TEMPLATES,
    WebSettings,
)
from workflows.context import Env
from workflows.sharing.access import AccessRecorder
from workflows.webhooks.addresses import AddressPolicy


def create_app(
    *,
    env: Env,
    cache_dir: Path,
    public_url: str,
    trust_forwarded_for: bool = False,
    secret_key: str | None = None,
    telegram_bot_token: str | None = None,
    seal_trust: Sequence[asn1_x509.Certificate] | None = None,
    api_rate: RateLimit | None = None,
    api_webhook_policy: AddressPolicy | None = None,
) -> web.Application:
    """The aiohttp app serving ``/d/{token}`` (page, previews, file), ``/s/{token}`` (a
    party's signing page), ``/tg/app`` (the Telegram Mini App), ``/verify`` (checking a
    sealed PDF), ``/healthz``, ``/metrics`` and ``/static/``.

    ``cache_dir`` holds rendered previews (safe to delete). ``public_url`` is where
    visitors reach this app; its path, if any, prefixes every link the pages print.
    Set ``trust_forwarded_for`` only behind a proxy that sets X-Forwarded-For.
    ``secret_key`` keys the signing forms (several processes need the same one);
    ``telegram_bot_token`` checks Mini App launch data, and without it ``/tg/app`` is off.
    ``seal_trust`` holds the certificates of this installation's seal; without them
    ``/verify`` says verification is unavailable. ``api_rate`` limits each key of the
    integration API (``/api/v1``, `web_api`); webhook endpoints registered through it must
    satisfy ``api_webhook_policy`` (default: public addresses only).
    Run it with ``access_log_class=RedactingAccessLogger`` so tokens stay out of logs.
    """
    install_redaction()
    settings = WebSettings(
        cache_dir=cache_dir,
        public_url=public_url,
        url_prefix=urlsplit(public_url).path.rstrip("/"),
        trust_forwarded_for=trust_forwarded_for,
    )
    metrics = Metrics()
    app = web.Application(middlewares=[stamp_start, error_pages])
    app[ENV] = env
    app[SETTINGS] = settings
    app[TEMPLATES] = make_templates(url_prefix=settings.url_prefix)
    app[METRICS] = metrics
    app[PREVIEWS] = Previews(cache_dir=cache_dir, blobs=env.blobs)
    app[RECORDER] = AccessRecorder(env)
    app[SMALL_FILES] = SmallFiles(env.blobs)

    app.router.add_get("/d/{token}", views.document_page, name="document")
    app.router.add_get(r"/d/{token}/pages/{number:\d{1,6}}.png", views.page_image, name="page")
    app.router.add_get("/d/{token}/file", views.download, name="file")
    signing.add_routes(app, secret_key=secret_key, telegram_bot_token=telegram_bot_token)
    mini_app.add_routes(app)
    portal.add_routes(app)
    verify.add_routes(app, trust=seal_trust)
    app.router.add_get("/healthz", health.healthz, name="healthz")
    app.router.add_get("/metrics", metrics_handler(metrics), name="metrics")
    app.router.add_static("/static", STATIC_DIR, name="static")
    web_api.add_api(
        app, env=env, public_url=public_url, rate=api_rate, webhook_policy=api_webhook_policy
    )

    app.on_response_prepare.append(add_security_headers)
    app.on_response_prepare.append(_observe)
    app.cleanup_ctx.append(_previews_lifetime)
    app.cleanup_ctx.append(_recorder_lifetime)
    return app


async def _observe(request: web.Request, response: web.StreamResponse) -> None:
    request.app[METRICS].observe(request, response)


async def _previews_lifetime(app: web.Application) -> AsyncIterator[None]:
    previews = app[PREVIEWS]
    await previews.start()
    yield
    await previews.close()


async def _recorder_lifetime(app: web.Application) -> AsyncIterator[None]:
    """Opens and downloads are recorded in group commits while the app runs; on the way
    out, the visits still queued are written before the database goes."""
    recorder = app[RECORDER]
    await recorder.start()
    yield
    await recorder.stop()
