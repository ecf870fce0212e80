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

from web_sign.pages import render
from web_sign.signing import SIGN_HEADERS, bind_session
from web_sign.state import ENV, SETTINGS, SIGNING
from web_sign.telegram_auth import InitDataInvalid, validate_init_data
from workflows.signing import identity
from workflows.tokens import well_formed


def add_routes(app: web.Application) -> None:
    app.router.add_get("/tg/app", launch, name="tg_app")
    app.router.add_post("/tg/app/session", start_session, name="tg_app_session")


async def launch(request: web.Request) -> web.Response:
    """The page Telegram opens: it hands the launch data on (or says it is missing)."""
    if request.app[SIGNING].telegram_bot_token is None:
        return _not_available(request)
    token = request.query.get("s", "")
    if token and not well_formed(token):
        raise web.HTTPNotFound()
    return render(
        request,
        "tg_app.html",
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
        return _problem(
            request,
            403,
            "Telegram could not confirm who you are",
            f"{e}; close the app and open it again from the bot",
        )
    token = token or launch.start_param or ""
    if not token:
        return _problem(
            request,
            400,
            "Which request?",
            "this app opens from a signing request; use the button in the bot's message",
        )
    confirmed = await identity.recognise_telegram(env, token, launch.user.id)
    location = f"{request.app[SETTINGS].url_prefix}/s/{token}"
    if confirmed is None:
        raise web.HTTPSeeOther(f"{location}?telegram=unknown")
    raise bind_session(request, web.HTTPSeeOther(location), token, confirmed)


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _not_available(request: web.Request) -> web.Response:
    return _problem(
        request,
        404,
        "The Telegram app is not available",
        "this installation runs no Telegram bot; open the link you were sent in a browser",
    )


def _problem(request: web.Request, status: int, heading: str, message: str) -> web.Response:
    return render(request, "error.html", status=status, heading=heading, message=message)
