"""Keeping link tokens out of logs: redaction, a logging filter and the access logger.

A token in ``/d/{token}`` or ``/s/{token}`` is a bearer credential: whoever reads it in a
log can open the document. Every line this package writes, and every access log line,
shows such a path as ``/d/…``.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse

TOKEN_PATH = re.compile(r"(/[ds]/|/me/sign-in/|/me/unsubscribe/)[^/?#\s\"'<>]+")
# The Mini App's address carries a signing link's token as ``/tg/app?s=<token>``.
TOKEN_QUERY = re.compile(r"(\bs=)[A-Za-z0-9_-]{16,128}")
REDACTED = "…"

# The logger every module of this package writes to (filters act only where a record is
# created, so the package shares one logger instead of one per module).
LOG = logging.getLogger("web_sign")

_AIOHTTP_LOGGERS = ("aiohttp.access", "aiohttp.server", "aiohttp.web")


def redact(text: str) -> str:
    """``/d/<token>/file`` → ``/d/…/file`` (and so for ``/s/``, ``/me/sign-in/`` and
    ``/me/unsubscribe/``); ``/tg/app?s=<token>`` → ``/tg/app?s=…``."""
    if "/d/" in text or "/s/" in text or "/me/" in text:
        text = TOKEN_PATH.sub(rf"\g<1>{REDACTED}", text)
    if "s=" in text:
        text = TOKEN_QUERY.sub(rf"\g<1>{REDACTED}", text)
    return text


class RedactTokens(logging.Filter):
    """Rewrites a record's message, traceback and string extras without tokens."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            record.msg = redact(record.getMessage())
            record.args = None
        except Exception:  # a broken format string: leave it to the handler to report
            record.msg = redact(str(record.msg))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for name, value in list(vars(record).items()):
            if isinstance(value, str) and name not in ("msg", "exc_text", "stack_info"):
                setattr(record, name, redact(value))
            elif isinstance(value, dict):
                setattr(record, name, _redact_values(value))
        return True


def _redact_values(values: dict[Any, Any]) -> dict[Any, Any]:
    return {k: redact(v) if isinstance(v, str) else v for k, v in values.items()}


def install_redaction() -> None:
    """Put the filter on this package's logger and on aiohttp's (once per process)."""
    for name in ("web_sign", *_AIOHTTP_LOGGERS):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(RedactTokens())


class RedactingAccessLogger(AbstractAccessLogger):
    """An access log line per request, with link tokens redacted from path and referer.

    Pass it as ``access_log_class`` to ``web.AppRunner``. It writes one fixed format,
    ``remote "METHOD path HTTP/x.y" status bytes seconds "referer" "user agent"``, and
    ignores ``access_log_format``: a format atom that could print the raw path would
    defeat the point.
    """

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        try:
            path = redact(request.rel_url.raw_path)
            if request.rel_url.raw_query_string:
                path += "?" + redact(request.rel_url.raw_query_string)
            version = request.version
            line = f"{request.method} {path} HTTP/{version.major}.{version.minor}"
            referer = redact(request.headers.get("Referer", "-"))
            agent = request.headers.get("User-Agent", "-")
            self.logger.info(
                '%s "%s" %s %s %.6f "%s" "%s"',
                request.remote or "-",
                line,
                response.status,
                response.body_length,
                time,
                referer,
                agent,
                extra={
                    "remote_address": request.remote or "-",
                    "first_request_line": line,
                    "request_path": path,
                    "response_status": response.status,
                    "response_size": response.body_length,
                    "request_time": time,
                },
            )
        except Exception:
            self.logger.exception("could not write an access log line")

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)


LOG.addFilter(RedactTokens())
