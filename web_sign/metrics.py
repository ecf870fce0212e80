"""Prometheus metrics of one app, in a registry of its own (tests build many apps)."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

STARTED = web.RequestKey("inkpost_started", float)
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """Request counts and latency by route template, documents opened and downloaded."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "inkpost_http_requests",
            "HTTP responses sent, by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "inkpost_http_request_duration_seconds",
            "Time from receiving a request to sending the response headers.",
            ["route"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.opened = Counter(
            "inkpost_documents_opened",
            "Document pages opened through a link.",
            registry=self.registry,
        )
        self.downloaded = Counter(
            "inkpost_documents_downloaded",
            "Downloads counted against a link (full downloads and ranges from byte 0).",
            registry=self.registry,
        )
        self.bytes_served = Counter(
            "inkpost_bytes_served",
            "Response body bytes announced in Content-Length, by route template.",
            ["route"],
            registry=self.registry,
        )

        # Each label set's child, looked up once: `labels` takes a lock and checks its
        # arguments on every call.
        self._requests: dict[tuple[str, str, int], Any] = {}
        self._durations: dict[str, Any] = {}
        self._bytes: dict[str, Any] = {}

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def observe(self, request: web.BaseRequest, response: web.StreamResponse) -> None:
        """Count a response when its headers go out: its status is final only then."""
        route, method, status = route_label(request), request.method, response.status
        counter = self._requests.get((route, method, status))
        if counter is None:
            counter = self._requests[route, method, status] = self.requests.labels(
                route, method, str(status)
            )
        counter.inc()
        started = request.get(STARTED)
        if started is not None:
            duration = self._durations.get(route)
            if duration is None:
                duration = self._durations[route] = self.duration.labels(route)
            duration.observe(time.perf_counter() - started)
        length = response.content_length
        if length and method != "HEAD":
            served = self._bytes.get(route)
            if served is None:
                served = self._bytes[route] = self.bytes_served.labels(route)
            served.inc(length)


def route_label(request: web.BaseRequest) -> str:
    """The route's template (``/d/{token}/file``), never the path: paths hold tokens."""
    match_info = getattr(request, "match_info", None)
    resource = match_info.route.resource if match_info is not None else None
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def stamp_start(request: web.Request, handler: Handler) -> web.StreamResponse:
    request[STARTED] = time.perf_counter()
    return await handler(request)


def metrics_handler(metrics: Metrics) -> Handler:
    async def serve_metrics(request: web.Request) -> web.Response:
        response = web.Response(body=metrics.exposition())
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    return serve_metrics
