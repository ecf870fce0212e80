"""Who is signed in to the portal at ``/me``: signing in without a password, signing out
everywhere, the session cookie, and the tokens of the portal's forms.

A recipient arrives signed in from a personal link's page (the "All your documents"
button posts to ``/d/{token}/me`` or ``/s/{token}/me``) or from a sign-in link mailed to
them (``/me/sign-in``). A link in a mail is followed by a button, not by the GET itself, so
a mail scanner that opens links signs nobody in and uses up nothing. The session cookie is
``HttpOnly``, ``SameSite=Lax``, scoped to ``/me`` and ``Secure`` behind https; every form
carries a token bound to the session, or before signing in to a cookie of the browser's.
"""

from __future__ import annotations

import hmac
import re
import secrets
from typing import Any

from aiohttp import web
from aiohttp.web_request import FileField
from multidict import MultiDictProxy

from web_sign.pages import form_refused, page_language, render
from web_sign.security import form_token, visitor_of
from web_sign.state import ENV, SETTINGS, SIGNING
from workflows.errors import InvalidInput, TooMany
from workflows.portal import sessions
from workflows.portal.sessions import Opened, Portal

SESSION_COOKIE = "inkpost_portal"
FORM_COOKIE = "inkpost_portal_form"
_NONCE = re.compile(r"[A-Za-z0-9_-]{32,64}")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/me/sign-in", sign_in_page, name="portal_sign_in")
    app.router.add_post("/me/sign-in", ask_sign_in, name="portal_ask")
    app.router.add_get("/me/sign-in/{token}", confirm_page, name="portal_confirm")
    app.router.add_post("/me/sign-in/{token}", redeem, name="portal_redeem")
    app.router.add_post("/me/sign-out", sign_out, name="portal_sign_out")
    app.router.add_post("/d/{token}/me", from_link, name="portal_from_document")
    app.router.add_post("/s/{token}/me", from_link, name="portal_from_signing")


def link_form_token(request: web.Request, token: str) -> str:
    """The token of the "All your documents" form on a personal link's page."""
    return form_token(request.app[SIGNING].form_secret, f"portal-link:{token}")


async def sign_out(request: web.Request) -> web.StreamResponse:
    """End every session of the recipient, in every browser."""
    portal = await portal_of(request)
    form = await request.post()
    if portal is not None and matches(form.get("csrf"), session_token(request)):
        await sessions.sign_out_everywhere(request.app[ENV], portal, visitor=visitor_of(request))
    elif portal is not None:
        form_refused(request)
    raise signed_out(request, web.HTTPSeeOther(url(request, "/me/sign-in?out=1")))


async def required(request: web.Request) -> Portal:
    """The browser's portal; without a live session, off to the sign-in page."""
    portal = await portal_of(request)
    if portal is None:
        raise signed_out(request, web.HTTPSeeOther(url(request, "/me/sign-in")))
    return portal


async def portal_of(request: web.Request) -> Portal | None:
    return await sessions.current(request.app[ENV], request.cookies.get(SESSION_COOKIE))


def session_token(request: web.Request) -> str:
    held = request.cookies.get(SESSION_COOKIE, "")
    return form_token(request.app[SIGNING].form_secret, f"portal:{held}")


async def from_link(request: web.Request) -> web.StreamResponse:
    """From a personal link's page to the portal of the person it was sent to."""
    token = request.match_info["token"]
    await posted(request, link_form_token(request, token))
    opened = await sessions.open_from_link(request.app[ENV], token, visitor=visitor_of(request))
    raise signed_in(request, opened)


async def sign_in_page(request: web.Request) -> web.Response:
    return _sign_in_form(request, signed_out=bool(request.query.get("out")))


async def ask_sign_in(request: web.Request) -> web.Response:
    """Mail a sign-in link to the address typed, if it is someone's: the answer does not
    say whether it is."""
    form = await posted(request, anonymous_token(request))
    if "email" not in request.app[ENV].reach:
        return _sign_in_form(request, status=503)
    email = str(form.get("email") or "").strip()
    try:
        await sessions.request_sign_in(request.app[ENV], email=email, ip=visitor_of(request).ip)
    except InvalidInput as e:
        return _sign_in_form(
            request, status=400, problem=e.told(page_language(request)), email=email
        )
    except TooMany as e:
        return _sign_in_form(
            request, status=429, problem=e.told(page_language(request)), email=email
        )
    minutes = int(sessions.LINK_TTL.total_seconds() // 60)
    return with_form_cookie(request, "portal_sent.html", email=email, minutes=minutes)


async def confirm_page(request: web.Request) -> web.Response:
    """The page a mailed sign-in link opens: one button signs in (and uses the link up)."""
    token = request.match_info["token"]
    return with_form_cookie(
        request,
        "portal_confirm.html",
        action=url(request, f"/me/sign-in/{token}"),
    )


async def redeem(request: web.Request) -> web.StreamResponse:
    await posted(request, anonymous_token(request))
    opened = await sessions.redeem_sign_in(
        request.app[ENV], request.match_info["token"], visitor=visitor_of(request)
    )
    raise signed_in(request, opened)


def _sign_in_form(
    request: web.Request,
    *,
    status: int = 200,
    signed_out: bool = False,
    problem: str | None = None,
    email: str = "",
) -> web.Response:
    return with_form_cookie(
        request,
        "portal_sign_in.html",
        status=status,
        action=url(request, "/me/sign-in"),
        by_email="email" in request.app[ENV].reach,
        signed_out=signed_out,
        problem=problem,
        email=email,
    )


def signed_in(request: web.Request, opened: Opened) -> web.HTTPException:
    response = web.HTTPSeeOther(url(request, "/me"))
    ttl = opened.expires_at - request.app[ENV].clock.now()
    response.set_cookie(
        SESSION_COOKIE,
        opened.token,
        path=url(request, "/me"),
        max_age=max(int(ttl.total_seconds()), 0),
        httponly=True,
        samesite="Lax",
        secure=_secure(request),
    )
    return response


def signed_out(request: web.Request, response: web.HTTPException) -> web.HTTPException:
    if SESSION_COOKIE in request.cookies:
        response.del_cookie(SESSION_COOKIE, path=url(request, "/me"))
    return response


def _nonce(request: web.Request) -> str | None:
    value = request.cookies.get(FORM_COOKIE, "")
    return value if _NONCE.fullmatch(value) else None


def anonymous_token(request: web.Request, nonce: str | None = None) -> str:
    held = nonce or _nonce(request) or ""
    return form_token(request.app[SIGNING].form_secret, f"portal-form:{held}")


def with_form_cookie(
    request: web.Request, template: str, *, status: int = 200, **context: Any
) -> web.Response:
    """A page whose form carries a token bound to the browser's form cookie (set here)."""
    nonce = _nonce(request) or secrets.token_urlsafe(32)
    context["csrf"] = anonymous_token(request, nonce)
    response = render(request, template, status=status, **context)
    response.set_cookie(
        FORM_COOKIE,
        nonce,
        path=url(request, "/me"),
        httponly=True,
        samesite="Lax",
        secure=_secure(request),
    )
    return response


def matches(sent: object, expected: str) -> bool:
    return isinstance(sent, str) and hmac.compare_digest(sent.encode(), expected.encode())


async def posted(
    request: web.Request, token: str
) -> MultiDictProxy[str | bytes | bytearray | FileField]:
    """The form a page posted, when it carries that page's ``token``; else the visitor gets
    a page saying the form cannot be accepted, and nothing changes."""
    form = await request.post()
    if not matches(form.get("csrf"), token):
        form_refused(request)
    return form


def url(request: web.Request, path: str) -> str:
    return f"{request.app[SETTINGS].url_prefix}{path}"


def _secure(request: web.Request) -> bool:
    return request.app[SETTINGS].public_url.startswith("https://")
