"""The recipient's portal at ``/me``: signing in without a password, their documents and
spaces, and signing out everywhere.

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
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

from aiohttp import BodyPartReader, MultipartReader, web

from web_sign.pages import form_refused, human_size, render
from web_sign.security import form_token, visitor_of
from web_sign.state import ENV, SETTINGS, SIGNING
from workflows.errors import InvalidInput, TooMany, WorkflowError
from workflows.portal import documents, sessions
from workflows.portal import requests as portal_requests
from workflows.portal.documents import Filters
from workflows.portal.sessions import Opened, Portal
from workflows.sharing import inbox

SESSION_COOKIE = "inkpost_portal"
FORM_COOKIE = "inkpost_portal_form"
_NONCE = re.compile(r"[A-Za-z0-9_-]{32,64}")
CHUNK = 64 * 1024
FIELD_LIMIT = 1000
"""How much of a form's text field is read: a title, a token."""
MAX_FILENAME = 255
ROLES = {"signer": "To sign", "approver": "To approve", "viewer": "For your information"}
REQUEST_STATES = {
    "pending": "Waiting for others",
    "sealing": "Everyone has decided; being sealed",
    "completed": "Completed",
    "declined": "Declined",
    "expired": "Expired",
}


def add_routes(app: web.Application) -> None:
    app.router.add_get("/me", home, name="portal")
    app.router.add_get("/me/sign-in", sign_in_page, name="portal_sign_in")
    app.router.add_post("/me/sign-in", ask_sign_in, name="portal_ask")
    app.router.add_get("/me/sign-in/{token}", confirm_page, name="portal_confirm")
    app.router.add_post("/me/sign-in/{token}", redeem, name="portal_redeem")
    app.router.add_post("/me/sign-out", sign_out, name="portal_sign_out")
    app.router.add_get(r"/me/documents/{share_id:\d{1,18}}", open_document, name="portal_open")
    app.router.add_get(r"/me/requests/{party_id:\d{1,18}}", open_request, name="portal_request")
    app.router.add_post("/me/return", send_back, name="portal_return")
    app.router.add_post("/d/{token}/me", from_link, name="portal_from_document")
    app.router.add_post("/s/{token}/me", from_link, name="portal_from_signing")


def link_form_token(request: web.Request, token: str) -> str:
    """The token of the "All your documents" form on a personal link's page."""
    return form_token(request.app[SIGNING].form_secret, f"portal-link:{token}")


# -- signed in ----------------------------------------------------------------------------


async def home(request: web.Request) -> web.StreamResponse:
    """The recipient's documents, newest first, as the query narrows them."""
    portal = await _required(request)
    notice = "Your document was sent." if request.query.get("sent") == "1" else None
    return await _home(request, portal, notice=notice)


async def _home(
    request: web.Request,
    portal: Portal,
    *,
    status: int = 200,
    notice: str | None = None,
    problem: str | None = None,
) -> web.Response:
    query = request.query
    filters = Filters(
        words=query.get("q", "").strip(),
        space_id=_number(query.get("space")),
        category=query.get("category") or None,
        unopened=query.get("unopened") == "1",
        only_mine=query.get("mine") == "1",
        colleague=query.get("colleague", "").strip(),
    )
    listing = await documents.documents(
        request.app[ENV], portal, filters=filters, page=_number(query.get("page")) or 1
    )
    kept = {k: v for k, v in query.items() if k not in ("page", "sent") and v}
    return render(
        request,
        "portal.html",
        status=status,
        portal=portal,
        listing=listing,
        asked=await portal_requests.requests_of(request.app[ENV], portal),
        request_url=lambda party_id: _url(request, f"/me/requests/{party_id}"),
        return_url=_url(request, "/me/return"),
        limit=human_size(request.app[ENV].limits.max_upload_bytes),
        notice=notice,
        problem=problem,
        roles=ROLES,
        request_states=REQUEST_STATES,
        filters=filters,
        page_url=lambda page: _url(request, "/me?" + urlencode({**kept, "page": page})),
        document_url=lambda share_id: _url(request, f"/me/documents/{share_id}"),
        space_url=lambda space_id: _url(request, "/me?" + urlencode({"space": space_id})),
        home_url=_url(request, "/me"),
        sign_out_url=_url(request, "/me/sign-out"),
        csrf=_session_token(request),
    )


async def open_document(request: web.Request) -> web.StreamResponse:
    """A document of theirs, on its usual page (where the visit is recorded as theirs)."""
    portal = await _required(request)
    share_id = int(request.match_info["share_id"])
    token = await documents.open_document(request.app[ENV], portal, share_id=share_id)
    raise web.HTTPSeeOther(_url(request, f"/d/{token}"))


async def open_request(request: web.Request) -> web.StreamResponse:
    """A signature request of theirs, on its signing page."""
    portal = await _required(request)
    party_id = int(request.match_info["party_id"])
    token = await portal_requests.open_request(request.app[ENV], portal, party_id=party_id)
    raise web.HTTPSeeOther(_url(request, f"/s/{token}"))


async def send_back(request: web.Request) -> web.StreamResponse:
    """A document sent back from the browser: checked as every upload is, and the staff
    who last shared with the recipient are told. The form's token comes before the file,
    so a forged form is refused before a byte of the file is read."""
    portal = await _required(request)
    if request.content_type != "multipart/form-data":
        return await _home(request, portal, status=400, problem="choose a file to send")
    reader = await request.multipart()
    csrf = await _field(reader, "csrf")
    if not _matches(csrf, _session_token(request)):
        return _form_refused(request)
    title = await _field(reader, "title")
    part = await reader.next()
    if not isinstance(part, BodyPartReader) or part.name != "file" or not part.filename:
        return await _home(request, portal, status=400, problem="choose a file to send")
    try:
        await inbox.return_from(
            request.app[ENV],
            portal.recipient,
            filename=part.filename[:MAX_FILENAME],
            content=_chunks(part),
            caption=title,
            actor=sessions.recipient_actor(portal.recipient, visitor_of(request)),
        )
    except WorkflowError as error:
        return await _home(request, portal, status=400, problem=str(error))
    raise web.HTTPSeeOther(_url(request, "/me?sent=1"))


async def _field(reader: MultipartReader, name: str) -> str | None:
    """The next part's text if it is the field ``name``; None otherwise."""
    part = await reader.next()
    if not isinstance(part, BodyPartReader) or part.name != name:
        return None
    value = await part.read(decode=False)
    return value[:FIELD_LIMIT].decode("utf-8", "replace")


async def _chunks(part: BodyPartReader) -> AsyncIterator[bytes]:
    while chunk := await part.read_chunk(CHUNK):
        yield chunk


async def sign_out(request: web.Request) -> web.StreamResponse:
    """End every session of the recipient, in every browser."""
    portal = await _portal(request)
    form = await request.post()
    if portal is not None and _matches(form.get("csrf"), _session_token(request)):
        await sessions.sign_out_everywhere(request.app[ENV], portal, visitor=visitor_of(request))
    elif portal is not None:
        return _form_refused(request)
    raise _signed_out(request, web.HTTPSeeOther(_url(request, "/me/sign-in?out=1")))


async def _required(request: web.Request) -> Portal:
    """The browser's portal; without a live session, off to the sign-in page."""
    portal = await _portal(request)
    if portal is None:
        raise _signed_out(request, web.HTTPSeeOther(_url(request, "/me/sign-in")))
    return portal


async def _portal(request: web.Request) -> Portal | None:
    return await sessions.current(request.app[ENV], request.cookies.get(SESSION_COOKIE))


def _session_token(request: web.Request) -> str:
    held = request.cookies.get(SESSION_COOKIE, "")
    return form_token(request.app[SIGNING].form_secret, f"portal:{held}")


# -- signing in ---------------------------------------------------------------------------


async def from_link(request: web.Request) -> web.StreamResponse:
    """From a personal link's page to the portal of the person it was sent to."""
    token = request.match_info["token"]
    form = await request.post()
    if not _matches(form.get("csrf"), link_form_token(request, token)):
        return _form_refused(request)
    opened = await sessions.open_from_link(request.app[ENV], token, visitor=visitor_of(request))
    raise _signed_in(request, opened)


async def sign_in_page(request: web.Request) -> web.Response:
    notice = "You are signed out, in every browser." if request.query.get("out") else None
    return _sign_in_form(request, notice=notice)


async def ask_sign_in(request: web.Request) -> web.Response:
    """Mail a sign-in link to the address typed, if it is someone's: the answer does not
    say whether it is."""
    form = await request.post()
    if not _matches(form.get("csrf"), _anonymous_token(request)):
        return _form_refused(request)
    if "email" not in request.app[ENV].reach:
        return _sign_in_form(request, status=503)
    email = str(form.get("email") or "").strip()
    try:
        await sessions.request_sign_in(request.app[ENV], email=email, ip=visitor_of(request).ip)
    except InvalidInput as e:
        return _sign_in_form(request, status=400, problem=str(e), email=email)
    except TooMany as e:
        return _sign_in_form(request, status=429, problem=str(e), email=email)
    minutes = int(sessions.LINK_TTL.total_seconds() // 60)
    return _with_form_cookie(request, "portal_sent.html", email=email, minutes=minutes)


async def confirm_page(request: web.Request) -> web.Response:
    """The page a mailed sign-in link opens: one button signs in (and uses the link up)."""
    token = request.match_info["token"]
    return _with_form_cookie(
        request,
        "portal_confirm.html",
        action=_url(request, f"/me/sign-in/{token}"),
    )


async def redeem(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    if not _matches(form.get("csrf"), _anonymous_token(request)):
        return _form_refused(request)
    opened = await sessions.redeem_sign_in(
        request.app[ENV], request.match_info["token"], visitor=visitor_of(request)
    )
    raise _signed_in(request, opened)


def _sign_in_form(
    request: web.Request,
    *,
    status: int = 200,
    notice: str | None = None,
    problem: str | None = None,
    email: str = "",
) -> web.Response:
    return _with_form_cookie(
        request,
        "portal_sign_in.html",
        status=status,
        action=_url(request, "/me/sign-in"),
        by_email="email" in request.app[ENV].reach,
        notice=notice,
        problem=problem,
        email=email,
    )


def _signed_in(request: web.Request, opened: Opened) -> web.HTTPException:
    response = web.HTTPSeeOther(_url(request, "/me"))
    ttl = opened.expires_at - request.app[ENV].clock.now()
    response.set_cookie(
        SESSION_COOKIE,
        opened.token,
        path=_url(request, "/me"),
        max_age=max(int(ttl.total_seconds()), 0),
        httponly=True,
        samesite="Lax",
        secure=_secure(request),
    )
    return response


def _signed_out(request: web.Request, response: web.HTTPException) -> web.HTTPException:
    if SESSION_COOKIE in request.cookies:
        response.del_cookie(SESSION_COOKIE, path=_url(request, "/me"))
    return response


# -- forms before signing in: a token bound to a cookie of this browser ---------------------


def _nonce(request: web.Request) -> str | None:
    value = request.cookies.get(FORM_COOKIE, "")
    return value if _NONCE.fullmatch(value) else None


def _anonymous_token(request: web.Request, nonce: str | None = None) -> str:
    held = nonce or _nonce(request) or ""
    return form_token(request.app[SIGNING].form_secret, f"portal-form:{held}")


def _with_form_cookie(
    request: web.Request, template: str, *, status: int = 200, **context: Any
) -> web.Response:
    """A page whose form carries a token bound to the browser's form cookie (set here)."""
    nonce = _nonce(request) or secrets.token_urlsafe(32)
    context["csrf"] = _anonymous_token(request, nonce)
    response = render(request, template, status=status, **context)
    response.set_cookie(
        FORM_COOKIE,
        nonce,
        path=_url(request, "/me"),
        httponly=True,
        samesite="Lax",
        secure=_secure(request),
    )
    return response


def _matches(sent: object, expected: str) -> bool:
    return isinstance(sent, str) and hmac.compare_digest(sent.encode(), expected.encode())


def _form_refused(request: web.Request) -> web.Response:
    return form_refused(
        request,
        reason="it was not sent from this page in this browser; reload the page and try again",
    )


def _url(request: web.Request, path: str) -> str:
    return f"{request.app[SETTINGS].url_prefix}{path}"


def _secure(request: web.Request) -> bool:
    return request.app[SETTINGS].public_url.startswith("https://")


def _number(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and len(value) < 10 else None
