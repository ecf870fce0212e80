"""The portal as a Telegram Mini App: what the bot's menu button and ``/documents`` open.

Telegram opens ``/me/telegram`` and puts its signed launch data in the URL fragment, which
only the browser sees; ``static/sign.js`` posts it back to ``/me/telegram`` with the page's
form token. Once ``telegram_auth`` has checked Telegram's signature, the person the
Telegram account is linked to is signed in to the portal, exactly as from a personal link;
an account linked to people of several organisations chooses one first.
"""

from __future__ import annotations

from aiohttp import web

import texts
from storage.rows import id_of
from web_sign.pages import page_language, render
from web_sign.portal_session import anonymous_token, posted, signed_in, url, with_form_cookie
from web_sign.security import visitor_of
from web_sign.state import ENV, SIGNING
from web_sign.telegram_auth import InitDataInvalid, validate_init_data
from workflows.portal import telegram

PATH = "/me/telegram"


def add_routes(app: web.Application) -> None:
    app.router.add_get(PATH, launch, name="portal_telegram")
    app.router.add_post(PATH, sign_in, name="portal_telegram_sign_in")


async def launch(request: web.Request) -> web.Response:
    """The page Telegram opens: it hands the launch data on (or says it is missing)."""
    if request.app[SIGNING].telegram_bot_token is None:
        return _not_available(request)
    return with_form_cookie(request, "portal_telegram.html", action=url(request, PATH), people=[])


async def sign_in(request: web.Request) -> web.StreamResponse:
    """Check Telegram's launch data and sign in the person the account is linked to."""
    bot_token = request.app[SIGNING].telegram_bot_token
    if bot_token is None:
        return _not_available(request)
    form = await posted(request, anonymous_token(request))
    env = request.app[ENV]
    init_data = form.get("init_data")
    init_data = init_data if isinstance(init_data, str) else ""
    try:
        launched = validate_init_data(init_data, bot_token=bot_token, now=env.clock.now())
    except InitDataInvalid:
        return _refused(request, None, "portal.telegram.unconfirmed", status=403)
    language = texts.known((launched.user.language_code or "")[:2])
    people = await telegram.linked_people(env, telegram_user_id=launched.user.id)
    if not people:
        return _refused(request, language, "portal.telegram.not_linked", status=403)
    chosen = _chosen(form.get("recipient"), [id_of(person) for person, _ in people])
    if chosen is None and len(people) > 1:
        return with_form_cookie(
            request,
            "portal_telegram.html",
            action=url(request, PATH),
            people=[(id_of(person), organization.name) for person, organization in people],
            init_data=init_data,
            lang=people[0][0].language,
        )
    opened = await telegram.open_from_telegram(
        env,
        telegram_user_id=launched.user.id,
        recipient_id=chosen if chosen is not None else id_of(people[0][0]),
        visitor=visitor_of(request),
    )
    raise signed_in(request, opened)


def _chosen(value: object, allowed: list[int]) -> int | None:
    """The person picked on the chooser, when the form names one of ``allowed``."""
    if isinstance(value, str) and value.isdigit() and int(value) in allowed:
        return int(value)
    return None


def _refused(request: web.Request, language: str | None, key: str, *, status: int) -> web.Response:
    lang = language or page_language(request)
    return render(
        request,
        "error.html",
        status=status,
        lang=lang,
        heading=texts.text(lang, f"{key}.heading", escape=False),
        message=texts.text(lang, f"{key}.message", escape=False),
    )


def _not_available(request: web.Request) -> web.Response:
    return _refused(request, None, "portal.telegram.unavailable", status=404)
