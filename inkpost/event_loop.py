"""The event loop `inkpost serve` runs on: uvloop's, which sends files without copying.

Under asyncio's own loop aiohttp spends most of a small request in the loop's Python
code (reading, writing, scheduling callbacks): on two cores, uvloop answers about 40%
more `/d/{token}` pages a second, and a bare aiohttp handler as much more. uvloop does not
implement ``loop.sendfile``, though, so aiohttp's ``FileResponse`` falls back to reading
a file in 256 KiB chunks on a thread and copying each into the socket: a 5 MB file then
costs nearly twice the CPU it costs with asyncio's ``sendfile``. `Loop` adds what asyncio
does for a plain TCP connection: wait until what the transport holds has gone, then
``os.sendfile`` from the file straight into the socket, waiting for room in between.

Where that cannot work (TLS, a file that is not an operating system file) it raises
NotImplementedError as uvloop does, and callers fall back as they do there. Without
uvloop (it has no Windows build) `loop_factory` gives None: asyncio's own loop.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import IO, Any, TypeVar, cast

T = TypeVar("T")

try:
    import uvloop
except ImportError:  # pragma: no cover - only where uvloop has no build
    uvloop = None  # type: ignore[assignment]


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """What makes a serving process's event loop; None means asyncio's own."""
    return Loop if uvloop is not None else None


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` on the loop a serving process uses."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)


if uvloop is not None:

    class Loop(uvloop.Loop):
        """uvloop's loop, with ``sendfile`` over plain TCP connections."""

        async def sendfile(
            self,
            transport: asyncio.BaseTransport,
            file: IO[bytes],
            offset: int = 0,
            count: int | None = None,
            *,
            fallback: bool = True,
        ) -> int:
            """Send ``count`` bytes of ``file`` from ``offset`` (to its end when None)
            through ``transport``; the bytes sent. NotImplementedError where the file
            cannot go straight into the socket."""
            # uvloop's transports are asyncio.Transport in all but name (no subclass).
            transport = cast(asyncio.Transport, transport)
            socket = transport.get_extra_info("socket")
            if socket is None or transport.get_extra_info("sslcontext") is not None:
                raise NotImplementedError("sendfile needs a plain socket")
            try:
                source = file.fileno()
            except (AttributeError, OSError) as e:
                raise NotImplementedError("sendfile needs a file with a descriptor") from e
            if offset < 0:
                raise ValueError(f"offset must be >= 0, not {offset}")
            if count is None:
                count = os.fstat(source).st_size - offset
            if count < 0:
                raise ValueError(f"count must be >= 0, not {count}")
            if transport.is_closing():
                raise RuntimeError("the transport is closing")
            # A descriptor of our own for the same socket: uvloop refuses to watch one
            # its transport uses, and this one we may close whatever the transport does.
            out = os.dup(socket.fileno())
            sent = 0
            reading = transport.is_reading()
            if reading:
                transport.pause_reading()
            try:
                while transport.get_write_buffer_size():
                    await self._room(out)
                    await asyncio.sleep(0)  # the transport writes what it holds
                    _still_open(transport)
                while sent < count:
                    # Our descriptor keeps the socket open: stop when the server closed
                    # the connection (a client that went away makes sendfile fail).
                    _still_open(transport)
                    try:
                        done = os.sendfile(out, source, offset + sent, count - sent)
                    except (BlockingIOError, InterruptedError):
                        await self._room(out)
                        continue
                    if done == 0:  # the file ended early
                        break
                    sent += done
                return sent
            finally:
                os.close(out)
                if sent:
                    file.seek(offset + sent)
                if reading and not transport.is_closing():
                    transport.resume_reading()

        async def _room(self, fd: int) -> None:
            """Until the socket ``fd`` can take more bytes (or has failed)."""
            writable = self.create_future()
            self.add_writer(fd, _settle, writable)
            try:
                await writable
            finally:
                self.remove_writer(fd)

    def _still_open(transport: asyncio.Transport) -> None:
        if transport.is_closing():
            raise ConnectionResetError("the connection was closed while a file was sent")

    def _settle(future: asyncio.Future[None]) -> None:
        if not future.done():
            future.set_result(None)

else:  # pragma: no cover
    Loop = None  # type: ignore[misc]
