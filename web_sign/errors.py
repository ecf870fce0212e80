"""The one mapping from errors to HTTP statuses and pages, applied by a middleware.

Handlers let workflow errors (``workflows.errors``), storage errors, refused forms and
HTTP errors propagate; the middleware answers each with a friendly page in the reader's
language and never with a traceback. When the request belongs to an organisation — its
link (of any kind, even expired, revoked or used up) or the browser's portal session does
— the page says how to reach that organisation; a link that belongs to nothing names none.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler

import texts
from storage.errors import StorageError, store_unreachable
from web_api.problems import RETRY_AFTER_OUTAGE
from web_sign.logs import LOG, REDACTED, redact
from web_sign.metrics import route_label
from web_sign.pages import FormRefused, page_language, render
from web_sign.portal_session import SESSION_COOKIE
from web_sign.state import ENV
from workflows.errors import (
    Conflict,
    Gone,
    InvalidInput,
    NotAllowed,
    NotAvailableNow,
    NotFound,
    TooMany,
    Unavailable,
    WorkflowError,
)
from workflows.people.organizations import Contact, contact_behind
from workflows.tokens import well_formed


@dataclass(frozen=True)
class ErrorPage:
    status: int
    key: str
    """Its words in the catalogues: ``{key}.heading`` and ``{key}.message``."""
    own_message: bool = False
    """Always show the catalogue's message (True), or the error's own reason when it can
    be told in the reader's language (False; the catalogue's message otherwise)."""
    template: str = "error.html"


SOMETHING_BROKE = ErrorPage(500, "error.broke", own_message=True)
TEMPORARILY_DOWN = ErrorPage(503, "error.down", own_message=True)

PAGES: dict[type[Exception], ErrorPage] = {
    NotFound: ErrorPage(404, "error.not_found", own_message=True),
    Gone: ErrorPage(410, "error.gone"),
    NotAvailableNow: ErrorPage(403, "error.not_now", template="not_available.html"),
    TooMany: ErrorPage(429, "error.too_many"),
    NotAllowed: ErrorPage(403, "error.not_allowed"),
    Unavailable: TEMPORARILY_DOWN,
    StorageError: TEMPORARILY_DOWN,
    InvalidInput: ErrorPage(400, "error.invalid"),
    Conflict: ErrorPage(409, "error.conflict"),
    WorkflowError: ErrorPage(400, "error.invalid"),
    FormRefused: ErrorPage(403, "error.form_refused", own_message=True),
}

HTTP_PAGES: dict[int, ErrorPage] = {
    400: ErrorPage(400, "error.bad_request", own_message=True),
    404: ErrorPage(404, "error.page_not_found", own_message=True),
    405: ErrorPage(405, "error.method", own_message=True),
    413: ErrorPage(413, "error.too_large", own_message=True),
}


def page_for(error: Exception) -> ErrorPage:
    """The page of the nearest mapped class in the error's ancestry."""
    for cls in type(error).__mro__:
        page = PAGES.get(cls)
        if page is not None:
            return page
    return SOMETHING_BROKE


@web.middleware
async def error_pages(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as e:
        if e.status < 400:
            raise
        page = HTTP_PAGES.get(e.status) or ErrorPage(
            e.status, "error.bad_request", own_message=True
        )
        headers = {"Allow": e.headers["Allow"]} if "Allow" in e.headers else None
        return await _answer(request, page, headers=headers)
    except (WorkflowError, StorageError, FormRefused) as e:
        page = page_for(e)
        if page.status >= 500:
            LOG.warning(
                "%s %s answered %d: %s",
                request.method,
                route_label(request),
                page.status,
                _scrub(request, f"{type(e).__name__}: {e}"),
            )
        return await _answer(request, page, error=e)
    except Exception as e:
        if store_unreachable(e):
            LOG.warning(
                "%s %s answered 503, a connection failed: %s",
                request.method,
                route_label(request),
                _scrub(request, f"{type(e).__name__}: {e}"),
            )
            return await _answer(request, TEMPORARILY_DOWN, error=e)
        trace = "".join(traceback.format_exception(e))
        LOG.error("%s %s failed\n%s", request.method, route_label(request), _scrub(request, trace))
        return await _answer(request, SOMETHING_BROKE)


def _scrub(request: web.Request, text: str) -> str:
    """The text without the request's token, wherever it appears (an exception message
    may quote it bare, not as part of a path)."""
    token = request.match_info.get("token")
    if token and well_formed(token):
        text = text.replace(token, REDACTED)
    return redact(text)


async def _contact(request: web.Request, page: ErrorPage) -> Contact | None:
    """Whom the visitor may ask: the organisation of the page's link, or (on a page
    without one) of the browser's portal session. Not looked up when the store itself is
    what failed, and a failed lookup only leaves the contact out."""
    if page is TEMPORARILY_DOWN:
        return None
    try:
        return await contact_behind(
            request.app[ENV],
            token=request.match_info.get("token"),
            portal_session=request.cookies.get(SESSION_COOKIE),
        )
    except Exception as e:
        LOG.warning(
            "the contact of an error page could not be looked up: %s", _scrub(request, repr(e))
        )
        return None


def _message(page: ErrorPage, error: Exception | None, language: str) -> str | None:
    """The page's words under its heading: the error's own reason when the reader can
    read it, else the catalogue's."""
    if (
        not page.own_message
        and isinstance(error, WorkflowError)
        and (error.says is not None or language == texts.FALLBACK)
    ):
        return error.told(language)
    return texts.text(language, f"{page.key}.message", escape=False)


async def _answer(
    request: web.Request,
    page: ErrorPage,
    *,
    error: Exception | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    language = page_language(request)
    heading = texts.text(language, f"{page.key}.heading", escape=False)
    if page is TEMPORARILY_DOWN:
        headers = {**(headers or {}), "Retry-After": RETRY_AFTER_OUTAGE}
    contact = await _contact(request, page)
    try:
        return render(
            request,
            page.template,
            status=page.status,
            headers=headers,
            lang=language,
            heading=heading,
            message=_message(page, error, language),
            contact=contact,
            available_from=getattr(error, "available_from", None),
            available_until=getattr(error, "available_until", None),
        )
    except Exception:
        LOG.exception("the %s page could not be rendered", page.template)
        return web.Response(text=f"{page.status} {heading}", status=page.status, headers=headers)
