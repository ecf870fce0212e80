"""Headers every response carries, and who the visitor is."""

from __future__ import annotations

from aiohttp import web

from web_sign.metrics import route_label

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
