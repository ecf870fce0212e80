"""A stored file sent as the body of a response, chunk by chunk, by the API and the web
pages alike."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web


async def send_chunks(
    request: web.Request,
    response: web.StreamResponse,
    chunks: AsyncIterator[bytes],
    *,
    log: logging.Logger,
) -> None:
    """Send ``chunks`` as the body of ``response``, which is not yet prepared.

    The first chunk is read before any header is sent, so a medium that cannot be
    reached raises here and still gets a proper error answer. Once the headers are out, a
    medium that fails cuts the connection (and says so in ``log``): the client then sees
    a broken transfer rather than a short file. A client that goes away ends it quietly.
    ``chunks`` is closed in every case."""
    try:
        chunk = await anext(chunks, b"")
        await response.prepare(request)
        await _pump(request, response, chunks, chunk, log)
    finally:
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()


async def _pump(
    request: web.Request,
    response: web.StreamResponse,
    chunks: AsyncIterator[bytes],
    chunk: bytes,
    log: logging.Logger,
) -> None:
    sent = 0
    try:
        while chunk:
            await response.write(chunk)
            sent += len(chunk)
            chunk = await anext(chunks, b"")
    except ConnectionError:
        return  # the client went away
    except Exception as e:
        log.warning(
            "a download broke off after %d of %s bytes: %s: %s",
            sent,
            response.content_length,
            type(e).__name__,
            e,
        )
        if request.transport is not None:
            request.transport.close()
        return
    await response.write_eof()
