"""The Telegram Mini App: the signing page opened inside Telegram.

Telegram opens ``/tg/app?s=<link token>`` (a ``web_app`` button) or ``/tg/app`` (a direct
link with ``startapp=<link token>``, which Telegram passes on as ``start_param``), and puts
its signed launch data in the URL fragment, which only the browser sees.
``static/sign.js`` posts it to ``/tg/app/session``; once ``telegram_auth`` has checked
Telegram's signature, the party's identity is confirmed when the Telegram user is the one
the request reaches, and the visitor goes on to the ordinary signing page. The launch
data is itself the credential, so that POST needs no form token.
"""

from __future__ import annotations

from aiohttp import web

import texts
from web_sign.logs import LOG
from web_sign.pages import page_language, render
from web_sign.signing import SIGN_HEADERS, bind_session, party_language
from web_sign.state import ENV, SETTINGS, SIGNING
from web_sign.telegram_auth import InitDataInvalid, validate_init_data
from workflows.errors import NotFound
from workflows.signing import identity, party_page
from workflows.tokens import well_formed


def add_routes(app: web.Application) -> None:
    app.router.add_get("/tg/app", launch, name="tg_app")
    app.router.add_post("/tg/app/session", start_session, name="tg_app_session")


async def launch(request: web.Request) -> web.Response:
    """The page Telegram opens: it hands the launch data on (or says it is missing), in
    the party's language when the address names their link."""
    if request.app[SIGNING].telegram_bot_token is None:
        return _not_available(request)
    token = request.query.get("s", "")
    if token and not well_formed(token):
        raise web.HTTPNotFound()
    return render(
        request,
        "tg_app.html",
        lang=await _language(request, token),
        headers=SIGN_HEADERS,
        token=token,
        session_url=f"{request.app[SETTINGS].url_prefix}/tg/app/session",
    )


async def start_session(request: web.Request) -> web.StreamResponse:
    """Check Telegram's launch data, recognise the party, go on to their page."""
    bot_token = request.app[SIGNING].telegram_bot_token
    if bot_token is None:
        return _not_available(request)
    env = request.app[ENV]
    form = await request.post()
    init_data, token = _text(form.get("init_data")), _text(form.get("token"))
    try:
        launch = validate_init_data(init_data, bot_token=bot_token, now=env.clock.now())
    except InitDataInvalid as e:
        LOG.info("a Mini App launch was refused: %s", e)
        return _problem(
            request, status=403, key="unconfirmed", lang=await _language(request, token)
        )
    token = token or launch.start_param or ""
    if not token:
        return _problem(request, status=400, key="no_request", lang=page_language(request))
    confirmed = await identity.recognise_telegram(env, token, launch.user.id)
    location = f"{request.app[SETTINGS].url_prefix}/s/{token}"
    if confirmed is None:
        raise web.HTTPSeeOther(f"{location}?telegram=unknown")
    raise bind_session(request, web.HTTPSeeOther(location), token, confirmed)


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


async def _language(request: web.Request, token: str) -> str:
    """The language of the party whose link ``token`` is, when it is one; else the one the
    visitor chose or their browser asks for."""
    if token and well_formed(token):
        try:
            page = await party_page.open_page(request.app[ENV], token)
        except NotFound:
            pass
        else:
            return party_language(request, page)
    return page_language(request)


def _not_available(request: web.Request) -> web.Response:
    return _problem(request, status=404, key="unavailable", lang=page_language(request))


def _problem(request: web.Request, *, status: int, key: str, lang: str) -> web.Response:
    """A page saying why the app cannot go on (``signing.app.<key>``), in ``lang``."""
    return render(
        request,
        "error.html",
        status=status,
        lang=lang,
        switcher=request.method in ("GET", "HEAD"),
        heading=texts.text(lang, f"signing.app.{key}.heading", escape=False),
        message=texts.text(lang, f"signing.app.{key}.message", escape=False),
    )
