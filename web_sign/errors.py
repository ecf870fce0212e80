"""The one mapping from errors to HTTP statuses and pages, applied by a middleware.

Handlers let workflow errors (``workflows.errors``), storage errors and HTTP errors
propagate; the middleware answers each with a friendly page and never with a traceback.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler

from storage.errors import StorageError
from web_sign.logs import LOG, REDACTED, redact
from web_sign.metrics import route_label
from web_sign.pages import render
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
from workflows.tokens import well_formed


@dataclass(frozen=True)
class ErrorPage:
    status: int
    heading: str
    message: str | None = None
    """What to tell the visitor; None shows the workflow error's own message."""
    template: str = "error.html"


SOMETHING_BROKE = ErrorPage(
    500, "Something went wrong", "We could not show this page. Please try again later."
)
TEMPORARILY_DOWN = ErrorPage(
    503,
    "Temporarily unavailable",
    "The document store cannot be reached right now. Please try again in a few minutes.",
)

WORKFLOW_PAGES: dict[type[Exception], ErrorPage] = {
    NotFound: ErrorPage(
        404,
        "This link does not exist",
        "Check that you opened the whole link, or ask the sender for a new one.",
    ),
    Gone: ErrorPage(410, "This link no longer works"),
    NotAvailableNow: ErrorPage(
        403, "This document is not available now", template="not_available.html"
    ),
    TooMany: ErrorPage(429, "Too many attempts"),
    NotAllowed: ErrorPage(403, "Access has ended"),
    Unavailable: TEMPORARILY_DOWN,
    StorageError: TEMPORARILY_DOWN,
    InvalidInput: ErrorPage(400, "This request cannot be answered"),
    Conflict: ErrorPage(409, "This request clashes with the current state"),
    WorkflowError: ErrorPage(400, "This request cannot be answered"),
}

HTTP_PAGES: dict[int, ErrorPage] = {
    400: ErrorPage(400, "Bad request", "The request could not be understood."),
    404: ErrorPage(404, "Page not found", "There is nothing at this address."),
    405: ErrorPage(405, "Method not allowed", "This address does not accept that method."),
    413: ErrorPage(413, "Too large", "The request is larger than this server accepts."),
}


def page_for(error: Exception) -> ErrorPage:
    """The page of the nearest mapped class in the error's ancestry."""
    for cls in type(error).__mro__:
        page = WORKFLOW_PAGES.get(cls)
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
        page = HTTP_PAGES.get(e.status) or ErrorPage(e.status, e.reason)
        headers = {"Allow": e.headers["Allow"]} if "Allow" in e.headers else None
        return _answer(request, page, headers=headers)
    except (WorkflowError, StorageError) as e:
        page = page_for(e)
        if page.status >= 500:
            LOG.warning(
                "%s %s answered %d: %s",
                request.method,
                route_label(request),
                page.status,
                _scrub(request, f"{type(e).__name__}: {e}"),
            )
        return _answer(request, page, error=e)
    except Exception as e:
        trace = "".join(traceback.format_exception(e))
        LOG.error("%s %s failed\n%s", request.method, route_label(request), _scrub(request, trace))
        return _answer(request, SOMETHING_BROKE)


def _scrub(request: web.Request, text: str) -> str:
    """The text without the request's token, wherever it appears (an exception message
    may quote it bare, not as part of a path)."""
    token = request.match_info.get("token")
    if token and well_formed(token):
        text = text.replace(token, REDACTED)
    return redact(text)


def _answer(
    request: web.Request,
    page: ErrorPage,
    *,
    error: Exception | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    message = page.message if page.message is not None or error is None else str(error)
    try:
        return render(
            request,
            page.template,
            status=page.status,
            headers=headers,
            heading=page.heading,
            message=message,
            available_from=getattr(error, "available_from", None),
            available_until=getattr(error, "available_until", None),
        )
    except Exception:
        LOG.exception("the %s page could not be rendered", page.template)
        return web.Response(text=f"{page.status} {page.heading}", status=page.status)
