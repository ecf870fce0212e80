"""Headers every response carries, and who the visitor is."""

from __future__ import annotations

import hashlib
import hmac

from aiohttp import web

from web_sign.metrics import route_label
from web_sign.state import SETTINGS
from workflows.sharing.access import Visitor

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; img-src 'self'; style-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "X-Robots-Tag": "noindex, nofollow",
}
STATIC_CACHE = "public, max-age=86400"
# Anything that does not say otherwise is not kept by browsers or proxies: pages, files,
# error pages, health and metrics alike.
DEFAULT_CACHE = "no-store"


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Runs as ``on_response_prepare``: also reaches streamed, file and error responses.
    A handler that sets one of these headers itself (a page with a script) keeps its own."""
    headers = response.headers
    for name, value in SECURITY_HEADERS.items():
        headers.setdefault(name, value)
    if "Cache-Control" not in headers:
        static = route_label(request) == "/static" and response.status < 400
        headers["Cache-Control"] = STATIC_CACHE if static else DEFAULT_CACHE


def visitor_of(request: web.Request) -> Visitor:
    """Who is asking: the peer address (or, when told to trust it, the address the proxy
    in front of us appended to X-Forwarded-For) and the user agent."""
    ip = request.remote
    if request.app[SETTINGS].trust_forwarded_for:
        forwarded = request.headers.get("X-Forwarded-For", "")
        last = forwarded.rsplit(",", 1)[-1].strip()
        if last:
            ip = last
    return Visitor(ip=ip, user_agent=request.headers.get("User-Agent"))


def form_token(secret: bytes, token: str) -> str:
    """The token every form of ``token``'s page carries."""
    return hmac.new(secret, b"inkpost-sign-form\0" + token.encode(), hashlib.sha256).hexdigest()
